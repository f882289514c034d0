// Generation (runtime/generate/generate.ts) on gpt_tiny's evaluation program with seeded
// random weights: greedy tokens are the arg max of one teacher-forced forward pass over the
// result, rows of different lengths in one batch generate what they generate alone, prompts
// longer than the window slide, sampling is reproducible by seed, and stop text and stop
// tokens end a row where they should. Then `tfm generate` end to end on a 2-step checkpoint.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkFiles } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { emit } from '../compiler/codegen/emit.ts';
import { CPU_TARGETS } from '../compiler/targets/index.ts';
import { Executor } from '../runtime/executor.ts';
import { normalise } from '../runtime/generate/few-shot.ts';
import { generate, generateWithCache, prefillLength } from '../runtime/generate/generate.ts';
import { initParams, Rng } from '../runtime/init.ts';
import { loadCompiled } from '../runtime/load.ts';
import type { Program } from '../common/program.ts';
import type { KernelSource } from '../runtime/kernels.ts';
import { tfm } from './support/cli.ts';

const VOCAB = 65;
const SEED = 4711;
let compiled: { program: Program; source: KernelSource };
let cached: { program: Program; source: KernelSource };

beforeAll(() => {
  const r = checkFiles(['specs/gpt_tiny.tfm']);
  emit(compile(r.models[0], CPU_TARGETS.ts, r.program.sources, { train: false }), 'out/test-generate/gpt_tiny/ts');
  emit(compile(r.models[0], CPU_TARGETS.ts, r.program.sources, { cache: true }), 'out/test-generate/gpt_tiny/ts-cache');
  compiled = loadCompiled('out/test-generate/gpt_tiny/ts');
  cached = loadCompiled('out/test-generate/gpt_tiny/ts-cache');
});

async function runner(batch: number, seq: number) {
  const ex = await Executor.create(compiled.program, compiled.source, { batch, seq });
  initParams(ex, SEED);
  return ex;
}

/** An executor of the inference program with a key/value cache, with the same weights. */
async function cachedRunner(batch: number, seq: number, ctx: number) {
  const ex = await Executor.create(cached.program, cached.source, { batch, seq, ctx });
  initParams(ex, SEED);
  return ex;
}

const letters = (ids: number[]) => ids.map((t) => String.fromCharCode(97 + (t % 26))).join('');
const prompt = (n: number, rng: Rng) => Array.from({ length: n }, () => rng.int(VOCAB));

