// The thin executor: owns the buffers of a compiled program and calls its generated kernels
// in order. It holds no arithmetic of its own — every number is computed by a kernel. With
// `threads > 1` all memory is shared and splittable kernels run on every core (threads.ts).
import { OPT, resolveShape, type Program } from '../common/program.ts';
import { runWhole, ThreadPool, type Task } from './threads.ts';
import { loadKernels, usesLinearMemory, wasmBuffersStart, wasmMemory, type KernelSource } from './kernels.ts';

export type KernelFn = (...args: (Float32Array | Int32Array | number)[]) => void;
export type KernelModule = Record<string, KernelFn> & { [k: string]: unknown };
type Buffer = Float32Array | Int32Array;

export interface AdamWSettings {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip gradients to this global L2 norm; 0 disables clipping. */
  maxNorm: number;
}

/**
 * What the training loop and the commands use of an executor, whatever runs it: host arrays
 * of the parameters, the Adam moments and the inputs, and methods that, on a device that
 * answers later (WebGPU), return promises — the callers await every one (on the CPU they
 * return values). Host arrays and the device meet at two points: `push()` sends the host
 * parameters and moments (after initialising or restoring them), `pull()` brings them back
 * (before a checkpoint, a finiteness check or a copy to another executor); inputs go to the
 * device with each forward pass.
 */
export interface ModelRunner {
  readonly program: Program;
  /** Optimizer steps taken (AdamW's bias correction counts from 1). */
  steps: number;
  readonly paramArena: Float32Array;
  readonly mem: { m: Float32Array; v: Float32Array };
  param(name: string): Float32Array;
  input(name: string): Buffer;
  hasInput(name: string): boolean;
  /** Runs the forward pass and the loss; returns the loss. */
  forward(): number | Promise<number>;
  backward(): void | Promise<void>;
  /** The global gradient norm, and the clip factor the next update uses. */
  gradientNorm(maxNorm: number): number | Promise<number>;
  applyUpdate(s: AdamWSettings): void | Promise<void>;
  /** An output (`logits`, `grad:<param>`) as the last pass left it. */
  read(name: string): Buffer | Promise<Buffer>;
  /** Overwrites an output buffer (a key/value cache reordered by beam search), from its start. */
  write(name: string, data: Float32Array | Int32Array): void;
  push(): void;
  pull(): void | Promise<void>;
  close(): void;
  /** An executor of the same program and memory for other dims, none larger than these
   *  (the decode program beside the prefill program of a key/value cache). */
  withDims(dims: Record<string, number>): ModelRunner;
  /** When set, called after every kernel call with its index (program steps, then the
   *  optimizer's tasks: common/program.ts OPT) and its time in ms. */
  onKernel?: (index: number, ms: number) => void;
  /** What onKernel's times measure (undefined: this executor cannot time kernels). */
  readonly kernelClock?: string;
}

/** Every buffer of a program for given run-time dims. */
export interface Memory {
  buffers: Buffer[];
  /** All parameters, packed in program order; each parameter buffer is a view into it. */
  params: Float32Array;
  grads: Float32Array;
  acc: Float32Array;
  m: Float32Array;
  v: Float32Array;
  decay: Float32Array;
  clip: Float32Array;
}

/** Where a program's memory lives: a plain or shared ArrayBuffer, or (for the WebAssembly
 *  target) the buffer of a shared WebAssembly.Memory, given its size in bytes. */
export type Arena = (bytes: number) => ArrayBufferLike;

export const plainArena: Arena = (bytes) => new ArrayBuffer(bytes);
export const sharedArena: Arena = (bytes) => new SharedArrayBuffer(bytes);

/** Every buffer of the program as a view into one arena, from byte `start` on; each allocation starts 16-byte
 *  aligned (SIMD kernels load in whole vectors; unaligned loads are legal, only slower). */
