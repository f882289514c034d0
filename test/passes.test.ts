// Fusion passes: before/after IR goldens per rule (`npm run baseline:accept` rewrites them),
// the fused graph verifies, and in float64 it computes exactly what the unfused graph does.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { differentiate } from '../compiler/autodiff.ts';
import { checkFiles } from '../compiler/check.ts';
import { lowerModel } from '../compiler/lower.ts';
import { fuseKernels, FUSION_RULES } from '../compiler/passes/fuse.ts';
import { runReference, valueOf } from '../compiler/reference.ts';
import { renderPassCase } from './passes/render-case.ts';
import { randomInputs, randomParams } from './support/random.ts';

const dir = 'test/passes/cases';
const cases = readdirSync(dir).filter((f) => f.endsWith('.tfm')).sort();

describe('fusion passes', () => {
  it('every rule has a golden case', () => {
    expect(cases.map((c) => c.replace(/\.tfm$/, '')).sort()).toEqual(FUSION_RULES.map((r) => r.name).sort());
  });

  it.each(cases)('%s: IR before and after matches the goldens; the rule fires; the result verifies', (file) => {
    const path = join(dir, file);
    const { before, after, fired, problems } = renderPassCase(path);
    expect(fired[file.replace(/\.tfm$/, '')]).toBeGreaterThan(0);
    expect(problems).toEqual([]);
    expect(before).toBe(readFileSync(path.replace(/\.tfm$/, '.before.ir'), 'utf8'));
    expect(after).toBe(readFileSync(path.replace(/\.tfm$/, '.after.ir'), 'utf8'));
  });

  it.each(['gpt_tiny', 'bert_tiny_sentiment', 't5_tiny', 'bart_tiny', 'vit_mnist'])('%s: the fused graph computes the loss and every gradient of the unfused one (float64)', (spec) => {
    const m = checkFiles([`specs/${spec}.tfm`]).models[0];
    const dims = { batch: 2, seq: 5, src_seq: 5, tgt_seq: 4, picks: 2 };
    const plain = lowerModel(m);
    differentiate(plain.graph, plain.loss);
    const fused = lowerModel(m);
    differentiate(fused.graph, fused.loss);
    const fired = fuseKernels(fused.graph);
    expect(Object.values(fired).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    const params = randomParams(plain.graph, dims);
    const inputs = randomInputs(plain.graph, dims, { vocab: m.model.embed?.tokens?.vocab.value ?? 1, classes: m.model.head?.classes?.value ?? 2 });
    const a = runReference(plain.graph, { params, inputs, dims });
    const b = runReference(fused.graph, { params, inputs, dims });
    for (const name of plain.graph.outputs.keys()) {
      const x = valueOf(a, plain.graph.outputs.get(name)!).data;
      const y = valueOf(b, fused.graph.outputs.get(name)!).data;
      let worst = 0;
      for (let k = 0; k < x.length; k++) worst = Math.max(worst, Math.abs(x[k] - y[k]) / Math.max(1e-12, Math.abs(x[k])));
      expect(worst, name).toBeLessThan(1e-12);
    }
  });
});
