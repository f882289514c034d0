// Comparing a float32 result with its reference.

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