export function allocate(program: Program, dims: Record<string, number>, arena: Arena = plainArena, start = 0): Memory {
  const count = (shape: (number | string)[]) => resolveShape(shape, dims).reduce((a, x) => a * x, 1);
  // Two passes over the same allocation order: the first measures, the second carves.
  let buffer: ArrayBufferLike | undefined;
  let offset = start;
  const take = (n: number) => {
    const at = offset;
    offset += Math.ceil((4 * n) / 16) * 16;
    return at;
  };
  const f32 = (n: number) => {
    const at = take(n);
    return buffer ? new Float32Array(buffer, at, n) : new Float32Array(0);
  };
  const i32 = (n: number) => {
    const at = take(n);
    return buffer ? new Int32Array(buffer, at, n) : new Int32Array(0);
  };
  carve(program, count, f32, i32);
  buffer = arena(offset);
  offset = start;
  return carve(program, count, f32, i32);
}

function carve(program: Program, count: (shape: (number | string)[]) => number, f32: (n: number) => Float32Array, i32: (n: number) => Int32Array): Memory {
  const total = program.params.reduce((s, p) => s + count(program.buffers[p.buffer].shape), 0);
  // An inference program has no gradients and no optimizer state.
  const opt = program.inference ? 0 : total;
  const mem = { params: f32(total), grads: f32(opt), acc: f32(opt), m: f32(opt), v: f32(opt), decay: f32(opt), clip: f32(2) };
  const views = new Map<number, Buffer>();
  let offset = 0;
  for (const p of program.params) {
    const n = count(program.buffers[p.buffer].shape);
    views.set(p.buffer, mem.params.subarray(offset, offset + n));
    if (p.grad >= 0) views.set(p.grad, mem.grads.subarray(offset, offset + n));
    if (p.decay) mem.decay.fill(1, offset, offset + n);
    offset += n;
  }
  // Intermediates share the slots of the compiler's memory plan (liveness-based reuse).
  const slots = program.memory.slots.map((s) => (s.dtype === 'i32' ? i32(count(s.shape)) : f32(count(s.shape))));
  for (const [id, slot] of Object.entries(program.memory.assignment)) views.set(Number(id), slots[slot]);
  const buffers = program.buffers.map((b) => views.get(b.id) ?? (b.dtype === 'i32' ? i32(count(b.shape)) : f32(count(b.shape))));
  return { ...mem, buffers };
}

export { OPT } from '../common/program.ts';

export function bindTasks(program: Program, kernels: KernelModule, dims: Record<string, number>, mem: Memory, scalars: Float64Array): Task[] {
  const fn = (name: string) => {
    const f = kernels[name];
    if (typeof f !== 'function') throw new Error(`generated module has no kernel ${name}: regenerate it`);
    return f as KernelFn;
  };
  const split = new Set(program.splittable);
  const splittable = (name: string) => split.has(name);
  const tasks: Task[] = program.steps.map((s) => {
    const args = [...s.args.map((id) => mem.buffers[id]), ...s.dims.map((d) => dims[d])];
    return { fn: fn(s.kernel), args, split: splittable(s.kernel), work: Math.max(...s.args.map((id) => mem.buffers[id].length)) };
  });
  const n = mem.params.length;
  const o = program.optimizer;
  const dynamic = (name: string, bufs: () => Buffer[], nScalars: number): Task => {
    const f = fn(name);
    return { fn: (...extra: unknown[]) => f(...bufs(), n, ...Array.from(scalars.subarray(0, nScalars)), ...(extra as number[])), args: [], split: splittable(name), work: n };
  };
  tasks.push(
    dynamic(o.gradNorm, () => [mem.grads, mem.clip], 1),
    dynamic(o.adamw, () => [mem.params, mem.grads, mem.m, mem.v, mem.decay, mem.clip], 6),
    dynamic(o.gradNorm, () => [mem.acc, mem.clip], 1),
    dynamic(o.adamw, () => [mem.params, mem.acc, mem.m, mem.v, mem.decay, mem.clip], 6),
    dynamic(o.accumulate, () => [mem.acc, mem.grads], 2),
  );
  return tasks;
}

export class Executor implements ModelRunner {
  readonly mem: Memory;
  private readonly tasks: Task[];
  private readonly scalars: Float64Array;
  private readonly forwardSteps: number[];
  private readonly backwardSteps: number[];
  /** Optimizer steps taken (AdamW's bias correction counts from 1). */
  steps = 0;
  /** When set, called after every kernel call with its index (program steps, then the
   *  optimizer's tasks) and its wall time in ms, all threads included: the per-kernel
   *  profile (`bench/profile.ts`). */
  onKernel?: (index: number, ms: number) => void;
  readonly kernelClock = 'wall time of each call, all threads included';

