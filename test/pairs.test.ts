// Sentence-pair rows for masked-LM pretraining (runtime/text/pairs.ts): the layout
// `<cls> A <sep> B <sep> <pad>…`, segment ids, key mask, A and B consecutive in one document,
// cut at a sentence end when the window has one.
import { describe, expect, it } from 'vitest';
import { Rng } from '../runtime/init.ts';
import { pairBatch, type PairSettings } from '../runtime/text/pairs.ts';

const [PAD, CLS, SEP, DOT] = [0, 101, 102, 1012];
const s: PairSettings = { seq: 32, cls: CLS, sep: SEP, pad: PAD, sentenceEnds: new Set([DOT]) };
const seed = () => Math.floor(Math.random() * 2 ** 31);

/** Documents of ordinary ids (2000 + k), with a sentence end every 5 to 15 tokens. */
function documents(count: number, lengths: [number, number]): Int32Array[] {
  return Array.from({ length: count }, () => {
    const n = lengths[0] + Math.floor(Math.random() * (lengths[1] - lengths[0]));
    const d = Int32Array.from({ length: n }, () => 2000 + Math.floor(Math.random() * 5000));
    for (let t = 5 + Math.floor(Math.random() * 10); t < n; t += 5 + Math.floor(Math.random() * 10)) d[t] = DOT;
    return d;
  });
}

function batch(docs: Int32Array[], rows: number, rngSeed: number) {
  const out = { tokens: new Int32Array(rows * s.seq), segments: new Int32Array(rows * s.seq), keyMask: new Float32Array(rows * s.seq) };
  pairBatch(docs, s, new Rng(rngSeed), out);
  return out;
}

/** Where `needle` occurs in `hay`, or -1. */
function find(hay: Int32Array, needle: number[]): number {
  outer: for (let o = 0; o + needle.length <= hay.length; o++) {
    for (let k = 0; k < needle.length; k++) if (hay[o + k] !== needle[k]) continue outer;
    return o;
  }
  return -1;
}

describe('sentence pairs', () => {
  it('every row is <cls> A <sep> B <sep> then padding; segments 0 then 1; the mask covers the real tokens; A then B is one window of a document', () => {
    const docs = documents(20, [10, 200]);
    const b = batch(docs, 300, seed());
    let cutAtSentenceEnd = 0;
    for (let r = 0; r < 300; r++) {
      const row = [...b.tokens.subarray(r * s.seq, (r + 1) * s.seq)];
      const seg = [...b.segments.subarray(r * s.seq, (r + 1) * s.seq)];
      const mask = [...b.keyMask.subarray(r * s.seq, (r + 1) * s.seq)];
      expect(row[0]).toBe(CLS);
      const seps = row.flatMap((x, k) => (x === SEP ? [k] : []));
      expect(seps.length, `row ${r}`).toBe(2);
      const [s1, s2] = seps;
      const [a, bb] = [row.slice(1, s1), row.slice(s1 + 1, s2)];
      expect(a.length).toBeGreaterThan(0);
      expect(bb.length).toBeGreaterThan(0);
      expect(row.slice(s2 + 1).every((x) => x === PAD)).toBe(true);
      expect(seg).toEqual(row.map((_, k) => (k > s1 && k <= s2 ? 1 : 0)));
      expect(mask).toEqual(row.map((_, k) => (k <= s2 ? 1 : 0)));
      // A followed by B appears in a document, as one window.
      expect(docs.some((d) => find(d, [...a, ...bb]) >= 0), `row ${r}: A B is not one window`).toBe(true);
      if (a[a.length - 1] === DOT) cutAtSentenceEnd++;
      // When A B holds a sentence end before its last token, A ends at one.
      if ([...a, ...bb].slice(0, -1).includes(DOT)) expect(a[a.length - 1], `row ${r}: cut inside a sentence`).toBe(DOT);
    }
    expect(cutAtSentenceEnd).toBeGreaterThan(250);
  });

  it('a short document gives a short row, padded; no sentence end, a cut anywhere', () => {
    const doc = Int32Array.from([2001, 2002, 2003, 2004]);
    const b = batch([doc], 40, seed());
    const cuts = new Set<number>();
    for (let r = 0; r < 40; r++) {
      const row = [...b.tokens.subarray(r * s.seq, (r + 1) * s.seq)];
      const s1 = row.indexOf(SEP);
      cuts.add(s1 - 1);
      expect(row.filter((x) => x !== SEP && x !== CLS && x !== PAD)).toEqual([2001, 2002, 2003, 2004]);
      expect(row.slice(7).every((x) => x === PAD)).toBe(true);
    }
    expect([...cuts].sort()).toEqual([1, 2, 3]);
  });

  it('is a function of the generator state', () => {
    const docs = documents(5, [40, 80]);
    const sd = seed();
    expect(batch(docs, 8, sd).tokens).toEqual(batch(docs, 8, sd).tokens);
    expect(batch(docs, 8, sd).tokens).not.toEqual(batch(docs, 8, sd + 1).tokens);
  });
});
