// Single kernels against the float64 reference, including shapes the tiny models do not
// reach (general broadcasting, reduction to a middle axis, odd sizes for the matmul edges),
// each run whole and split into parts as the worker threads run it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildKernel } from '../compiler/codegen/kernels.ts';
import { add, bin, call, checkKernel, dim, f, i, load, loop, parallelSplit, select, store, sub, v, type Kernel } from '../compiler/codegen/kir.ts';
import { renderTs } from '../compiler/targets/ts/render.ts';
import { TARGETS } from '../compiler/targets/index.ts';
import { scheduled, type Target } from '../compiler/targets/target.ts';
import { reorderParallel } from './support/reorder.ts';
import { renderWasm } from '../compiler/targets/wasm/render.ts';
import { Graph, numel, type AttrValue, type IrShape } from '../compiler/ir.ts';
import { emit } from '../compiler/ops.ts';
import { runReference } from '../compiler/reference.ts';
import { randn } from './support/random.ts';
import { relaxedSimd, wasmBuffersStart } from '../runtime/kernels.ts';
import { WASM_LOW_MEMORY } from '../common/program.ts';
import { parseWgsl } from '../common/wgsl.ts';
import { renderWgsl } from '../compiler/targets/webgpu/render.ts';
import { prepareKernel } from '../runtime/webgpu/kernel.ts';
import { NO_WEBGPU, gpu } from './support/webgpu.ts';

interface Case {
  name: string;
  op: string;
  /** `int`: integers below it; `mean`: normals around it instead of 0. */
  inputs: { shape: IrShape; int?: number; mean?: number }[];
  attrs?: Record<string, AttrValue>;
  dims?: Record<string, number>;
}

