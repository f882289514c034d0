// The SentencePiece-style unigram tokenizer (runtime/text/unigram.ts): Viterbi against every
// segmentation enumerated, training that is deterministic and round-trips its text, and T5's
// id layout (specials first, sentinels from the last id down).
import { describe, expect, it } from 'vitest';
import { SPACE, trainUnigram, unigramWords, viterbi } from '../runtime/text/unigram.ts';
import { parseTokenizer, sentinelName, tokenizerFromJSON, unigramTokenizer } from '../runtime/text/tokenizer.ts';

const TEXT = [
  'Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse, and nothing particular to interest me on shore, I thought I would sail about a little and see the watery part of the world.',
  'It is a way I have of driving off the spleen and regulating the circulation. Whenever I find myself growing grim about the mouth; whenever it is a damp, drizzly November in my soul; then, I account it high time to get to sea as soon as I can.',
  'There now is your insular city of the Manhattoes, belted round by wharves as Indian isles by coral reefs; commerce surrounds it with her surf. Right and left, the streets take you waterward.',
];
const SPECIALS = ['<pad>', '<eos>', '<unk>', ...Array.from({ length: 4 }, (_, k) => sentinelName(k))];

/** Every segmentation of `word` into pieces of `logp` (single characters always allowed). */
function bestByEnumeration(word: string, logp: Map<string, number>, unk: number): number {
  const chars = Array.from(word);
  const go = (s: number): number => {
    if (s === chars.length) return 0;
    let best = -Infinity;
    for (let e = s + 1; e <= chars.length; e++) {
      const piece = chars.slice(s, e).join('');
      const lp = logp.get(piece) ?? (e - s === 1 ? unk : undefined);
      if (lp !== undefined) best = Math.max(best, lp + go(e));
    }
    return best;
  };
  return go(0);
}

describe('unigram tokenizer', () => {
  it('Viterbi finds the best segmentation that enumerating all of them finds, on random vocabularies', () => {
    const alphabet = ['▁', 'a', 'b', 'c', 'd'];
    for (let trial = 0; trial < 200; trial++) {
      const logp = new Map<string, number>();
      for (const ch of alphabet) logp.set(ch, -2 - 6 * Math.random());
      for (let k = 0; k < 12; k++) {
        const n = 2 + Math.floor(Math.random() * 3);
        const piece = Array.from({ length: n }, () => alphabet[1 + Math.floor(Math.random() * 4)]).join('');
        logp.set(Math.random() < 0.3 ? '▁' + piece : piece, -1 - 8 * Math.random());
      }
      const word = '▁' + Array.from({ length: 1 + Math.floor(Math.random() * 9) }, () => alphabet[1 + Math.floor(Math.random() * 4)]).join('');
      const v = viterbi(word, logp, -20);
      expect(v.pieces.join('')).toBe(word);
      expect(v.score).toBeCloseTo(bestByEnumeration(word, logp, -20), 10);
      expect(v.pieces.reduce((a, p) => a + logp.get(p)!, 0)).toBeCloseTo(v.score, 10);
    }
  });

  it('a word is ▁ + its characters after NFKC, split on any whitespace', () => {
    expect(unigramWords('  ﬁne\tday\n\nhere ')).toEqual([`${SPACE}fine`, `${SPACE}day`, `${SPACE}here`]);
  });

  it('trains to its size (fewer where the text has too few repeated substrings), deterministically, keeping every character and preferring frequent words', () => {
    const a = trainUnigram(TEXT, 90);
    const b = trainUnigram([...TEXT], 90);
    expect(a).toEqual(b);
    expect(a.pieces.length).toBe(90);
    expect(trainUnigram(TEXT, 5000).pieces.length).toBeLessThan(5000);
    const pieces = new Set(a.pieces.map(([p]) => p));
    for (const ch of new Set(TEXT.join('').replace(/\s/g, ''))) expect(pieces.has(ch), ch).toBe(true);
    expect(pieces.has('▁the')).toBe(true);
    const total = a.pieces.reduce((s, [, lp]) => s + Math.exp(lp), 0);
    expect(total).toBeCloseTo(1, 6);
  });

  it("round-trips its text, lays out ids as T5 does, and reloads from its JSON to the same ids", () => {
    const tok = unigramTokenizer(TEXT, 200, SPECIALS);
    expect(tok.vocabSize).toBe(200);
    expect([tok.specials.get('<pad>'), tok.specials.get('<eos>'), tok.specials.get('<unk>')]).toEqual([0, 1, 2]);
    expect(tok.specials.get(sentinelName(0))).toBe(199);
    expect(tok.specials.get(sentinelName(3))).toBe(196);
    for (const t of TEXT) {
      const ids = tok.encode(t);
      expect(ids.every((id) => id >= 3 && id < 196)).toBe(true);
      expect(tok.decode(ids)).toBe(t);
    }
    // A character the training text never had is <unk>.
    expect(tok.encode('sea ∑ sea')).toContain(2);
    // Sentinels written in the text are their ids; others are text.
    expect(tok.encode('I <extra_id_1> about <extra_id_9>')).toEqual([...tok.encode('I'), 198, ...tok.encode('about'), ...tok.encode('<extra_id_9>')]);
    expect(tok.encode('<extra_id_9>').length).toBeGreaterThan(1);
    // So are the other specials (BART's `<mask>` in `tfm generate --src`).
    expect(tok.encode('the <pad> sea<eos>')).toEqual([...tok.encode('the'), 0, ...tok.encode('sea'), 1]);
    // Sentinels read as their names.
    expect(tok.decode([...tok.encode('I thought'), 199, ...tok.encode('about'), 198, 1])).toBe('I thought <extra_id_0> about <extra_id_1>');
    const again = parseTokenizer(JSON.stringify(tok.toJSON()), 'test');
    for (const t of [...TEXT, 'unseen words: zebra quokka']) expect(again.encode(t)).toEqual(tok.encode(t));
    expect(() => tokenizerFromJSON({ kind: 'unigram', specials: SPECIALS, vocabSize: 200, pieces: [['a', 'x']] })).toThrow(/not a valid/);
  });

  it('refuses a vocabulary without <unk> or without room for pieces', () => {
    expect(() => unigramTokenizer(TEXT, 200, ['<pad>', '<eos>'])).toThrow(/<unk>/);
    expect(() => unigramTokenizer(TEXT, 40, SPECIALS)).toThrow(/leaves 33 ids/);
  });
});
