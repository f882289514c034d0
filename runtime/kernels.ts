// Loading generated kernels, per target: the TypeScript target's kernels.ts is an ES module
// of functions over typed arrays; the WebAssembly target's kernels.wasm is instantiated over
// the executor's one shared WebAssembly.Memory, and each export is wrapped so that it takes
// the same arguments (typed arrays become their byte offsets in that memory). Both give the
// executor the same KernelModule.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Program } from '../common/program.ts';
import type { KernelFn, KernelModule } from './executor.ts';

/** Where a program's kernels are, and for which target. Plain data: it travels to workers. */
export interface KernelSource {
  target: string;
  url: string;
}

export const KERNEL_FILES: Record<string, string> = { ts: 'kernels.ts', wasm: 'kernels.wasm' };

export function kernelSource(dirUrl: URL, program: Program): KernelSource {
  const file = KERNEL_FILES[program.target ?? 'ts'];
  if (!file) throw new Error(`program.json names target \`${program.target}\`, which this runtime cannot load`);
  return { target: program.target ?? 'ts', url: new URL(file, dirUrl).href };
}

/** Whether a target's kernels address one linear memory (and so need `memoryFor`). */
export const usesLinearMemory = (src: KernelSource) => src.target === 'wasm';

/** A shared WebAssembly memory of at least `bytes` bytes (no growth: sizes are known). */
export function wasmMemory(bytes: number): WebAssembly.Memory {
  const pages = Math.ceil(bytes / 65536) + 1;
  if (pages > 65536) throw new Error(`the program needs ${(bytes / 2 ** 30).toFixed(1)} GiB of memory; WebAssembly memories hold at most 4 GiB — use a smaller batch or --target ts`);
  return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
}

const modules = new Map<string, WebAssembly.Module>();

export async function loadKernels(src: KernelSource, memory?: WebAssembly.Memory): Promise<KernelModule> {
  if (src.target === 'ts') return (await import(src.url)) as KernelModule;
  if (src.target !== 'wasm') throw new Error(`no loader for target \`${src.target}\``);
  if (!memory) throw new Error('internal: WebAssembly kernels need the executor memory');
  let mod = modules.get(src.url);
  if (!mod) {
    mod = await WebAssembly.compile(readFileSync(fileURLToPath(src.url)));
    modules.set(src.url, mod);
  }
  const instance = await WebAssembly.instantiate(mod, { env: { memory }, Math: Math as unknown as WebAssembly.ModuleImports });
  const out: KernelModule = {} as KernelModule;
  for (const [name, fn] of Object.entries(instance.exports)) {
    if (typeof fn !== 'function') continue;
    const f = fn as (...a: number[]) => void;
    const wrapped: KernelFn = (...args) => f(...args.map((a) => (typeof a === 'number' ? a : a.byteOffset)));
    out[name] = wrapped;
  }
  return out;
}
