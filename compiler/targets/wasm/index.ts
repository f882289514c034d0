// The WebAssembly SIMD CPU target: the same kernels as the TypeScript target, as one Wasm
// module with 128-bit SIMD that every thread instantiates over one shared memory. Its
// schedule vectorizes and register-tiles contractions (simd-tile.ts); the renderer writes
// kernels.wasm and its text form kernels.wat (for review) beside program.json.
import type { Target } from '../target.ts';
import { renderWasm } from './render.ts';
import { simdTile } from '../../passes/schedule/simd-tile.ts';
import { vectorize } from '../../passes/schedule/vectorize.ts';

export const wasmTarget: Target = {
  name: 'wasm',
  description: 'WebAssembly with 128-bit SIMD over shared memory (the fast CPU target)',
  schedule: [simdTile(), vectorize()],
  render: (kernels, ctx) => {
    const { binary, text } = renderWasm(kernels, ctx);
    return { 'kernels.wasm': binary, 'kernels.wat': text };
  },
};
