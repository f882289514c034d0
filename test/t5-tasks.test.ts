// The text-to-text tasks for T5-style fine-tuning (runtime/text/t5-tasks.ts): pairs from the
// shipped data, a split that never trains on a held-out input, and SQuAD's exact match and F1.
import { describe, expect, it } from 'vitest';
import { normaliseAnswer, scoreAnswer, taskPairs } from '../runtime/text/t5-tasks.ts';
import { heldOutPairs } from '../runtime/objectives/text-to-text.ts';

describe('text-to-text tasks', () => {
  it('builds each task from its data, split by input with no input on both sides', () => {
    const train = taskPairs('train');
    const held = taskPairs('heldout');
    expect([...train.keys()]).toEqual(['define', 'synonym', 'summarize']);
    for (const [task, pairs] of train) {
      const heldSources = new Set(held.get(task)!.map((p) => p.source));
      expect(pairs.length, task).toBeGreaterThan(50);
      expect(held.get(task)!.length, task).toBeGreaterThan(10);
      expect(pairs.some((p) => heldSources.has(p.source)), task).toBe(false);
      for (const p of pairs.slice(0, 200)) {
        expect(p.source.startsWith(`${task}: `)).toBe(true);
        expect(p.answers.length).toBeGreaterThan(0);
      }
    }
    const whale = [...train.get('define')!, ...held.get('define')!].find((p) => p.source === 'define: whale');
    expect(whale?.answers[0]).toMatch(/marine mammal|whale/);
    const loomings = [...train.get('summarize')!, ...held.get('summarize')!].find((p) => p.source.startsWith('summarize: Call me Ishmael.'));
    expect(loomings?.answers).toEqual(['Loomings']);
    const ship = [...train.get('synonym')!, ...held.get('synonym')!].find((p) => p.source === 'synonym: ship');
    expect(ship?.answers).toContain('transport');
  });

  it('held-out pairs for evaluation: an equal share of each task, the same every time', () => {
    const a = heldOutPairs(7);
    expect(a.length).toBe(21);
    expect(a.filter((p) => p.task === 'synonym').length).toBe(7);
    expect(heldOutPairs(7)).toEqual(a);
  });

  it("exact match and F1 as SQuAD scores them: normalised, best over the right answers", () => {
    expect(normaliseAnswer('The  Carpet-Bag.')).toBe('carpet bag');
    expect(scoreAnswer('the carpet bag', ['The Carpet-Bag'])).toEqual({ exact: 1, f1: 1 });
    expect(scoreAnswer('boat', ['vessel', 'boat'])).toEqual({ exact: 1, f1: 1 });
    const s = scoreAnswer('a large marine animal', ['a very large fish']);
    // Common tokens {large}: precision 1/3, recall 1/3.
    expect(s.exact).toBe(0);
    expect(s.f1).toBeCloseTo(1 / 3, 12);
    expect(scoreAnswer('', ['whale'])).toEqual({ exact: 0, f1: 0 });
    expect(scoreAnswer('sea sea', ['sea'])).toEqual({ exact: 0, f1: 2 / 3 });
  });
});
