// A SentencePiece-style unigram tokenizer (Kudo 2018), trained on the corpus: what stands in
// for T5's own `spiece.model`, which no package ships. As in SentencePiece with its defaults:
// text is NFKC-normalised, a word is `▁` + its characters (pieces never cross a space), the
// alphabet is the characters that cover 99.95% of the text (rarer ones are `<unk>`), and the
// vocabulary is trained by expectation-maximisation over a large seed set of frequent
// substrings, pruned by the loss of likelihood each piece's removal would cost until the
// vocabulary has its size. Encoding is the Viterbi segmentation under the pieces' log
// probabilities. Written here rather than taken from an npm package because none ships a
// trainer that runs under Node without a native build, and training must be deterministic
// (every sort breaks ties by the piece's text).
//
// Ids: the spec's special tokens first (T5: `<pad>` 0, `<eos>` 1, `<unk>` 2), then the pieces
// by score, then the sentinels from the end of the vocabulary down (`<extra_id_0>` is the last
// id, as in T5).
export const SPACE = '▁';
const MAX_PIECE = 16;
const COVERAGE = 0.9995;

export interface UnigramModel {
  /** Pieces and their log probabilities, best first. */
  pieces: [string, number][];
}

/** SentencePiece's normalisation and word split: NFKC, whitespace runs as one space. */
export function unigramWords(text: string): string[] {
  return text
    .normalize('NFKC')
    .split(/\s+/u)
    .filter((w) => w.length > 0)
    .map((w) => SPACE + w);
}

/** Counts of the words of `texts`. */
function wordCounts(texts: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const t of texts) for (const w of unigramWords(t)) counts.set(w, (counts.get(w) ?? 0) + 1);
  return counts;
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A lattice search over one word: the best segmentation under `logp` (a missing character
 *  is one unknown piece of score `unk`), optionally forbidding one piece. Returns the pieces
 *  (unknown characters as themselves) and the score. */
export function viterbi(word: string, logp: Map<string, number>, unk: number, forbid?: string): { pieces: string[]; score: number } {
  const chars = Array.from(word);
  const n = chars.length;
  const best = new Float64Array(n + 1).fill(-Infinity);
  const from = new Int32Array(n + 1);
  best[0] = 0;
  for (let e = 1; e <= n; e++) {
    let piece = '';
    for (let s = e - 1; s >= 0 && e - s <= MAX_PIECE; s--) {
      piece = chars[s] + piece;
      if (best[s] === -Infinity) continue;
      let lp = piece === forbid ? undefined : logp.get(piece);
      if (lp === undefined && e - s === 1) lp = unk;
      if (lp === undefined) continue;
      const v = best[s] + lp;
      if (v > best[e]) {
        best[e] = v;
        from[e] = s;
      }
    }
  }
  const pieces: string[] = [];
  for (let e = n; e > 0; e = from[e]) pieces.push(chars.slice(from[e], e).join(''));
  return { pieces: pieces.reverse(), score: best[n] };
}

/** Expected piece counts over the words (forward–backward over each word's lattice), and the
 *  corpus log likelihood. */
function expectedCounts(words: [string[], number][], logp: Map<string, number>): { counts: Map<string, number>; likelihood: number } {
  const counts = new Map<string, number>();
  let likelihood = 0;
  for (const [chars, freq] of words) {
    const n = chars.length;
    const alpha = new Float64Array(n + 1).fill(-Infinity);
    alpha[0] = 0;
    const edges: [number, number, string, number][] = [];
    for (let e = 1; e <= n; e++) {
      let piece = '';
      for (let s = e - 1; s >= 0 && e - s <= MAX_PIECE; s--) {
        piece = chars[s] + piece;
        const lp = logp.get(piece);
        if (lp === undefined || alpha[s] === -Infinity) continue;
        edges.push([s, e, piece, lp]);
        alpha[e] = logAdd(alpha[e], alpha[s] + lp);
      }
    }
    if (alpha[n] === -Infinity) continue; // a word with a character outside the alphabet
    const beta = new Float64Array(n + 1).fill(-Infinity);
    beta[n] = 0;
    for (let k = edges.length - 1; k >= 0; k--) {
      const [s, e, , lp] = edges[k];
      beta[s] = logAdd(beta[s], lp + beta[e]);
    }
    const z = alpha[n];
    likelihood += freq * z;
    for (const [s, e, piece, lp] of edges) {
      const p = Math.exp(alpha[s] + lp + beta[e] - z);
      if (p > 0) counts.set(piece, (counts.get(piece) ?? 0) + freq * p);
    }
  }
  return { counts, likelihood };
}

function logAdd(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  return a > b ? a + Math.log1p(Math.exp(b - a)) : b + Math.log1p(Math.exp(a - b));
}

/** Log probabilities from counts: the maximum-likelihood estimate, pieces with less than half
 *  an expected occurrence dropped (characters always kept). */
function normalise(counts: Map<string, number>, alphabet: Set<string>): Map<string, number> {
  const kept = [...counts].filter(([p, c]) => c >= 0.5 || alphabet.has(p));
  for (const ch of alphabet) if (!counts.has(ch)) kept.push([ch, 0.5]);
  const total = kept.reduce((a, [, c]) => a + Math.max(c, 0.5), 0);
  return new Map(kept.map(([p, c]) => [p, Math.log(Math.max(c, 0.5) / total)]));
}