  constructor(
    readonly program: Program,
    private readonly kernels: KernelModule,
    readonly dims: Record<string, number>,
    private readonly pool?: ThreadPool,
    memory?: Memory,
    /** Where this executor's tasks start in the workers' lists (a variant's dims). */
    private readonly taskOffset = 0,
    /** Dims sets the workers have tasks for (Executor.create's `variants`), in order. */
    private readonly variants: Record<string, number>[] = [],
    /** Made by withDims: the pool belongs to another executor. */
    private readonly borrowed = false,
  ) {
    this.mem = memory ?? allocate(program, dims);
    this.scalars = pool?.scalars ?? new Float64Array(16);
    this.tasks = bindTasks(program, kernels, dims, this.mem, this.scalars);
    this.forwardSteps = program.steps.flatMap((s, k) => (s.phase === 'forward' ? [k] : []));
    this.backwardSteps = program.steps.flatMap((s, k) => (s.phase === 'backward' ? [k] : []));
  }

  /** An executor of a program whose kernels are at `source`; splittable kernels run on
   *  `threads` threads (this one and workers), all over one shared memory. */
  static async create(program: Program, source: KernelSource, dims: Record<string, number>, opts: { threads?: number; variants?: Record<string, number>[] } = {}): Promise<Executor> {
    const threads = opts.threads ?? 1;
    let wasm: WebAssembly.Memory | undefined;
    const arena: Arena = usesLinearMemory(source) ? (bytes) => (wasm = wasmMemory(bytes)).buffer : threads > 1 ? sharedArena : plainArena;
    const memory = allocate(program, dims, arena, usesLinearMemory(source) ? wasmBuffersStart(threads) : 0);
    const kernels = await loadKernels(source, wasm);
    if (threads <= 1) return new Executor(program, kernels, dims, undefined, memory);
    // The workers bind a task list for the dims and one for each variant (withDims).
    const variants = (opts.variants ?? []).map((v) => ({ ...dims, ...v }));
    const pool = await ThreadPool.start(threads, { program, dims, dimsList: [dims, ...variants], memory, source, wasm });
    return new Executor(program, kernels, dims, pool, memory, 0, variants);
  }

  close(): void {
    if (!this.borrowed) this.pool?.close();
  }

  /** An executor of the same program over the same memory and kernels for other run-time
   *  dims, each no larger than those the memory was allocated for (every buffer then fits):
   *  the decode program (seq 1) beside the prefill program (seq = the longest prompt), which
   *  share the parameters and the key/value cache. It runs on the threads when its dims are
   *  one of the `variants` the executor was created with, else on this thread alone (the
   *  workers' tasks are bound to dims); closing it closes nothing. */
  withDims(dims: Record<string, number>): Executor {
    for (const [k, n] of Object.entries(dims)) if (!(n <= (this.dims[k] ?? -1))) throw new Error(`dim ${k} = ${n} exceeds the allocated ${this.dims[k]}`);
    const all = { ...this.dims, ...dims };
    const key = (d: Record<string, number>) => JSON.stringify(Object.entries(d).sort(([a], [b]) => a.localeCompare(b)));
    const v = this.variants.findIndex((x) => key(x) === key(all));
    const perList = this.tasks.length;
    return v >= 0 ? new Executor(this.program, this.kernels, all, this.pool, this.mem, (v + 1) * perList, [], true) : new Executor(this.program, this.kernels, all, undefined, this.mem);
  }

  /** The host arrays are the executor's memory: nothing to move. */
  push(): void {}
  pull(): void {}

  read(name: string): Buffer {
    return this.output(name);
  }

  write(name: string, data: Float32Array | Int32Array): void {
    this.output(name).set(data);
  }

  private run(index: number): void {
    const t0 = this.onKernel ? performance.now() : 0;
    if (this.pool) this.pool.run(this.tasks, index, this.taskOffset);
    else runWhole(this.tasks[index]);
    this.onKernel?.(index, performance.now() - t0);
  }

