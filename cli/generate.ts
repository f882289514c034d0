// `tfm generate`: continues prompts with a trained decoder — a checkpoint folder of `tfm
// train` (its weights and the tokenizer it was trained with) — streaming the text of a single
// prompt as it comes, or printing each of several prompts' continuations (batched) in order.
import { TfmError } from '../common/errors.ts';
import { LIMITS, readTextBounded } from '../common/files.ts';
import { invalidDecoding, type DecodingOptions } from '../runtime/generate/decoding.ts';
import { drawExamples, fewShotPrompt, parsePairs } from '../runtime/generate/few-shot.ts';
import { cacheVariants, generate, generateWithCache, prefillLength } from '../runtime/generate/generate.ts';
import { Rng } from '../runtime/init.ts';
import { lowerForCache, LoweringError } from '../compiler/lower.ts';
import { checkpointExecutor, decoderCheckpoint, requireDecoder } from './driver.ts';
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
  /** False with --no-cache: recompute every window instead of a key/value cache. */
  cache?: boolean;
  /** Few-shot mode: the task description, the examples file, k, and the queries. */
  task?: string;
  examples?: string;
  shots?: string;
  query?: string[];
  target?: string;
}

export async function generateCommand(spec: string, o: GenerateCommandOptions): Promise<void> {
  const m = checkedModel(spec);
  requireDecoder(m, 'tfm generate', 'continues text with');
  const decoding: DecodingOptions = { temperature: num(o.temperature, 'temperature'), topK: int(o.topK, 'top-k', 0), topP: num(o.topP, 'top-p'), repetitionPenalty: num(o.repetitionPenalty, 'repetition-penalty') };
  const bad = invalidDecoding(decoding);
  if (bad) throw new TfmError('TFM5008', bad);
  const maxNewTokens = int(o.maxNewTokens, 'max-new-tokens');
  const seed = int(o.seed, 'seed', 0);
  const fewShot = o.query !== undefined || o.examples !== undefined || o.task !== undefined || o.shots !== undefined;
  let texts: string[];
  let stop = o.stop;
  if (fewShot) {
    // GPT-3's prompt from parts; the answer is the rest of the query's line.
    if (o.prompt || o.promptFile) throw new TfmError('TFM5008', 'few-shot mode (--task, --examples, --shots, --query) builds the prompt itself: leave out --prompt and --prompt-file');
    if (!o.query?.length) throw new TfmError('TFM5006', 'few-shot mode needs a --query (repeat it for several, run as one batch)');
    const shots = int(o.shots ?? '0', 'shots', 0);
    if (shots > 0 && !o.examples) throw new TfmError('TFM5006', `--shots ${shots} needs --examples <pairs.tsv> (one \`input<TAB>answer\` per line) to draw them from`);
    const pool = o.examples ? parsePairs(readTextBounded(o.examples, LIMITS.tokens, 'examples'), `\`${o.examples}\``) : [];
    const draw = new Rng(seed ^ 0x5407);
    texts = o.query.map((q) => fewShotPrompt(o.task, drawExamples(pool, shots, q, draw), q));
    stop = [...(stop ?? []), '\n'];
  } else {
    texts = [...(o.prompt ?? []), ...(o.promptFile ?? []).map((f) => readTextBounded(f, LIMITS.tokens, 'prompt'))];
    if (texts.length === 0) throw new TfmError('TFM5006', 'give a prompt: --prompt "…" or --prompt-file <file> (either may repeat; several prompts run as one batch), or a few-shot --query');
  }
  if (stop?.some((s) => s.length === 0)) throw new TfmError('TFM5008', '--stop takes non-empty text');

  const { ck, tok, context } = decoderCheckpoint(m, o.checkpoint, 'tfm generate');
  const prompts = texts.map((t, k) => {
    const ids = tok.encode(t);
    if (ids.length === 0) throw new TfmError('TFM5008', `prompt ${k + 1} has no tokens`);
    return ids;
  });
  const vocab = m.model.embed!.tokens!.vocab.value;
  // The window: long enough for the longest prompt and its new tokens, within the context
  // (beyond it, the oldest tokens slide out).
  const span = Math.min(context, Math.max(...prompts.map((p) => p.length)) + maxNewTokens);
  const batch = prompts.length;
  // The key/value cache by default; a model the cache does not serve (relative position
  // bias) falls back to recomputing each window, saying so.
  let cached = o.cache !== false;
  if (cached) {
    try {
      lowerForCache(m);
    } catch (e) {
      if (!(e instanceof LoweringError)) throw e;
      process.stderr.write(`note: ${e.message}; recomputing each window instead (--no-cache)\n`);
      cached = false;
    }
  }
  const dims: Record<string, number> = cached ? { batch, seq: prefillLength(prompts, span), ctx: span } : { batch, seq: span };
  // Two threads (this machine's CPU target is built for two); the cached program's decode and
  // prefill lengths get task lists of their own on both.
  const ex = await checkpointExecutor(m, ck, o.checkpoint, dims, { train: false, cache: cached, target: o.target, threads: 2, ...(cached ? { variants: cacheVariants(prompts, span) } : {}) });
  try {
    const eos = tok.specials.get('<eos>');
    const single = prompts.length === 1;
    if (single) process.stdout.write(texts[0]);
    const options = { ...decoding, maxNewTokens, stop, stopTokens: eos === undefined ? [] : [eos] };
    const stream = single ? (_: number, piece: string) => process.stdout.write(piece) : undefined;
    const out = cached
      ? await generateWithCache(ex, { batch, seq: dims.seq, ctx: span, vocab }, prompts, options, new Rng(seed), (ids) => tok.decode(ids), stream)
      : await generate(ex, { batch, seq: span, vocab }, prompts, options, new Rng(seed), (ids) => tok.decode(ids), stream);
    if (single) process.stdout.write('\n');
    else out.text.forEach((t, k) => process.stdout.write(`--- prompt ${k + 1} (${out.tokens[k].length} new tokens, ${out.reason[k]}) ---\n${texts[k]}${t}\n`));
  } finally {
    ex.close();
  }
}
