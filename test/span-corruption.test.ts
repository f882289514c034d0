// T5's span corruption (runtime/text/span-corruption.ts): the paper's own example, t5's window
// arithmetic, and the noise density and mean span length measured over many seeded masks.
import { describe, expect, it } from 'vitest';
import { Rng } from '../runtime/init.ts';
import { corruptedLengths, corruptSpans, noiseCounts, randomSpansNoiseMask, windowLength } from '../runtime/text/span-corruption.ts';

const T5 = { noiseDensity: 0.15, meanSpanLength: 3 };
const seed = () => Math.floor(Math.random() * 2 ** 31);

describe('span corruption', () => {
  it('reproduces the paper: "I love this red car" with "love" and "red car" dropped', () => {
    const words = ['I', 'love', 'this', 'red', 'car', '<X>', '<Y>', '<Z>'];
    const id = (w: string) => words.indexOf(w);
    const tokens = ['I', 'love', 'this', 'red', 'car'].map(id);
    const { input, target } = corruptSpans(tokens, [0, 1, 0, 1, 1], (k) => 5 + k);
    expect(input.map((t) => words[t]).join(' ')).toBe('I <X> this <Y>');
    expect(target.map((t) => words[t]).join(' ')).toBe('<X> love <Y> red car <Z>');
  });

  it('a span at the start, and adjacent spans of the mask, each get their own sentinel', () => {
    const { input, target } = corruptSpans([10, 11, 12, 13, 14], [1, 1, 0, 1, 0], (k) => 100 + k);
    expect(input).toEqual([100, 12, 101, 14]);
    expect(target).toEqual([100, 10, 11, 101, 13, 102]);
  });

  it("windows: t5's rounding, and the longest window that fits (568 tokens for 512 inputs, as t5's random_spans_helper)", () => {
    expect(noiseCounts(568, T5)).toEqual({ noise: 85, spans: 28 });
    // t5 counts the target as noise + spans + 1 with <eos>; ours also closes with a sentinel.
    expect(corruptedLengths(568, T5)).toEqual({ input: 511, target: 114, spans: 28 });
    expect(windowLength(512, 115, T5)).toBe(568);
    expect(windowLength(128, 64, T5)).toBe(141);
    // The target's length can bind instead of the input's.
    const l = windowLength(128, 20, T5);
    expect(corruptedLengths(l, T5).target + 1).toBeLessThanOrEqual(20);
    expect(corruptedLengths(l + 1, T5).target + 1).toBeGreaterThan(20);
  });

  it('every mask has exactly round(L·density) noise tokens in round(noise/mean) spans, starting with a kept token', () => {
    const s = seed();
    const rng = new Rng(s);
    for (let k = 0; k < 500; k++) {
      const length = 2 + rng.int(300);
      const mask = randomSpansNoiseMask(length, T5, rng);
      const { noise, spans } = noiseCounts(length, T5);
      const ones = mask.reduce((a, m) => a + m, 0);
      let starts = 0;
      for (let i = 0; i < length; i++) if (mask[i] && (i === 0 || !mask[i - 1])) starts++;
      expect([length, mask[0], ones, starts], `seed ${s}`).toEqual([length, 0, noise, spans]);
    }
  });

  it('over many windows, the noise density and the mean span length are within ±5% of the settings', () => {
    const s = seed();
    const rng = new Rng(s);
    for (const settings of [T5, { noiseDensity: 0.3, meanSpanLength: 5 }]) {
      let noise = 0;
      let total = 0;
      let spans = 0;
      let spanTokens = 0;
      for (let k = 0; k < 3000; k++) {
        const length = 50 + rng.int(500);
        const mask = randomSpansNoiseMask(length, settings, rng);
        for (let i = 0; i < length; i++) {
          noise += mask[i];
          if (mask[i] && (i === 0 || !mask[i - 1])) spans++;
          if (mask[i]) spanTokens++;
        }
        total += length;
      }
      expect(Math.abs(noise / total / settings.noiseDensity - 1), `seed ${s}`).toBeLessThan(0.05);
      expect(Math.abs(spanTokens / spans / settings.meanSpanLength - 1), `seed ${s}`).toBeLessThan(0.05);
    }
  });

  it('span lengths vary (random segmentation), and different seeds give different masks', () => {
    const a = randomSpansNoiseMask(200, T5, new Rng(1));
    const b = randomSpansNoiseMask(200, T5, new Rng(2));
    expect(Array.from(a)).not.toEqual(Array.from(b));
    const lengths = new Set<number>();
    const rng = new Rng(seed());
    for (let k = 0; k < 50; k++) {
      const m = randomSpansNoiseMask(200, T5, rng);
      let run = 0;
      for (let i = 0; i <= m.length; i++) {
        if (i < m.length && m[i]) run++;
        else if (run) {
          lengths.add(run);
          run = 0;
        }
      }
    }
    expect(lengths.size).toBeGreaterThan(4);
  });
});
