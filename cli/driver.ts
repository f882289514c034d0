// The driver between the compiler and the runtime: the command line compiles a checked model
// (compiler/) and hands the program and its kernels to the runtime (runtime/), which imports
// nothing from the compiler.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CheckedModel } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { tsTarget } from '../compiler/targets/ts/index.ts';
import { emit } from '../compiler/codegen/emit.ts';
import { lowerModel } from '../compiler/lower.ts';
import { printGraph } from '../compiler/print.ts';
import { Executor } from '../runtime/executor.ts';
import { loadCompiled } from '../runtime/load.ts';
import type { TrainModel } from '../runtime/train.ts';

/** Compiles a model into a temporary folder, loads it, and removes the folder once the module
 *  is loaded here and in every worker thread. */
export async function compileExecutor(m: CheckedModel, dims: Record<string, number>, opts: { train: boolean; threads?: number }): Promise<Executor> {
  const dir = mkdtempSync(join(tmpdir(), 'tfm-'));
  try {
    // An ES module folder, so that the generated kernels.ts loads as ESM wherever it is.
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    emit(compile(m, tsTarget, undefined, { train: opts.train }), dir);
    const { program, kernels, kernelsUrl } = await loadCompiled(dir);
    return await Executor.create(program, kernels, dims, { threads: opts.threads ?? 1, kernelsUrl });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The architecture's identity: its evaluation graph printed without source positions. */
export function specHash(m: CheckedModel): string {
  const { graph } = lowerModel(m, { train: false });
  return createHash('sha256').update(printGraph(graph)).digest('hex');
}

/** What `tfm train` needs of a checked decoder spec, compiled on demand. */
export function trainModel(m: CheckedModel): TrainModel {
  return {
    name: m.model.name,
    vocab: m.model.embed!.tokens!.vocab.value,
    context: m.model.inputs.tokens?.context?.value ?? m.model.embed?.positions?.length?.value,
    specials: m.model.vocabulary.specials.map((s) => s.value),
    specHash: specHash(m),
    executor: (dims, opts) => compileExecutor(m, dims, opts),
  };
}
