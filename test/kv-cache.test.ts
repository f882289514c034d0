// The inference program with a key/value cache (lowerForCache): a prefill pass over prompts of
// different lengths in one batch, then decode steps of one token per row, give the logits of a
// full recomputation by the evaluation program at every step — for a dense causal decoder
// (learned positions), a local-window one, an alternating causal/local one (sinusoidal
// positions) and a prefix-LM one (rotary positions, grouped-query attention) — on every CPU
// target. Plus the cache's own contract: rows written by earlier calls stay, rows past a
// query are never read, and the new kernels match the float64 reference.
import { mkdirSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkFiles } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { emit } from '../compiler/codegen/emit.ts';
import { lowerForCache, LoweringError } from '../compiler/lower.ts';
import { runReference, valueOf } from '../compiler/reference.ts';
import { CPU_TARGETS, TARGETS } from '../compiler/targets/index.ts';
import { Executor, type ModelRunner } from '../runtime/executor.ts';
import { Rng } from '../runtime/init.ts';
import { randomWeights } from './support/random.ts';
import { createRunner, loadCompiled } from '../runtime/load.ts';
import { relErr } from './support/compare.ts';
import { NO_WEBGPU } from './support/webgpu.ts';

const SPECS: Record<string, string> = {
  // A decoder with T5's relative position bias (8 buckets, so that distances past 4 fall in
  // the logarithmic buckets within the context), RMSNorm and unscaled attention.
  relative: `model relative_tiny {
  layout decoder
  dims { vocab = 50; ctx = 24; d = 32; heads = 4 }
  input tokens context ctx
  embed { tokens vocab -> d; positions relative_bias(buckets = 8, max_distance = 16) }
  block * 2 { bias off; norm pre rmsnorm; attention self heads heads mask causal scale 1; mlp 2 * d act gelu }
  final_norm rmsnorm
  head lm tied
  objective clm
}
`,
  // A local window on every layer, learned positions, biases off.
  local: `model local_tiny {
  layout decoder
  dims { vocab = 50; ctx = 24; d = 32; heads = 4 }
  input tokens context ctx
  embed { tokens vocab -> d; positions learned ctx }
  block * 2 { bias off; norm pre layernorm; attention self heads heads mask local(3); mlp 2 * d act gelu }
  final_norm layernorm
  head lm tied
  objective clm
}
`,
};

const CASES: [string, string][] = [
  ['dense causal (gpt_tiny: learned positions)', 'specs/gpt_tiny.tfm'],
  ['local window (learned positions)', 'out/test-kv-cache/local_tiny.tfm'],
  ['alternating causal / local(3) (sinusoidal positions)', 'test/variants/sinusoidal_local.tfm'],
  ['prefix LM (rotary positions, grouped-query attention)', 'test/variants/rotary_prefix.tfm'],
  ['relative position bias (T5-style: RMSNorm, unscaled, no biases)', 'out/test-kv-cache/relative_tiny.tfm'],
];

mkdirSync('out/test-kv-cache', { recursive: true });
writeFileSync('out/test-kv-cache/local_tiny.tfm', SPECS.local);
writeFileSync('out/test-kv-cache/relative_tiny.tfm', SPECS.relative);

/** Weights far from their initialisation (std 0.3), so that every position and mask matters. */
/** randomWeights (test/support/random.ts) of an executor's parameters. */
const weightsOf = (ex: Pick<ModelRunner, 'program' | 'param'>, seed: number) => randomWeights(ex.program.params, (name) => ex.param(name).length, seed);

async function programs(file: string, target: string) {
  const r = checkFiles([file]);
  expect(r.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message)).toEqual([]);
  const m = r.models[0];
  const base = `out/test-kv-cache/${m.model.name}/${target}`;
  emit(compile(m, TARGETS[target], r.program.sources, { train: false }), `${base}/eval`);
  emit(compile(m, TARGETS[target], r.program.sources, { cache: true }), `${base}/cache`);
  return { model: m, full: loadCompiled(`${base}/eval`), cached: loadCompiled(`${base}/cache`) };
}

