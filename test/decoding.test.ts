// Decoding strategies (runtime/generate/decoding.ts): hand-computed cases for each processor,
// draws measured against the exact distribution they should follow, seeded reproducibility,
// and stop sequences across streamed pieces.
import { describe, expect, it } from 'vitest';
import { TfmError } from '../common/errors.ts';
import { invalidDecoding, nextToken, processLogits, softmax, StopText, type DecodingOptions } from '../runtime/generate/decoding.ts';
import { Rng } from '../runtime/init.ts';

const SEED = 20261201;

/** Frequencies of `n` draws. */
function frequencies(logits: number[], o: DecodingOptions, n: number, history: number[] = [], seed = SEED): number[] {
  const rng = new Rng(seed);
  const counts = new Array(logits.length).fill(0);
  for (let k = 0; k < n; k++) counts[nextToken(logits, 0, logits.length, history, o, rng)]++;
  return counts.map((c) => c / n);
}

/** softmax(x / t) in float64, computed here independently. */
function reference(x: number[], t = 1): number[] {
  const m = Math.max(...x);
  const e = x.map((v) => Math.exp((v - m) / t));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}

describe('decoding', () => {
  // Random logits from a seeded generator (printed on failure through the test name).
  const rng = new Rng(SEED);
  const logits = Array.from({ length: 7 }, () => 2 * rng.normal());

  it(`greedy is the arg max, first on ties, and draws nothing (seed ${SEED})`, () => {
    const best = logits.indexOf(Math.max(...logits));
    const r = new Rng(1);
    const before = r.state;
    expect(nextToken(logits, 0, logits.length, [], { temperature: 0 }, r)).toBe(best);
    expect(r.state).toEqual(before);
    expect(nextToken([1, 3, 3, 0], 0, 4, [], { temperature: 0 }, r)).toBe(1);
    // Offsets select one position of a [positions, vocab] array.
    expect(nextToken([9, 0, 0, 0, 5, 1], 3, 3, [], { temperature: 0 }, r)).toBe(1);
    // As the temperature goes to 0, sampling becomes greedy.
    expect(frequencies([0.3, 1.2, 1.1, -0.5], { temperature: 1e-3 }, 2000)).toEqual([0, 1, 0, 0]);
    expect(frequencies([0.3, 1.2, 1.1, -0.5], { temperature: 0.05 }, 2000)[1]).toBeGreaterThan(0.8);
  });

  it(`sampling follows softmax(logits / T) (200,000 draws within 0.005; seed ${SEED})`, () => {
    for (const t of [1, 0.5, 2]) {
      const f = frequencies(logits, { temperature: t }, 200_000);
      const p = reference(logits, t);
      f.forEach((x, k) => expect(Math.abs(x - p[k]), `T=${t}, token ${k}`).toBeLessThan(0.005));
    }
  });

  it('top-k keeps the k largest (and ties at the boundary), renormalised', () => {
    const x = [0.5, 2, -1, 1.5, 0.1];
    const s = processLogits(x, 0, 5, [], { temperature: 1, topK: 2 });
    expect(Array.from(s)).toEqual([-Infinity, 2, -Infinity, 1.5, -Infinity]);
    expect(Array.from(processLogits([1, 2, 2, 0], 0, 4, [], { temperature: 1, topK: 2 }))).toEqual([-Infinity, 2, 2, -Infinity]);
    expect(Array.from(processLogits([1, 2, 2, 0], 0, 4, [], { temperature: 1, topK: 1 }))).toEqual([-Infinity, 2, 2, -Infinity]);
    const f = frequencies(x, { temperature: 1, topK: 2 }, 100_000);
    const p = reference([2, 1.5]);
    expect(f[0] + f[2] + f[4]).toBe(0);
    expect(Math.abs(f[1] - p[0])).toBeLessThan(0.005);
    // top-k 1 is greedy at any temperature.
    expect(frequencies(logits, { temperature: 3, topK: 1 }, 1000)[logits.indexOf(Math.max(...logits))]).toBe(1);
  });

  it('top-p keeps the smallest most-probable set reaching p', () => {
    // Probabilities 0.5, 0.3, 0.15, 0.05 (as logs).
    const x = [0.5, 0.3, 0.15, 0.05].map(Math.log);
    const kept = (p: number) => Array.from(processLogits(x, 0, 4, [], { temperature: 1, topP: p })).map((v, t) => (v === -Infinity ? -1 : t)).filter((t) => t >= 0);
    expect(kept(0.5)).toEqual([0]);
    expect(kept(0.79)).toEqual([0, 1]);
    expect(kept(0.81)).toEqual([0, 1, 2]);
    expect(kept(0.96)).toEqual([0, 1, 2, 3]);
    expect(kept(0.01)).toEqual([0]);
    const f = frequencies(x, { temperature: 1, topP: 0.81 }, 100_000);
    [0.5, 0.3, 0.15].forEach((p, k) => expect(Math.abs(f[k] - p / 0.95)).toBeLessThan(0.005));
    expect(f[3]).toBe(0);
  });

  it('repetition penalty divides positive and multiplies negative logits of tokens already seen, once each', () => {
    const s = processLogits([2, -1, 0.5, -3], 0, 4, [0, 1, 1, 1], { temperature: 0, repetitionPenalty: 2 });
    expect(Array.from(s)).toEqual([1, -2, 0.5, -3]);
    // Before temperature: (2 / 2) / 0.5.
    expect(processLogits([2, 0], 0, 2, [0], { temperature: 0.5, repetitionPenalty: 2 })[0]).toBe(2);
    // It can change the greedy choice.
    expect(nextToken([2, 1.5], 0, 2, [0], { temperature: 0, repetitionPenalty: 2 }, new Rng(1))).toBe(1);
  });

  it('the same seed gives the same tokens; another seed other tokens', () => {
    const o = { temperature: 1.2, topK: 5, topP: 0.9 };
    const run = (seed: number) => {
      const r = new Rng(seed);
      return Array.from({ length: 40 }, () => nextToken(logits, 0, logits.length, [], o, r));
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
  });

  it('refuses bad settings and non-finite logits', () => {
    expect(invalidDecoding({ temperature: -1 })).toMatch(/^temperature -1/);
    expect(invalidDecoding({ temperature: 1, topK: 1.5 })).toMatch(/^top-k 1.5/);
    expect(invalidDecoding({ temperature: 1, topP: 0 })).toMatch(/^top-p 0/);
    expect(invalidDecoding({ temperature: 1, topP: 1.1 })).toMatch(/^top-p 1.1/);
    expect(invalidDecoding({ temperature: 1, repetitionPenalty: 0.5 })).toMatch(/^repetition penalty 0.5/);
    expect(invalidDecoding({ temperature: 0.7, topK: 40, topP: 0.95, repetitionPenalty: 1.3 })).toBeUndefined();
    let e: unknown;
    try {
      nextToken([0, NaN, 1], 0, 3, [], { temperature: 1 }, new Rng(1));
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(TfmError);
    expect((e as TfmError).code).toBe('TFM6001');
    expect(Array.from(softmax(Float64Array.from([0, -Infinity, 0])))).toEqual([0.5, 0, 0.5]);
  });
});

describe('stop sequences on streamed text', () => {
  it('shows text as it comes, holds back a possible start of a stop sequence, and cuts at the first stop', () => {
    const s = new StopText(['\n\n', 'Q:']);
    expect(s.push('The answer')).toEqual({ text: 'The answer', stop: false });
    expect(s.push(' is 4.\n')).toEqual({ text: ' is 4.', stop: false });
    expect(s.push('\nQ: next')).toEqual({ text: '', stop: true });
    expect(s.push('more')).toEqual({ text: '', stop: true });
    expect(s.flush()).toBe('');
  });

  it('releases held text when it turns out not to be a stop, and at the end', () => {
    const s = new StopText(['END']);
    expect(s.push('a E')).toEqual({ text: 'a ', stop: false });
    expect(s.push('N')).toEqual({ text: '', stop: false });
    expect(s.push('d')).toEqual({ text: 'ENd', stop: false });
    expect(s.push('x EN')).toEqual({ text: 'x ', stop: false });
    expect(s.flush()).toBe('EN');
    // The stop that starts earliest wins, though a shorter one inside it ends first.
    const t = new StopText(['bc', 'abcd']);
    expect(t.push('xabcd')).toEqual({ text: 'x', stop: true });
    expect(() => new StopText([''])).toThrow(/empty/);
  });
});