const CASES: Case[] = [
  { name: 'add, general broadcast [3, 1] + [2, 3, 4]', op: 'add', inputs: [{ shape: [3, 1] }, { shape: [2, 3, 4] }] },
  { name: 'mul, broadcast [2, 1, 4] · [3, 1]', op: 'mul', inputs: [{ shape: [2, 1, 4] }, { shape: [3, 1] }] },
  { name: 'add, broadcast over symbolic strides [batch, 1, 1] + [batch, seq, 5]', op: 'add', inputs: [{ shape: ['batch', 1, 1] }, { shape: ['batch', 'seq', 5] }], dims: { batch: 3, seq: 4 } },
  { name: 'sub, symbolic dims', op: 'sub', inputs: [{ shape: ['batch', 'seq', 5] }, { shape: ['seq', 5] }], dims: { batch: 3, seq: 7 } },
  { name: 'reduce_to a middle axis [2, 3, 4] → [3, 1]', op: 'reduce_to', inputs: [{ shape: [2, 3, 4] }], attrs: { shape: [3, 1] } },
  { name: 'reduce_to trailing dims (a bias gradient) [batch, seq, 7] → [7]', op: 'reduce_to', inputs: [{ shape: ['batch', 'seq', 7] }], attrs: { shape: [7] }, dims: { batch: 3, seq: 5 } },
  { name: 'matmul with edges (rows 7, cols 9, inner 5)', op: 'matmul', inputs: [{ shape: [7, 5] }, { shape: [5, 9] }] },
  { name: 'matmul bᵀ with edges', op: 'matmul', inputs: [{ shape: [1, 7, 5] }, { shape: [6, 5] }], attrs: { tb: true } },
  { name: 'matmul aᵀ with edges (weight gradient)', op: 'matmul', inputs: [{ shape: [11, 6] }, { shape: [11, 9] }], attrs: { ta: true } },
  { name: 'matmul, whole SIMD tiles and edges (rows 13, cols 21, inner 19)', op: 'matmul', inputs: [{ shape: [13, 19] }, { shape: [19, 21] }] },
  { name: 'matmul bᵀ, p in whole vectors and a tail (rows 9, cols 7, inner 11)', op: 'matmul', inputs: [{ shape: [9, 11] }, { shape: [7, 11] }], attrs: { tb: true } },
  { name: 'matmul aᵀ, SIMD columns (rows 10, cols 16, inner 6)', op: 'matmul', inputs: [{ shape: [10, 6] }, { shape: [10, 16] }], attrs: { ta: true } },
  { name: 'matmul, three row blocks and packed column panels (rows 133, cols 24, inner 40)', op: 'matmul', inputs: [{ shape: [133, 40] }, { shape: [40, 24] }] },
  { name: 'matmul aᵀ over a symbolic reduction, packed (weight gradient, n = 23)', op: 'matmul', inputs: [{ shape: ['n', 6] }, { shape: ['n', 9] }], attrs: { ta: true }, dims: { n: 23 } },
  { name: 'matmul aᵀ over a symbolic reduction too long to pack (n = 2100)', op: 'matmul', inputs: [{ shape: ['n', 6] }, { shape: ['n', 9] }], attrs: { ta: true }, dims: { n: 2100 } },
  { name: 'relu (a lane-wise select on the wasm target)', op: 'act', inputs: [{ shape: [5, 13] }], attrs: { kind: 'relu' } },
  { name: 'relu backward', op: 'act_grad', inputs: [{ shape: [5, 13] }, { shape: [5, 13] }], attrs: { kind: 'relu' } },
  { name: 'gelu (erf)', op: 'act', inputs: [{ shape: [5, 13] }], attrs: { kind: 'gelu' } },
  { name: 'gelu backward', op: 'act_grad', inputs: [{ shape: [5, 13] }, { shape: [5, 13] }], attrs: { kind: 'gelu' } },
  // Shapes for the GPU's vec4 tiles: bᵀ read along the contraction (aligned rows of 20),
  // aᵀ along rows and columns (multiples of 4, with 8×8 tiles left over at both edges).
  { name: 'matmul bᵀ, vec4 along the contraction (rows 10, cols 12, inner 20)', op: 'matmul', inputs: [{ shape: [10, 20] }, { shape: [12, 20] }], attrs: { tb: true } },
  { name: 'matmul aᵀ, vec4 rows and columns (rows 12, cols 20, inner 7)', op: 'matmul', inputs: [{ shape: [7, 12] }, { shape: [7, 20] }], attrs: { ta: true } },
  { name: 'matmul + bias + relu epilogue (rows 9, cols 20, inner 8)', op: 'matmul_epilogue', inputs: [{ shape: [9, 8] }, { shape: [8, 20] }, { shape: [20] }], attrs: { act: 'relu' } },
  { name: 'matmul + bias + gelu epilogue (rows 9, cols 20, inner 8)', op: 'matmul_epilogue', inputs: [{ shape: [9, 8] }, { shape: [8, 20] }, { shape: [20] }], attrs: { act: 'gelu' } },
  { name: 'mean over the sequence', op: 'mean_seq', inputs: [{ shape: ['batch', 'seq', 6] }], dims: { batch: 3, seq: 5 } },
  { name: 'mean over the sequence, backward', op: 'mean_seq_grad', inputs: [{ shape: ['batch', 6] }], attrs: { seq: 'seq' }, dims: { batch: 3, seq: 5 } },
  { name: 'rows gathered at positions of each sequence (masked-LM positions; repeats allowed)', op: 'gather_rows', inputs: [{ shape: ['batch', 'seq', 6] }, { shape: ['batch', 4], int: 5 }], dims: { batch: 3, seq: 5 } },
  { name: 'gathered rows, backward (a position gathered twice gets both gradients)', op: 'gather_rows_grad', inputs: [{ shape: ['batch', 4], int: 5 }, { shape: ['batch', 4, 6] }], attrs: { seq: 'seq' }, dims: { batch: 3, seq: 5 } },
  { name: 'the first position of every sequence', op: 'take_first', inputs: [{ shape: ['batch', 'seq', 6] }], dims: { batch: 3, seq: 5 } },
  // Around 1, not 0: a sum of 63 standard normals lies within 0.05 of zero once in 200
  // draws, and then the f32 rounding of its inputs alone is 1e-5 of what is left.
  { name: 'sum of all elements', op: 'sum_all', inputs: [{ shape: [7, 9], mean: 1 }] },
  { name: 'softmax cross-entropy backward', op: 'softmax_xent_grad', inputs: [{ shape: [6, 13] }, { shape: [6], int: 13 }, { shape: [1] }], attrs: { ignore_index: -100 } },
  { name: 'rmsnorm', op: 'rmsnorm', inputs: [{ shape: [5, 12] }, { shape: [12] }], attrs: { eps: 1e-6 } },
  { name: 'layernorm, odd width', op: 'layernorm', inputs: [{ shape: [5, 7] }, { shape: [7] }, { shape: [7] }], attrs: { eps: 1e-5 } },
  { name: 'softmax cross-entropy', op: 'softmax_xent', inputs: [{ shape: [6, 13] }, { shape: [6], int: 13 }], attrs: { ignore_index: -100 } },
  { name: 'patchify (2 images of 2 channels, 6×4, patch 2)', op: 'patchify', inputs: [{ shape: [2, 2, 6, 4] }], attrs: { patch: 2 } },
  // Rows of a multiple of 4: vectorized, read as aligned vec4s on WebGPU.
  { name: 'layernorm, width 12', op: 'layernorm', inputs: [{ shape: [5, 12] }, { shape: [12] }, { shape: [12] }], attrs: { eps: 1e-5 } },
  { name: 'attention, causal, 2 heads of 8', op: 'attention', inputs: [{ shape: ['batch', 'seq', 16] }, { shape: ['batch', 'seq', 16] }, { shape: ['batch', 'seq', 16] }], attrs: { heads: 2, kv_heads: 2, head_dim: 8, scale: 0.35, mask: 'causal' }, dims: { batch: 3, seq: 5 } },
  { name: 'attention, causal, 2 heads', op: 'attention', inputs: [{ shape: ['batch', 'seq', 8] }, { shape: ['batch', 'seq', 8] }, { shape: ['batch', 'seq', 8] }], attrs: { heads: 2, kv_heads: 2, head_dim: 4, scale: 0.5, mask: 'causal' }, dims: { batch: 3, seq: 5 } },
];

