// Every IR op's backward rule against central finite differences of the float64 reference
// interpreter, on fresh random inputs: relative error ≤ 1e-6.
import { describe, expect, it as vitestIt } from 'vitest';
import { differentiate } from '../compiler/autodiff.ts';
import { Graph, numel, type AttrValue, type IrShape, type Value } from '../compiler/ir.ts';
import { emit, OPS } from '../compiler/ops.ts';
import { runReference, valueOf } from '../compiler/reference.ts';
import { verifyGraph } from '../compiler/verify.ts';

const randn = () => Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
const covered = new Set<string>();

// Every test body is also kept, so that the coverage test can replay them all in a dry run
// (graphs built, nothing computed): it passes alone and in any order, not only after the others.
const bodies: (() => unknown)[] = [];
let dry = false;
const it = Object.assign(
  (name: string, fn: () => unknown) => {
    bodies.push(fn);
    vitestIt(name, () => void fn());
  },
  {
    each:
      <T extends unknown[]>(rows: T[]) =>
      (name: string, fn: (...args: T) => unknown) => {
        for (const row of rows) bodies.push(() => fn(...row));
        vitestIt.each(rows)(name, (...args) => void fn(...(args as T)));
      },
  },
);

interface Case {
  params: Record<string, IrShape>;
  ints?: Record<string, { shape: IrShape; max: number; values?: number[] }>;
  floats?: Record<string, { shape: IrShape; values?: number[] }>;
  dims?: Record<string, number>;
  build(g: Graph, v: Record<string, Value>): Value;
}

function gradCheck(c: Case): number {
  const g = new Graph('grad');
  const dims = c.dims ?? {};
  const v: Record<string, Value> = {};
  for (const [name, shape] of Object.entries(c.params)) v[name] = g.param(name, shape, { kind: 'normal', std: 1 }, true);
  for (const [name, spec] of Object.entries(c.ints ?? {})) v[name] = g.input(name, spec.shape, 'i32');
  for (const [name, spec] of Object.entries(c.floats ?? {})) v[name] = g.input(name, spec.shape, 'f32');
  const out = c.build(g, v);
  const w = g.input('__weights', out.shape, 'f32');
  const loss = emit(g, 'sum_all', [emit(g, 'mul', [out, w])[0]])[0];
  for (const n of g.nodes) {
    covered.add(n.op);
    if (n.op === 'act') covered.add(`act:${n.attrs.kind}`);
  }
  if (dry) return 0;
  const grads = differentiate(g, loss);
  expect(verifyGraph(g)).toEqual([]);

  const params = new Map<string, Float64Array>();
  for (const [name, shape] of Object.entries(c.params)) params.set(name, Float64Array.from({ length: numel(shape, dims) }, randn));
  const inputs = new Map<string, Float64Array | Int32Array>();
  for (const [name, spec] of Object.entries(c.ints ?? {})) inputs.set(name, spec.values ? Int32Array.from(spec.values) : Int32Array.from({ length: numel(spec.shape, dims) }, () => Math.floor(Math.random() * spec.max)));
  for (const [name, spec] of Object.entries(c.floats ?? {})) inputs.set(name, spec.values ? Float64Array.from(spec.values) : Float64Array.from({ length: numel(spec.shape, dims) }, randn));
  inputs.set('__weights', Float64Array.from({ length: numel(out.shape, dims) }, randn));

  const env = runReference(g, { params, inputs, dims });
  const lossAt = () => valueOf(runReference(g, { params, inputs, dims }), loss).data[0];
  let worst = 0;
  const h = 1e-5;
  for (const [name] of Object.entries(c.params)) {
    const theta = params.get(name)!;
    const ad = valueOf(env, grads.get(name)!).data;
    let num = 0;
    let den = 0;
    for (let i = 0; i < theta.length; i++) {
      const keep = theta[i];
      theta[i] = keep + h;
      const up = lossAt();
      theta[i] = keep - h;
      const down = lossAt();
      theta[i] = keep;
      const fd = (up - down) / (2 * h);
      num += (ad[i] - fd) ** 2;
      den += fd * fd;
    }
    const rel = Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-12);
    expect(rel, `gradient of ${name}`).toBeLessThanOrEqual(1e-6);
    expect(den, `gradient of ${name} is not identically zero`).toBeGreaterThan(0);
    worst = Math.max(worst, rel);
  }
  return worst;
}

