// The targets the compiler knows, by name; `cpu` names the default CPU target.
import type { Target } from './target.ts';
import { TARGET_ALIASES, type TargetName } from './names.ts';
import { tsTarget } from './ts/index.ts';
import { wasmTarget } from './wasm/index.ts';
import { webgpuTarget } from './webgpu/index.ts';

export type { Target } from './target.ts';

// One target for each name in names.ts, and no other (`satisfies` checks both).
export const TARGETS: Record<string, Target> = { ts: tsTarget, wasm: wasmTarget, webgpu: webgpuTarget } satisfies Record<TargetName, Target>;

/** The targets whose kernels the CPU executor (runtime/executor.ts) runs; the webgpu
 *  target's run on a GPU device (runtime/webgpu/executor.ts). */
export const CPU_TARGETS: Record<string, Target> = { ts: tsTarget, wasm: wasmTarget };

export { TARGET_ALIASES } from './names.ts';

export function targetNamed(name: string): Target {
  const t = TARGETS[TARGET_ALIASES[name] ?? name];
  if (!t) throw new Error(`internal: no target \`${name}\``);
  return t;
}
