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
import { checkpointExecutor, requireDecoder, seq2seqCacheExecutors, textCheckpoint } from './driver.ts';
import type { CheckedModel } from '../compiler/check.ts';
import { beamSearch, greedy } from '../runtime/generate/beam.ts';
import { cachedNext, recomputeNext } from '../runtime/generate/seq2seq.ts';
import { FRAMING } from '../runtime/objectives/seq2seq.ts';
import { specialId } from '../runtime/objectives/tokenizer-file.ts';
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
  /** Encoder-decoders: the sources, beams and length penalty. */
  src?: string[];
  beams?: string;
  lengthPenalty?: string;
}

export async function generateCommand(spec: string, o: GenerateCommandOptions): Promise<void> {
  const m = checkedModel(spec);
  if (m.model.layout?.value === 'encoder_decoder') return answerSources(m, o);
  requireDecoder(m, 'tfm generate', 'continues text with');
  if (o.src) throw new TfmError('TFM5008', `--src is for encoder-decoders; ${m.model.name} is a decoder: give --prompt`);
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

  const { ck, tok, context } = textCheckpoint(m, o.checkpoint, 'tfm generate');
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

/** An encoder-decoder answers each --src: greedy decoding of all of them as one batch, or
 *  beam search of each in turn (its k best answers, with their scores), with the encoder run
 *  once and the decoder's caches (or, with --no-cache, recomputing both per token). Each
 *  answer ends at `<eos>`, --max-new-tokens or the spec's target context. */
async function answerSources(m: CheckedModel, o: GenerateCommandOptions): Promise<void> {
  const objective = m.model.objective?.kind.value;
  if (objective !== 'span_corruption' && objective !== 'denoise' && objective !== 'text_to_text') throw new TfmError('TFM4002', `\`tfm generate\` reads encoder-decoders trained by \`span_corruption\`, \`denoise\` or \`text_to_text\`; ${m.model.name} has \`objective ${objective ?? '(none)'}\``);
  if (o.prompt || o.promptFile || o.query) throw new TfmError('TFM5008', 'an encoder-decoder answers --src texts: leave out --prompt, --prompt-file and --query');
  if (!o.src?.length) throw new TfmError('TFM5006', 'give a source: --src "…" (repeatable; a T5 task prefix such as "summarize: " is part of the text)');
  const beams = int(o.beams ?? '1', 'beams');
  const lengthPenalty = num(o.lengthPenalty ?? '1', 'length-penalty');
  const { ck, tok, context } = textCheckpoint(m, o.checkpoint, 'tfm generate');
  const framing = FRAMING[objective];
  const [pad, eos, start] = ['<pad>', '<eos>', framing.start].map((s) => specialId(tok, s, 'generation'));
  const bos = framing.bos ? tok.specials.get('<bos>') : undefined;
  const sources = o.src.map((text, k) => {
    const ids = [...(bos !== undefined ? [bos] : []), ...tok.encode(text), eos];
    if (ids.length > context) throw new TfmError('TFM5008', `source ${k + 1} has ${ids.length} tokens; the encoder reads ${context} at most`);
    return ids;
  });
  const tgtContext = m.model.inputs.targets?.context?.value ?? context;
  const maxTokens = Math.min(int(o.maxNewTokens, 'max-new-tokens'), tgtContext);
  const width = m.model.embed!.tokens!.vocab.value;
  const batch = beams > 1 ? beams : sources.length;
  const rows = { batch, srcSeq: Math.max(...sources.map((s) => s.length)), tgtSeq: maxTokens, pad, start, width };
  const run = { target: o.target, threads: 2 };
  // By default the encoder runs once and the decoder takes one token per pass with its caches;
  // --no-cache recomputes both for every token (the reference).
  const cached = o.cache !== false;
  const runners = cached
    ? await seq2seqCacheExecutors(m, ck, o.checkpoint, batch, rows.srcSeq, maxTokens, run)
    : [await checkpointExecutor(m, ck, o.checkpoint, { batch, src_seq: rows.srcSeq, tgt_seq: rows.tgtSeq }, { ...run, train: false })];
  const scorer = (sourceOf: (row: number) => number[]) => (cached ? cachedNext(runners[0], runners[1], rows, sourceOf) : recomputeNext(runners[0], rows, sourceOf));
  const text = (ids: number[]) => tok.decode(ids.filter((t) => t !== eos));
  const settings = { maxTokens, eos, width, vocab: tok.vocabSize };
  try {
    if (beams === 1) {
      const answers = await greedy(await scorer((r) => sources[r]), sources.length, settings);
      answers.forEach((a, k) => process.stdout.write(sources.length === 1 ? `${text(a)}\n` : `--- source ${k + 1}: ${o.src![k]}\n${text(a)}\n`));
      return;
    }
    for (const [k, source] of sources.entries()) {
      const best = await beamSearch(await scorer(() => source), { ...settings, beams, lengthPenalty });
      process.stdout.write(`--- source ${k + 1}: ${o.src[k]}\n`);
      for (const h of best) process.stdout.write(`${h.score.toFixed(4)}\t${text(h.tokens)}\n`);
    }
  } finally {
    for (const r of runners) r.close();
  }
}