// Every CPU target, and WebGPU where this machine runs it (lavapipe without a GPU).
const targets = [...Object.keys(CPU_TARGETS), ...(NO_WEBGPU ? [] : ['webgpu'])];

describe('key/value cache: prefill + decode = full recomputation', () => {
  it.each(CASES.flatMap(([what, file]) => targets.map((t) => [what, file, t] as const)))('%s (%s) on %s', async (_what, file, target) => {
    const seed = 1234;
    const { model, full, cached } = await programs(file, target);
    const vocab = model.model.embed!.tokens!.vocab.value;
    const lengths = [5, 2, 7];
    const B = lengths.length;
    const steps = 6;
    const P = Math.max(...lengths);
    const ctx = P + steps + 3;
    const S = P + steps;
    const rng = new Rng(seed);
    const rows = lengths.map((n) => Array.from({ length: n }, () => rng.int(vocab)));
    const prefix = lengths.map((n) => Math.max(1, n - 2));

    const ref = await createRunner(full.program, full.source, { batch: B, seq: S });
    const pre = await createRunner(cached.program, cached.source, { batch: B, seq: P, ctx });
    const dec = pre.withDims({ seq: 1 });
    for (const [name, w] of weightsOf(ref, seed)) {
      ref.param(name).set(w);
      pre.param(name).set(w);
    }
    ref.push();
    pre.push();
    if (ref.hasInput('prefix_len')) {
      ref.input('prefix_len').set(prefix);
      pre.input('prefix_len').set(prefix);
      dec.input('prefix_len').set(prefix);
    }
    /** The evaluation program's logits at row r's position t, over the rows as they are now. */
    const recompute = async () => {
      const tokens = ref.input('tokens') as Int32Array;
      tokens.fill(0);
      rows.forEach((ids, r) => tokens.set(ids, r * S));
      (ref.input('targets') as Int32Array).fill(-100);
      await ref.forward();
      const logits = (await ref.read('logits')) as Float32Array;
      return (r: number, t: number) => logits.subarray((r * S + t) * vocab, (r * S + t + 1) * vocab);
    };

    // Prefill: the prompts right-padded to P in one pass; every real position is compared.
    const tokens = pre.input('tokens') as Int32Array;
    tokens.fill(0);
    rows.forEach((ids, r) => tokens.set(ids, r * P));
    (pre.input('past') as Int32Array).fill(0);
    await pre.forward();
    let want = await recompute();
    const got = (await pre.read('logits')) as Float32Array;
    rows.forEach((ids, r) => {
      for (let t = 0; t < ids.length; t++) expect(relErr(got.subarray((r * P + t) * vocab, (r * P + t + 1) * vocab), want(r, t)), `prefill row ${r} position ${t}, seed ${seed}`).toBeLessThan(1e-5);
    });

    // Decode: one new token per row per call, each row at its own position.
    for (let step = 0; step < steps; step++) {
      const next = rows.map(() => rng.int(vocab));
      const past = dec.input('past') as Int32Array;
      rows.forEach((ids, r) => {
        past[r] = ids.length;
        (dec.input('tokens') as Int32Array)[r] = next[r];
        ids.push(next[r]);
      });
      await dec.forward();
      want = await recompute();
      const step1 = (await dec.read('logits')) as Float32Array;
      rows.forEach((ids, r) => expect(relErr(step1.subarray(r * vocab, (r + 1) * vocab), want(r, ids.length - 1)), `decode step ${step} row ${r}, seed ${seed}`).toBeLessThan(1e-5));
    }
    ref.close();
    pre.close();
  });
});

