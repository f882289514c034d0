// compile: a checked model → its tensor graph (forward, loss, backward) → one kernel per node
// in the kernel IR → the target's schedule and renderer → the target's files plus the program
// that runs them: the order of kernel calls, the buffers they bind and the parameters with
// their initialisation. One driver for every target (compiler/targets/).
import { createHash } from 'node:crypto';
import type { Program, ProgramBuffer, ProgramParam, ProgramStep } from '../../common/program.ts';
import type { CheckedModel } from '../check.ts';
import { differentiate } from '../autodiff.ts';
import type { Graph, Value } from '../ir.ts';
import { lowerForCache, lowerForEncode, lowerModel } from '../lower.ts';
import { fuseKernels } from '../passes/fuse.ts';
import { planMemory } from '../passes/plan.ts';
import { sourcePath, spanAt, type SourceMap } from '../../common/source.ts';
import { COMPILER_VERSION } from '../version.ts';
import { buildKernel, optimizerKernels } from './kernels.ts';
import { parallelSplit, type Kernel } from './kir.ts';
import { scheduled, type Target } from '../targets/target.ts';

export interface Compiled {
  target: string;
  program: Program;
  kernels: Kernel[];
  /** The target's generated files by name (program.json is `program`). */
  files: Record<string, string | Uint8Array>;
  graph: Graph;
  /** How often each fusion rule fired. */
  fusions: Record<string, number>;
}

export interface CompileOptions {
  /** Run the fusion passes (default on); off gives one kernel per unfused op. */
  fuse?: boolean;
  /** Training graph with dropout (default) or an evaluation graph without. */
  train?: boolean;
  /** The inference program of a decoder with a key/value cache (lowerForCache): no loss, no
   *  backward; one program for prefill and decode. */
  cache?: boolean;
  /** The encoder program of an encoder-decoder's cached inference (lowerForEncode): the
   *  encoder and the cross attentions' keys and values. */
  encode?: boolean;
  /** Render the target's files (default on); off leaves `files` empty (tfm diff renders each
   *  kernel itself, with the target's `review`). */
  render?: boolean;
}

export function compile(checked: CheckedModel, target: Target, sources?: SourceMap, opts: CompileOptions = {}): Compiled {
  const inference = opts.cache || opts.encode;
  const lowered = inference ? undefined : lowerModel(checked, { train: opts.train ?? true });
  const graph = lowered?.graph ?? (opts.encode ? lowerForEncode(checked).graph : lowerForCache(checked).graph);
  const firstBackwardId = graph.nodes.length;
  if (lowered) differentiate(graph, lowered.loss);
  // Each parameter's gradient gets a buffer of its own (the runtime packs them into one arena
  // for the optimizer): copy a gradient that is shared with another or is a graph input.
  const seen = new Set<number>([...graph.params, ...graph.inputs].map((x) => x.value.id));
  for (const p of inference ? [] : graph.params) {
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
  const taken = new Set<string>();
  const steps: ProgramStep[] = [];
  const variants = new Set(target.variants ?? []);
  graph.nodes.forEach((node) => {
    const candidate = buildKernel(node, 'pending', variants);
    if (candidate.buffers.length !== node.inputs.length + node.outputs.length) {
      throw new Error(`internal: kernel for ${node.op} binds ${candidate.buffers.length} buffers, the node has ${node.inputs.length} inputs and ${node.outputs.length} outputs`);
    }
    const key = JSON.stringify([candidate.doc, candidate.buffers, candidate.body]);
    let name = byBody.get(key);
    if (!name) {
      // Named by content, not by a running counter: an edit elsewhere in the spec renames no
      // kernel. (Eight hex digits of sha256; more if two kernels would share a name.)
      const digest = createHash('sha256').update(key).digest('hex');
      let n = 8;
      while (taken.has(`${node.op}_${digest.slice(0, n)}`)) n += 4;
      name = `${node.op}_${digest.slice(0, n)}`;
      taken.add(name);
      byBody.set(key, name);
      kernels.push({ ...candidate, name });
    }
    const at = spanAt(node.span, sources);
    steps.push({
      kernel: name,
      op: node.op,
      args: [...node.inputs.map((v) => bufferOf(v)), ...node.outputs.map((v) => bufferOf(v))],
      outputs: node.outputs.length,
      dims: candidate.dims,
      phase: node.id < firstBackwardId ? 'forward' : 'backward',
      ...(at ? { at } : {}),
    });
  });
  const outputs: Record<string, number> = {};
  for (const [name, v] of [...graph.outputs].sort(([a], [b]) => a.localeCompare(b))) outputs[name] = bufferOf(v);
  const params: ProgramParam[] = graph.params.map((p) => ({ name: p.name, buffer: bufferOf(p.value), grad: inference ? -1 : outputs[`grad:${p.name}`], shape: p.value.shape, init: p.init, decay: p.decay }));
  const program: Program = {
    spec: specFile,
    model: checked.model.name,
    compiler: COMPILER_VERSION,
    target: target.name,
    buffers,
    params,
    inputs: graph.inputs.map((i) => ({ name: i.name, buffer: bufferOf(i.value) })),
    outputs,
    steps,
    optimizer: { gradNorm: 'opt_grad_norm', adamw: 'opt_adamw', accumulate: 'opt_accumulate' },
    memory: { assignment: {}, slots: [] },
    splittable: [],
    ...(inference ? { inference: true } : {}),
  };
  program.memory = planMemory(program);
  kernels.push(...optimizerKernels());
  const targetKernels = kernels.map((k) => scheduled(target, k));
  program.splittable = targetKernels.filter((k) => parallelSplit(k) !== undefined).map((k) => k.name);
  const files = opts.render === false ? {} : target.render(targetKernels, { header: [`Generated by tfm ${COMPILER_VERSION} from ${specFile} (model \`${checked.model.name}\`). Do not edit.`, opts.encode ? `${kernels.length} kernels: ${steps.length} steps of the encoder and the cross attentions' keys and values, then the optimizer's (unused).` : opts.cache ? `${kernels.length} kernels: ${steps.length} steps of inference with a key/value cache (prefill and decode), then the optimizer's (unused).` : `${kernels.length} kernels: ${steps.length} steps of forward, loss and backward, then the optimizer.`], sources });
  return { target: target.name, program, kernels: targetKernels, files, graph, fusions };
}
