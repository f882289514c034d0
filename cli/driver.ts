// The driver between the compiler and the runtime: the command line compiles a checked model
// (compiler/) and hands the program and its kernels to the runtime (runtime/), which imports
// nothing from the compiler.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { makeFolder, writeAtomically } from '../common/files.ts';
import { programJson } from '../common/program.ts';
import type { CheckedModel } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { targetNamed } from '../compiler/targets/index.ts';
import { emit } from '../compiler/codegen/emit.ts';
import { lowerModel } from '../compiler/lower.ts';
import { printGraph } from '../compiler/print.ts';
import { COMPILER_VERSION } from '../compiler/version.ts';
import type { ModelRunner } from '../runtime/executor.ts';
import { readCheckpoint, removeStaleTemporaries, type LoadedCheckpoint } from '../runtime/checkpoint.ts';
import { parseTokenizer, sentinelName, type Tokenizer } from '../runtime/text/tokenizer.ts';
import { setCheckpointWeights } from '../runtime/weights.ts';
import { TfmError } from '../common/errors.ts';
import { createRunner, loadCompiled } from '../runtime/load.ts';
import type { TrainModel } from '../runtime/train.ts';
import type { DenoiseSettings } from '../runtime/text/denoise.ts';

/** Where compiled programs are kept: `$TFM_CACHE_DIR`, else `$XDG_CACHE_HOME/tfm`, else
 *  `~/.cache/tfm`. Each entry is a folder named by the sha256 of what it holds. */
export function cacheRoot(): string {
  return process.env.TFM_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'tfm');
}

/** Entries kept in the cache; the least recently used go first. */
const CACHE_ENTRIES = 64;

/** Compiles a model and returns an executor of it. The generated files go to a
 *  content-addressed folder of the compile cache (written once, atomically, by whichever
 *  process gets there first; never a fresh temporary folder per run), from which this thread
 *  and the worker threads load them. */
export async function compileExecutor(m: CheckedModel, dims: Record<string, number>, opts: { train: boolean; threads?: number; target?: string; cache?: boolean; encode?: boolean; variants?: Record<string, number>[] }): Promise<ModelRunner> {
  const { program, source } = loadCompiled(programDir(m, opts.train, opts.target ?? 'cpu', opts.encode ? 'encode' : opts.cache ? 'cache' : undefined));
  return createRunner(program, source, dims, { threads: opts.threads ?? 1, variants: opts.variants });
}

/** Cache folders already compiled in this process, per model, graph (training, evaluation,
 *  inference with a key/value cache, an encoder-decoder's encoder program) and target: `tfm train` asks for the evaluation
 *  program twice (validation, samples). */
const compiledIn = new WeakMap<CheckedModel, Map<string, string>>();

function programDir(m: CheckedModel, train: boolean, targetName: string, inference?: 'cache' | 'encode'): string {
  const target = targetNamed(targetName);
  const key = `${inference ?? train}:${target.name}`;
  const known = compiledIn.get(m)?.get(key);
  if (known) return known;
  const compiled = compile(m, target, undefined, inference ? { [inference]: true } : { train });
  const program = programJson(compiled.program);
  const hash = createHash('sha256').update(COMPILER_VERSION).update('\0').update(program);
  for (const [name, text] of Object.entries(compiled.files).sort(([x], [y]) => x.localeCompare(y))) hash.update('\0').update(name).update('\0').update(text);
  const root = join(cacheRoot(), 'programs');
  const dir = join(root, hash.digest('hex').slice(0, 32));
  if (!existsSync(join(dir, 'program.json'))) {
    makeFolder(root, 'compile cache');
    // An ES module folder, so that the generated kernels.ts loads as ESM wherever it is.
    if (!existsSync(join(root, 'package.json'))) writeAtomically(join(root, 'package.json'), '{ "type": "module" }\n', 'compile cache');
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    emit(compiled, tmp);
    try {
      renameSync(tmp, dir);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another process wrote the same entry first
    }
    evict(root);
  } else {
    const now = new Date();
    utimesSync(dir, now, now);
  }
  if (!compiledIn.has(m)) compiledIn.set(m, new Map());
  compiledIn.get(m)!.set(key, dir);
  return dir;
}

