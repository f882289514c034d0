// The WebGPU target: every kernel as a WGSL compute shader (render.ts), all of them in one
// reviewable file, kernels.wgsl, that the runtime (runtime/webgpu/) splits into shader
// modules. Its schedule sums a bias gradient's columns in parallel rather than its rows in
// turn (column-sums.ts); tiles every contraction (matmul) into 8×8 register tiles, one per
// invocation, reading its operands through textures, four floats (a texel) at a time where
// they are contiguous (gpu-tile.ts); keeps the short output rows an invocation builds in
// place (attention's) in private arrays (privatize.ts); runs each invocation's reductions as loops, vectorizing the
// short ones (head-dim and norm rows) into vec4<f32> arithmetic with four-float loads
// (vectorize.ts, as the Wasm target does, with a GPU's options); and reads what a loop reads
// unchanged once, before it (hoist-loads.ts). The renderer maps each kernel's parallel loops
// to invocations and its top-level reductions to a workgroup tree (render.ts says which).
//
// Measured on lavapipe (GPT-mini, batch 16 × 64, ms per training step, one after another):
// 4×4 tiles 1330; 8×8 1050; vec4 rows 910; vec4 matmul operands 835; hoisted loads 740;
// then, measured side by side with the commit before, the a·b and a·bᵀ operands read through
// textures (aᵀ·b's were slower so) 710–747 → 616–678.
// Larger tiles are a little faster still (10×10: 1000, 12×12: 990 before the rest) but their
// shaders take twice as long to compile. On lavapipe every non-uniform load is a loop over
// the SIMD lanes, so loads, not arithmetic, set the speed; on a GPU the same changes mean
// fewer load instructions and registers reused.
import type { Target } from '../target.ts';
import { gpuTile } from '../../passes/schedule/gpu-tile.ts';
import { privatize } from '../../passes/schedule/privatize.ts';
import { columnSums } from '../../passes/schedule/column-sums.ts';
import { lowerReduce } from '../../passes/schedule/lower-reduce.ts';
import { vectorize } from '../../passes/schedule/vectorize.ts';
import { hoistLoads } from '../../passes/schedule/hoist-loads.ts';
import { dispatchOf, renderKernel, renderWgsl } from './render.ts';
import { textureBytes } from '../../../common/wgsl.ts';

export const webgpuTarget: Target = {
  name: 'webgpu',
  // A GPU needs the attention backward's parallelism more than one pass over the scores.
  variants: ['attention-grad-by-keys'],
  schedule: [columnSums(), gpuTile(8, { textures: true }), privatize(), lowerReduce({ nested: true }), vectorize({ parallel: false, fns: new Set(['exp', 'sqrt', 'max', 'min']), scratch: true, maxReductions: 4 }), hoistLoads()],
  render: (kernels, ctx) => ({ 'kernels.wgsl': renderWgsl(kernels, ctx) }),
  review: (kernels, ctx) => new Map(kernels.map((k) => [k.name, renderKernel(k, ctx.sources)])),
  textureBytes: (program, kernels, dims) => textureBytes(program, new Map(kernels.map((k) => [k.name, dispatchOf(k)])), dims),
};
