// Worker threads for the second core: every buffer lives in a SharedArrayBuffer, each worker
// binds the same kernel calls to the same memory, and a kernel that can be split (one loop
// marked parallel, see kir.ts parallelSplit) runs part 0 here and parts 1.. in the workers.
// Coordination is a few Atomics on a shared control block: no messages per kernel call.
import { Worker } from 'node:worker_threads';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- kernels take typed arrays and numbers
export type Task = { fn: (...args: any[]) => void; args: unknown[]; split: boolean; work: number };

/** Runs a task on this thread alone: a splittable kernel as part 0 of 1 (WebAssembly
 *  kernels have no default arguments). */
export function runWhole(t: Task): void {
  if (t.split) t.fn(...t.args, 0, 1);
  else t.fn(...t.args);
}

/** Control block: [generation, task, parts, done]. */
const GEN = 0;
const TASK = 1;
const PARTS = 2;
const DONE = 3;

/** Kernels smaller than this many elements run on one thread: synchronising costs more. */
export const SPLIT_THRESHOLD = 1 << 14;

export class ThreadPool {
  readonly ctrl = new Int32Array(new SharedArrayBuffer(16));
  readonly scalars = new Float64Array(new SharedArrayBuffer(8 * 16));
  private readonly workers: Worker[] = [];

  private constructor(readonly threads: number) {}

  static async start(threads: number, workerData: Record<string, unknown>): Promise<ThreadPool> {
    const pool = new ThreadPool(threads);
    const ready: Promise<void>[] = [];
    for (let w = 1; w < threads; w++) {
      const worker = new Worker(new URL('./worker.mjs', import.meta.url), { workerData: { ...workerData, part: w, ctrl: pool.ctrl, scalars: pool.scalars } });
      worker.unref();
      pool.workers.push(worker);
      ready.push(
        new Promise((res, rej) => {
          worker.once('message', (m) => (m === 'ready' ? res() : rej(new Error(String(m)))));
          worker.once('error', rej);
        }),
      );
    }
    await Promise.all(ready);
    return pool;
  }

  /** Runs task `index` of `tasks` on every thread (this one takes part 0) and waits for all. */
  run(tasks: Task[], index: number): void {
    const t = tasks[index];
    if (!t.split || t.work < SPLIT_THRESHOLD) {
      runWhole(t);
      return;
    }
    const parts = this.threads;
    Atomics.store(this.ctrl, TASK, index);
    Atomics.store(this.ctrl, PARTS, parts);
    Atomics.store(this.ctrl, DONE, 0);
    Atomics.add(this.ctrl, GEN, 1);
    Atomics.notify(this.ctrl, GEN);
    t.fn(...t.args, 0, parts);
    for (let done = Atomics.load(this.ctrl, DONE); done < parts - 1; done = Atomics.load(this.ctrl, DONE)) Atomics.wait(this.ctrl, DONE, done);
  }

  close(): void {
    Atomics.store(this.ctrl, TASK, -1);
    Atomics.add(this.ctrl, GEN, 1);
    Atomics.notify(this.ctrl, GEN);
    for (const w of this.workers) void w.terminate();
  }
}

/** The worker side: wait for a generation bump, run our part of the task, count it done. */
export function serve(ctrl: Int32Array, tasks: Task[], part: number): void {
  let gen = Atomics.load(ctrl, GEN);
  for (;;) {
    Atomics.wait(ctrl, GEN, gen);
    gen = Atomics.load(ctrl, GEN);
    const index = Atomics.load(ctrl, TASK);
    if (index < 0) return;
    const parts = Atomics.load(ctrl, PARTS);
    const t = tasks[index];
    if (part < parts) t.fn(...t.args, part, parts);
    Atomics.add(ctrl, DONE, 1);
    Atomics.notify(ctrl, DONE);
  }
}
