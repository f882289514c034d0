// Choosing the next token from a decoder's logits, and stopping: the decoding strategies of
// `tfm generate`, independent of how the logits were computed (full forward, or prefill and
// decode with a KV cache) and of the target.
//
// The processors run in the order Hugging Face transformers applies them, with the same
// meaning, so that a setting here means what it means there:
//   1. repetition penalty (Keskar et al. 2019, CTRL): the logit of every token already in the
//      sequence (prompt included) is divided by the penalty when positive, multiplied when
//      negative;
//   2. temperature: logits / T; T = 0 is greedy decoding (the arg max, first on ties; no draw);
//   3. top-k: only tokens whose logit is at least the k-th largest stay (ties at the boundary
//      stay too);
//   4. top-p (nucleus, Holtzman et al. 2020): the smallest set of the most probable tokens
//      whose probability reaches p stays (the most probable one always does);
// then one draw from the softmax of what stays, by the seeded generator: the same seed gives
// the same tokens.
import { TfmError } from '../../common/errors.ts';
import type { Rng } from '../init.ts';

export interface DecodingOptions {
  /** 0: greedy. Otherwise the softmax temperature (> 0). */
  temperature: number;
  /** Keep the k most likely tokens (0 or undefined: all). */
  topK?: number;
  /** Keep the most likely tokens up to this probability mass (1 or undefined: all). */
  topP?: number;
  /** ≥ 1; 1 or undefined: off. */
  repetitionPenalty?: number;
}

/** Checks options given by a user; returns a message naming the first bad one, or undefined. */
export function invalidDecoding(o: DecodingOptions): string | undefined {
  if (!(Number.isFinite(o.temperature) && o.temperature >= 0)) return `temperature ${o.temperature}: give 0 (greedy) or a positive number`;
  if (o.topK !== undefined && !(Number.isSafeInteger(o.topK) && o.topK >= 0)) return `top-k ${o.topK}: give a whole number ≥ 0 (0: off)`;
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) return `top-p ${o.topP}: give a probability in (0, 1]`;
  if (o.repetitionPenalty !== undefined && !(Number.isFinite(o.repetitionPenalty) && o.repetitionPenalty >= 1)) return `repetition penalty ${o.repetitionPenalty}: give a number ≥ 1 (1: off)`;
  return undefined;
}

/**
 * The processed scores of one position's logits (`vocab` of them from `offset`): a new
 * Float64Array where excluded tokens are -Infinity. `history` is the sequence so far.
 */
export function processLogits(logits: ArrayLike<number>, offset: number, vocab: number, history: ArrayLike<number>, o: DecodingOptions): Float64Array {
  const s = new Float64Array(vocab);
  for (let t = 0; t < vocab; t++) {
    s[t] = logits[offset + t];
    if (Number.isNaN(s[t]) || s[t] === Infinity) throw new TfmError('TFM6001', `the forward pass produced a non-finite logit (${s[t]}) for token ${t}: nothing can be chosen from it`);
  }
  const penalty = o.repetitionPenalty ?? 1;
  if (penalty !== 1) {
    const seen = new Set<number>();
    for (let k = 0; k < history.length; k++) seen.add(history[k]);
    for (const t of seen) if (t >= 0 && t < vocab) s[t] = s[t] > 0 ? s[t] / penalty : s[t] * penalty;
  }
  if (o.temperature === 0) return s;
  for (let t = 0; t < vocab; t++) s[t] /= o.temperature;
  const k = o.topK ?? 0;
  if (k > 0 && k < vocab) {
    const kth = Float64Array.from(s).sort().reverse()[k - 1];
    for (let t = 0; t < vocab; t++) if (s[t] < kth) s[t] = -Infinity;
  }
  const p = o.topP ?? 1;
  if (p < 1) {
    const probs = softmax(s);
    // Most probable first; equal probabilities by token id, so the kept set is deterministic.
    const order = Array.from({ length: vocab }, (_, t) => t).sort((a, b) => probs[b] - probs[a] || a - b);
    let mass = 0;
    let kept = 0;
    while (kept < vocab && (kept === 0 || mass < p)) mass += probs[order[kept++]];
    for (let r = kept; r < vocab; r++) s[order[r]] = -Infinity;
  }
  return s;
}

/** Softmax of scores (-Infinity gives 0), in float64. */
export function softmax(s: Float64Array): Float64Array {
  let max = -Infinity;
  for (const x of s) if (x > max) max = x;
  const out = new Float64Array(s.length);
  let sum = 0;
  for (let t = 0; t < s.length; t++) sum += out[t] = s[t] === -Infinity ? 0 : Math.exp(s[t] - max);
  for (let t = 0; t < s.length; t++) out[t] /= sum;
  return out;
}

/** The next token: the arg max when greedy, otherwise one draw from the processed distribution. */
export function nextToken(logits: ArrayLike<number>, offset: number, vocab: number, history: ArrayLike<number>, o: DecodingOptions, rng: Rng): number {
  const s = processLogits(logits, offset, vocab, history, o);
  if (o.temperature === 0) {
    let best = 0;
    for (let t = 1; t < vocab; t++) if (s[t] > s[best]) best = t;
    return best;
  }
  const probs = softmax(s);
  const u = rng.next();
  let acc = 0;
  let last = 0;
  for (let t = 0; t < vocab; t++) {
    if (probs[t] === 0) continue;
    last = t;
    acc += probs[t];
    if (u < acc) return t;
  }
  return last; // u within rounding of 1
}

/**
 * Stop sequences on streamed text: `push` takes the text of each new token and returns what
 * may be shown now — everything except a tail that could still become a stop sequence — and
 * whether a stop sequence has appeared (then the text up to it, without it, is all that is
 * shown). `flush` returns what was held back when generation ends for another reason.
 */
export class StopText {
  private held = '';
  private stopped = false;
  constructor(private readonly stops: readonly string[]) {
    if (stops.some((s) => s.length === 0)) throw new Error('a stop sequence is empty');
  }

  push(piece: string): { text: string; stop: boolean } {
    if (this.stopped) return { text: '', stop: true };
    const text = this.held + piece;
    let cut = -1;
    for (const s of this.stops) {
      const at = text.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.stopped = true;
      this.held = '';
      return { text: text.slice(0, cut), stop: true };
    }
    // Hold back the longest tail that is a proper prefix of a stop sequence.
    let keep = 0;
    for (const s of this.stops) for (let n = Math.min(s.length - 1, text.length); n > keep; n--) if (text.endsWith(s.slice(0, n))) keep = n;
    this.held = text.slice(text.length - keep);
    return { text: text.slice(0, text.length - keep), stop: false };
  }

  flush(): string {
    const t = this.stopped ? '' : this.held;
    this.held = '';
    return t;
  }
}
