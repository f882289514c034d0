// Loads a compiled program (program.json and where its kernels are) from a generated folder;
// compiling one is the driver's job (cli/driver.ts). Executor.create loads the kernels.
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { LIMITS, readTextBounded } from '../common/files.ts';
import type { Program } from '../common/program.ts';
import { kernelSource, type KernelSource, type SourceOptions } from './kernels.ts';
import { Executor, type ModelRunner } from './executor.ts';
import { GpuExecutor } from './webgpu/executor.ts';

export function loadCompiled(dir: string, options: SourceOptions = {}): { program: Program; source: KernelSource } {
  const program = JSON.parse(readTextBounded(resolve(dir, 'program.json'), LIMITS.program, 'compiled program')) as Program;
  return { program, source: kernelSource(pathToFileURL(`${resolve(dir)}/`), program, options) };
}

/** An executor of a loaded program on the device its target runs on: the CPU executor (on
 *  `threads` threads) for the ts and wasm targets, the WebGPU executor for webgpu. */
export async function createRunner(program: Program, source: KernelSource, dims: Record<string, number>, opts: { threads?: number; variants?: Record<string, number>[] } = {}): Promise<ModelRunner> {
  if (source.target === 'webgpu') return GpuExecutor.create(program, readTextBounded(fileURLToPath(source.url), LIMITS.program, 'WGSL kernels'), dims);
  return Executor.create(program, source, dims, opts);
}
