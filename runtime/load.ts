// Loads a compiled program (program.json and where its kernels are) from a generated folder;
// compiling one is the driver's job (cli/driver.ts). Executor.create loads the kernels.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LIMITS, readTextBounded } from '../common/files.ts';
import type { Program } from '../common/program.ts';
import { kernelSource, type KernelSource, type SourceOptions } from './kernels.ts';

export function loadCompiled(dir: string, options: SourceOptions = {}): { program: Program; source: KernelSource } {
  const program = JSON.parse(readTextBounded(resolve(dir, 'program.json'), LIMITS.program, 'compiled program')) as Program;
  return { program, source: kernelSource(pathToFileURL(`${resolve(dir)}/`), program, options) };
}
