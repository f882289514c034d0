// Greedy and beam search over any model that scores a next token for a batch of prefixes
// (an encoder-decoder's decoder, here): independent of how the logits are computed.
//
// Beam search as Hugging Face transformers runs it with `early_stopping=True`: every step,
// each live hypothesis is extended by every token; of all extensions the 2k best by summed
// log-probability are taken in order; one that ends with `<eos>` is finished if it ranks
// among the first k (its score: summed log-probability / length^length_penalty, the length
// counting the tokens generated, `<eos>` included), the others fill the k live beams. The
// search stops once k hypotheses are finished, or at the length limit (live beams then count
// as finished). With k = 1 this is greedy decoding exactly: the best token each step, until
// `<eos>`.

export interface BeamOptions {
  beams: number;
  /** Exponent of the length normalisation (1: mean log-probability per token; 0: none). */
  lengthPenalty: number;
  /** Tokens to generate at most (`<eos>` included). */
  maxTokens: number;
  eos: number;
  /** Logits per row are this wide (the model's vocabulary); only the first `vocab` count. */
  width: number;
  vocab: number;
}

export interface Hypothesis {
  tokens: number[];
  /** Summed log-probability of the tokens. */
  logProb: number;
  /** logProb / length^lengthPenalty: what the hypotheses are ranked by. */
  score: number;
}

/** Logits for the next token after each prefix, one row of `width` per prefix (prefixes may
 *  differ in length: greedy decoding stops extending a row at its `<eos>`). */
export type NextLogits = ((prefixes: number[][]) => Promise<Float32Array>) & {
  /** Beam search moved hypotheses: row r continues what row from[r] held (a key/value cache
   *  follows). */
  reorder?: (from: number[]) => Promise<void>;
};

function logSoftmax(row: Float32Array, vocab: number): Float64Array {
  let max = -Infinity;
  for (let t = 0; t < vocab; t++) max = Math.max(max, row[t]);
  let sum = 0;
  for (let t = 0; t < vocab; t++) sum += Math.exp(row[t] - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(vocab);
  for (let t = 0; t < vocab; t++) out[t] = row[t] - lse;
  return out;
}

const normalised = (logProb: number, length: number, penalty: number) => logProb / length ** penalty;

/** The `beams` best hypotheses for one input, best first. */
export async function beamSearch(next: NextLogits, o: BeamOptions): Promise<Hypothesis[]> {
  const k = o.beams;
  let live: { tokens: number[]; logProb: number }[] = [{ tokens: [], logProb: 0 }];
  const finished: Hypothesis[] = [];
  for (let step = 0; step < o.maxTokens && finished.length < k; step++) {
    const logits = await next(live.map((h) => h.tokens));
    const candidates: { from: number; token: number; logProb: number }[] = [];
    live.forEach((h, i) => {
      const lp = logSoftmax(logits.subarray(i * o.width, i * o.width + o.width), o.vocab);
      // The 2k best tokens of this beam are all that can make the overall 2k best.
      const best = Array.from({ length: o.vocab }, (_, t) => t).sort((a, b) => lp[b] - lp[a] || a - b).slice(0, 2 * k);
      for (const t of best) candidates.push({ from: i, token: t, logProb: h.logProb + lp[t] });
    });
    candidates.sort((a, b) => b.logProb - a.logProb || a.from - b.from || a.token - b.token);
    const nextLive: typeof live = [];
    const from: number[] = [];
    for (const [rank, c] of candidates.slice(0, 2 * k).entries()) {
      const tokens = [...live[c.from].tokens, c.token];
      if (c.token === o.eos) {
        if (rank < k) finished.push({ tokens, logProb: c.logProb, score: normalised(c.logProb, tokens.length, o.lengthPenalty) });
      } else if (nextLive.length < k) {
        nextLive.push({ tokens, logProb: c.logProb });
        from.push(c.from);
      }
    }
    live = nextLive;
    if (live.length && next.reorder) await next.reorder(from);
    if (live.length === 0) break;
  }
  if (finished.length < k) for (const h of live) finished.push({ ...h, score: normalised(h.logProb, h.tokens.length, o.lengthPenalty) });
  return finished.sort((a, b) => b.score - a.score).slice(0, k);
}

/** Greedy decoding of a batch of inputs at once: the best token each step, per row, until
 *  each row's `<eos>` (included) or `maxTokens`. */
export async function greedy(next: NextLogits, rows: number, o: Omit<BeamOptions, 'beams' | 'lengthPenalty'>): Promise<number[][]> {
  const out: number[][] = Array.from({ length: rows }, () => []);
  const done = new Array<boolean>(rows).fill(false);
  for (let step = 0; step < o.maxTokens && done.includes(false); step++) {
    const logits = await next(out);
    for (let r = 0; r < rows; r++) {
      if (done[r]) continue;
      let best = 0;
      for (let t = 1; t < o.vocab; t++) if (logits[r * o.width + t] > logits[r * o.width + best]) best = t;
      out[r].push(best);
      if (best === o.eos) done[r] = true;
    }
  }
  return out;
}