/** A rendered module over `memory`, with the imports the runtime gives it (runtime/kernels.ts). */
async function instantiate(binary: Uint8Array, memory: WebAssembly.Memory): Promise<WebAssembly.Instance> {
  relaxedSimd(); // the fma modules need relaxed SIMD (behind a flag in Node 20, which this turns on)
  const scratch = new WebAssembly.Global({ value: 'i32', mutable: false }, WASM_LOW_MEMORY);
  return WebAssembly.instantiate(await WebAssembly.compile(binary as Uint8Array<ArrayBuffer>), { env: { memory, scratch }, Math: Math as unknown as WebAssembly.ModuleImports });
}

/** The targets, and the TypeScript target with every parallel loop and reduction reordered
 *  (test/support/reorder.ts): what the IR leaves unordered must not change the result. */
const RUNS: Record<string, Target> = { ...TARGETS, 'ts, reordered': { ...TARGETS.ts, schedule: [reorderParallel(), ...TARGETS.ts.schedule] } };

/** A scheduled kernel rendered by the TypeScript renderer and imported, from a file named
 *  after `label` (one file per label: an import is cached by its URL). */
async function importTs(kernel: Kernel, label: string): Promise<Record<string, (...a: unknown[]) => void>> {
  const dir = resolve('out/test-kernels');
  mkdirSync(dir, { recursive: true });
  const file = `${dir}/${label.replace(/[^a-z0-9]+/gi, '_')}.ts`;
  writeFileSync(file, renderTs([kernel], { header: ['test kernel'] }));
  return (await import(pathToFileURL(file).href)) as Record<string, (...a: unknown[]) => void>;
}

