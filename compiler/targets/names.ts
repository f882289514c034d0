// The targets' names and one-line descriptions, apart from the targets themselves: the
// command line's help and option choices need them, and `tfm check` — which starts from the
// bundle (scripts/build.mjs) — must not load the code generators to print its help (the Wasm
// target's brings binaryen, 15 MB of JavaScript).
export const TARGET_DESCRIPTIONS = {
  ts: 'TypeScript kernels (the readable reference CPU target)',
  wasm: 'WebAssembly with 128-bit SIMD over shared memory (the fast CPU target)',
  webgpu: 'WGSL compute shaders for WebGPU (Node via Dawn, or a browser)',
} as const;

export type TargetName = keyof typeof TARGET_DESCRIPTIONS;

/** Aliases users may write: `cpu` is the fastest CPU target, WebAssembly SIMD (GPT-mini
 *  training ≈ 15× the TypeScript target in `npm run bench`). */
export const TARGET_ALIASES: Record<string, TargetName> = { cpu: 'wasm' };
