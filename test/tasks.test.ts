// The in-context tasks (runtime/text/tasks.ts): number words, each task's answers, the
// held-out split by hash, and a pretraining corpus that holds training items only.
import { describe, expect, it } from 'vitest';
import { Rng } from '../runtime/init.ts';
import { heldOut, numberWords, taskCorpus, taskNamed, taskPairs, TASKS } from '../runtime/text/tasks.ts';

describe('in-context tasks', () => {
  it('writes numbers 0–999 in words', () => {
    const cases: [number, string][] = [[0, 'zero'], [7, 'seven'], [13, 'thirteen'], [20, 'twenty'], [42, 'forty-two'], [99, 'ninety-nine'], [100, 'one hundred'], [305, 'three hundred five'], [710, 'seven hundred ten'], [999, 'nine hundred ninety-nine']];
    for (const [n, w] of cases) expect(numberWords(n)).toBe(w);
    for (const bad of [-1, 1000, 1.5]) expect(() => numberWords(bad)).toThrow(RangeError);
    // Every number has its own words.
    expect(new Set(Array.from({ length: 1000 }, (_, n) => numberWords(n))).size).toBe(1000);
  });

  it('answers each task as its description says', () => {
    const all = (name: string) => taskNamed(name)!.pairs();
    for (const p of all('first_letter').slice(0, 500)) expect(p.answer).toBe(p.input[0]);
    for (const p of all('last_letter').slice(0, 500)) expect(p.answer).toBe(p.input.at(-1));
    for (const p of all('reverse').slice(0, 500)) expect([...p.answer].reverse().join('')).toBe(p.input);
    const digits = all('to_digits');
    expect(digits.length).toBe(1000);
    for (const p of digits) expect(numberWords(Number(p.answer))).toBe(p.input);
    expect(all('to_words').map((p) => [p.answer, p.input])).toEqual(digits.map((p) => [p.input, p.answer]));
    const pos = all('part_of_speech');
    expect(new Set(pos.map((p) => p.answer))).toEqual(new Set(['noun', 'verb', 'adjective', 'adverb']));
    expect(pos.find((p) => p.input === 'abalone')?.answer).toBe('noun');
    // A word with two parts of speech (WordNet: `run`, noun and verb) is left out.
    expect(pos.some((p) => p.input === 'run')).toBe(false);
    for (const t of TASKS) for (const p of t.pairs().slice(0, 200)) expect(p.input.length * p.answer.length).toBeGreaterThan(0);
  });

  it('holds out one input in five, by its text alone', () => {
    const numbers = Array.from({ length: 1000 }, (_, n) => String(n));
    const share = numbers.filter(heldOut).length / numbers.length;
    expect(share).toBeGreaterThan(0.15);
    expect(share).toBeLessThan(0.25);
    for (const t of TASKS) {
      const [train, held] = [taskPairs(t, 'train'), taskPairs(t, 'heldout')];
      expect(train.length + held.length).toBe(t.pairs().length);
      const trainInputs = new Set(train.map((p) => p.input));
      expect(held.some((p) => trainInputs.has(p.input)), t.name).toBe(false);
    }
  });

  it('pretrains on episodes of training items only, the same for the same seed', () => {
    const docs = taskCorpus(new Rng(3), 4, 30);
    expect(taskCorpus(new Rng(3), 4, 30)).toEqual(docs);
    expect(taskCorpus(new Rng(4), 4, 30)).not.toEqual(docs);
    const descriptions = new Set(TASKS.map((t) => t.description));
    const known = new Map<string, string>(TASKS.flatMap((t) => taskPairs(t, 'train').map((p) => [`${p.input} => ${p.answer}`, t.name] as const)));
    let examples = 0;
    for (const doc of docs) {
      const episodes = doc.split('\n\n');
      expect(episodes.length).toBe(30);
      for (const ep of episodes) {
        const lines = ep.split('\n');
        const body = descriptions.has(lines[0]) ? lines.slice(1) : lines;
        expect(body.length).toBeGreaterThanOrEqual(1);
        expect(body.length).toBeLessThanOrEqual(6);
        // Every line of an episode is a training pair, all of one task.
        const tasks = new Set(body.map((l) => known.get(l)));
        expect(tasks.has(undefined), ep).toBe(false);
        if (lines[0] !== body[0]) expect(TASKS.find((t) => t.description === lines[0])!.name).toBe([...tasks][0]);
        examples += body.length;
      }
    }
    expect(examples).toBeGreaterThan(4 * 30);
  });
});
