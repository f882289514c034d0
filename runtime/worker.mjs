// A worker thread of the executor (see threads.ts). Plain JavaScript so that it can register
// tsx's loader before importing the TypeScript runtime and the generated kernels.
import { workerData, parentPort } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
try {
  const { bindTasks } = await import('./executor.ts');
  const { serve } = await import('./threads.ts');
  const { loadKernels } = await import('./kernels.ts');
  const kernels = await loadKernels(workerData.source, workerData.wasm, workerData.part);
  // One task list per set of dims the executor may run with (Executor.create's `variants`),
  // numbered one after the other.
  const tasks = (workerData.dimsList ?? [workerData.dims]).flatMap((dims) => bindTasks(workerData.program, kernels, dims, workerData.memory, workerData.scalars));
  parentPort.postMessage('ready');
  serve(workerData.ctrl, tasks);
} catch (e) {
  parentPort.postMessage(`worker failed: ${e?.stack ?? e}`);
}