describe(`generation (weights seed ${SEED})`, () => {
  it('greedy tokens are the arg max of a teacher-forced forward pass over prompt and result', async () => {
    const p = prompt(5, new Rng(1));
    const n = 8;
    const ex = await runner(1, 16);
    const out = await generate(ex, { batch: 1, seq: 16, vocab: VOCAB }, [p], { temperature: 0, maxNewTokens: n }, new Rng(0), letters);
    ex.close();
    expect(out.tokens[0].length).toBe(n);
    expect(out.reason[0]).toBe('length');
    const all = [...p, ...out.tokens[0]];
    const check = await runner(1, all.length - 1);
    check.input('tokens').set(all.slice(0, -1));
    check.input('targets').fill(-100);
    check.forward();
    const logits = check.read('logits') as Float32Array;
    for (let k = 0; k < n; k++) {
      const row = logits.subarray((p.length - 1 + k) * VOCAB, (p.length + k) * VOCAB);
      expect(out.tokens[0][k], `token ${k}`).toBe(row.indexOf(Math.max(...row)));
    }
    check.close();
    expect(out.text[0]).toBe(letters(out.tokens[0]));
  });

  it('rows of different lengths in one batch generate what each does alone; a long prompt slides', async () => {
    const rng = new Rng(2);
    const prompts = [prompt(3, rng), prompt(11, rng), prompt(20, rng)];
    const seq = 12;
    const o = { temperature: 0, maxNewTokens: 6 };
    const ex = await runner(3, seq);
    const together = await generate(ex, { batch: 3, seq, vocab: VOCAB }, prompts, o, new Rng(0), letters);
    ex.close();
    const one = await runner(1, seq);
    for (let r = 0; r < 3; r++) {
      const alone = await generate(one, { batch: 1, seq, vocab: VOCAB }, [prompts[r]], o, new Rng(0), letters);
      expect(together.tokens[r], `row ${r}`).toEqual(alone.tokens[0]);
    }
    // The 20-token prompt only ever shows its last 12 tokens: the same as starting from them.
    const cut = await generate(one, { batch: 1, seq, vocab: VOCAB }, [prompts[2].slice(-seq)], o, new Rng(0), letters);
    expect(cut.tokens[0]).toEqual(together.tokens[2]);
    one.close();
  });

  it('with a key/value cache: the tokens of the windowed loop (greedy and sampled, rows of different lengths batched) while the context holds them; past a full cache it refills and goes on', async () => {
    const rng = new Rng(21);
    const prompts = [prompt(3, rng), prompt(9, rng), prompt(6, rng)];
    const ctx = 24;
    const P = prefillLength(prompts, ctx);
    const window = await runner(3, ctx);
    const cache = await cachedRunner(3, P, ctx);
    for (const o of [{ temperature: 0, maxNewTokens: 12 }, { temperature: 1.2, topK: 0, maxNewTokens: 12 }]) {
      const a = await generate(window, { batch: 3, seq: ctx, vocab: VOCAB }, prompts, o, new Rng(7), letters);
      const b = await generateWithCache(cache, { batch: 3, seq: P, ctx, vocab: VOCAB }, prompts, o, new Rng(7), letters);
      expect(b.tokens, `temperature ${o.temperature}`).toEqual(a.tokens);
      expect(b.text).toEqual(a.text);
    }
    // 9 + 30 tokens do not fit 24: the cache fills after 15 new tokens of row 1 and every row
    // is refilled from its last 18. Up to then (16 tokens) the windowed loop sees the same.
    const o = { temperature: 0, maxNewTokens: 30 };
    const a = await generate(window, { batch: 3, seq: ctx, vocab: VOCAB }, prompts, o, new Rng(7), letters);
    const b = await generateWithCache(cache, { batch: 3, seq: P, ctx, vocab: VOCAB }, prompts, o, new Rng(7), letters);
    for (let r = 0; r < 3; r++) {
      expect(b.tokens[r].length).toBe(30);
      expect(b.tokens[r].slice(0, 16), `row ${r}`).toEqual(a.tokens[r].slice(0, 16));
    }
    window.close();
    cache.close();
  });

  it('sampling is reproducible by seed and differs between seeds', async () => {
    const p = prompt(4, new Rng(3));
    const ex = await runner(1, 24);
    const o = { temperature: 1.5, topK: 0, maxNewTokens: 20 };
    const a = await generate(ex, { batch: 1, seq: 24, vocab: VOCAB }, [p], o, new Rng(9), letters);
    const b = await generate(ex, { batch: 1, seq: 24, vocab: VOCAB }, [p], o, new Rng(9), letters);
    const c = await generate(ex, { batch: 1, seq: 24, vocab: VOCAB }, [p], o, new Rng(10), letters);
    ex.close();
    expect(a.tokens).toEqual(b.tokens);
    expect(a.tokens).not.toEqual(c.tokens);
  });

  it('stop text cuts the output before it (streamed pieces agree); a stop token ends the row without it', async () => {
    const p = prompt(4, new Rng(5));
    const ex = await runner(1, 24);
    const dims = { batch: 1, seq: 24, vocab: VOCAB };
    const o = { temperature: 0.9, topK: 0, maxNewTokens: 16 };
    const free = await generate(ex, dims, [p], o, new Rng(11), letters);
    const text = free.text[0];
    const stop = text.slice(5, 7);
    const pieces: string[] = [];
    const stopped = await generate(ex, dims, [p], { ...o, stop: [stop] }, new Rng(11), letters, (_, piece) => pieces.push(piece));
    expect(stopped.reason[0]).toBe('stop');
    expect(stopped.text[0]).toBe(text.slice(0, text.indexOf(stop)));
    expect(pieces.join('')).toBe(stopped.text[0]);
    const token = free.tokens[0][6];
    const first = free.tokens[0].indexOf(token);
    const byToken = await generate(ex, dims, [p], { ...o, stopTokens: [token] }, new Rng(11), letters);
    expect(byToken.reason[0]).toBe('stop-token');
    expect(byToken.tokens[0]).toEqual(free.tokens[0].slice(0, first));
    ex.close();
  });
});

