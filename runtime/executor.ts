// The thin executor: owns the buffers of a compiled program and calls its generated kernels
// in order. It holds no arithmetic of its own — every number is computed by a kernel.
import type { CpuProgram } from '../compiler/codegen/compile.ts';
import { resolveShape } from '../compiler/ir.ts';

export type KernelFn = (...args: (Float32Array | Int32Array | number)[]) => void;
export type KernelModule = Record<string, KernelFn>;
type Buffer = Float32Array | Int32Array;

export class Executor {
  readonly buffers: Buffer[];
  private readonly calls: { fn: KernelFn; args: (Buffer | number)[]; phase: 'forward' | 'backward' }[];

  constructor(
    readonly program: CpuProgram,
    kernels: KernelModule,
    readonly dims: Record<string, number>,
  ) {
    this.buffers = program.buffers.map((b) => {
      const n = resolveShape(b.shape, dims).reduce((a, x) => a * x, 1);
      return b.dtype === 'i32' ? new Int32Array(n) : new Float32Array(n);
    });
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
}