const op = (g: Graph, name: string, inputs: Value[], attrs: Record<string, AttrValue> = {}) => emit(g, name, inputs, attrs)[0];

describe('backward rules match finite differences (float64)', () => {
  it.each([
    [false, false],
    [false, true],
    [true, false],
  ])('matmul ta=%s tb=%s', (ta, tb) => {
    const a: IrShape = [2, 3, 4];
    const b: IrShape = ta ? [2, 3, 5] : tb ? [5, 4] : [4, 5];
    gradCheck({ params: { a, b }, build: (g, v) => op(g, 'matmul', [v.a, v.b], { ta, tb }) });
  });

  it.each([['add'], ['sub'], ['mul']])('%s with broadcasting', (name) => {
    gradCheck({ params: { a: [2, 3, 4], b: [4] }, build: (g, v) => op(g, name, [v.a, v.b]) });
    gradCheck({ params: { a: [3, 1], b: [2, 3, 4] }, build: (g, v) => op(g, name, [v.a, v.b]) });
  });

  it('scale', () => gradCheck({ params: { a: [3, 4] }, build: (g, v) => op(g, 'scale', [v.a], { c: -0.37 }) }));

  it.each([['relu'], ['gelu'], ['gelu_tanh'], ['tanh'], ['sigmoid'], ['silu']])('act %s', (kind) => {
    gradCheck({ params: { a: [3, 7] }, build: (g, v) => op(g, 'act', [v.a], { kind }) });
  });

  it('layernorm with and without bias', () => {
    gradCheck({ params: { x: [2, 3, 6], w: [6], b: [6] }, build: (g, v) => op(g, 'layernorm', [v.x, v.w, v.b], { eps: 1e-5 }) });
    gradCheck({ params: { x: [4, 5], w: [5] }, build: (g, v) => op(g, 'layernorm', [v.x, v.w], { eps: 1e-5 }) });
  });

  it('rmsnorm', () => gradCheck({ params: { x: [2, 3, 6], w: [6] }, build: (g, v) => op(g, 'rmsnorm', [v.x, v.w], { eps: 1e-6 }) }));

  it('embedding (repeated ids accumulate)', () => {
    gradCheck({ params: { t: [5, 3] }, ints: { ids: { shape: [2, 4], max: 5, values: [0, 1, 1, 4, 2, 2, 2, 0] } }, build: (g, v) => op(g, 'embedding', [v.t, v.ids]) });
  });

  it('slice_rows with a run-time length and an offset', () => {
    gradCheck({ params: { t: [8, 3] }, dims: { seq: 5 }, build: (g, v) => op(g, 'slice_rows', [v.t], { rows: 'seq', offset: 2 }) });
  });

  const attn = (attrs: Record<string, AttrValue>, extra: Partial<Case> = {}) => {
    const H = (attrs.heads as number) ?? 2;
    const KV = (attrs.kv_heads as number) ?? H;
    const hd = (attrs.head_dim as number) ?? 4;
    const Tk = (extra.dims?.tk as number) ?? 5;
    return gradCheck({
      params: { q: [2, 5, H * hd], k: [2, Tk, KV * hd], v: [2, Tk, KV * hd], ...(attrs.has_bias ? { bias: [8, H] } : {}) },
      ...extra,
      build: (g, v) => {
        const ins = [v.q, v.k, v.v];
        if (attrs.has_bias) ins.push(v.bias);
        if (attrs.has_key_mask) ins.push(v.key_mask);
        if (attrs.has_prefix) ins.push(v.prefix);
        if (attrs.p_drop) ins.push(v.seed);
        return op(g, 'attention', ins, { heads: H, kv_heads: KV, head_dim: hd, scale: 1 / Math.sqrt(hd), mask: 'none', ...attrs });
      },
    });
  };

  it('attention: bidirectional, causal, local window', () => {
    attn({ mask: 'none' });
    attn({ mask: 'causal' });
    attn({ mask: 'local', window: 2 });
  });
  it('attention: grouped-query (kv_heads < heads), head_dim ≠ d/heads, cross with another length', () => {
    attn({ heads: 4, kv_heads: 2, head_dim: 3, mask: 'causal' });
    attn({ mask: 'none' }, { dims: { tk: 7 } });
  });
  it('attention: padding key mask and prefix-LM', () => {
    attn({ mask: 'none', has_key_mask: true }, { floats: { key_mask: { shape: [2, 5], values: [1, 1, 1, 0, 0, 1, 1, 1, 1, 1] } } });
    attn({ mask: 'prefix', has_prefix: true }, { ints: { prefix: { shape: [2], max: 5, values: [2, 4] } } });
  });
  it('attention: T5 relative position bias (bidirectional and causal buckets)', () => {
    attn({ mask: 'none', has_bias: true, rel_buckets: 8, rel_max_distance: 16, rel_bidirectional: true, scale: 1 });
    attn({ mask: 'causal', has_bias: true, rel_buckets: 8, rel_max_distance: 16, rel_bidirectional: false, scale: 1 });
  });
  it('rotary positions (and attention over rotated queries and keys)', () => {
    gradCheck({ params: { x: [2, 5, 12] }, build: (g, v) => op(g, 'rotary', [v.x], { head_dim: 4, base: 10000, inverse: false }) });
    gradCheck({
      params: { q: [2, 5, 8], k: [2, 5, 8], v: [2, 5, 8] },
      build: (g, v) => {
        const rot = (x: Value) => op(g, 'rotary', [x], { head_dim: 4, base: 100, inverse: false });
        return op(g, 'attention', [rot(v.q), rot(v.k), v.v], { heads: 2, kv_heads: 2, head_dim: 4, scale: 0.5, mask: 'causal' });
      },
    });
  });
  it('attention: dropout on the probabilities', () => attn({ mask: 'causal', p_drop: 0.25, salt: 3 }, { ints: { seed: { shape: [1], max: 1000 } } }));

  it('softmax cross-entropy with ignored targets', () => {
    gradCheck({ params: { logits: [2, 3, 6] }, ints: { t: { shape: [2, 3], max: 6, values: [1, -100, 5, 0, 3, -100] } }, build: (g, v) => op(g, 'softmax_xent', [v.logits, v.t], { ignore_index: -100 }) });
  });

  it('dropout (p > 0: the mask is a function of seed, site and index, so it is differentiable)', () => {
    gradCheck({ params: { x: [4, 8] }, ints: { seed: { shape: [1], max: 1000 } }, build: (g, v) => op(g, 'dropout', [v.x, v.seed], { p: 0.3, salt: 7 }) });
  });

  it('prepend (ViT <cls>), take_first, mean_seq, reshape', () => {
    gradCheck({ params: { x: [2, 3, 4], row: [4] }, build: (g, v) => op(g, 'prepend', [v.x, v.row]) });
    gradCheck({ params: { x: [2, 3, 4] }, build: (g, v) => op(g, 'take_first', [v.x]) });
    gradCheck({ params: { x: [2, 3, 4] }, build: (g, v) => op(g, 'mean_seq', [v.x]) });
    gradCheck({ params: { x: [2, 3, 4] }, build: (g, v) => op(g, 'reshape', [v.x], { shape: [6, 4] }) });
  });

  it('gather_rows (masked-LM positions), with a position gathered twice', () => {
    gradCheck({ params: { x: [2, 4, 3] }, ints: { idx: { shape: [2, 3], max: 4, values: [1, 3, 1, 0, 2, 3] } }, build: (g, v) => op(g, 'gather_rows', [v.x, v.idx]) });
  });

  it('a chain through several ops accumulates gradients of reused values', () => {
    gradCheck({
      params: { x: [2, 3, 4], w: [4, 4], g: [4] },
      build: (g, v) => {
        const h = op(g, 'layernorm', [v.x, v.g], { eps: 1e-5 });
        const y = op(g, 'act', [op(g, 'matmul', [h, v.w])], { kind: 'gelu' });
        return op(g, 'add', [v.x, op(g, 'mul', [y, h])]);
      },
    });
  });

  vitestIt('covers every differentiable op', () => {
    dry = true;
    try {
      for (const body of bodies) body();
    } finally {
      dry = false;
    }
    const differentiable = Object.keys(OPS).filter((k) => OPS[k].backward && k !== 'sum_all');
    const missing = differentiable.filter((k) => !covered.has(k));
    expect(missing).toEqual([]);
    for (const kind of ['relu', 'gelu', 'gelu_tanh', 'tanh', 'sigmoid', 'silu']) expect(covered.has(`act:${kind}`)).toBe(true);
  });
});