/** Trains a unigram vocabulary of `size` pieces (characters included) on `texts`. */
export function trainUnigram(texts: string[], size: number): UnigramModel {
  const counts = wordCounts(texts);
  // The alphabet: characters by frequency until they cover 99.95% of all characters.
  const charCounts = new Map<string, number>();
  let totalChars = 0;
  for (const [w, c] of counts)
    for (const ch of w) {
      charCounts.set(ch, (charCounts.get(ch) ?? 0) + c);
      totalChars += c;
    }
  const alphabet = new Set<string>();
  let covered = 0;
  for (const [ch, c] of [...charCounts].sort((a, b) => b[1] - a[1] || byText(a[0], b[0]))) {
    if (alphabet.size > 0 && covered / totalChars >= COVERAGE) break;
    if (alphabet.size >= size) break;
    alphabet.add(ch);
    covered += c;
  }
  const words: [string[], number][] = [...counts].sort((a, b) => byText(a[0], b[0])).map(([w, c]) => [Array.from(w), c]);
  // Seed pieces: every substring of a word (up to 16 characters, `▁` only first, alphabet
  // only), the most frequent by frequency × length; and every character.
  const subs = new Map<string, number>();
  for (const [chars, freq] of words) {
    for (let s = 0; s < chars.length; s++) {
      let piece = '';
      for (let e = s; e < chars.length && e - s < MAX_PIECE; e++) {
        if (!alphabet.has(chars[e]) || (e > s && chars[e] === SPACE)) break;
        piece += chars[e];
        if (e > s) subs.set(piece, (subs.get(piece) ?? 0) + freq);
      }
    }
  }
  const seedSize = Math.max(size * 8, 4096);
  const seeds = [...subs].filter(([, c]) => c >= 2).sort((a, b) => b[1] * Array.from(b[0]).length - a[1] * Array.from(a[0]).length || byText(a[0], b[0])).slice(0, seedSize);
  let pieceCounts = new Map<string, number>([...seeds, ...[...alphabet].map((ch): [string, number] => [ch, charCounts.get(ch)!])]);
  let logp = normalise(pieceCounts, alphabet);

  const em = (rounds: number) => {
    for (let k = 0; k < rounds; k++) {
      pieceCounts = expectedCounts(words, logp).counts;
      logp = normalise(pieceCounts, alphabet);
    }
  };
  em(2);
  const unk = () => Math.min(...logp.values()) - 10;
  while (logp.size > size) {
    // The loss of each piece: how much the corpus likelihood would fall if its occurrences
    // (in the Viterbi segmentation) were spelled by its best segmentation without it.
    const u = unk();
    const freq = new Map<string, number>();
    for (const [chars, c] of words) for (const p of viterbi(chars.join(''), logp, u).pieces) freq.set(p, (freq.get(p) ?? 0) + c);
    let sum = 0;
    for (const f of freq.values()) sum += f;
    const loss: [string, number][] = [];
    for (const piece of logp.keys()) {
      if (alphabet.has(piece)) continue;
      const f = freq.get(piece) ?? 0;
      if (f === 0) {
        loss.push([piece, -Infinity]);
        continue;
      }
      const alt = viterbi(piece, logp, u, piece).pieces;
      const logsumAlt = Math.log(sum + f * (alt.length - 1));
      const lpPiece = Math.log(f) - Math.log(sum);
      let lpAlt = 0;
      for (const a of alt) lpAlt += Math.log((freq.get(a) ?? 0) + f) - logsumAlt;
      loss.push([piece, f * (lpPiece - lpAlt)]);
    }
    loss.sort((a, b) => b[1] - a[1] || byText(a[0], b[0]));
    const keep = Math.max(size - alphabet.size, Math.floor(0.75 * (logp.size - alphabet.size)));
    const kept = new Set(loss.slice(0, keep).map(([p]) => p));
    for (const ch of alphabet) kept.add(ch);
    logp = normalise(new Map([...pieceCounts].filter(([p]) => kept.has(p))), alphabet);
    em(2);
    // EM can drop pieces below half an occurrence: the loop ends when the size is reached.
  }
  return { pieces: [...logp].sort((a, b) => b[1] - a[1] || byText(a[0], b[0])) };
}

/** An encoder/decoder over a trained model: `encode` gives piece indices (−1: unknown). */
export function unigramCodec(model: UnigramModel): { encode(text: string): number[]; decode(pieces: string[]): string; index: Map<string, number> } {
  const index = new Map(model.pieces.map(([p], k) => [p, k]));
  const logp = new Map(model.pieces);
  const unk = Math.min(...logp.values()) - 10;
  const cache = new Map<string, number[]>();
  return {
    index,
    encode(text) {
      const out: number[] = [];
      for (const w of unigramWords(text)) {
        let ids = cache.get(w);
        if (!ids) {
          ids = viterbi(w, logp, unk).pieces.map((p) => index.get(p) ?? -1);
          if (cache.size < 1 << 16) cache.set(w, ids);
        }
        for (const id of ids) out.push(id);
      }
      return out;
    },
    decode: (pieces) => pieces.join('').replaceAll(SPACE, ' ').replace(/^ /, ''),
  };
}
