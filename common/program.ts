// The program schema: what a compiled model is, for every target — its buffers, parameters,
// inputs and outputs, the kernel calls of one training step in order, the optimizer's
// kernels and the memory plan. The compiler writes it (program.json); the runtime reads it
// and binds it to the target's kernels. It lives here, outside compiler/ and runtime/, so
// that both can import it and neither imports the other.

/** A dim is a constant size or a run-time symbol (`batch`, `seq`, `src_seq`, `tgt_seq`). */
export type SymDim = number | string;
export type IrShape = SymDim[];
export type DType = 'f32' | 'i32';

/** Number of elements for given run-time dims. */
export function numel(s: IrShape, dims: Record<string, number> = {}): number {
  return s.reduce<number>((n, d) => n * (typeof d === 'number' ? d : (dims[d] ?? NaN)), 1);
}

export function sameShape(a: readonly SymDim[], b: readonly SymDim[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function resolveShape(s: IrShape, dims: Record<string, number>): number[] {
  return s.map((d) => {
    if (typeof d === 'number') return d;
    const v = dims[d];
    if (v === undefined) throw new Error(`run-time dim \`${d}\` has no value`);
    return v;
  });
}

/** Bytes at the start of a WebAssembly target's linear memory where no buffer is placed:
 *  the Wasm renderer folds constant index offsets up to this size into its loads' and
 *  stores' offset fields, which is exact only because no in-bounds address lies below it. */
export const WASM_LOW_MEMORY = 65536;
/** Bytes of scratch per thread above WASM_LOW_MEMORY (thread t's at LOW + t·SCRATCH), for
 *  kernels' work areas (kir.ts Kernel.scratch): packed matmul panels. */
export const WASM_SCRATCH_BYTES = 65536;

export interface ProgramBuffer {
  id: number;
  shape: IrShape;
  dtype: DType;
  /** `param:<name>`, `input:<name>` or undefined for intermediates. */
  role?: string;
}

export interface ProgramStep {
  kernel: string;
  /** The tensor-IR op the step computes (a fused op for fused steps). */
  op: string;
  /** Buffer ids bound to the kernel's buffers, in order: inputs, then `outputs` outputs. */
  args: number[];
  outputs: number;
  dims: string[];
  phase: 'forward' | 'backward';
  /** The spec line it came from, `file:line:col` (when compiled with the sources; the backward
   *  steps carry their forward node's span). */
  at?: string;
}

export interface ProgramParam {
  name: string;
  buffer: number;
  /** The gradient's buffer; -1 in an inference program (`inference`), which has none. */
  grad: number;
  shape: IrShape;
  init: { kind: string; std?: number };
  decay: boolean;
}

/** Liveness-based reuse of intermediate buffers (compiler/passes/plan.ts). */
export interface MemoryPlan {
  /** Slot of each planned buffer id (buffers not listed keep their own storage). */
  assignment: Record<number, number>;
  slots: { dtype: DType; shape: IrShape }[];
}

export interface Program {
  spec: string;
  model: string;
  compiler: string;
  /** The target the kernels were generated for (`ts`, `wasm`): how the runtime loads them. */
  target: string;
  buffers: ProgramBuffer[];
  params: ProgramParam[];
  inputs: { name: string; buffer: number }[];
  outputs: Record<string, number>;
  steps: ProgramStep[];
  /** Kernels of the optimizer step over the parameter arena. */
  optimizer: { gradNorm: string; adamw: string; accumulate: string };
  memory: MemoryPlan;
  /** Kernels that take (part, parts) and may run split across threads. */
  splittable: string[];
  /** An inference program (the prefill/decode program with a key/value cache): no backward
   *  steps, no gradients, no optimizer state — executors allocate parameters only. */
  inference?: boolean;
}

/** Where an executor keeps program buffer `id`: parameter k's or gradient k's place in the
 *  parameter / gradient arena, a memory-plan slot, or storage of its own. The WebGPU executor
 *  lays its regions out by it and `textureBytes` (common/wgsl.ts) keys the textures read
 *  through them by it, so that the memory `tfm compile` reports is the memory an executor
 *  allocates. */
export type Storage = { kind: 'param'; k: number } | { kind: 'grad'; k: number } | { kind: 'slot'; slot: number } | { kind: 'own' };

export function storageOf(program: Program, id: number): Storage {
  const pk = program.params.findIndex((p) => p.buffer === id);
  if (pk >= 0) return { kind: 'param', k: pk };
  const gk = program.params.findIndex((p) => p.grad === id);
  if (gk >= 0) return { kind: 'grad', k: gk };
  const slot = program.memory.assignment[id];
  return slot !== undefined ? { kind: 'slot', slot } : { kind: 'own' };
}

/** The optimizer's tasks, numbered after the program's steps (index steps.length + task) by
 *  every executor: in profiles (onKernel) and in the CPU executor's task list. */
export const OPT = { gradNorm: 0, adamw: 1, gradNormAcc: 2, adamwAcc: 3, accumulate: 4 } as const;

/** program.json as reviewers read it in diffs: one line per buffer, parameter, step, memory
 *  slot and output, so that a change to one kernel call is a change to one line. */
export function programJson(p: Program): string {
  const out: string[] = [];
  const write = (value: unknown, indent: string, inArray: boolean, tail: string, key?: string) => {
    const head = `${indent}${key === undefined ? '' : `${JSON.stringify(key)}: `}`;
    const isObject = value !== null && typeof value === 'object' && !Array.isArray(value);
    const expandable = Array.isArray(value) ? value.some((x) => x !== null && typeof x === 'object') : isObject && !inArray;
    if (!expandable) {
      out.push(`${head}${JSON.stringify(value)}${tail}`);
      return;
    }
    const entries: [string | undefined, unknown][] = Array.isArray(value) ? value.map((x) => [undefined, x]) : Object.entries(value as object);
    out.push(`${head}${Array.isArray(value) ? '[' : '{'}`);
    entries.forEach(([k, v], i) => write(v, `${indent} `, Array.isArray(value), i < entries.length - 1 ? ',' : '', k));
    out.push(`${indent}${Array.isArray(value) ? ']' : '}'}${tail}`);
  };
  write(p, '', false, '');
  return out.join('\n') + '\n';
}
