// Lowering every spec to the tensor graph: the graph verifies, its parameters add up to the
// checker's count, and for each tiny spec the whole model's gradients (autodiff of the IR)
// agree with finite differences of the float64 reference interpreter.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { differentiate } from '../compiler/autodiff.ts';
import { checkFiles } from '../compiler/check.ts';
import { numel } from '../compiler/ir.ts';
import { lowerModel } from '../compiler/lower.ts';
import { printGraph } from '../compiler/print.ts';
import { runReference, valueOf } from '../compiler/reference.ts';
import { verifyGraph } from '../compiler/verify.ts';
import { randomInputs, randomParams } from './support/random.ts';

const specs = readdirSync('specs').filter((f) => f.endsWith('.tfm')).sort();

function load(file: string) {
  const r = checkFiles([`specs/${file}`]);
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return r;
}

describe('lowering', () => {
  it.each(specs)('%s lowers to a verified graph whose parameters match the checker', (file) => {
    const r = load(file);
    for (const m of r.models) {
      const { graph, loss } = lowerModel(m);
      expect(verifyGraph(graph)).toEqual([]);
      const total = graph.params.reduce((s, p) => s + numel(p.value.shape), 0);
      expect(total, m.model.name).toBe(m.params.total);
      differentiate(graph, loss);
      expect(verifyGraph(graph)).toEqual([]);
      expect(graph.outputs.has('loss')).toBe(true);
    }
  });

  it('prints byte-identical IR on every compile', () => {
    const print = () => {
      const r = load('t5_tiny.tfm');
      const { graph, loss } = lowerModel(r.models[0]);
      differentiate(graph, loss);
      return printGraph(graph, r.program.sources);
    };
    const a = print();
    expect(print()).toBe(a);
    expect(a).toMatch(/^graph t5_tiny\n/);
    expect(a).toMatch(/attention\{.*has_bias=true.*rel_bidirectional=true.*\}/);
    expect(a).toMatch(/# specs\/t5_tiny\.tfm:\d+:\d+/);
  });
});

const TINY: [string, { vocab: number; classes?: number }][] = [
  ['gpt_tiny', { vocab: 65 }],
  ['bert_tiny', { vocab: 8192 }],
  ['bert_tiny_sentiment', { vocab: 8192, classes: 2 }],
  ['vit_mnist', { vocab: 1, classes: 10 }],
  ['t5_tiny', { vocab: 2048 }],
  ['bart_tiny', { vocab: 2048 }],
];

describe('initialisation', () => {
  const std = (file: string, name: string) => {
    const p = lowerModel(load(file).models[0]).graph.params.find((q) => q.name === name)!;
    return p.init.kind === 'normal' ? p.init.std : p.init.kind;
  };
  it("unscaled attention (T5) gets T5's fan-in initialisation; other models without `init` keep normal(0, 0.02)", () => {
    // t5_tiny: d_model 128, 4 heads of 32, d_ff 256.
    expect(std('t5_tiny.tfm', 'embed.tokens')).toBe(1);
    expect(std('t5_tiny.tfm', 'encoder.relative_bias')).toBeCloseTo(128 ** -0.5, 12);
    expect(std('t5_tiny.tfm', 'encoder.blocks.0.attention.q.weight')).toBeCloseTo((128 * 32) ** -0.5, 12);
    expect(std('t5_tiny.tfm', 'decoder.blocks.1.cross_attention.k.weight')).toBeCloseTo(128 ** -0.5, 12);
    expect(std('t5_tiny.tfm', 'decoder.blocks.1.attention.o.weight')).toBeCloseTo((4 * 32) ** -0.5, 12);
    expect(std('t5_tiny.tfm', 'encoder.blocks.0.mlp.gate.weight')).toBeCloseTo(128 ** -0.5, 12);
    expect(std('t5_tiny.tfm', 'encoder.blocks.0.mlp.down.weight')).toBeCloseTo(256 ** -0.5, 12);
    expect(std('bart_base.tfm', 'embed.tokens')).toBe(0.02);
    expect(std('bart_base.tfm', 'encoder.blocks.0.attention.q.weight')).toBe(0.02);
    expect(std('gpt_tiny.tfm', 'blocks.0.mlp.up.weight')).toBe(0.02);
  });

  // A child of a reference spec with one `init` statement, checked from memory.
  const child = (parent: string, init: string) => {
    const text = `import "specs/${parent}.tfm"\nmodel child extends ${parent} {\n  ${init}\n}\n`;
    const r = checkFiles(['child.tfm'], (path) => (path.endsWith('child.tfm') ? text : readFileSync(path, 'utf8')));
    return { r, text, std: (name: string) => {
      const p = lowerModel(r.models.find((m) => m.model.name === 'child')!).graph.params.find((q) => q.name === name)!;
      return p.init.kind === 'normal' ? p.init.std : p.init.kind;
    } };
  };
  it('`init fan_in` starts each weight matrix at normal(0, fan_in^-½) and keeps tables at 0.02', () => {
    const { r, std } = child('bart_tiny', 'init fan_in'); // d_model 128, 4 heads, d_ff 512
    expect(r.diagnostics).toEqual([]);
    for (const name of ['encoder.blocks.0.attention.q.weight', 'encoder.blocks.1.attention.o.weight', 'decoder.blocks.0.cross_attention.k.weight', 'decoder.blocks.1.cross_attention.v.weight', 'decoder.blocks.0.mlp.up.weight'])
      expect(std(name), name).toBeCloseTo(128 ** -0.5, 12);
    expect(std('decoder.blocks.1.mlp.down.weight')).toBeCloseTo(512 ** -0.5, 12);
    expect(std('embed.tokens')).toBe(0.02);
    expect(std('decoder.embed.positions')).toBe(0.02);
    expect(std('encoder.embed.norm.weight')).toBe('ones');
    expect(std('encoder.blocks.0.attention.q.bias')).toBe('zeros');
    // Layers outside the blocks too: BERT's backbone pooler (d_model 128).
    const bert = child('bert_tiny', 'init fan_in');
    expect(bert.std('pooler.weight')).toBeCloseTo(128 ** -0.5, 12);
  });
  it('`init normal std X` sets the base std (residual projections X/sqrt(2·layers)), also over T5\'s default', () => {
    const bart = child('bart_tiny', 'init normal std 0.05'); // 2 layers per stack
    expect(bart.r.diagnostics).toEqual([]);
    expect(bart.std('encoder.blocks.0.attention.q.weight')).toBe(0.05);
    expect(bart.std('embed.tokens')).toBe(0.05);
    expect(bart.std('decoder.blocks.1.mlp.down.weight')).toBeCloseTo(0.05 / 2, 12);
    const t5 = child('t5_tiny', 'init normal');
    expect(t5.std('encoder.blocks.0.attention.q.weight')).toBe(0.02);
    expect(t5.std('embed.tokens')).toBe(0.02);
    expect(t5.std('encoder.relative_bias')).toBe(0.02);
    // Written out, T5's default is the same as unwritten.
    const t5x = child('t5_tiny', 'init t5');
    expect(t5x.std('encoder.blocks.0.attention.q.weight')).toBeCloseTo((128 * 32) ** -0.5, 12);
    expect(t5x.std('embed.tokens')).toBe(1);
  });
  it('a malformed `init` is a located diagnostic', () => {
    // Each code with the text its primary span covers.
    const codes = (init: string) => {
      const c = child('bart_tiny', init);
      return c.r.diagnostics.map((d) => `${d.code} ${c.text.slice(d.primary.span.start, d.primary.span.end)}`);
    };
    expect(codes('init xavier')).toEqual(['TFM2004 xavier']);
    expect(codes('init fan_in std 0.1')).toEqual(['TFM2016 std']);
    expect(codes('init normal std 0')).toEqual(['TFM2019 0']);
    expect(child('bart_tiny', 'init normal std 0').r.diagnostics[0].primary.message).toBe('must be greater than 0');
  });
});

describe('whole-model gradients of the tiny specs match finite differences (float64)', () => {
  it.each(TINY)('%s', (name, sizes) => {
    const m = load(`${name}.tfm`).models[0];
    const { graph, loss } = lowerModel(m);
    const grads = differentiate(graph, loss);
    const dims = { batch: 2, seq: 6, src_seq: 6, tgt_seq: 5, picks: 3 };
    const params = randomParams(graph, dims, 0.05);
    const inputs = randomInputs(graph, dims, sizes);
    const env = runReference(graph, { params, inputs, dims });
    const L = valueOf(env, loss).data[0];
    expect(Number.isFinite(L)).toBe(true);
    const lossAt = () => valueOf(runReference(graph, { params, inputs, dims }), loss).data[0];
    // Sample parameters across the whole model: the largest-gradient element of each of up
    // to 10 tensors, chosen at random.
    const chosen = [...graph.params].sort(() => Math.random() - 0.5).slice(0, 10);
    let num = 0;
    let den = 0;
    // Five-point stencil: truncation O(h⁴) and round-off ~1e-16·|L|/h both far below 1e-6,
    // even for the small gradients of a scaled, bias-free model such as T5.
    const h = 1e-4;
    for (const p of chosen) {
      const ad = valueOf(env, grads.get(p.name)!).data;
      let at = 0;
      for (let i = 1; i < ad.length; i++) if (Math.abs(ad[i]) > Math.abs(ad[at])) at = i;
      const theta = params.get(p.name)!;
      const keep = theta[at];
      const at_ = (delta: number) => {
        theta[at] = keep + delta;
        return lossAt();
      };
      const fd = (-at_(2 * h) + 8 * at_(h) - 8 * at_(-h) + at_(-2 * h)) / (12 * h);
      theta[at] = keep;
      num += (ad[at] - fd) ** 2;
      den += fd * fd;
    }
    expect(den).toBeGreaterThan(0);
    expect(Math.sqrt(num / den)).toBeLessThanOrEqual(1e-6);
  });
});