describe('tfm generate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tfm-generate-'));
  const ckpt = join(dir, 'ckpt-00000002');
  beforeAll(() => {
    const r = tfm(['train', 'specs/gpt_tiny.tfm', '--steps', '2', '--batch', '2', '--eval-every', '2', '--out', dir]);
    expect(r.code, r.stderr).toBe(0);
  }, 300_000);

  it('continues a prompt, the same for the same seed, and stops at stop text', () => {
    const args = ['generate', 'specs/gpt_tiny.tfm', '-c', ckpt, '--prompt', 'Call me', '-n', '24', '--temperature', '1', '--top-k', '0'];
    const a = tfm([...args, '--seed', '3']);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout.startsWith('Call me')).toBe(true);
    expect(a.stdout.length).toBeGreaterThan('Call me'.length + 10);
    expect(tfm([...args, '--seed', '3']).stdout).toBe(a.stdout);
    // A prompt file is read whole, as --prompt takes it.
    writeFileSync(join(dir, 'prompt.txt'), 'Call me');
    expect(tfm([...args.filter((x) => x !== '--prompt' && x !== 'Call me'), '--prompt-file', join(dir, 'prompt.txt'), '--seed', '3']).stdout).toBe(a.stdout);
    expect(tfm([...args, '--seed', '4']).stdout).not.toBe(a.stdout);
    const continuation = a.stdout.slice('Call me'.length).trimEnd();
    const stop = continuation.slice(6, 8);
    const cut = tfm([...args, '--seed', '3', '--stop', stop]);
    expect(cut.stdout).toBe(`Call me${continuation.slice(0, continuation.indexOf(stop))}\n`);
    // Two prompts run as one batch; greedy decoding gives each what it gives alone.
    const greedy = ['generate', 'specs/gpt_tiny.tfm', '-c', ckpt, '-n', '8', '--temperature', '0'];
    const both = tfm([...greedy, '--prompt', 'whale', '--prompt', 'Ahab said']);
    expect(both.code, both.stderr).toBe(0);
    const alone = tfm([...greedy, '--prompt', 'Ahab said']).stdout.trimEnd();
    expect(both.stdout).toContain(`--- prompt 2 (`);
    expect(both.stdout.trimEnd().endsWith(alone)).toBe(true);
    // The key/value cache (the default) and recomputing every window agree.
    expect(tfm([...greedy, '--prompt', 'Ahab said', '--no-cache']).stdout.trimEnd()).toBe(alone);
  }, 120_000);

  it('few-shot mode: builds the GPT-3 prompt from a description, k drawn examples and the query, and ends the answer at the line', () => {
    const pairs = join(dir, 'pairs.tsv');
    writeFileSync(pairs, 'sea otter\tloutre de mer\npeppermint\tmenthe poivrée\ncheese\tfromage\nplush giraffe\tgirafe peluche\n');
    const args = ['generate', 'specs/gpt_tiny.tfm', '-c', ckpt, '--task', 'Translate English to French:', '--examples', pairs, '--shots', '2', '--query', 'cheese', '-n', '30', '--temperature', '0'];
    const r = tfm(args);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('Translate English to French:');
    for (const l of lines.slice(1, 3)) expect(['sea otter => loutre de mer', 'peppermint => menthe poivrée', 'plush giraffe => girafe peluche']).toContain(l);
    expect(lines[1]).not.toBe(lines[2]);
    expect(lines[3].startsWith('cheese =>')).toBe(true);
    // The answer ends at the end of its line: nothing is printed after it.
    expect(lines.length).toBe(5);
    expect(lines[4]).toBe('');
    expect(tfm(args).stdout).toBe(r.stdout);
    // Zero-shot: the description and the query alone.
    const zero = tfm(['generate', 'specs/gpt_tiny.tfm', '-c', ckpt, '--task', 'Translate English to French:', '--query', 'cheese', '-n', '5', '--temperature', '0']);
    expect(zero.stdout.startsWith('Translate English to French:\ncheese =>')).toBe(true);
    expect(tfm([...args.slice(0, 4), '--shots', '2', '--query', 'cheese']).stderr).toMatch(/TFM5006.*--examples/);
    expect(tfm([...args, '--prompt', 'x']).stderr).toMatch(/TFM5008.*few-shot/);
  }, 120_000);

  it('tfm eval --few-shot: a table of 0- and 1-shot accuracy per task, the plot and a report whose counts agree with its answers', () => {
    const out = join(dir, 'few-shot');
    const r = tfm(['eval', 'specs/gpt_tiny.tfm', '-c', ckpt, '--few-shot', '--tasks', 'first_letter,to_digits', '--shots', '0,1', '--queries', '4', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/task\s+queries\s+0-shot\s+1-shot/);
    expect(r.stdout).toMatch(/first_letter\s+4\s+\d+\.\d%\s+\d+\.\d%/);
    expect(r.stdout).toMatch(/to_digits\s+4\s/);
    expect(r.stdout).toMatch(/mean\s+\d+\.\d%/);
    expect(readFileSync(join(out, 'few-shot.svg'), 'utf8')).toContain('<svg');
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { rows: { task: string; shots: number; correct: number; queries: number; samples: { expected: string; answer: string }[] }[] };
    expect(report.rows.map((x) => `${x.task}:${x.shots}`)).toEqual(['first_letter:0', 'first_letter:1', 'to_digits:0', 'to_digits:1']);
    for (const row of report.rows) {
      expect(row.samples.length).toBe(4);
      expect(row.correct).toBe(row.samples.filter((x) => normalise(x.answer) === normalise(x.expected)).length);
    }
    expect(tfm(['eval', 'specs/gpt_tiny.tfm', '-c', ckpt, '--few-shot', '--tasks', 'nope']).stderr).toMatch(/TFM5008.*first_letter/);
  }, 120_000);

  it('refuses what it cannot do with a code', () => {
    expect(tfm(['generate', 'specs/gpt_tiny.tfm', '-c', ckpt]).stderr).toMatch(/TFM5006.*give a prompt/);
    expect(tfm(['generate', 'specs/gpt_tiny.tfm', '-c', ckpt, '--prompt', 'a', '--top-p', '1.5']).stderr).toMatch(/TFM5008.*top-p 1.5/);
    expect(tfm(['generate', 'specs/gpt_tiny.tfm', '-c', ckpt, '--prompt', 'a', '--temperature', '-1']).stderr).toMatch(/TFM5008/);
    expect(tfm(['generate', 'specs/bert_tiny.tfm', '-c', ckpt, '--prompt', 'a']).stderr).toMatch(/TFM4002.*decoders/);
    expect(tfm(['generate', 'specs/gpt_tiny_bpe.tfm', '-c', ckpt, '--prompt', 'a']).stderr).toMatch(/TFM5012/);
  }, 120_000);
});
