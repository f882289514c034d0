// Single kernels against the float64 reference, including shapes the tiny models do not
// reach (general broadcasting, reduction to a middle axis, odd sizes for the matmul edges),
// each run whole and split into parts as the worker threads run it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildKernel } from '../compiler/codegen/kernels.ts';
import { parallelSplit } from '../compiler/codegen/kir.ts';
import { renderTs } from '../compiler/targets/ts/render.ts';
import { tsTarget } from '../compiler/targets/ts/index.ts';
import { Graph, numel, type AttrValue, type IrShape } from '../compiler/ir.ts';
import { emit } from '../compiler/ops.ts';
import { runReference } from '../compiler/reference.ts';
import { randn } from './support/random.ts';

interface Case {
  name: string;
  op: string;
  inputs: { shape: IrShape; int?: number }[];
  attrs?: Record<string, AttrValue>;
  dims?: Record<string, number>;
}

const CASES: Case[] = [
  { name: 'add, general broadcast [3, 1] + [2, 3, 4]', op: 'add', inputs: [{ shape: [3, 1] }, { shape: [2, 3, 4] }] },
  { name: 'mul, broadcast [2, 1, 4] · [3, 1]', op: 'mul', inputs: [{ shape: [2, 1, 4] }, { shape: [3, 1] }] },
  { name: 'add, broadcast over symbolic strides [batch, 1, 1] + [batch, seq, 5]', op: 'add', inputs: [{ shape: ['batch', 1, 1] }, { shape: ['batch', 'seq', 5] }], dims: { batch: 3, seq: 4 } },
  { name: 'sub, symbolic dims', op: 'sub', inputs: [{ shape: ['batch', 'seq', 5] }, { shape: ['seq', 5] }], dims: { batch: 3, seq: 7 } },
  { name: 'reduce_to a middle axis [2, 3, 4] → [3, 1]', op: 'reduce_to', inputs: [{ shape: [2, 3, 4] }], attrs: { shape: [3, 1] } },
  { name: 'matmul with edges (rows 7, cols 9, inner 5)', op: 'matmul', inputs: [{ shape: [7, 5] }, { shape: [5, 9] }] },
  { name: 'matmul bᵀ with edges', op: 'matmul', inputs: [{ shape: [1, 7, 5] }, { shape: [6, 5] }], attrs: { tb: true } },
  { name: 'matmul aᵀ with edges (weight gradient)', op: 'matmul', inputs: [{ shape: [11, 6] }, { shape: [11, 9] }], attrs: { ta: true } },
  { name: 'layernorm, odd width', op: 'layernorm', inputs: [{ shape: [5, 7] }, { shape: [7] }, { shape: [7] }], attrs: { eps: 1e-5 } },
  { name: 'softmax cross-entropy', op: 'softmax_xent', inputs: [{ shape: [6, 13] }, { shape: [6], int: 13 }], attrs: { ignore_index: -100 } },
  { name: 'attention, causal, 2 heads', op: 'attention', inputs: [{ shape: ['batch', 'seq', 8] }, { shape: ['batch', 'seq', 8] }, { shape: ['batch', 'seq', 8] }], attrs: { heads: 2, kv_heads: 2, head_dim: 4, scale: 0.5, mask: 'causal' }, dims: { batch: 3, seq: 5 } },
];

async function run(c: Case) {
  const g = new Graph('k');
  const dims = c.dims ?? {};
  const ins = c.inputs.map((x, k) => g.input(`x${k}`, x.shape, x.int ? 'i32' : 'f32'));
  const [out] = emit(g, c.op, ins, c.attrs ?? {});
  const data = c.inputs.map((x) => (x.int ? Int32Array.from({ length: numel(x.shape, dims) }, () => Math.floor(Math.random() * x.int!)) : Float64Array.from({ length: numel(x.shape, dims) }, randn)));
  const ref = runReference(g, { params: new Map(), inputs: new Map(c.inputs.map((_, k) => [`x${k}`, data[k]])), dims });
  // As the TypeScript target runs it: after its schedule (register tiling of matmuls).
  const kernel = tsTarget.schedule.reduce((k, pass) => pass(k), buildKernel(g.nodes[0], 'kernel'));
  const dir = resolve('out/test-kernels');
  mkdirSync(dir, { recursive: true });
  const file = `${dir}/${c.name.replace(/[^a-z0-9]+/gi, '_')}.ts`;
  writeFileSync(file, renderTs([kernel], { header: ['test kernel'] }));
  const mod = (await import(pathToFileURL(file).href)) as Record<string, (...a: unknown[]) => void>;
  const args = data.map((d) => (d instanceof Int32Array ? d : Float32Array.from(d)));
  return { want: ref.get(out.id)!.data, run: (parts: number) => {
    const y = new Float32Array(numel(out.shape, dims));
    for (let part = 0; part < parts; part++) mod.kernel(...args, y, ...kernel.dims.map((d) => dims[d]), ...(parallelSplit(kernel) !== undefined ? [part, parts] : []));
    return y;
  }, splittable: parallelSplit(kernel) !== undefined };
}

describe('kernels', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const { want, run: exec, splittable } = await run(c);
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
