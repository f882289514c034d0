// Every reference spec, and every example spec, is clean: no errors and no warnings.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkFiles } from '../compiler/check.ts';

const specs = readdirSync('specs').filter((f) => f.endsWith('.tfm')).sort();

describe('specs/', () => {
  it('holds the seed models and a tiny trainable variant of each family', () => {
    for (const name of ['vit_base_patch16', 'bert_base', 'bert_base_sst2', 'gpt1', 'gpt2_small', 'gpt3_small', 't5_small', 'bart_base', 'vit_mnist', 'bert_tiny', 'gpt_tiny', 't5_tiny', 'bart_tiny']) {
      expect(specs).toContain(`${name}.tfm`);
    }
  });

  it.each(specs)('%s checks clean', (file) => {
    const result = checkFiles([`specs/${file}`]);
    expect(result.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([]);
    expect(result.models.length).toBeGreaterThan(0);
  });

  it.each(readdirSync('examples/bart-noise').filter((f) => f.endsWith('.tfm')).sort())('examples/bart-noise/%s checks clean and names one noise', (file) => {
    const result = checkFiles([`examples/bart-noise/${file}`]);
    expect(result.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([]);
    const noise = file.replace(/^bart_tiny_|\.tfm$/g, '');
    expect([...result.models[0].model.objective!.params.keys()].filter((k) => k !== 'poisson_lambda')).toEqual([noise]);
  });

  it('tiny variants stay small enough for a 2-core CPU (under 5M parameters)', () => {
    for (const name of ['vit_mnist', 'bert_tiny', 'gpt_tiny', 't5_tiny', 'bart_tiny']) {
      const m = checkFiles([`specs/${name}.tfm`]).models[0];
      expect(m.params.total, name).toBeLessThan(5_000_000);
    }
  });
});