async function run(c: Case, target: string) {
  const g = new Graph('k');
  const dims = c.dims ?? {};
  const ins = c.inputs.map((x, k) => g.input(`x${k}`, x.shape, x.int ? 'i32' : 'f32'));
  const [out] = emit(g, c.op, ins, c.attrs ?? {});
  const data = c.inputs.map((x) => (x.int ? Int32Array.from({ length: numel(x.shape, dims) }, () => Math.floor(Math.random() * x.int!)) : Float64Array.from({ length: numel(x.shape, dims) }, () => (x.mean ?? 0) + randn())));
  const ref = runReference(g, { params: new Map(), inputs: new Map(c.inputs.map((_, k) => [`x${k}`, data[k]])), dims });
  // As the target runs it: after its schedule (register tiling, vectorization).
  const kernel = scheduled(RUNS[target], buildKernel(g.nodes[0], 'kernel', new Set(RUNS[target].variants)));
  const split = parallelSplit(kernel) !== undefined;
  const outputs = g.nodes[0].outputs.map((o) => numel(o.shape, dims));
  const want = ref.get(out.id)!.data;
  const scalars = kernel.dims.map((d) => dims[d]);
  if (target === 'wasm') {
    // Every buffer in one memory, 16-byte aligned, above the low bytes and one thread's
    // scratch, as the executor lays them out.
    const sizes = [...data.map((d) => d.length), ...outputs];
    const offsets = sizes.map((_, k) => wasmBuffersStart(1) + sizes.slice(0, k).reduce((a, n) => a + Math.ceil(n / 4) * 16, 0));
    const memory = new WebAssembly.Memory({ initial: 4, maximum: 4, shared: true });
    const { binary } = renderWasm([kernel], { header: ['test kernel'] });
    const instance = await instantiate(binary, memory);
    const fn = instance.exports.kernel as (...a: number[]) => void;
    data.forEach((d, k) => (d instanceof Int32Array ? new Int32Array(memory.buffer, offsets[k], d.length).set(d) : new Float32Array(memory.buffer, offsets[k], d.length).set(d)));
    return { want, splittable: split, run: (parts: number) => {
      for (let part = 0; part < parts; part++) fn(...offsets, ...scalars, ...(split ? [part, parts] : []));
      return new Float32Array(memory.buffer, offsets[data.length], outputs[0]).slice();
    } };
  }
  if (target === 'webgpu') {
    // On the device, outputs poisoned with NaN first (an unwritten element fails the test).
    const [wk] = parseWgsl(renderWgsl([kernel], { header: ['test kernel'] })).values();
    const ins = data.map((d) => (d instanceof Int32Array ? d : Float32Array.from(d)));
    const run = await prepareKernel(await gpu(), wk, [...ins, ...outputs], dims, []);
    const got = (await run.run())[data.length];
    run.destroy();
    return { want, splittable: false, run: () => got };
  }
  const mod = await importTs(kernel, `${target} ${c.name}`);
  const args = data.map((d) => (d instanceof Int32Array ? d : Float32Array.from(d)));
  return { want, splittable: split, run: (parts: number) => {
    const ys = outputs.map((n) => new Float32Array(n));
    for (let part = 0; part < parts; part++) mod.kernel(...args, ...ys, ...scalars, ...(split ? [part, parts] : []));
    return ys[0];
  } };
}

describe('kernels', () => {
  it.each(Object.keys(RUNS).flatMap((t) => CASES.map((c) => [t, c.name, c] as const)))('%s: %s', async (target, _name, c) => {
    if (target === 'webgpu' && NO_WEBGPU) return;
    const { want, run: exec, splittable } = await run(c, target);
    for (const parts of splittable ? [1, 2, 3] : [1]) {
      const got = exec(parts);
      let num = 0;
      let den = 0;
      for (let k = 0; k < want.length; k++) {
        num += (got[k] - want[k]) ** 2;
        den += want[k] ** 2;
      }
      expect(Math.sqrt(num / Math.max(den, 1e-30)), `${parts} part(s)`).toBeLessThan(1e-5);
    }
  });
});

