// The WebAssembly SIMD CPU target: the same kernels as the TypeScript target, as one Wasm
// module with 128-bit SIMD that every thread instantiates over one shared memory. Its
// schedule register-tiles and vectorizes contractions (simd-tile.ts), lowers the other
// reductions to accumulator loops (lower-reduce.ts), then vectorizes the innermost loops it
// can (vectorize.ts). It writes kernels.wasm (SIMD128), kernels.fma.wasm
// (the same with relaxed SIMD's fused multiply-add, which the runtime prefers where the
// engine has it) and, for review, kernels.kir: the scheduled kernel IR as text, which both
// modules lower one to one (`tfm compile --emit code --target wasm` prints the full
// WebAssembly text instead).
import type { Target } from '../target.ts';
import { renderWasm } from './render.ts';
import { lowerReduce } from '../../passes/schedule/lower-reduce.ts';
import { simdTile } from '../../passes/schedule/simd-tile.ts';
import { vectorize } from '../../passes/schedule/vectorize.ts';
import { printKernel } from '../../codegen/print-kir.ts';
import { commentText } from '../ts/render.ts';
import { spanAt } from '../../../common/source.ts';

export const wasmTarget: Target = {
  name: 'wasm',
  schedule: [simdTile(), lowerReduce(), vectorize()],
  // What reviewers read: the scheduled kernel IR of each kernel (the binaries lower it one to one).
  review: (kernels, ctx) => new Map(kernels.map((k) => [k.name, printKernel(k, spanAt(k.span, ctx.sources))])),
  render: (kernels, ctx) => {
    const text = [
      ...ctx.header.map((l) => `// ${commentText(l)}`),
      '// The scheduled kernel IR that kernels.wasm and kernels.fma.wasm lower one to one (f32x4: four f32 lanes; `a[i .. +4]`: four elements from i;',
      '// kernels.fma.wasm computes each f32x4 `a * b + c` as one fused multiply-add).',
      '',
      ...kernels.map((k) => `${printKernel(k, spanAt(k.span, ctx.sources))}\n`),
    ].join('\n');
    return { 'kernels.wasm': renderWasm(kernels, ctx).binary, 'kernels.fma.wasm': renderWasm(kernels, ctx, { fma: true }).binary, 'kernels.kir': text };
  },
};
