// A program of one generated kernel (the matmul micro-benchmark): the kernel built from an
// IR node by the same builder, schedule and renderer as every model, the optimizer kernels
// the executor binds, and a one-step program — run by the same executor and thread pool.
import { mkdirSync } from 'node:fs';
import { buildKernel, optimizerKernels } from '../compiler/codegen/kernels.ts';
import { parallelSplit } from '../compiler/codegen/kir.ts';
import { Graph, type AttrValue, type IrShape } from '../compiler/ir.ts';
import { emit } from '../compiler/ops.ts';
import { TARGETS } from '../compiler/targets/index.ts';
import { scheduled } from '../compiler/targets/target.ts';
import { writeAtomically } from '../common/files.ts';
import { programJson, type Program } from '../common/program.ts';
import { COMPILER_VERSION } from '../compiler/version.ts';

export function kernelProgram(op: string, inputs: IrShape[], attrs: Record<string, AttrValue>, target: string, dir: string): void {
  const g = new Graph('bench');
  const ins = inputs.map((s, k) => g.input(`x${k}`, s, 'f32'));
  const outs = emit(g, op, ins, attrs);
  const t = TARGETS[target];
  const kernels = [buildKernel(g.nodes[0], 'kernel', new Set(t.variants)), ...optimizerKernels()].map((k) => scheduled(t, k));
  const program: Program = {
    spec: 'bench',
    model: op,
    compiler: COMPILER_VERSION,
    target,
    buffers: [...inputs.map((shape, id) => ({ id, shape, dtype: 'f32' as const, role: `input:x${id}` })), ...outs.map((out, k) => ({ id: inputs.length + k, shape: out.shape, dtype: 'f32' as const }))],
    params: [],
    inputs: inputs.map((_, id) => ({ name: `x${id}`, buffer: id })),
    outputs: { loss: inputs.length },
    steps: [{ kernel: 'kernel', op, args: [...inputs.keys(), ...outs.map((_, k) => inputs.length + k)], outputs: outs.length, dims: kernels[0].dims, phase: 'forward' }],
    optimizer: { gradNorm: 'opt_grad_norm', adamw: 'opt_adamw', accumulate: 'opt_accumulate' },
    memory: { assignment: {}, slots: [] },
    splittable: kernels.filter((k) => parallelSplit(k) !== undefined).map((k) => k.name),
  };
  mkdirSync(dir, { recursive: true });
  for (const [name, data] of Object.entries(t.render(kernels, { header: ['benchmark kernel'] }))) writeAtomically(`${dir}/${name}`, data);
  writeAtomically(`${dir}/program.json`, programJson(program));
}
