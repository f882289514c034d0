// Masked-LM inputs (runtime/text/mlm.ts): how many positions are chosen, which, what they
// become, and where the loss is taken — measured on seeded random sequences.
import { describe, expect, it } from 'vitest';
import { Rng } from '../runtime/init.ts';
import { gatherTargets, IGNORE_INDEX, maxPicks, mlmMasker, type MlmSettings } from '../runtime/text/mlm.ts';

// A BERT-like vocabulary: <pad> <unk> <cls> <sep> <mask> are 0–4.
const [PAD, CLS, SEP, MASK] = [0, 2, 3, 4];
const SPECIAL = new Set([0, 1, 2, 3, 4]);
const settings: MlmSettings = { maskProb: 0.15, split: [0.8, 0.1, 0.1], maskId: MASK, special: SPECIAL, vocab: 1000 };

/** Rows of `seq`: <cls> A <sep> B <sep>, then padding after a random length. */
function sequences(rows: number, seq: number, draw: () => number): Int32Array {
  const out = new Int32Array(rows * seq);
  for (let r = 0; r < rows; r++) {
    const len = 8 + Math.floor(draw() * (seq - 8));
    const cut = 2 + Math.floor(draw() * (len - 5));
    for (let t = 0; t < seq; t++) {
      const at = r * seq + t;
      out[at] = t === 0 ? CLS : t === cut || t === len - 1 ? SEP : t >= len ? PAD : 5 + Math.floor(draw() * 995);
    }
  }
  return out;
}

const seed = () => Math.floor(Math.random() * 2 ** 31);

