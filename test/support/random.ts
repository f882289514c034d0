// Fresh random parameters and inputs for a lowered graph, for tests.
import type { Graph } from '../../compiler/ir.ts';
import { numel } from '../../compiler/ir.ts';
import { Rng } from '../../runtime/init.ts';

export const randn = () => Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());

export function randomParams(g: Graph, dims: Record<string, number>, std?: number): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  for (const p of g.params) {
    const n = numel(p.value.shape, dims);
    const s = std ?? (p.init.kind === 'normal' ? p.init.std : 0.1);
    const base = p.init.kind === 'ones' ? 1 : 0;
    out.set(p.name, Float64Array.from({ length: n }, () => base + s * randn()));
  }
  return out;
}

/** Inputs by name: token ids below `vocab`, some ignored targets, padding at the end of row 0. */
export function randomInputs(g: Graph, dims: Record<string, number>, sizes: { vocab: number; classes?: number; types?: number }): Map<string, Float64Array | Int32Array> {
  const out = new Map<string, Float64Array | Int32Array>();
  for (const { name, value } of g.inputs) {
    const n = numel(value.shape, dims);
    const ints = (max: number) => Int32Array.from({ length: n }, () => Math.floor(Math.random() * max));
    if (name === 'targets') out.set(name, Int32Array.from(ints(sizes.vocab), (t, i) => (i % 5 === 3 ? -100 : t)));
    else if (name.endsWith('tokens')) out.set(name, ints(sizes.vocab));
    else if (name === 'labels') out.set(name, ints(sizes.classes ?? 2));
    else if (name === 'segments') out.set(name, ints(sizes.types ?? 2));
    else if (name === 'seed') out.set(name, ints(1 << 30));
    else if (name === 'mlm_positions') out.set(name, ints(dims.seq));
    else if (name === 'prefix_len') out.set(name, ints(Math.max(1, dims.seq ?? 1)));
    else if (name.endsWith('key_mask')) {
      const len = value.shape[1] as string;
      out.set(name, Float64Array.from({ length: n }, (_, i) => (i < dims[len] && i >= dims[len] - 2 ? 0 : 1)));
    } else out.set(name, Float64Array.from({ length: n }, randn));
  }
  return out;
}

/** Float32 weights for a compiled program's parameters, larger than its initialisation so that
 *  every layer shows in the logits: norms 1 ± 0.1, biases ± 0.1, the rest normal(0, 0.3);
 *  drawn from `seed` in parameter order. */
export function randomWeights(params: readonly { name: string; init: { kind: string } }[], sizeOf: (name: string) => number, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  return new Map(params.map((p) => [p.name, Float32Array.from({ length: sizeOf(p.name) }, () => (p.init.kind === 'ones' ? 1 : 0) + rng.normal() * (p.init.kind === 'normal' ? 0.3 : 0.1))]));
}
