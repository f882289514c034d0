// BART's noising functions (Lewis et al. 2020, §2.2; fairseq's DenoisingDataset), each
// selectable in the spec's `objective denoise(…)`, applied in fairseq's order: sentence
// permutation, then token masking, token deletion and text infilling, then document rotation.
// They work on token ids (fairseq masks whole words; here a span is counted in tokens). The
// decoder's target is always the original text.
import type { Rng } from '../init.ts';

export interface DenoiseSettings {
  /** Token masking: each token becomes `<mask>` with this probability. */
  mask: number;
  /** Token deletion: each token is dropped with this probability. */
  delete: number;
  /** Text infilling: this share of the tokens is covered by spans of Poisson(λ) lengths, each
   *  span (a span of length 0 too) replaced by one `<mask>`. */
  infill: number;
  poissonLambda: number;
  /** Sentence permutation: this share of the sentences is shuffled among their places. */
  permute: number;
  /** Document rotation: with this probability the text is rotated to start at a random token. */
  rotate: number;
}

export const NO_NOISE: DenoiseSettings = { mask: 0, delete: 0, infill: 0, poissonLambda: 3, permute: 0, rotate: 0 };

/** A draw from Poisson(λ) (Knuth's product of uniforms; λ is small). */
export function poisson(lambda: number, rng: Rng): number {
  const limit = Math.exp(-lambda);
  let k = 0;
  let p = rng.next();
  while (p > limit) {
    k++;
    p *= rng.next();
  }
  return k;
}

/** Each token becomes `maskId` with probability `p`. */
export function maskTokens(tokens: number[], p: number, maskId: number, rng: Rng): number[] {
  return tokens.map((t) => (rng.next() < p ? maskId : t));
}

/** Each token is dropped with probability `p`. */
export function deleteTokens(tokens: number[], p: number, rng: Rng): number[] {
  return tokens.filter(() => rng.next() >= p);
}

/** Text infilling: spans of Poisson(λ) lengths are drawn until they cover ⌈p·n⌉ tokens (the
 *  last one cut to fit), placed at distinct random starts; each span becomes one `maskId`
 *  (spans that overlap or touch merge into one), and a span of length 0 inserts one. */
export function infillSpans(tokens: number[], p: number, lambda: number, maskId: number, rng: Rng): number[] {
  const n = tokens.length;
  const goal = Math.ceil(p * n);
  if (goal === 0 || n === 0) return tokens.slice();
  const lengths: number[] = [];
  for (let covered = 0; covered < goal; ) {
    const l = Math.min(poisson(lambda, rng), goal - covered);
    lengths.push(l);
    covered += l;
    if (lengths.length > 4 * n) break; // λ near 0: enough insertions
  }
  // Distinct starts, at most one span per position.
  const order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
  const startHere = new Uint8Array(n);
  const covered = new Uint8Array(n);
  lengths.slice(0, n).forEach((l, k) => {
    const s = order[k];
    startHere[s] = 1;
    covered.fill(1, s, Math.min(n, s + l));
  });
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    // A span's mask, unless the span continues one that already left its mask.
    if (startHere[i] && !(i > 0 && covered[i - 1] && covered[i])) out.push(maskId);
    if (!covered[i]) out.push(tokens[i]);
  }
  return out;
}

/** Sentences: runs of tokens ending at a token of `ends` (the last may end without one). */
export function sentences(tokens: number[], ends: Set<number>): number[][] {
  const out: number[][] = [];
  let cur: number[] = [];
  for (const t of tokens) {
    cur.push(t);
    if (ends.has(t)) {
      out.push(cur);
      cur = [];
    }
  }
  if (cur.length) out.push(cur);
  return out;
}

/** Sentence permutation: ⌈p·s⌉ of the s sentences, chosen at random, shuffled among their places. */
export function permuteSentences(tokens: number[], p: number, ends: Set<number>, rng: Rng): number[] {
  const s = sentences(tokens, ends);
  const count = Math.ceil(p * s.length);
  if (count < 2) return tokens.slice();
  const places = rng.shuffle(Array.from({ length: s.length }, (_, i) => i));
  const chosen = places.slice(0, count).sort((a, b) => a - b);
  const moved = rng.shuffle(chosen.slice());
  const out = s.slice();
  chosen.forEach((at, k) => (out[at] = s[moved[k]]));
  return out.flat();
}

/** Document rotation: with probability `p`, the tokens from a random one (not the first) on,
 *  then those before it. */
export function rotate(tokens: number[], p: number, rng: Rng): number[] {
  if (tokens.length < 2 || rng.next() >= p) return tokens.slice();
  const k = 1 + rng.int(tokens.length - 1);
  return [...tokens.slice(k), ...tokens.slice(0, k)];
}

/** The noised text, all of the spec's noises in fairseq's order. */
export function addNoise(tokens: number[], s: DenoiseSettings, ids: { mask: number; sentenceEnds: Set<number> }, rng: Rng): number[] {
  let t = s.permute > 0 ? permuteSentences(tokens, s.permute, ids.sentenceEnds, rng) : tokens.slice();
  if (s.mask > 0) t = maskTokens(t, s.mask, ids.mask, rng);
  if (s.delete > 0) t = deleteTokens(t, s.delete, rng);
  if (s.infill > 0) t = infillSpans(t, s.infill, s.poissonLambda, ids.mask, rng);
  if (s.rotate > 0) t = rotate(t, s.rotate, rng);
  return t;
}
