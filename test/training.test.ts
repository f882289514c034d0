// The runtime's training pieces: gradient accumulation equals one large batch, the learning
// rate schedule has its warmup and cosine shape, initialisation is seeded, and the
// validation sample reads the logits where they are.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkFiles } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { CPU_TARGETS } from '../compiler/targets/index.ts';
import { emit } from '../compiler/codegen/emit.ts';
import { Executor } from '../runtime/executor.ts';
import { initParams } from '../runtime/init.ts';
import { loadCompiled } from '../runtime/load.ts';
import { learningRate } from '../runtime/schedule.ts';
import { tfm } from './support/cli.ts';

function gptTiny(target = 'ts') {
  const r = checkFiles(['specs/gpt_tiny.tfm']);
  emit(compile(r.models[0], CPU_TARGETS[target], r.program.sources), `out/test-training/gpt_tiny/${target}`);
  return loadCompiled(`out/test-training/gpt_tiny/${target}`);
}

describe('training runtime', () => {
  it.each(Object.keys(CPU_TARGETS))('%s: accumulating 2 micro-batches of 2 gives the gradients and update of one batch of 4', async (target) => {
    const { program, source } = gptTiny(target);
    const seq = 16;
    const tokens = Int32Array.from({ length: 4 * seq }, () => Math.floor(Math.random() * 65));
    const targets = Int32Array.from({ length: 4 * seq }, () => Math.floor(Math.random() * 65));
    const seed = Math.floor(Math.random() * 1e9);
    const settings = { lr: 1e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1, maxNorm: 0.5 };

    const big = await Executor.create(program, source, { batch: 4, seq });
    initParams(big, seed);
    const one = big.trainStep(1, () => {
      big.input('tokens').set(tokens);
      big.input('targets').set(targets);
    }, settings);

    const small = await Executor.create(program, source, { batch: 2, seq });
    initParams(small, seed);
    const two = small.trainStep(2, (k) => {
      small.input('tokens').set(tokens.subarray(k * 2 * seq, (k + 1) * 2 * seq));
      small.input('targets').set(targets.subarray(k * 2 * seq, (k + 1) * 2 * seq));
    }, settings);

    expect(Math.abs(two.loss - one.loss) / one.loss).toBeLessThan(1e-5);
    expect(Math.abs(two.gradNorm - one.gradNorm) / one.gradNorm).toBeLessThan(1e-4);
    // The gradients: the accumulated mean of the two halves against the large batch's (the
    // optimizer leaves both arenas as they were). Equal up to summation order.
    let num = 0;
    let den = 0;
    for (let k = 0; k < big.gradArena.length; k++) {
      num += (big.gradArena[k] - small.mem.acc[k]) ** 2;
      den += big.gradArena[k] ** 2;
    }
    expect(Math.sqrt(num / den)).toBeLessThan(1e-5);
    // The update: the same accumulated gradients given to a one-batch step move the weights
    // bit-identically (same clip factor, same step count, same moments). Comparing the two
    // runs' weights directly would not be a fair test: the first AdamW step is ≈ lr·sign(g),
    // so an element whose gradient is round-off (|g| ≈ 1e-8, clipped below eps) can move by
    // a different fraction of lr in each run although the gradients agree to 1e-7.
    const ref = await Executor.create(program, source, { batch: 2, seq });
    initParams(ref, seed);
    ref.gradArena.set(small.mem.acc);
    const norm = ref.optimizerStep(settings);
    expect(norm).toBe(two.gradNorm);
    expect(Buffer.from(ref.paramArena.buffer, ref.paramArena.byteOffset, ref.paramArena.byteLength)
      .equals(Buffer.from(small.paramArena.buffer, small.paramArena.byteOffset, small.paramArena.byteLength))).toBe(true);
  });

  it.each(Object.keys(CPU_TARGETS))('%s: two threads train bit-identically to one (splits write disjoint outputs)', async (target) => {
    const { program, source } = gptTiny(target);
    const dims = { batch: 8, seq: 32 };
    const tokens = Int32Array.from({ length: 8 * 32 }, () => Math.floor(Math.random() * 65));
    const settings = { lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, maxNorm: 1 };
    const seed = Math.floor(Math.random() * 1e9);
    const runs: Float32Array[] = [];
    for (const threads of [1, 2]) {
      const ex = await Executor.create(program, source, dims, { threads });
      try {
        initParams(ex, seed);
        ex.input('tokens').set(tokens);
        ex.input('targets').set(tokens);
        for (let s = 0; s < 2; s++) ex.trainStep(1, () => {}, settings);
        runs.push(Float32Array.from(ex.paramArena));
      } finally {
        ex.close();
      }
    }
    expect(Buffer.from(runs[1].buffer).equals(Buffer.from(runs[0].buffer))).toBe(true);
  });

  it('initialisation is seeded: same seed, same weights; another seed, other weights', async () => {
    const { program, source } = gptTiny();
    const a = await Executor.create(program, source, { batch: 1, seq: 4 });
    const b = await Executor.create(program, source, { batch: 1, seq: 4 });
    initParams(a, 42);
    initParams(b, 42);
    expect(Array.from(a.paramArena)).toEqual(Array.from(b.paramArena));
    initParams(b, 43);
    expect(Array.from(a.paramArena)).not.toEqual(Array.from(b.paramArena));
    // GPT-2 recipe: std 0.02, residual projections 0.02/sqrt(2·layers), norms 1, biases 0.
    const std = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
    expect(std(a.param('blocks.0.mlp.up.weight'))).toBeCloseTo(0.02, 2);
    expect(std(a.param('blocks.0.mlp.down.weight'))).toBeCloseTo(0.02 / Math.sqrt(8), 3);
    expect(Array.from(a.param('blocks.0.norm_1.weight')).every((v) => v === 1)).toBe(true);
    expect(Array.from(a.param('blocks.0.attention.q.bias')).every((v) => v === 0)).toBe(true);
  });

  it('the validation sample of a text with fewer characters than the model\'s vocabulary reads each logit row where it is', () => {
    // Logit rows are the model's vocabulary (65) wide; this tokenizer has 14 ids. Reading rows
    // 14 apart gave letters of other positions; a text this regular is continued exactly.
    const dir = mkdtempSync(join(tmpdir(), 'tfm-sample-'));
    writeFileSync(join(dir, 'cat.txt'), 'the cat sat on the mat. '.repeat(600));
    const r = tfm(['train', 'specs/gpt_tiny.tfm', '--data', join(dir, 'cat.txt'), '--steps', '120', '--batch', '8', '--eval-every', '120', '--out', join(dir, 'run')]);
    expect(r.code, r.stderr).toBe(0);
    const sample = /sample: "the cat sat on ⟨([^⟩]*)⟩"/.exec(r.stdout + r.stderr)?.[1];
    expect(sample).toBeDefined();
    expect(sample!.slice(0, 40)).toBe('the mat. the cat sat on the mat. the cat');
  }, 300_000);

  it('learning rate: linear warmup to the peak, cosine to the floor', () => {
    const s = { peak: 3e-4, warmupSteps: 100, totalSteps: 1000, minRatio: 0.1 };
    expect(learningRate(0, s)).toBeCloseTo(3e-6, 12);
    expect(learningRate(99, s)).toBeCloseTo(3e-4, 12);
    expect(learningRate(550, s)).toBeCloseTo(3e-5 + 0.5 * 2.7e-4, 10); // halfway down the cosine
    expect(learningRate(1000, s)).toBeCloseTo(3e-5, 12);
    expect(learningRate(5000, s)).toBeCloseTo(3e-5, 12);
    for (let t = 100; t < 1000; t++) expect(learningRate(t + 1, s)).toBeLessThanOrEqual(learningRate(t, s));
  });

  it('reports every kernel call to onKernel (the per-kernel profile), each once per step, in order', async () => {
    const { program, source } = gptTiny('wasm');
    const ex = await Executor.create(program, source, { batch: 2, seq: 8 }, { threads: 2 });
    initParams(ex, 1);
    const ids = Int32Array.from({ length: 16 }, () => Math.floor(Math.random() * 65));
    ex.input('tokens').set(ids);
    ex.input('targets').set(ids);
    const calls: number[] = [];
    ex.onKernel = (k, ms) => {
      expect(ms).toBeGreaterThanOrEqual(0);
      calls.push(k);
    };
    ex.forward();
    ex.backward();
    ex.close();
    expect(calls).toEqual(program.steps.map((_, k) => k));
  });
});
