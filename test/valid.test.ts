// Valid but unusual specs (Llama-style, GPT-J/PaLM parallel blocks, ALBERT factorised
// embeddings, T5 v1.1, ViT without `<cls>`, three-way alternating masks, `extends` chains,
// parenthesised sizes): each checks clean — no errors, no warnings — and what the checker
// accepts the compiler can build: it lowers to a verified graph (forward and backward) whose
// parameter count is the checker's.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { differentiate } from '../compiler/autodiff.ts';
import { checkFiles } from '../compiler/check.ts';
import { numel } from '../compiler/ir.ts';
import { lowerModel } from '../compiler/lower.ts';
import { verifyGraph } from '../compiler/verify.ts';

const dir = 'test/valid';
const specs = readdirSync(dir).filter((f) => f.endsWith('.tfm')).sort();

describe('valid unusual specs', () => {
  it('has at least 15 of them', () => {
    expect(specs.length).toBeGreaterThanOrEqual(15);
  });

  it.each(specs)('%s checks clean and lowers', (file) => {
    const result = checkFiles([`${dir}/${file}`]);
    expect(result.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([]);
    expect(result.models.length).toBeGreaterThan(0);
    for (const m of result.models) {
      const { graph, loss } = lowerModel(m);
      expect(verifyGraph(graph), m.model.name).toEqual([]);
      const total = graph.params.reduce((s, p) => s + numel(p.value.shape), 0);
      expect(total, m.model.name).toBe(m.params.total);
      differentiate(graph, loss);
      expect(verifyGraph(graph), m.model.name).toEqual([]);
    }
  });
});
