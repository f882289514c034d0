// The memory plan: buffers that share a slot are never live at the same time, and reuse
// lowers peak memory.
import { describe, expect, it } from 'vitest';
import { checkFiles } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { tsTarget } from '../compiler/targets/ts/index.ts';
import { peakBytes } from '../compiler/passes/plan.ts';

describe('memory plan', () => {
  it.each(['gpt_tiny', 'bert_tiny', 't5_tiny', 'vit_mnist', 'bart_tiny'])('%s: no slot holds two live buffers; peak memory drops', (spec) => {
    const r = checkFiles([`specs/${spec}.tfm`]);
    const { program } = compile(r.models[0], tsTarget, r.program.sources);
    const plan = program.memory;
    const first = new Map<number, number>();
    const last = new Map<number, number>();
    program.steps.forEach((s, k) => {
      s.args.forEach((id, a) => {
        if (a >= s.args.length - s.outputs && !first.has(id)) first.set(id, k);
        last.set(id, k);
      });
    });
    const bySlot = new Map<number, number[]>();
    for (const [id, slot] of Object.entries(plan.assignment)) bySlot.set(slot, [...(bySlot.get(slot) ?? []), Number(id)]);
    for (const ids of bySlot.values()) {
      const spans = ids.map((id) => [first.get(id)!, last.get(id)!]).sort((a, b) => a[0] - b[0]);
      for (let k = 1; k < spans.length; k++) expect(spans[k][0], `slot reused at step ${spans[k][0]} while live until ${spans[k - 1][1]}`).toBeGreaterThan(spans[k - 1][1]);
    }
    const dims = { batch: 8, seq: 32, src_seq: 32, tgt_seq: 32, picks: 5 };
    expect(peakBytes(program, plan, dims)).toBeLessThan(peakBytes(program, undefined, dims));
  });
});
