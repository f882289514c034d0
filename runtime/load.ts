// Loads a compiled program (program.json + kernels.ts) from a generated folder; compiling
// one is the driver's job (cli/driver.ts).
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LIMITS, readTextBounded } from '../common/files.ts';
import type { Program } from '../common/program.ts';
import type { KernelModule } from './executor.ts';

export async function loadCompiled(dir: string): Promise<{ program: Program; kernels: KernelModule; kernelsUrl: string }> {
  const program = JSON.parse(readTextBounded(resolve(dir, 'program.json'), LIMITS.program, 'compiled program')) as Program;
  const kernelsUrl = pathToFileURL(resolve(dir, 'kernels.ts')).href;
  const kernels = (await import(kernelsUrl)) as KernelModule;
  return { program, kernels, kernelsUrl };
}
