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

describe('scoring generated answers', () => {
  it('decodes each held-out source greedily and scores it per task; a scorer that knows the answers scores 100%, one that never does 0%', async () => {
    const { charTokenizer } = await import('../runtime/text/tokenizer.ts');
    const { scoreTasks } = await import('../runtime/generate/task-eval.ts');
    const pairs = [
      { task: 'define', source: 'define: cat', answers: ['a small pet'] },
      { task: 'define', source: 'define: dog', answers: ['a loyal pet'] },
      { task: 'synonym', source: 'synonym: big', answers: ['large', 'huge'] },
    ];
    const tok = charTokenizer(pairs.flatMap((p) => [p.source, ...p.answers]), 64, ['<pad>', '<eos>', '<unk>']);
    const eos = tok.specials.get('<eos>')!;
    const width = 64;
    const rows = { batch: 2, srcSeq: 16, tgtSeq: 12, pad: 0, start: 0, width };
    // A scorer that spells out `answer(source)` one character per step, then <eos>.
    const spelling = (answer: (source: string) => string) => async (sourceOf: (row: number) => number[]) => async (prefixes: number[][]) => {
      const out = new Float32Array(prefixes.length * width);
      prefixes.forEach((p, r) => {
        const want = [...tok.encode(answer(tok.decode(sourceOf(r)))), eos];
        out[r * width + want[Math.min(p.length, want.length - 1)]] = 1;
      });
      return out;
    };
    const right = await scoreTasks(spelling((s) => pairs.find((p) => p.source === s)!.answers.at(-1)!), tok, pairs, rows);
    expect(right.map((r) => [r.task, r.count, r.exact, r.f1])).toEqual([['define', 2, 1, 1], ['synonym', 1, 1, 1]]);
    expect(right[0].examples[1]).toEqual({ source: 'define: dog', answers: ['a loyal pet'], predicted: 'a loyal pet' });
    const wrong = await scoreTasks(spelling(() => 'small'), tok, pairs, rows);
    expect(wrong.map((r) => [r.task, r.exact])).toEqual([['define', 0], ['synonym', 0]]);
    // "small" against "a small pet" (normalised "small pet"): F1 2/3; against "a loyal pet": 0.
    expect(wrong[0].f1).toBeCloseTo(1 / 3, 12);
  });
});
