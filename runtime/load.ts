// Loads a compiled program (program.json + kernels.ts) from a generated folder.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CpuProgram } from '../compiler/codegen/compile.ts';
import type { KernelModule } from './executor.ts';

export async function loadCompiled(dir: string): Promise<{ program: CpuProgram; kernels: KernelModule; kernelsUrl: string }> {
  const program = JSON.parse(readFileSync(resolve(dir, 'program.json'), 'utf8')) as CpuProgram;
  const kernelsUrl = pathToFileURL(resolve(dir, 'kernels.ts')).href;
  const kernels = (await import(kernelsUrl)) as KernelModule;
  return { program, kernels, kernelsUrl };
}
