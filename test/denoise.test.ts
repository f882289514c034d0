// BART's noising functions (runtime/text/denoise.ts) on hand-made inputs, and their rates
// measured over many seeded draws.
import { describe, expect, it } from 'vitest';
import { Rng } from '../runtime/init.ts';
import { addNoise, deleteTokens, infillSpans, maskTokens, NO_NOISE, permuteSentences, poisson, rotate, sentences } from '../runtime/text/denoise.ts';
import { copyAccuracy } from '../runtime/objectives/denoise.ts';

const MASK = 0;
const DOT = 1;
const seed = () => Math.floor(Math.random() * 2 ** 31);
const range = (n: number, from = 10) => Array.from({ length: n }, (_, i) => from + i);

describe('BART noise', () => {
  it('sentences end at a sentence-end token; the last may end without one', () => {
    expect(sentences([5, 6, DOT, 7, DOT, 8, 9], new Set([DOT]))).toEqual([[5, 6, DOT], [7, DOT], [8, 9]]);
  });

  it('sentence permutation with p = 1 reorders whole sentences, every order of three in time; p = 0 changes nothing', () => {
    const doc = [5, 6, DOT, 7, DOT, 8, 9, DOT];
    const ends = new Set([DOT]);
    const rng = new Rng(seed());
    const seen = new Set<string>();
    for (let k = 0; k < 200; k++) {
      const out = permuteSentences(doc, 1, ends, rng);
      const parts = sentences(out, ends).map((s) => s.join(','));
      expect(parts.slice().sort()).toEqual(['5,6,1', '7,1', '8,9,1']);
      seen.add(parts.join('|'));
    }
    expect(seen.size).toBe(6);
    expect(permuteSentences(doc, 0, ends, rng)).toEqual(doc);
  });

  it('token masking and deletion hit their rates within ±1 point over 100k tokens, and keep the rest in order', () => {
    const s = seed();
    const rng = new Rng(s);
    const tokens = range(100_000);
    const masked = maskTokens(tokens, 0.3, MASK, rng);
    expect(masked.length).toBe(tokens.length);
    expect(masked.every((t, i) => t === MASK || t === tokens[i])).toBe(true);
    expect(Math.abs(masked.filter((t) => t === MASK).length / tokens.length - 0.3), `seed ${s}`).toBeLessThan(0.01);
    const kept = deleteTokens(tokens, 0.2, rng);
    expect(Math.abs(1 - kept.length / tokens.length - 0.2), `seed ${s}`).toBeLessThan(0.01);
    expect(kept.every((t, i) => i === 0 || t > kept[i - 1])).toBe(true);
  });

  it('Poisson draws have mean and variance λ (±3%)', () => {
    const rng = new Rng(seed());
    for (const lambda of [1, 3, 5]) {
      const xs = Array.from({ length: 40_000 }, () => poisson(lambda, rng));
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
      expect(Math.abs(mean / lambda - 1)).toBeLessThan(0.03);
      expect(Math.abs(variance / lambda - 1)).toBeLessThan(0.05);
    }
  });

  it('text infilling: each span is one <mask>, the kept tokens stay in order, about p of the tokens are hidden, and spans of length 0 insert a <mask>', () => {
    const s = seed();
    const rng = new Rng(s);
    let hidden = 0;
    let total = 0;
    let insertions = 0;
    for (let k = 0; k < 300; k++) {
      const tokens = range(200);
      const out = infillSpans(tokens, 0.3, 3, MASK, rng);
      const kept = out.filter((t) => t !== MASK);
      expect(kept.every((t, i) => i === 0 || t > kept[i - 1])).toBe(true);
      hidden += tokens.length - kept.length;
      total += tokens.length;
      // A <mask> between two tokens that follow each other in the input is an insertion.
      for (let i = 1; i + 1 < out.length; i++) if (out[i] === MASK && out[i - 1] !== MASK && out[i + 1] === out[i - 1] + 1) insertions++;
    }
    // Spans can overlap (distinct starts, Poisson lengths), so slightly less than p is hidden.
    expect(hidden / total, `seed ${s}`).toBeLessThanOrEqual(0.3);
    expect(hidden / total, `seed ${s}`).toBeGreaterThan(0.25);
    expect(insertions, `seed ${s}`).toBeGreaterThan(0);
    expect(infillSpans(range(20), 0, 3, MASK, rng)).toEqual(range(20));
  });

  it('rotation with p = 1 starts the text at another token and keeps its cyclic order; p = 0 changes nothing', () => {
    const rng = new Rng(seed());
    const tokens = range(12);
    for (let k = 0; k < 50; k++) {
      const out = rotate(tokens, 1, rng);
      expect(out[0]).not.toBe(tokens[0]);
      const at = tokens.indexOf(out[0]);
      expect(out).toEqual([...tokens.slice(at), ...tokens.slice(0, at)]);
    }
    expect(rotate(tokens, 0, rng)).toEqual(tokens);
  });

  it('no noise is the identity; the copy baseline counts the positions where the source equals the target', () => {
    const tokens = [5, 6, DOT, 7, DOT];
    expect(addNoise(tokens, NO_NOISE, { mask: MASK, sentenceEnds: new Set([DOT]) }, new Rng(1))).toEqual(tokens);
    expect(copyAccuracy([{ source: [1, 5, 9, 2], target: [1, 5, 6, 7, 2] }], 8)).toBeCloseTo(2 / 5, 12);
  });
});