  get buffers(): Buffer[] {
    return this.mem.buffers;
  }
  get paramArena(): Float32Array {
    return this.mem.params;
  }
  get gradArena(): Float32Array {
    return this.mem.grads;
  }

  private byRole(role: string): Buffer {
    const b = this.program.buffers.find((x) => x.role === role);
    if (!b) throw new Error(`program has no ${role}`);
    return this.mem.buffers[b.id];
  }

  param(name: string): Float32Array {
    return this.byRole(`param:${name}`) as Float32Array;
  }

  input(name: string): Buffer {
    return this.byRole(`input:${name}`);
  }

  hasInput(name: string): boolean {
    return this.program.inputs.some((i) => i.name === name);
  }

  output(name: string): Buffer {
    const id = this.program.outputs[name];
    if (id === undefined) throw new Error(`program has no output ${name}`);
    return this.mem.buffers[id];
  }

  grad(name: string): Float32Array {
    return this.output(`grad:${name}`) as Float32Array;
  }

  /** Runs the forward pass and the loss; returns the loss. */
  forward(): number {
    for (const k of this.forwardSteps) this.run(k);
    // An inference program has no loss.
    return 'loss' in this.program.outputs ? this.output('loss')[0] : NaN;
  }

  /** Runs the forward steps up to the one that writes output `name` (the logits, say), and
   *  returns that output: inference without the loss. */
  forwardTo(name: string): Buffer {
    const id = this.program.outputs[name];
    if (id === undefined) throw new Error(`program has no output ${name}`);
    let last = -1;
    this.forwardSteps.forEach((k, at) => {
      if (this.program.steps[k].args.slice(-this.program.steps[k].outputs).includes(id)) last = at;
    });
    if (last < 0) throw new Error(`no forward step writes ${name}`);
    for (const k of this.forwardSteps.slice(0, last + 1)) this.run(k);
    return this.mem.buffers[id];
  }

  /** Runs the backward pass (after `forward`), filling every `grad:<param>` output. */
  backward(): void {
    for (const k of this.backwardSteps) this.run(k);
  }

  private optimizer(task: number, scalars: number[]): void {
    this.scalars.set(scalars);
    this.run(this.program.steps.length + task);
  }

  /** Adds the current gradients, scaled, into the accumulation arena (the first call resets it). */
  accumulate(scale: number, first: boolean): void {
    this.optimizer(OPT.accumulate, [scale, first ? 1 : 0]);
  }

  /** The global L2 norm of the current (or accumulated) gradients, and the clip factor the
   *  next update will use. */
  gradientNorm(maxNorm: number, accumulated = false): number {
    this.optimizer(accumulated ? OPT.gradNormAcc : OPT.gradNorm, [maxNorm]);
    return this.mem.clip[1];
  }

  /** The AdamW update from the gradients whose norm `gradientNorm` just took. */
  applyUpdate(s: AdamWSettings, accumulated = false): void {
    this.steps++;
    this.optimizer(accumulated ? OPT.adamwAcc : OPT.adamw, [s.lr, s.beta1, s.beta2, s.eps, s.weightDecay, this.steps]);
  }

  /** One AdamW step over all parameters from the current gradients (or the accumulated ones);
   *  returns the global gradient norm before clipping. */
  optimizerStep(s: AdamWSettings, opts: { accumulated?: boolean } = {}): number {
    const norm = this.gradientNorm(s.maxNorm, opts.accumulated);
    this.applyUpdate(s, opts.accumulated);
    return norm;
  }

  /** One training step over micro-batches (gradient accumulation): each `load(k)` fills the
   *  inputs of micro-batch k; gradients are averaged; returns the mean loss. */
  trainStep(micro: number, load: (k: number) => void, s: AdamWSettings): { loss: number; gradNorm: number } {
    let loss = 0;
    for (let k = 0; k < micro; k++) {
      load(k);
      loss += this.forward() / micro;
      this.backward();
      if (micro > 1) this.accumulate(1 / micro, k === 0);
    }
    return { loss, gradNorm: this.optimizerStep(s, { accumulated: micro > 1 }) };
  }
}
