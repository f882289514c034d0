// compileCpu: a checked model → its tensor graph (forward, loss, backward) → one kernel per
// node in the kernel IR → a TypeScript module plus the program that runs it: the order of
// kernel calls, the buffers they bind and the parameters with their initialisation.
import type { CheckedModel } from '../check.ts';
import { differentiate } from '../autodiff.ts';
import type { Graph, IrShape, Value } from '../ir.ts';
import { lowerModel } from '../lower.ts';
import { fuseKernels } from '../passes/fuse.ts';
import { planMemory, type MemoryPlan } from '../passes/plan.ts';
import type { SourceMap } from '../source.ts';
import { COMPILER_VERSION } from '../version.ts';
import { buildKernel, optimizerKernels } from './kernels.ts';
import { parallelSplit, type Kernel } from './kir.ts';
import { renderTs, sourcePath } from './render-ts.ts';

export interface ProgramBuffer {
  id: number;
  shape: IrShape;
  dtype: 'f32' | 'i32';
  /** `param:<name>`, `input:<name>` or undefined for intermediates. */
  role?: string;
}

export interface ProgramStep {
  kernel: string;
  /** Buffer ids bound to the kernel's buffers, in order: inputs, then `outputs` outputs. */
  args: number[];
  outputs: number;
  dims: string[];
  phase: 'forward' | 'backward';
}

export interface ProgramParam {
  name: string;
  buffer: number;
  grad: number;
  shape: IrShape;
  init: { kind: string; std?: number };
  decay: boolean;
}

export interface CpuProgram {
  spec: string;
  model: string;
  compiler: string;
  buffers: ProgramBuffer[];
  params: ProgramParam[];
  inputs: { name: string; buffer: number }[];
  outputs: Record<string, number>;
  steps: ProgramStep[];
  /** Kernels of the optimizer step over the parameter arena. */
  optimizer: { gradNorm: string; adamw: string; accumulate: string };
  /** Liveness-based reuse of intermediate buffers (compiler/passes/plan.ts). */
  memory: MemoryPlan;
  /** Kernels that take (part, parts) and may run split across threads. */
  splittable: string[];
}

export interface CompiledCpu {
  program: CpuProgram;
  kernels: Kernel[];
  source: string;
  graph: Graph;
  /** How often each fusion rule fired. */
  fusions: Record<string, number>;
}

export interface CompileOptions {
  /** Run the fusion passes (default on); off gives one kernel per unfused op. */
  fuse?: boolean;
  /** Training graph with dropout (default) or an evaluation graph without. */
  train?: boolean;
}

export function compileCpu(checked: CheckedModel, sources?: SourceMap, opts: CompileOptions = {}): CompiledCpu {
  const { graph, loss } = lowerModel(checked, { train: opts.train ?? true });
  const firstBackwardId = graph.nodes.length;
  differentiate(graph, loss);
  // Each parameter's gradient gets a buffer of its own (the runtime packs them into one arena
  // for the optimizer): copy a gradient that is shared with another or is a graph input.
  const seen = new Set<number>([...graph.params, ...graph.inputs].map((x) => x.value.id));
  for (const p of graph.params) {
    const key = `grad:${p.name}`;
    const gv = graph.outputs.get(key)!;
    if (seen.has(gv.id)) graph.outputs.set(key, graph.add('reshape', [gv], [{ shape: gv.shape }], { shape: gv.shape })[0]);
    seen.add(graph.outputs.get(key)!.id);
  }
  const fusions = opts.fuse === false ? {} : fuseKernels(graph);
  const specFile = sourcePath(checked.model.nameSpan.file);

  // Stable buffer numbering: params, inputs, then node outputs in order.
  const ids = new Map<number, number>();
  const buffers: ProgramBuffer[] = [];
  const bufferOf = (v: Value, role?: string) => {
    let id = ids.get(v.id);
    if (id === undefined) {
      id = buffers.length;
      ids.set(v.id, id);
      buffers.push({ id, shape: v.shape, dtype: v.dtype, role });
    }
    return id;
  };
  graph.params.forEach((p) => bufferOf(p.value, `param:${p.name}`));
  graph.inputs.forEach((i) => bufferOf(i.value, `input:${i.name}`));

  const kernels: Kernel[] = [];
  const byBody = new Map<string, string>();
  const steps: ProgramStep[] = [];
  graph.nodes.forEach((node) => {
    const candidate = buildKernel(node, 'pending');
    if (candidate.buffers.length !== node.inputs.length + node.outputs.length) {
      throw new Error(`internal: kernel for ${node.op} binds ${candidate.buffers.length} buffers, the node has ${node.inputs.length} inputs and ${node.outputs.length} outputs`);
    }
    const key = JSON.stringify([candidate.doc, candidate.buffers, candidate.body]);
    let name = byBody.get(key);
    if (!name) {
      name = `k${kernels.length}_${node.op}`;
      byBody.set(key, name);
      kernels.push({ ...candidate, name });
    }
    steps.push({ kernel: name, args: [...node.inputs.map((v) => bufferOf(v)), ...node.outputs.map((v) => bufferOf(v))], outputs: node.outputs.length, dims: candidate.dims, phase: node.id < firstBackwardId ? 'forward' : 'backward' });
  });
  const outputs: Record<string, number> = {};
  for (const [name, v] of [...graph.outputs].sort(([a], [b]) => a.localeCompare(b))) outputs[name] = bufferOf(v);
  const params: ProgramParam[] = graph.params.map((p) => ({ name: p.name, buffer: bufferOf(p.value), grad: outputs[`grad:${p.name}`], shape: p.value.shape, init: p.init, decay: p.decay }));
  const program: CpuProgram = {
    spec: specFile,
    model: checked.model.name,
    compiler: COMPILER_VERSION,
    buffers,
    params,
    inputs: graph.inputs.map((i) => ({ name: i.name, buffer: bufferOf(i.value) })),
    outputs,
    steps,
    optimizer: { gradNorm: 'opt_grad_norm', adamw: 'opt_adamw', accumulate: 'opt_accumulate' },
    memory: { assignment: {}, slots: [] },
    splittable: [],
  };
  program.memory = planMemory(program);
  kernels.push(...optimizerKernels());
  program.splittable = kernels.filter((k) => parallelSplit(k) !== undefined).map((k) => k.name);
  const source = renderTs(kernels, { header: [`Generated by tfm ${COMPILER_VERSION} from ${specFile} (model \`${checked.model.name}\`). Do not edit.`, `${kernels.length} kernels: ${steps.length} steps of forward, loss and backward, then the optimizer.`], sources });
  return { program, kernels, source, graph, fusions };
}