/** Keeps the CACHE_ENTRIES most recently used entries of the cache, and removes the
 *  temporary folders of processes that died while writing one. */
function evict(root: string): void {
  removeStaleTemporaries(root);
  const entries = readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^[0-9a-f]{32}$/.test(e.name))
    .map((e) => ({ name: e.name, used: statSync(join(root, e.name)).mtimeMs }))
    .sort((a, b) => b.used - a.used);
  // Only entries unused for ten minutes go: another process may be about to load a newer one.
  const idle = Date.now() - 10 * 60_000;
  for (const old of entries.slice(CACHE_ENTRIES)) if (old.used < idle) rmSync(join(root, old.name), { recursive: true, force: true });
}

/** The architecture's identity: its evaluation graph printed without source positions. */
export function specHash(m: CheckedModel): string {
  const { graph } = lowerModel(m, { train: false });
  return createHash('sha256').update(printGraph(graph)).digest('hex');
}

/** How many token positions the model has: its input's context, or its position table's length. */
export function contextOf(m: CheckedModel): number | undefined {
  return m.model.inputs.tokens?.context?.value ?? m.model.embed?.positions?.length?.value;
}

/** Refuses (TFM4002) a model that is not a decoder trained by next-token prediction, naming
 *  the command and what it `does` with decoders. */
export function requireDecoder(m: CheckedModel, command: string, does: string): void {
  const model = m.model;
  if (model.layout?.value !== 'decoder' || model.objective?.kind.value !== 'clm') {
    throw new TfmError('TFM4002', `\`${command}\` ${does} decoders (\`layout decoder\`, \`objective clm\`) so far; ${model.name} is ${model.layout?.value ?? 'a model'} with \`objective ${model.objective?.kind.value ?? '(none)'}\``);
  }
}

/** A text model's `tfm train` checkpoint folder opened for inference (`tfm generate`, `tfm eval
 *  --few-shot`): the checkpoint, the tokenizer it was trained with, and the model's context
 *  (a model without one: TFM4002; a folder without tokenizer.json: TFM5010). */
export function textCheckpoint(m: CheckedModel, checkpoint: string, command: string): { ck: LoadedCheckpoint; tok: Tokenizer; context: number } {
  const context = contextOf(m);
  if (context === undefined) throw new TfmError('TFM4002', `${m.model.name} declares no context length (\`input tokens context N\`): \`${command}\` needs to know how many positions the model has`);
  const ck = readCheckpoint(checkpoint, specHash(m));
  if (ck.tokenizer === undefined) throw new TfmError('TFM5010', `\`${checkpoint}\` holds no tokenizer.json: give a checkpoint folder written by \`tfm train\``);
  return { ck, tok: parseTokenizer(ck.tokenizer, `the tokenizer of \`${checkpoint}\``), context };
}

/** An executor of `m` for `dims` holding the weights of checkpoint `ck` (read from `where`),
 *  already on its device. */
export async function checkpointExecutor(m: CheckedModel, ck: LoadedCheckpoint, where: string, dims: Record<string, number>, opts: Parameters<typeof compileExecutor>[2]): Promise<ModelRunner> {
  const ex = await compileExecutor(m, dims, opts);
  setCheckpointWeights(ex, ck.model, ck.state.naming, where);
  ex.push();
  return ex;
}

/** An encoder-decoder's cached inference from checkpoint `ck`: the encoder program (run once
 *  per batch of sources) and the decoder program (one token per pass, answers of up to `ctx`
 *  tokens), both for `batch` rows of `srcSeq` source tokens. */
