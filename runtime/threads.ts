// Worker threads for the second core: every buffer lives in a SharedArrayBuffer, each worker
// binds the same kernel calls to the same memory, and a kernel that can be split (one loop
// marked parallel, see kir.ts parallelSplit) runs as chunks (parts of that loop) that this
// thread and the workers take one at a time. Coordination is a few Atomics on a shared
// control block: no messages per kernel call.
import { Worker } from 'node:worker_threads';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- kernels take typed arrays and numbers
export type Task = { fn: (...args: any[]) => void; args: unknown[]; split: boolean; work: number };

/** Runs a task on this thread alone: a splittable kernel as part 0 of 1 (WebAssembly
 *  kernels have no default arguments). */
export function runWhole(t: Task): void {
  if (t.split) t.fn(...t.args, 0, 1);
  else t.fn(...t.args);
}

/** Control block: [generation, task, chunks, done, next]. The generation is odd while the
 *  main thread writes a task's fields (a sequence lock); `next` is the next chunk to take,
 *  tagged with the generation's low bits so that a worker that woke late cannot take a chunk
 *  of a later task; `done` counts finished chunks. */
const GEN = 0;
const TASK = 1;
const CHUNKS = 2;
const DONE = 3;
const NEXT = 4;
const TAG_SHIFT = 20;
const TAG_MASK = 0x7ff;

/** Kernels smaller than this many elements run on one thread: synchronising costs more. */
export const SPLIT_THRESHOLD = 1 << 14;

/** Chunks per thread: a splittable kernel's parallel loop runs as this many × threads parts,
 *  which the threads take one at a time. On a shared machine a thread is often slowed or
 *  descheduled for a while; with static halves every kernel then waits for the slow half,
 *  with chunks the other thread takes over the rest. Results do not depend on who runs a
 *  chunk (parts write disjoint outputs), so 1 and 2 threads stay bit-identical. */
const CHUNKS_PER_THREAD = 4;

/** Takes and runs chunks of the task of generation `gen` while there are any left. */
function runChunks(ctrl: Int32Array, t: Task, gen: number, chunks: number): void {
  const tag = (gen & TAG_MASK) << TAG_SHIFT;
  for (;;) {
    const cur = Atomics.load(ctrl, NEXT);
    if ((cur & ~((1 << TAG_SHIFT) - 1)) !== tag) return;
    const k = cur & ((1 << TAG_SHIFT) - 1);
    if (k >= chunks) return;
    if (Atomics.compareExchange(ctrl, NEXT, cur, cur + 1) !== cur) continue;
    t.fn(...t.args, k, chunks);
    if (Atomics.add(ctrl, DONE, 1) + 1 === chunks) Atomics.notify(ctrl, DONE);
  }
}

export class ThreadPool {
  readonly ctrl = new Int32Array(new SharedArrayBuffer(20));
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

  /** Runs task `index` of `tasks` on every thread, chunk by chunk, and waits for all chunks.
   *  The workers run their task `offset + index` (the task list of another set of dims). */
  run(tasks: Task[], index: number, offset = 0): void {
    const t = tasks[index];
    if (!t.split || t.work < SPLIT_THRESHOLD) {
      runWhole(t);
      return;
    }
    const chunks = this.threads * CHUNKS_PER_THREAD;
    this.publish(offset + index, chunks);
    const gen = Atomics.load(this.ctrl, GEN);
    runChunks(this.ctrl, t, gen, chunks);
    for (let done = Atomics.load(this.ctrl, DONE); done < chunks; done = Atomics.load(this.ctrl, DONE)) Atomics.wait(this.ctrl, DONE, done);
  }

  /** Writes a task under the sequence lock and wakes the workers. */
  private publish(index: number, chunks: number): void {
    const { ctrl } = this;
    const gen = Atomics.add(ctrl, GEN, 1) + 1; // odd: being written
    Atomics.store(ctrl, TASK, index);
    Atomics.store(ctrl, CHUNKS, chunks);
    Atomics.store(ctrl, DONE, 0);
    Atomics.store(ctrl, NEXT, ((gen + 1) & TAG_MASK) << TAG_SHIFT);
    Atomics.store(ctrl, GEN, gen + 1); // even: published
    Atomics.notify(ctrl, GEN);
  }

  close(): void {
    this.publish(-1, 0);
    for (const w of this.workers) void w.terminate();
  }
}

/** The worker side: wait for a new generation, read its task consistently, take chunks. */
export function serve(ctrl: Int32Array, tasks: Task[]): void {
  let seen = Atomics.load(ctrl, GEN);
  for (;;) {
    Atomics.wait(ctrl, GEN, seen);
    const gen = Atomics.load(ctrl, GEN);
    if (gen & 1) continue; // being written: look again
    const index = Atomics.load(ctrl, TASK);
    const chunks = Atomics.load(ctrl, CHUNKS);
    if (Atomics.load(ctrl, GEN) !== gen) continue; // overwritten meanwhile
    seen = gen;
    if (index < 0) return;
    runChunks(ctrl, tasks[index], gen, chunks);
  }
}
