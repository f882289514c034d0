// The thin executor: owns the buffers of a compiled program and calls its generated kernels
// in order. It holds no arithmetic of its own — every number is computed by a kernel.
import type { CpuProgram } from '../compiler/codegen/compile.ts';
import { resolveShape } from '../compiler/ir.ts';

export type KernelFn = (...args: (Float32Array | Int32Array | number)[]) => void;
export type KernelModule = Record<string, KernelFn>;
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

export class Executor {
  readonly buffers: Buffer[];
  /** All parameters, packed in program order; each parameter buffer is a view into it. */
  readonly paramArena: Float32Array;
  readonly gradArena: Float32Array;
  private readonly moments: [Float32Array, Float32Array];
  private readonly decayMask: Float32Array;
  private readonly clip = new Float32Array(2);
  private readonly calls: { fn: KernelFn; args: (Buffer | number)[]; phase: 'forward' | 'backward' }[];
  private readonly kernels: KernelModule;
  /** Optimizer steps taken (AdamW's bias correction counts from 1). */
  steps = 0;

  constructor(
    readonly program: CpuProgram,
    kernels: KernelModule,
    readonly dims: Record<string, number>,
  ) {
    this.kernels = kernels;
    const sizeOf = (id: number) => resolveShape(program.buffers[id].shape, dims).reduce((a, x) => a * x, 1);
    const total = program.params.reduce((s, p) => s + sizeOf(p.buffer), 0);
    this.paramArena = new Float32Array(total);
    this.gradArena = new Float32Array(total);
    this.moments = [new Float32Array(total), new Float32Array(total)];
    this.decayMask = new Float32Array(total);
    const views = new Map<number, Buffer>();
    let offset = 0;
    for (const p of program.params) {
      const n = sizeOf(p.buffer);
      views.set(p.buffer, this.paramArena.subarray(offset, offset + n));
      views.set(p.grad, this.gradArena.subarray(offset, offset + n));
      if (p.decay) this.decayMask.fill(1, offset, offset + n);
      offset += n;
    }
    // Intermediates share the slots of the compiler's memory plan (liveness-based reuse).
    const slots = program.memory.slots.map((s) => {
      const n = resolveShape(s.shape, dims).reduce((a, x) => a * x, 1);
      return s.dtype === 'i32' ? new Int32Array(n) : new Float32Array(n);
    });
    for (const [id, slot] of Object.entries(program.memory.assignment)) views.set(Number(id), slots[slot]);
    this.buffers = program.buffers.map((b) => views.get(b.id) ?? (b.dtype === 'i32' ? new Int32Array(sizeOf(b.id)) : new Float32Array(sizeOf(b.id))));
    this.calls = program.steps.map((s) => {
      const fn = kernels[s.kernel];
      if (!fn) throw new Error(`generated module has no kernel ${s.kernel}: regenerate it`);
      return { fn, args: [...s.args.map((id) => this.buffers[id]), ...s.dims.map((d) => dims[d])], phase: s.phase };
    });
  }

  private byRole(role: string): Buffer {
    const b = this.program.buffers.find((x) => x.role === role);
    if (!b) throw new Error(`program has no ${role}`);
    return this.buffers[b.id];
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
    return this.buffers[id];
  }

  grad(name: string): Float32Array {
    return this.output(`grad:${name}`) as Float32Array;
  }

  /** Runs the forward pass and the loss; returns the loss. */
  forward(): number {
    for (const c of this.calls) if (c.phase === 'forward') c.fn(...c.args);
    return this.output('loss')[0];
  }

  /** Runs the backward pass (after `forward`), filling every `grad:<param>` output. */
  backward(): void {
    for (const c of this.calls) if (c.phase === 'backward') c.fn(...c.args);
  }

  private accArena?: Float32Array;

  /** Adds the current gradients, scaled, into the accumulation arena (the first call resets it). */
  accumulate(scale: number, first: boolean): void {
    this.accArena ??= new Float32Array(this.gradArena.length);
    this.kernels[this.program.optimizer.accumulate](this.accArena, this.gradArena, this.gradArena.length, scale, first ? 1 : 0);
  }

  /** One AdamW step over all parameters from the current gradients (or the accumulated ones);
   *  returns the global gradient norm before clipping. */
  optimizerStep(s: AdamWSettings, opts: { accumulated?: boolean } = {}): number {
    const n = this.paramArena.length;
    const grads = opts.accumulated ? this.accArena! : this.gradArena;
    this.steps++;
    this.kernels[this.program.optimizer.gradNorm](grads, this.clip, n, s.maxNorm);
    this.kernels[this.program.optimizer.adamw](this.paramArena, grads, this.moments[0], this.moments[1], this.decayMask, this.clip, n, s.lr, s.beta1, s.beta2, s.eps, s.weightDecay, this.steps);
    return this.clip[1];
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