describe('masked-LM inputs', () => {
  it('of the chosen positions, 80% become <mask>, 10% a random token, 10% stay: within ±0.5 point over ≥ 100k', () => {
    const masker = mlmMasker(settings);
    const rng = new Rng(seed());
    const seq = 128;
    const counts = { total: 0, masked: 0, random: 0, kept: 0 };
    while (counts.total < 100_000) {
      const tokens = sequences(64, seq, Math.random);
      const [input, targets] = [new Int32Array(tokens.length), new Int32Array(tokens.length)];
      counts.total += masker.batch(tokens, seq, rng, input, targets);
      for (let e = 0; e < tokens.length; e++) {
        if (targets[e] === IGNORE_INDEX) continue;
        if (input[e] === MASK) counts.masked++;
        else if (input[e] === tokens[e]) counts.kept++;
        else counts.random++;
      }
    }
    // A random replacement equal to the original (1 in 995) counts as kept: 0.01 point.
    expect(counts.masked + counts.random + counts.kept).toBe(counts.total);
    expect(Math.abs((100 * counts.masked) / counts.total - 80)).toBeLessThan(0.5);
    expect(Math.abs((100 * counts.random) / counts.total - 10)).toBeLessThan(0.5);
    expect(Math.abs((100 * counts.kept) / counts.total - 10)).toBeLessThan(0.5);
  });

  it('chooses round(15%) of each row’s non-special tokens, never a special one; the loss is taken exactly there, on the original token', () => {
    const masker = mlmMasker(settings);
    const rng = new Rng(seed());
    const seq = 64;
    const tokens = sequences(200, seq, Math.random);
    const [input, targets] = [new Int32Array(tokens.length), new Int32Array(tokens.length)];
    const chosen = masker.batch(tokens, seq, rng, input, targets);
    let sum = 0;
    for (let r = 0; r < 200; r++) {
      const row = (a: Int32Array) => a.subarray(r * seq, (r + 1) * seq);
      const [t, x, y] = [row(tokens), row(input), row(targets)];
      const ordinary = [...t].filter((id) => !SPECIAL.has(id)).length;
      const loss = [...y.keys()].filter((k) => y[k] !== IGNORE_INDEX);
      expect(loss.length, `row ${r}`).toBe(Math.max(1, Math.round(0.15 * ordinary)));
      sum += loss.length;
      for (let k = 0; k < seq; k++) {
        if (SPECIAL.has(t[k])) {
          // Special tokens: never chosen, never changed.
          expect(y[k]).toBe(IGNORE_INDEX);
          expect(x[k]).toBe(t[k]);
        } else if (y[k] === IGNORE_INDEX) expect(x[k], 'an unchosen token is unchanged').toBe(t[k]);
        else {
          expect(y[k], 'the target is the original token').toBe(t[k]);
          // A replacement is <mask> or an ordinary token, never another special one.
          expect(x[k] === MASK || !SPECIAL.has(x[k])).toBe(true);
        }
      }
    }
    expect(chosen).toBe(sum);
  });

  it('random replacements are uniform over the ordinary vocabulary', () => {
    const masker = mlmMasker({ ...settings, split: [0, 1, 0], vocab: 25 });
    const rng = new Rng(seed());
    const seq = 100;
    const tokens = Int32Array.from({ length: 400 * seq }, () => 5);
    const [input, targets] = [new Int32Array(tokens.length), new Int32Array(tokens.length)];
    masker.batch(tokens, seq, rng, input, targets);
    const hist = new Map<number, number>();
    for (let e = 0; e < input.length; e++) if (targets[e] !== IGNORE_INDEX) hist.set(input[e], (hist.get(input[e]) ?? 0) + 1);
    expect([...hist.keys()].sort((a, b) => a - b)).toEqual([...Array(20).keys()].map((k) => k + 5));
    // 6000 draws over 20 ids: 300 each, standard deviation ≈ 17.
    for (const [id, n] of hist) expect(Math.abs(n - 300), `id ${id}`).toBeLessThan(100);
  });

  it('is a function of the generator state: the same state gives the same batch, another state another one', () => {
    const masker = mlmMasker(settings);
    const tokens = sequences(8, 64, Math.random);
    const run = (s: number) => {
      const [input, targets] = [new Int32Array(tokens.length), new Int32Array(tokens.length)];
      masker.batch(tokens, 64, new Rng(s), input, targets);
      return [...input, ...targets];
    };
    const s = seed();
    expect(run(s)).toEqual(run(s));
    expect(run(s)).not.toEqual(run(s + 1));
  });

  it('a row of special tokens only (all padding) has no loss positions', () => {
    const masker = mlmMasker(settings);
    const tokens = new Int32Array(32).fill(PAD);
    const [input, targets] = [new Int32Array(32), new Int32Array(32)];
    expect(masker.batch(tokens, 32, new Rng(seed()), input, targets)).toBe(0);
    expect([...targets].every((y) => y === IGNORE_INDEX)).toBe(true);
    expect([...input]).toEqual([...tokens]);
  });

  it('the gathered targets (what the training graph takes): each row’s chosen positions in order with their tokens, then (0, ignored); never more than maxPicks', () => {
    const s0 = seed();
    const masker = mlmMasker(settings);
    const rng = new Rng(s0);
    for (const seq of [16, 64, 128]) {
      const picks = maxPicks(settings.maskProb, seq);
      // Rows of every length up to all-ordinary (no special token at all): the most chosen.
      const tokens = sequences(100, seq, Math.random);
      tokens.fill(7, 0, seq);
      const [input, targets] = [new Int32Array(tokens.length), new Int32Array(tokens.length)];
      masker.batch(tokens, seq, rng, input, targets);
      const [positions, picked] = [new Int32Array(100 * picks), new Int32Array(100 * picks)];
      gatherTargets(targets, seq, picks, positions, picked);
      for (let r = 0; r < 100; r++) {
        const want = [...targets.subarray(r * seq, (r + 1) * seq)].flatMap((t, at) => (t === IGNORE_INDEX ? [] : [[at, t]]));
        const got = [...positions.subarray(r * picks, (r + 1) * picks)].map((at, j) => [at, picked[r * picks + j]]);
        expect(got, `row ${r}, seq ${seq}, seed ${s0}`).toEqual([...want, ...Array.from({ length: picks - want.length }, () => [0, IGNORE_INDEX])]);
      }
      expect(Math.max(...Array.from({ length: 100 }, (_, r) => targets.subarray(r * seq, (r + 1) * seq).filter((t) => t !== IGNORE_INDEX).length))).toBe(picks);
    }
    expect(() => gatherTargets(Int32Array.from([5, 6, 7, 8]), 4, 3, new Int32Array(3), new Int32Array(3))).toThrow(/more than 3 chosen/);
  });
});
