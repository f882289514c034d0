// The WordNet reader: data lines parsed by hand-checked cases, the whole database counted
// against the numbers Princeton publishes for WordNet 3.1, and damaged lines refused.
import { describe, expect, it } from 'vitest';
import { TfmError } from '../common/errors.ts';
import { loadCorpus } from '../runtime/text/data.ts';
import { parseDataLine, readWordNet, synsetText, wordnetDocuments } from '../runtime/text/wordnet.ts';

const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e instanceof TfmError ? `${e.code}: ${e.message}` : String(e);
  }
  return 'no error';
};

describe('WordNet', () => {
  it('parses a data line: words, markers, definition and examples', () => {
    const line =
      '00017820 00 a 01 acceptable 0 007 ^ 02087716 a 0000 + 04799910 n 0101 ! 00018622 a 0101 | worthy of acceptance or satisfactory; "acceptable levels of radiation"; "performances varied from acceptable to excellent"  ';
    expect(parseDataLine(line, 'x')).toEqual({
      pos: 'adjective',
      words: ['acceptable'],
      definition: 'worthy of acceptance or satisfactory',
      examples: ['acceptable levels of radiation', 'performances varied from acceptable to excellent'],
    });
    const satellite = '00003356 00 s 02 emerging(p) 0 rising_star 0 001 & 00002956 a 0000 | coming into existence';
    const s = parseDataLine(satellite, 'x')!;
    expect(s).toEqual({ pos: 'adjective', words: ['emerging', 'rising star'], definition: 'coming into existence', examples: [] });
    expect(synsetText(s)).toBe('emerging, rising star: coming into existence.');
    expect(synsetText(parseDataLine(line, 'x')!)).toBe('acceptable: worthy of acceptance or satisfactory; "acceptable levels of radiation"; "performances varied from acceptable to excellent".');
    // Licence lines and the empty last line are skipped.
    expect(parseDataLine('  1 This software and database is being provided', 'x')).toBeUndefined();
    expect(parseDataLine('', 'x')).toBeUndefined();
  });

  it('refuses a damaged line with its place', () => {
    expect(code(() => parseDataLine('00017820 00 q 01 acceptable 0 000 | worthy', 'data.adj:30'))).toMatch(/^TFM5023: data\.adj:30: not a WordNet synset line/);
    expect(code(() => parseDataLine('00017820 00 a 03 acceptable 0 000 | worthy', 'data.adj:31'))).toMatch(/^TFM5023: data\.adj:31/);
    expect(code(() => parseDataLine('00017820 00 a 01 acceptable 0 000', 'data.adj:32'))).toMatch(/^TFM5023: data\.adj:32/);
  });

  it('reads all 117,791 synsets of the package (82,192 nouns, 13,789 verbs, 18,185 adjectives, 3,625 adverbs: the data lines of each file, licence lines excluded)', () => {
    const all = readWordNet();
    const count = (pos: string) => all.filter((s) => s.pos === pos).length;
    expect(all.length).toBe(117791);
    expect([count('noun'), count('verb'), count('adjective'), count('adverb')]).toEqual([82192, 13789, 18185, 3625]);
    expect(all.every((s) => s.words.length > 0 && s.words.every((w) => w.length > 0 && !w.includes('_')) && s.definition.length > 0)).toBe(true);
    const good = all.filter((s) => s.words.includes('good') && s.pos === 'adjective');
    expect(good.length).toBeGreaterThan(10);
    const docs = wordnetDocuments(100);
    expect(docs.length).toBe(100);
    expect(docs.join('').split('\n').filter((l) => l).length).toBe(117791);
    // The built-in text `--data wordnet` is these documents.
    expect(loadCorpus('wordnet').documents).toEqual(docs);
  });
});
