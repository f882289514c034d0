// The WebGPU target: every kernel as a WGSL compute shader (render.ts), all of them in one
// reviewable file, kernels.wgsl, that the runtime (runtime/webgpu/) splits into shader
// modules. Its schedule is empty for now: the renderer maps a kernel's parallel loops to
// invocations and its reductions to accumulator loops or a workgroup tree (render.ts says
// which, per kernel); tiled matmul and attention schedules come as passes.
import type { Target } from '../target.ts';
import { renderWgsl } from './render.ts';

export const webgpuTarget: Target = {
  name: 'webgpu',
  description: 'WGSL compute shaders for WebGPU (Node via Dawn, or a browser)',
  schedule: [],
  render: (kernels, ctx) => ({ 'kernels.wgsl': renderWgsl(kernels, ctx) }),
};
