// T5's span corruption (Raffel et al. 2020, §3.1.4; `random_spans_noise_mask` and
// `noise_span_to_unique_sentinel` of the t5 library): of a window of L tokens,
// round(L · noise_density) are noise, in round(noise / mean_span_length) spans; the noise and
// the other tokens are each cut into that many non-empty spans at random, and the spans
// alternate, other tokens first. Each noise span becomes one sentinel in the input; the
// target lists each sentinel followed by the tokens it hides, and ends with one more
// sentinel (the paper's `<X> love <Y> red car <Z>`). The batcher appends `<eos>` to both.
import type { Rng } from '../init.ts';

export interface SpanSettings {
  noiseDensity: number;
  meanSpanLength: number;
}

/** How many tokens of a window of `length` are noise, and in how many spans (t5's rounding). */
export function noiseCounts(length: number, s: SpanSettings): { noise: number; spans: number } {
  const n = Math.max(length, 2);
  const noise = Math.min(Math.max(Math.round(n * s.noiseDensity), 1), n - 1);
  const spans = Math.max(Math.round(noise / s.meanSpanLength), 1);
  return { noise, spans };
}

/** Lengths of the input (sentinels in place of spans) and the target (each sentinel, its
 *  span, a closing sentinel) of a window of `length`, before `<eos>`. */
export function corruptedLengths(length: number, s: SpanSettings): { input: number; target: number; spans: number } {
  const { noise, spans } = noiseCounts(length, s);
  return { input: length - noise + spans, target: noise + spans + 1, spans };
}

/** The longest window whose input and target, each with `<eos>`, fit `srcSeq` and `tgtSeq`
 *  (t5's `random_spans_helper`), or 0 when none does. */
export function windowLength(srcSeq: number, tgtSeq: number, s: SpanSettings): number {
  let best = 0;
  for (let l = 2; l <= 64 * srcSeq; l++) {
    const c = corruptedLengths(l, s);
    if (c.input + 1 <= srcSeq && c.target + 1 <= tgtSeq) best = l;
    else if (c.input + 1 > srcSeq) break;
  }
  return best;
}

/** `items` cut into `segments` non-empty runs at random: the lengths of the runs. */
function randomSegmentation(items: number, segments: number, rng: Rng): number[] {
  // Choose segments − 1 of the items − 1 gaps as cuts (a shuffled indicator, as t5 does).
  const cut = new Uint8Array(items - 1);
  cut.fill(1, 0, segments - 1);
  rng.shuffle(cut);
  const lengths: number[] = [];
  let run = 1;
  for (const c of cut) {
    if (c) {
      lengths.push(run);
      run = 1;
    } else run++;
  }
  lengths.push(run);
  return lengths;
}

/** Which tokens of a window of `length` are noise (1), drawn as t5 does. */
export function randomSpansNoiseMask(length: number, s: SpanSettings, rng: Rng): Uint8Array {
  const n = Math.max(length, 2);
  const { noise, spans } = noiseCounts(n, s);
  const noiseRuns = randomSegmentation(noise, spans, rng);
  const keepRuns = randomSegmentation(n - noise, spans, rng);
  const mask = new Uint8Array(n);
  let at = 0;
  for (let k = 0; k < spans; k++) {
    at += keepRuns[k];
    mask.fill(1, at, at + noiseRuns[k]);
    at += noiseRuns[k];
  }
  return mask.subarray(0, length);
}

/** The input and target of `tokens` under a noise mask; `sentinel(k)` is the id of the k-th
 *  sentinel (`<extra_id_k>`). */
export function corruptSpans(tokens: ArrayLike<number>, mask: ArrayLike<number>, sentinel: (k: number) => number): { input: number[]; target: number[] } {
  const input: number[] = [];
  const target: number[] = [];
  let k = 0;
  for (let i = 0; i < tokens.length; i++) {
    if (!mask[i]) {
      input.push(tokens[i]);
      continue;
    }
    if (i === 0 || !mask[i - 1]) {
      input.push(sentinel(k));
      target.push(sentinel(k));
      k++;
    }
    target.push(tokens[i]);
  }
  target.push(sentinel(k));
  return { input, target };
}
