// Loads a compiled program (program.json + kernels.ts) from a generated folder.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { LIMITS, readTextBounded } from '../common/files.ts';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CheckedModel } from '../compiler/check.ts';
import { compileCpu, type CpuProgram } from '../compiler/codegen/compile.ts';
import { emitCpu } from '../compiler/codegen/emit.ts';
import { Executor, type KernelModule } from './executor.ts';

export async function loadCompiled(dir: string): Promise<{ program: CpuProgram; kernels: KernelModule; kernelsUrl: string }> {
  const program = JSON.parse(readTextBounded(resolve(dir, 'program.json'), LIMITS.program, 'compiled program')) as CpuProgram;
  const kernelsUrl = pathToFileURL(resolve(dir, 'kernels.ts')).href;
  const kernels = (await import(kernelsUrl)) as KernelModule;
  return { program, kernels, kernelsUrl };
}

/** Compiles a model into a fresh temporary folder and returns an executor of it. */
export async function compileExecutor(m: CheckedModel, dims: Record<string, number>, opts: { train: boolean; threads?: number }): Promise<Executor> {
  const dir = mkdtempSync(join(tmpdir(), 'tfm-'));
  try {
    // An ES module folder, so that the generated kernels.ts loads as ESM wherever it is.
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    emitCpu(compileCpu(m, undefined, { train: opts.train }), dir);
    const { program, kernels, kernelsUrl } = await loadCompiled(dir);
    // Once the module is loaded here and in every worker thread, its files are not needed.
    return await Executor.create(program, kernels, dims, { threads: opts.threads ?? 1, kernelsUrl });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
