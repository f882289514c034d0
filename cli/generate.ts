// `tfm generate`: continues prompts with a trained decoder — a checkpoint folder of `tfm
// train` (its weights and the tokenizer it was trained with) — streaming the text of a single
// prompt as it comes, or printing each of several prompts' continuations (batched) in order.
import { TfmError } from '../common/errors.ts';
import { LIMITS, readTextBounded } from '../common/files.ts';
import { readCheckpoint } from '../runtime/checkpoint.ts';
import { invalidDecoding, type DecodingOptions } from '../runtime/generate/decoding.ts';
import { generate } from '../runtime/generate/generate.ts';
import { Rng } from '../runtime/init.ts';
import { tokenizerFromJSON } from '../runtime/text/tokenizer.ts';
import { checkpointParams } from '../runtime/weights.ts';
import { compileExecutor, specHash } from './driver.ts';
import { count as int, decimal as num } from './flags.ts';
import { checkedModel } from './weights.ts';

export interface GenerateCommandOptions {
  checkpoint: string;
  prompt?: string[];
  promptFile?: string[];
  maxNewTokens: string;
  temperature: string;
  topK: string;
  topP: string;
  repetitionPenalty: string;
  stop?: string[];
  seed: string;
  target?: string;
}

export async function generateCommand(spec: string, o: GenerateCommandOptions): Promise<void> {
  const m = checkedModel(spec);
  const model = m.model;
  if (model.layout?.value !== 'decoder' || model.objective?.kind.value !== 'clm') {
    throw new TfmError('TFM4002', `\`tfm generate\` continues text with decoders (\`layout decoder\`, \`objective clm\`) so far; ${model.name} is ${model.layout?.value ?? 'a model'} with \`objective ${model.objective?.kind.value ?? '(none)'}\``);
  }
  const decoding: DecodingOptions = { temperature: num(o.temperature, 'temperature'), topK: int(o.topK, 'top-k', 0), topP: num(o.topP, 'top-p'), repetitionPenalty: num(o.repetitionPenalty, 'repetition-penalty') };
  const bad = invalidDecoding(decoding);
  if (bad) throw new TfmError('TFM5008', bad);
  const maxNewTokens = int(o.maxNewTokens, 'max-new-tokens');
  const seed = int(o.seed, 'seed', 0);
  const texts = [...(o.prompt ?? []), ...(o.promptFile ?? []).map((f) => readTextBounded(f, LIMITS.tokens, 'prompt'))];
  if (texts.length === 0) throw new TfmError('TFM5006', 'give a prompt: --prompt "…" or --prompt-file <file> (either may repeat; several prompts run as one batch)');
  if (o.stop?.some((s) => s.length === 0)) throw new TfmError('TFM5008', '--stop takes non-empty text');

  const ck = readCheckpoint(o.checkpoint, specHash(m));
  if (ck.tokenizer === undefined) throw new TfmError('TFM5010', `\`${o.checkpoint}\` holds no tokenizer.json: give a checkpoint folder written by \`tfm train\``);
  let tok;
  try {
    tok = tokenizerFromJSON(JSON.parse(ck.tokenizer));
  } catch (e) {
    throw new TfmError('TFM5011', `the tokenizer of \`${o.checkpoint}\` is not valid: ${(e as Error).message}`);
  }
  const prompts = texts.map((t, k) => {
    const ids = tok.encode(t);
    if (ids.length === 0) throw new TfmError('TFM5008', `prompt ${k + 1} has no tokens`);
    return ids;
  });
  const vocab = model.embed!.tokens!.vocab.value;
  const context = model.inputs.tokens?.context?.value ?? model.embed?.positions?.length?.value ?? 1024;
  // The window: long enough for the longest prompt and its new tokens, within the context
  // (beyond it, the oldest tokens slide out).
  const seq = Math.min(context, Math.max(...prompts.map((p) => p.length)) + maxNewTokens);
  const dims = { batch: prompts.length, seq };
  const ex = await compileExecutor(m, dims, { train: false, target: o.target });
  try {
    for (const [name, t] of checkpointParams(ck.model, ck.state.naming, ex.program, o.checkpoint)) ex.param(name).set(t.data);
    ex.push();
    const eos = tok.specials.get('<eos>');
    const single = prompts.length === 1;
    if (single) process.stdout.write(texts[0]);
    const out = await generate(ex, { ...dims, vocab }, prompts, { ...decoding, maxNewTokens, stop: o.stop, stopTokens: eos === undefined ? [] : [eos] }, new Rng(seed), (ids) => tok.decode(ids), single ? (_, piece) => process.stdout.write(piece) : undefined);
    if (single) process.stdout.write('\n');
    else out.text.forEach((t, k) => process.stdout.write(`--- prompt ${k + 1} (${out.tokens[k].length} new tokens, ${out.reason[k]}) ---\n${texts[k]}${t}\n`));
  } finally {
    ex.close();
  }
}