describe('patches', () => {
  it('a hand-made 4×4 image in 2×2 patches: patches in row-major order, each patch row-major, channel by channel', () => {
    const g = new Graph('p');
    const img = g.input('img', [1, 2, 4, 4], 'f32');
    const [out] = emit(g, 'patchify', [img], { patch: 2 });
    // Channel 0 holds 1…16 row by row; channel 1 the same plus 100.
    const pixels = Float64Array.from({ length: 32 }, (_, k) => (k < 16 ? k + 1 : k - 15 + 100));
    const got = runReference(g, { params: new Map(), inputs: new Map([['img', pixels]]), dims: {} }).get(out.id)!;
    expect(got.shape).toEqual([1, 4, 8]);
    const rows = [...Array(4).keys()].map((p) => [...got.data.subarray(p * 8, p * 8 + 8)]);
    expect(rows).toEqual([
      [1, 2, 5, 6, 101, 102, 105, 106], // top left
      [3, 4, 7, 8, 103, 104, 107, 108], // top right
      [9, 10, 13, 14, 109, 110, 113, 114], // bottom left
      [11, 12, 15, 16, 111, 112, 115, 116], // bottom right
    ]);
  });
});

describe('reordered schedule', () => {
  it('changes the result of a loop marked parallel whose iterations depend on each other', async () => {
    // A running sum marked parallel (the checker accepts it: each store's index moves with o).
    const k: Kernel = { name: 'kernel', doc: 'prefix sum', buffers: [{ name: 'x', t: 'f32', access: 'read' }, { name: 'y', t: 'f32', access: 'readwrite' }], dims: [], body: [
      loop('o', i(8), [store('y', v('o'), add(load('x', v('o')), select(bin('>', v('o'), i(0)), load('y', sub(v('o'), i(1))), f(0))))], true),
    ] };
    const results = [];
    for (const [name, t] of [['ts', TARGETS.ts], ['reordered', RUNS['ts, reordered']]] as const) {
      const mod = await importTs(scheduled(t, k), `prefix ${name}`);
      const y = new Float32Array(8);
      mod.kernel(Float32Array.from({ length: 8 }, (_, n) => n + 1), y);
      results.push([...y]);
    }
    expect(results[0]).toEqual([1, 3, 6, 10, 15, 21, 28, 36]);
    expect(results[1]).not.toEqual(results[0]);
  });
});