describe('key/value cache kernels', () => {
  it('match the float64 reference on a prefill from an empty cache (the cache rows past the prompt stay 0)', async () => {
    const seed = 99;
    const { model, cached } = await programs('test/variants/sinusoidal_local.tfm', 'ts');
    const { graph } = lowerForCache(model);
    const dims = { batch: 2, seq: 5, ctx: 9 };
    const ex = await Executor.create(cached.program, cached.source, dims);
    const weights = weightsOf(ex, seed);
    const rng = new Rng(seed);
    const tokens = Int32Array.from({ length: 10 }, () => rng.int(40));
    const past = Int32Array.of(0, 3);
    for (const [name, w] of weights) ex.param(name).set(w);
    ex.input('tokens').set(tokens);
    ex.input('past').set(past);
    ex.forward();
    const ref = runReference(graph, { params: new Map([...weights].map(([k, w]) => [k, Float64Array.from(w)])), inputs: new Map<string, Int32Array>([['tokens', tokens], ['past', past]]), dims });
    // Row 1 starts at position 3 of an empty cache: its queries see keys 0–2 as zeros, in both.
    for (const name of Object.keys(cached.program.outputs)) {
      expect(relErr(ex.read(name) as Float32Array, valueOf(ref, graph.outputs.get(name)!).data), `${name}, seed ${seed}`).toBeLessThan(1e-5);
    }
    ex.close();
  });

  it('a decode call leaves the cache rows of earlier calls as they were and writes only its own', async () => {
    const { cached } = await programs('specs/gpt_tiny.tfm', 'ts');
    const ex = await Executor.create(cached.program, cached.source, { batch: 2, seq: 4, ctx: 10 });
    const rng = new Rng(5);
    for (const [name, w] of weightsOf(ex, 5)) ex.param(name).set(w);
    ex.input('tokens').set(Array.from({ length: 8 }, () => rng.int(65)));
    ex.input('past').fill(0);
    ex.forward();
    const name = 'cache:blocks.1.attention.k';
    const before = Float32Array.from(ex.read(name) as Float32Array);
    const dec = ex.withDims({ seq: 1 });
    dec.input('tokens').set([7, 9]);
    dec.input('past').set([4, 2]);
    dec.forward();
    const after = dec.read(name) as Float32Array;
    const W = before.length / 20;
    const changed = new Set<number>();
    for (let k = 0; k < before.length; k++) if (after[k] !== before[k]) changed.add(Math.floor(k / W));
    // Row 0 wrote its position 4 (cache row 4); row 1 overwrote its position 2 (cache row 12).
    expect([...changed].sort((a, b) => a - b)).toEqual([4, 12]);
    ex.close();
  });

  it('decode on two threads (a dims variant of the prefill executor) is bit-identical to decode on one', async () => {
    const { cached } = await programs('specs/gpt_tiny.tfm', 'wasm');
    const rng = new Rng(8);
    const prompt = Array.from({ length: 2 * 12 }, () => rng.int(65));
    const run = async (threads: number) => {
      const ex = await Executor.create(cached.program, cached.source, { batch: 2, seq: 12, ctx: 20 }, { threads, variants: [{ seq: 1 }] });
      for (const [name, w] of weightsOf(ex, 8)) ex.param(name).set(w);
      ex.input('tokens').set(prompt);
      ex.input('past').fill(0);
      ex.forward();
      const dec = ex.withDims({ seq: 1 });
      const out: number[] = [];
      for (let step = 0; step < 4; step++) {
        dec.input('tokens').set([step + 3, step + 7]);
        dec.input('past').set([12 + step, 12 + step]);
        dec.forward();
        out.push(...(dec.read('logits') as Float32Array));
      }
      dec.close();
      ex.close();
      return out;
    };
    expect(await run(2)).toEqual(await run(1));
  });

  it('refuses models a cache cannot serve, with the reason and the line', () => {
    const r = checkFiles(['specs/bert_tiny.tfm']);
    expect(() => lowerForCache(r.models[0])).toThrow(LoweringError);
    expect(() => lowerForCache(r.models[0])).toThrow(/decoder/);
  });
});
