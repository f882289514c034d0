// The WebGPU target: every kernel as a WGSL compute shader (render.ts), all of them in one
// reviewable file, kernels.wgsl, that the runtime (runtime/webgpu/) splits into shader
// modules. Its schedule tiles every contraction (matmul) into 4×4 register tiles, one per
// invocation (gpu-tile.ts), and keeps the short output rows an invocation builds in place
// (attention's) in private arrays (privatize.ts), and sums a bias gradient's columns in
// parallel rather than its rows in turn (column-sums.ts); the renderer maps each kernel's parallel loops to invocations and
// its reductions to accumulator loops or a workgroup tree (render.ts says which, per kernel).
import type { Target } from '../target.ts';
import { gpuTile } from '../../passes/schedule/gpu-tile.ts';
import { privatize } from '../../passes/schedule/privatize.ts';
import { columnSums } from '../../passes/schedule/column-sums.ts';
import { renderWgsl } from './render.ts';

export const webgpuTarget: Target = {
  name: 'webgpu',
  description: 'WGSL compute shaders for WebGPU (Node via Dawn, or a browser)',
  // A GPU needs the attention backward's parallelism more than one pass over the scores.
  variants: ['attention-grad-by-keys'],
  schedule: [columnSums(), gpuTile(4), privatize()],
  render: (kernels, ctx) => ({ 'kernels.wgsl': renderWgsl(kernels, ctx) }),
};
