// A worker of `npm run fuzz`: runs the cases it is given (indices start, start + stride, ...)
// and publishes the index it is on, so that the main thread can tell a hang from progress.
// Plain JavaScript so that it can register tsx's loader before importing the engine.
import { parentPort, workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { context, runCase } = await import('./engine.ts');
const { seed, start, stride, end, slot } = workerData;
const current = new Int32Array(workerData.current);
const done = new Int32Array(workerData.done);
const rejected = new Int32Array(workerData.rejected);
const ctx = context();
parentPort.postMessage({ ready: true });
for (let i = start; i < end; i += stride) {
  Atomics.store(current, slot, i);
  const { findings, rejected: r } = runCase(ctx, seed, i);
  if (r) Atomics.add(rejected, 0, 1);
  for (const f of findings) parentPort.postMessage({ finding: { ...f, index: i } });
  Atomics.add(done, 0, 1);
}
Atomics.store(current, slot, -1);
parentPort.postMessage({ finished: true });
