// Loading generated kernels, per target: the TypeScript target's kernels.ts is an ES module
// of functions over typed arrays; the WebAssembly target's kernels.wasm is instantiated over
// the executor's one shared WebAssembly.Memory, and each export is wrapped so that it takes
// the same arguments (typed arrays become their byte offsets in that memory). Both give the
// executor the same KernelModule.
//
// The WebAssembly target ships two modules: kernels.fma.wasm fuses vector multiply-adds
// (relaxed SIMD) and is preferred where the engine has relaxed SIMD; kernels.wasm needs only
// SIMD128. Node 20's V8 implements relaxed SIMD behind a flag, which relaxedSimd() turns on
// (Node 22 and current browsers have it on by default). Set TFM_WASM_FMA=0 to use the
// SIMD128 module anyway.
import { existsSync, readFileSync } from 'node:fs';
import v8 from 'node:v8';
import { fileURLToPath } from 'node:url';
import { WASM_LOW_MEMORY, WASM_SCRATCH_BYTES, type Program } from '../common/program.ts';
import type { KernelFn, KernelModule } from './executor.ts';

/** Where a program's kernels are, and for which target. Plain data: it travels to workers. */
export interface KernelSource {
  target: string;
  url: string;
  /** Wasm: whether these are the fused multiply-add kernels (kernels.fma.wasm). */
  fma?: boolean;
}

export const KERNEL_FILES: Record<string, string> = { ts: 'kernels.ts', wasm: 'kernels.wasm', webgpu: 'kernels.wgsl' };
const FMA_FILE = 'kernels.fma.wasm';

export interface SourceOptions {
  /** Wasm: load the fused multiply-add kernels (true), the SIMD128 ones (false), or the
   *  former where the engine runs relaxed SIMD (undefined, the default). */
  fma?: boolean;
}

export function kernelSource(dirUrl: URL, program: Program, { fma }: SourceOptions = {}): KernelSource {
  const target = program.target ?? 'ts';
  const file = KERNEL_FILES[target];
  if (!file) throw new Error(`program.json names target \`${program.target}\`, which this runtime cannot load`);
  if (target !== 'wasm') return { target, url: new URL(file, dirUrl).href };
  const fmaUrl = new URL(FMA_FILE, dirUrl);
  const use = fma ?? (process.env.TFM_WASM_FMA !== '0' && existsSync(fmaUrl) && relaxedSimd());
  if (use && !relaxedSimd()) throw new Error('this WebAssembly engine has no relaxed SIMD, which the fused multiply-add kernels need; load kernels.wasm instead');
  return { target, url: (use ? fmaUrl : new URL(file, dirUrl)).href, fma: use };
}

/** A module of one function returning f32x4.relaxed_madd(0, 0, 0): valid iff the engine
 *  implements relaxed SIMD. */
const RELAXED_PROBE = Uint8Array.from(
  '0061736d010000000105016000017b030201000a3d013b00fd0c00000000000000000000000000000000fd0c00000000000000000000000000000000fd0c00000000000000000000000000000000fd85020b'.match(/../g)!.map((h) => parseInt(h, 16)),
);
let relaxed: boolean | undefined;

/** Whether this engine runs relaxed SIMD, turning on V8's flag for it where it is one. */
export function relaxedSimd(): boolean {
  if (relaxed !== undefined) return relaxed;
  relaxed = WebAssembly.validate(RELAXED_PROBE);
  if (!relaxed) {
    // V8 reads its wasm feature flags when it compiles a module, and flags are per process,
    // so worker threads started later see it too.
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    relaxed = WebAssembly.validate(RELAXED_PROBE);
  }
  return relaxed;
}

/** Whether a target's kernels address one linear memory (and so need `memoryFor`). */
export const usesLinearMemory = (src: KernelSource) => src.target === 'wasm';

/** Where the buffers of a Wasm program start in its memory: above the low bytes no buffer
 *  uses (WASM_LOW_MEMORY) and one scratch area per thread. */
export const wasmBuffersStart = (threads: number) => WASM_LOW_MEMORY + Math.max(1, threads) * WASM_SCRATCH_BYTES;

/** A shared WebAssembly memory of at least `bytes` bytes (no growth: sizes are known). */
export function wasmMemory(bytes: number): WebAssembly.Memory {
  const pages = Math.ceil(bytes / 65536) + 1;
  if (pages > 65536) throw new Error(`the program needs ${(bytes / 2 ** 30).toFixed(1)} GiB of memory; WebAssembly memories hold at most 4 GiB — use a smaller batch or --target ts`);
  return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
}

const modules = new Map<string, WebAssembly.Module>();

/** The kernels of `src`, for thread `thread` (0: the main thread; Wasm kernels get that
 *  thread's scratch area, see scratchStart). */
export async function loadKernels(src: KernelSource, memory?: WebAssembly.Memory, thread = 0): Promise<KernelModule> {
  if (src.target === 'ts') return (await import(src.url)) as KernelModule;
  if (src.target !== 'wasm') throw new Error(`no loader for target \`${src.target}\``);
  if (!memory) throw new Error('internal: WebAssembly kernels need the executor memory');
  let mod = modules.get(src.url);
  if (!mod) {
    mod = await WebAssembly.compile(readFileSync(fileURLToPath(src.url)));
    modules.set(src.url, mod);
  }
  const scratch = new WebAssembly.Global({ value: 'i32', mutable: false }, WASM_LOW_MEMORY + thread * WASM_SCRATCH_BYTES);
  const instance = await WebAssembly.instantiate(mod, { env: { memory, scratch }, Math: Math as unknown as WebAssembly.ModuleImports });
  const out: KernelModule = {} as KernelModule;
  for (const [name, fn] of Object.entries(instance.exports)) {
    if (typeof fn !== 'function') continue;
    const f = fn as (...a: number[]) => void;
    const wrapped: KernelFn = (...args) => f(...args.map((a) => (typeof a === 'number' ? a : a.byteOffset)));
    out[name] = wrapped;
  }
  return out;
}