export async function seq2seqCacheExecutors(m: CheckedModel, ck: LoadedCheckpoint, where: string, batch: number, srcSeq: number, ctx: number, opts: { target?: string; threads?: number }): Promise<[ModelRunner, ModelRunner]> {
  const run = { ...opts, train: false };
  const encoder = await checkpointExecutor(m, ck, where, { batch, src_seq: srcSeq }, { ...run, encode: true });
  return [encoder, await checkpointExecutor(m, ck, where, { batch, src_seq: srcSeq, tgt_seq: 1, ctx }, { ...run, cache: true })];
}

/** What `tfm train` needs of a checked spec, compiled on demand. The command has checked
 *  that the objective is one `tfm train` runs (cli/train.ts). */
export function trainModel(m: CheckedModel, target = 'cpu'): TrainModel {
  const img = m.model.inputs.image;
  return {
    name: m.model.name,
    objective: m.model.objective!.kind.value as TrainModel['objective'],
    vocab: m.model.embed?.tokens?.vocab.value,
    context: contextOf(m),
    // Sentinels are specials by T5's names (`<extra_id_0>`, …).
    specials: [...m.model.vocabulary.specials.map((s) => s.value), ...Array.from({ length: m.model.vocabulary.sentinels?.value ?? 0 }, (_, k) => sentinelName(k))],
    image: img ? { channels: img.channels?.value ?? 1, height: img.height!.value, width: img.width!.value } : undefined,
    classes: m.model.head?.classes?.value,
    mlm: m.model.objective?.kind.value === 'mlm' ? mlmSettings(m) : undefined,
    spans: m.model.objective?.kind.value === 'span_corruption' ? spanSettings(m) : undefined,
    noise: m.model.objective?.kind.value === 'denoise' ? denoiseSettings(m) : undefined,
    targetContext: m.model.inputs.targets?.context?.value,
    specHash: specHash(m),
    executor: (dims, opts) => compileExecutor(m, dims, { ...opts, target }),
  };
}

/** Reads the numbers the spec's objective was given (`noise_density = 0.15`): each key's,
 *  else `otherwise`. */
function objectiveNumbers(m: CheckedModel): (key: string, otherwise: number) => number {
  return (key, otherwise) => {
    const v = m.model.objective!.params.get(key);
    return v && !Array.isArray(v) ? v.value : otherwise;
  };
}

/** `objective denoise(mask, delete, infill, poisson_lambda, permute, rotate)`: each noise the
 *  spec names, at its rate; those it does not name are off (λ: BART's 3). */
export function denoiseSettings(m: CheckedModel): DenoiseSettings {
  const value = objectiveNumbers(m);
  return { mask: value('mask', 0), delete: value('delete', 0), infill: value('infill', 0), poissonLambda: value('poisson_lambda', 3), permute: value('permute', 0), rotate: value('rotate', 0) };
}

/** `objective span_corruption(noise_density = …, mean_span_length = …, sentinels = …)`, with
 *  T5's values where the spec is silent (the sentinels: all the vocabulary declares). */
export function spanSettings(m: CheckedModel): { noiseDensity: number; meanSpanLength: number; sentinels: number } {
  const value = objectiveNumbers(m);
  const declared = m.model.vocabulary.sentinels?.value ?? 0;
  return { noiseDensity: value('noise_density', 0.15), meanSpanLength: value('mean_span_length', 3), sentinels: value('sentinels', declared) };
}

/** `objective mlm(mask_prob = …, split = […])`, with BERT's values where the spec is silent
 *  (the checker has validated what is written). */
export function mlmSettings(m: CheckedModel): { maskProb: number; split: [number, number, number] } {
  const params = m.model.objective!.params;
  const p = params.get('mask_prob');
  const split = params.get('split');
  return {
    maskProb: p && !Array.isArray(p) ? p.value : 0.15,
    split: Array.isArray(split) && split.length === 3 ? [split[0].value, split[1].value, split[2].value] : [0.8, 0.1, 0.1],
  };
}
