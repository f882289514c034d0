// The targets the compiler knows, by name; `cpu` names the default CPU target.
import type { Target } from './target.ts';
import { tsTarget } from './ts/index.ts';
import { wasmTarget } from './wasm/index.ts';
import { webgpuTarget } from './webgpu/index.ts';

export type { Target } from './target.ts';

export const TARGETS: Record<string, Target> = { ts: tsTarget, wasm: wasmTarget, webgpu: webgpuTarget };

/** The targets whose kernels the CPU executor (runtime/executor.ts) runs; the webgpu
 *  target's run on a GPU device (runtime/webgpu/executor.ts). */
export const CPU_TARGETS: Record<string, Target> = { ts: tsTarget, wasm: wasmTarget };

/** Aliases users may write: `cpu` is the fastest CPU target, WebAssembly SIMD (GPT-mini
 *  training ≈ 5× the TypeScript target in `npm run bench`). */
export const TARGET_ALIASES: Record<string, string> = { cpu: 'wasm' };

export function targetNamed(name: string): Target {
  const t = TARGETS[TARGET_ALIASES[name] ?? name];
  if (!t) throw new Error(`internal: no target \`${name}\``);
  return t;
}