describe('wasm schedule', () => {
  it('vectorizes relu (a select on a float comparison) and gelu (erf) as lane-wise f32x4 code', () => {
    for (const kind of ['relu', 'gelu']) {
      const g = new Graph('k');
      emit(g, 'act', [g.input('x0', [64, 32], 'f32')], { kind });
      const body = JSON.stringify(scheduled(TARGETS.wasm, buildKernel(g.nodes[0], 'kernel')).body);
      expect(body).toContain('"vload"');
      if (kind === 'relu') expect(body).toMatch(/"k":"select","c":\{"k":"bin","op":">","a":\{"k":"vload"/);
    }
  });

  it('packs the column panel of an a·b tile into per-thread scratch, and not where it would not fit', () => {
    const kernelOf = (p: number | string) => {
      const g = new Graph('k');
      // a·b with inner dim p; for a symbolic p, the weight-gradient layout aᵀ·b over p rows.
      const ins = typeof p === 'number' ? [g.input('x0', [64, p], 'f32'), g.input('x1', [p, 16], 'f32')] : [g.input('x0', [p, 64], 'f32'), g.input('x1', [p, 16], 'f32')];
      emit(g, 'matmul', ins, typeof p === 'number' ? {} : { ta: true });
      return scheduled(TARGETS.wasm, buildKernel(g.nodes[0], 'kernel'));
    };
    expect(kernelOf(40).scratch).toEqual([{ name: 'panel', elems: 40 * 8 }]);
    expect(kernelOf(2048).scratch).toEqual([{ name: 'panel', elems: 2048 * 8 }]);
    expect(kernelOf(2049).scratch).toBeUndefined();
    expect(checkKernel(kernelOf(40))).toEqual([]);
    // A symbolic reduction packs under a run-time test, into a panel as large as scratch allows.
    expect(kernelOf('n').scratch).toEqual([{ name: 'panel', elems: 16384 }]);
  });
});

describe('WebAssembly math functions', () => {
  // exp and tanh are module functions on the wasm target (not Math); erf is A&S 7.1.26 on
  // every target (and in f32 arithmetic on f32x4). Each against float64 Math over seeded random inputs spanning the range
  // that matters, plus the edges (±∞, 0, tiny, overflow).
  const erf = (x: number) => {
    const t = 1 / (1 + 0.3275911 * Math.abs(x));
    return (x < 0 ? -1 : 1) * (1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x));
  };
  it.each([
    ['exp', 'scalar', Math.exp, 180],
    ['tanh', 'scalar', Math.tanh, 20],
    ['erf', 'scalar', erf, 8],
    // The f32x4 versions (the loop vectorized by the wasm schedule), in both modules.
    ['exp', 'f32x4', Math.exp, 180],
    ['tanh', 'f32x4', Math.tanh, 20],
    ['exp', 'f32x4 fma', Math.exp, 180],
    ['tanh', 'f32x4 fma', Math.tanh, 20],
    // erf's formula evaluated in f32: 1 − t·P(t)·e^{−x²} cancels near 0, so it is held to an
    // absolute 2.5e-7 (the formula's own error against the true erf is 1.5e-7) or 2 ulp.
    ['erf', 'f32x4', erf, 8],
    ['erf', 'f32x4 fma', erf, 8],
  ] as const)('%s (%s) within 2 ulp of float64, rounded', async (fn, form, want, range) => {
    const n = 1 << 16;
    const scalar = { name: 'k', doc: '', buffers: [{ name: 'x', t: 'f32' as const, access: 'read' as const }, { name: 'y', t: 'f32' as const, access: 'write' as const }], dims: ['n'], body: [loop('o', dim('n'), [store('y', v('o'), call(fn, load('x', v('o'))))])] };
    const k = form === 'scalar' ? scalar : scheduled(TARGETS.wasm, scalar);
    if (form !== 'scalar') expect(JSON.stringify(k.body)).toContain('vload');
    const memory = new WebAssembly.Memory({ initial: 12, maximum: 12, shared: true });
    const instance = await instantiate(renderWasm([k], { header: [] }, { fma: form.endsWith('fma') }).binary, memory);
    const base = wasmBuffersStart(1);
    const x = new Float32Array(memory.buffer, base, n);
    for (let e = 0; e < n; e++) x[e] = (Math.random() - 0.5) * range * Math.random() ** 3;
    x.set([-Infinity, Infinity, 0, -0, 1e-30, -3e-8, 88.8, -104, 0.01, -0.0099], 0);
    const y = new Float32Array(memory.buffer, base + 4 * n, n);
    (instance.exports.k as (...a: number[]) => void)(base, base + 4 * n, n);
    const absolute = fn === 'erf' && form !== 'scalar' ? 2.5e-7 : 0;
    for (let e = 0; e < n; e++) {
      const w = Math.fround(want(x[e]));
      const ulp = Math.max(Math.abs(Math.fround(w * (1 + 2 ** -23)) - w), 2 ** -149);
      if (!(w === y[e] || Math.abs(y[e] - w) <= Math.max(2 * ulp, absolute))) expect.fail(`${fn}(${x[e]}) = ${y[e]}, want ${w}`);
    }
  });
});
