// GPT-3-style prompts from parts (runtime/generate/few-shot.ts): pairs files, seeded example
// draws, the prompt's exact text, answers and exact-match normalisation.
import { describe, expect, it } from 'vitest';
import { TfmError } from '../common/errors.ts';
import { answerOf, drawExamples, fewShotPrompt, normalise, parsePairs } from '../runtime/generate/few-shot.ts';
import { Rng } from '../runtime/init.ts';

const PAIRS = 'sea otter\tloutre de mer\n# a comment\n\npeppermint\tmenthe poivrée\r\ncheese\tfromage\nplush giraffe\tgirafe peluche\n';

describe('few-shot prompts', () => {
  it('reads tab-separated pairs, skipping blank and # lines, trimming each side and a CR', () => {
    expect(parsePairs(PAIRS, 'p.tsv')).toEqual([
      { input: 'sea otter', answer: 'loutre de mer' },
      { input: 'peppermint', answer: 'menthe poivrée' },
      { input: 'cheese', answer: 'fromage' },
      { input: 'plush giraffe', answer: 'girafe peluche' },
    ]);
  });

  it('refuses a malformed pairs file with TFM5011, the file and the line', () => {
    const bad = (text: string, message: RegExp) => {
      let err: unknown;
      try {
        parsePairs(text, 'p.tsv');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TfmError);
      expect((err as TfmError).code).toBe('TFM5011');
      expect((err as Error).message).toMatch(message);
    };
    bad('a\tb\nno tab here\n', /p\.tsv:2: .*0 tabs/);
    bad('a\tb\tc\n', /p\.tsv:1: .*2 tabs/);
    bad('a\t \n', /p\.tsv:1: the answer is empty/);
    bad('# only a comment\n\n', /holds no pairs/);
  });

  it('draws k examples without repetition, never the query itself, the same for the same seed', () => {
    const pool = parsePairs(PAIRS, 'p.tsv');
    for (let seed = 1; seed <= 20; seed++) {
      const a = drawExamples(pool, 2, 'cheese', new Rng(seed));
      expect(a.length).toBe(2);
      expect(new Set(a.map((p) => p.input)).size, `seed ${seed}`).toBe(2);
      expect(a.some((p) => p.input === 'cheese'), `seed ${seed}`).toBe(false);
      expect(drawExamples(pool, 2, 'cheese', new Rng(seed))).toEqual(a);
    }
    // Every example turns up over seeds; asking for more than the pool gives the pool.
    const seen = new Set(Array.from({ length: 30 }, (_, s) => drawExamples(pool, 1, 'cheese', new Rng(s))[0].input));
    expect([...seen].sort()).toEqual(['peppermint', 'plush giraffe', 'sea otter']);
    expect(drawExamples(pool, 10, 'cheese', new Rng(1)).length).toBe(3);
    expect(drawExamples(pool, 0, 'cheese', new Rng(1))).toEqual([]);
  });

  it('writes the prompt as GPT-3 does: description, `input => answer` lines, then `query =>`', () => {
    const examples = [
      { input: 'sea otter', answer: 'loutre de mer' },
      { input: 'peppermint', answer: 'menthe poivrée' },
    ];
    expect(fewShotPrompt('Translate English to French:', examples, 'cheese')).toBe('Translate English to French:\nsea otter => loutre de mer\npeppermint => menthe poivrée\ncheese =>');
    expect(fewShotPrompt('Translate English to French:', [], 'cheese')).toBe('Translate English to French:\ncheese =>');
    expect(fewShotPrompt(undefined, examples.slice(0, 1), 'cheese')).toBe('sea otter => loutre de mer\ncheese =>');
  });

  it('takes the answer from the first line of a continuation and compares answers normalised', () => {
    expect(answerOf(' fromage\nbread => pain')).toBe('fromage');
    expect(answerOf('')).toBe('');
    expect(normalise('  Fromage. ')).toBe('fromage');
    expect(normalise('"Loutre  de\tmer"')).toBe('loutre de mer');
    expect(normalise('noun')).not.toBe(normalise('nouns'));
  });
});
