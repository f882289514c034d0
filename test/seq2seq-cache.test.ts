// Cached inference of encoder-decoders: the encoder program runs once and hands every cross
// attention its keys and values; the decoder program then takes one token per pass with its
// self-attention keys and values cached. At every step its logits equal those of the full
// evaluation program (encoder and decoder recomputed on the whole prefix) within 1e-5 — for a
// tiny T5 (relative position bias in the decoder, padded sources) and a tiny BART (learned
// positions with their offset), on every target.
import { mkdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkFiles } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { emit } from '../compiler/codegen/emit.ts';
import { CPU_TARGETS, TARGETS } from '../compiler/targets/index.ts';
import type { ModelRunner } from '../runtime/executor.ts';
import { beamSearch, greedy } from '../runtime/generate/beam.ts';
import { cachedNext, recomputeNext } from '../runtime/generate/seq2seq.ts';
import { randomWeights } from './support/random.ts';
import { createRunner, loadCompiled } from '../runtime/load.ts';
import { relErr } from './support/compare.ts';
import { NO_WEBGPU } from './support/webgpu.ts';

const FAMILIES = [
  ['t5', 'test/torch/t5_tiny.tfm'],
  ['bart', 'test/torch/bart_tiny.tfm'],
] as const;
const targets = [...Object.keys(CPU_TARGETS), ...(NO_WEBGPU ? [] : ['webgpu'])];
const [B, S, T, V] = [3, 11, 7, 600];

async function programs(file: string, target: string) {
  const r = checkFiles([file]);
  const m = r.models[0];
  const base = `out/test-seq2seq-cache/${m.model.name}/${target}`;
  mkdirSync(base, { recursive: true });
  emit(compile(m, TARGETS[target], r.program.sources, { train: false }), `${base}/eval`);
  emit(compile(m, TARGETS[target], r.program.sources, { encode: true }), `${base}/encode`);
  emit(compile(m, TARGETS[target], r.program.sources, { cache: true }), `${base}/cache`);
  const open = async (kind: string, dims: Record<string, number>, weights: Map<string, Float32Array>) => {
    const { program, source } = loadCompiled(`${base}/${kind}`);
    const ex = await createRunner(program, source, dims);
    for (const p of program.params) ex.param(p.name).set(weights.get(p.name)!);
    ex.push();
    return ex;
  };
  const { program } = loadCompiled(`${base}/eval`);
  return { open, params: program.params };
}

/** Weights far from their initialisation, so that every position and mask matters. */
async function setup(family: string, file: string, target: string) {
  const { open, params } = await programs(file, target);
  const seed = Math.floor(Math.random() * 2 ** 31);
  const shapes = new Map(params.map((p) => [p.name, p.shape.reduce((a: number, b) => a * Number(b), 1)]));
  const weights = randomWeights(params, (name) => shapes.get(name)!, seed);
  const sources = Array.from({ length: B }, (_, b) => Array.from({ length: b === 1 ? 5 : S }, () => 5 + Math.floor(Math.random() * 595)));
  return { open, weights, sources, seed, start: family === 't5' ? 0 : 2 };
}

describe('encoder-decoder key/value caches: encoder once, decoder one token per pass = full recomputation', () => {
  it.each(FAMILIES.flatMap(([f, file]) => targets.map((t) => [f, file, t] as const)))('%s (%s) on %s', async (family, file, target) => {
    const { open, weights, sources, seed, start } = await setup(family, file, target);
    const tgt = Array.from({ length: B }, () => [start, ...Array.from({ length: T - 1 }, () => 5 + Math.floor(Math.random() * 595))]);
    const full = await open('eval', { batch: B, src_seq: S, tgt_seq: T }, weights);
    const fill = (ex: ModelRunner) => {
      if (ex.hasInput('src_tokens')) ex.input('src_tokens').set(sources.flatMap((s) => [...s, ...new Array(S - s.length).fill(0)]));
      if (ex.hasInput('src_key_mask')) ex.input('src_key_mask').set(sources.flatMap((s) => Array.from({ length: S }, (_, i) => (i < s.length ? 1 : 0))));
    };
    fill(full);
    full.input('tgt_tokens').set(tgt.flat());
    full.input('targets').set(new Array(B * T).fill(-100));
    await full.forward();
    const want = Float32Array.from((await full.read('logits')) as Float32Array);
    const enc = await open('encode', { batch: B, src_seq: S }, weights);
    const dec = await open('cache', { batch: B, src_seq: S, tgt_seq: 1, ctx: T }, weights);
    try {
      fill(enc);
      await enc.forward();
      for (const name of Object.keys(enc.program.outputs).filter((n) => n.startsWith('cross:'))) dec.input(name).set((await enc.read(name)) as Float32Array);
      expect(Object.keys(enc.program.outputs).filter((n) => n.startsWith('cross:')).length).toBe(4); // k and v of 2 layers
      if (dec.hasInput('src_key_mask')) fill(dec);
      for (let t = 0; t < T; t++) {
        dec.input('tgt_tokens').set(tgt.map((r) => r[t]));
        dec.input('past').set(new Array(B).fill(t));
        await dec.forward();
        const got = (await dec.read('logits')) as Float32Array;
        for (let b = 0; b < B; b++) {
          const row = want.subarray((b * T + t) * V, (b * T + t + 1) * V);
          expect(relErr(got.subarray(b * V, (b + 1) * V), row), `step ${t} row ${b}, seed ${seed}`).toBeLessThan(1e-5);
        }
      }
    } finally {
      full.close();
      enc.close();
      dec.close();
    }
  }, 300_000);

  it.each(FAMILIES.flatMap(([f, file]) => Object.keys(CPU_TARGETS).map((t) => [f, file, t] as const)))('%s (%s) on %s: greedy and beam search with the caches give the tokens and scores of recomputation', async (family, file, target) => {
    const { open, weights, sources, start } = await setup(family, file, target);
    const eos = family === 't5' ? 1 : 2;
    const settings = { maxTokens: T, eos, width: V, vocab: V };
    const rows = (batch: number) => ({ batch, srcSeq: S, tgtSeq: T, pad: family === 't5' ? 0 : 1, start, width: V });
    const full = await open('eval', { batch: B, src_seq: S, tgt_seq: T }, weights);
    const enc = await open('encode', { batch: B, src_seq: S }, weights);
    const dec = await open('cache', { batch: B, src_seq: S, tgt_seq: 1, ctx: T }, weights);
    try {
      const slow = await greedy(recomputeNext(full, rows(B), (r) => sources[r]), B, settings);
      const fast = await greedy(await cachedNext(enc, dec, rows(B), (r) => sources[r]), B, settings);
      expect(fast).toEqual(slow);
      for (const source of sources) {
        const a = await beamSearch(recomputeNext(full, rows(B), () => source), { ...settings, beams: B, lengthPenalty: 1 });
        const b = await beamSearch(await cachedNext(enc, dec, rows(B), () => source), { ...settings, beams: B, lengthPenalty: 1 });
        expect(b.map((h) => h.tokens)).toEqual(a.map((h) => h.tokens));
        b.forEach((h, k) => expect(Math.abs(h.score - a[k].score)).toBeLessThan(1e-4));
      }
    } finally {
      full.close();
      enc.close();
      dec.close();
    }
  }, 300_000);
});
