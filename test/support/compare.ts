// Comparing a float32 result with its reference.
import { expect } from 'vitest';

/** ‖a − b‖ / ‖b‖, with ‖b‖ floored at 1e-6: some gradients are exactly zero in exact
 *  arithmetic (a key bias under softmax's shift invariance) and only round-off in f32. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-6);
}

/** ‖a‖, the Euclidean norm. */
export function l2(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/** A key bias's gradient is exactly zero in exact arithmetic (it shifts all the scores of a
 *  query alike, which softmax ignores), so both sides hold rounding noise: each is held to be
 *  noise-sized next to the query bias's gradient instead of compared with the other. */
export function expectKeyBiasNoise(name: string, ours: ArrayLike<number>, theirs: ArrayLike<number>, queryBias: ArrayLike<number>, seed: number): void {
  const scale = l2(queryBias);
  expect(l2(ours) / scale, `gradient of ${name} (ours), seed ${seed}`).toBeLessThan(1e-5);
  expect(l2(theirs) / scale, `gradient of ${name} (PyTorch), seed ${seed}`).toBeLessThan(1e-5);
}
