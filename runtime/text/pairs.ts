// Sentence-pair rows for BERT-style pretraining: `<cls> A <sep> B <sep>`, then `<pad>` to the
// row length, with segment ids (0 for `<cls>`, A and its `<sep>`; 1 for B and its `<sep>`;
// 0 for padding) and a key mask (1 for real tokens, 0 for padding). A and B are consecutive
// spans of one document — B is always A's continuation: the next-sentence prediction task
// (B drawn from another document half of the time) is left out, as RoBERTa showed it does
// not help. A window of a document is cut at a sentence end when one lies inside it (the
// last token of a sentence: `.`, `!` or `?` in the tokenizer's ids), otherwise at a random
// token; a document shorter than a row gives a short row, padded. Everything is drawn from
// the generator given.
import type { Rng } from '../init.ts';

export interface PairSettings {
  seq: number;
  cls: number;
  sep: number;
  pad: number;
  /** Token ids that end a sentence. */
  sentenceEnds: ReadonlySet<number>;
}

export interface PairBatch {
  tokens: Int32Array;
  segments: Int32Array;
  keyMask: Float32Array;
}

/** Fills `out` (rows of s.seq) with one pair per row, each from a random window of a random
 *  document among `docs` (token ids, special tokens excluded; documents of fewer than 2
 *  tokens are never drawn). */
export function pairBatch(docs: Int32Array[], s: PairSettings, rng: Rng, out: PairBatch): void {
  const usable = docs.filter((d) => d.length >= 2);
  if (!usable.length) throw new Error('internal: no document of two tokens or more');
  if (s.seq < 5) throw new Error(`internal: pair rows of ${s.seq} tokens`);
  const rows = out.tokens.length / s.seq;
  const room = s.seq - 3;
  for (let r = 0; r < rows; r++) {
    const doc = usable[rng.int(usable.length)];
    const len = Math.min(room, doc.length);
    const start = rng.int(doc.length - len + 1);
    const window = doc.subarray(start, start + len);
    // A cut after a sentence end, if the window has one before its last token; else anywhere.
    const ends: number[] = [];
    for (let t = 0; t < len - 1; t++) if (s.sentenceEnds.has(window[t])) ends.push(t + 1);
    const cut = ends.length ? ends[rng.int(ends.length)] : 1 + rng.int(len - 1);
    const o = r * s.seq;
    const row = out.tokens.subarray(o, o + s.seq);
    const seg = out.segments.subarray(o, o + s.seq);
    const mask = out.keyMask.subarray(o, o + s.seq);
    row.fill(s.pad);
    seg.fill(0);
    mask.fill(0);
    row[0] = s.cls;
    row.set(window.subarray(0, cut), 1);
    row[cut + 1] = s.sep;
    row.set(window.subarray(cut), cut + 2);
    row[len + 2] = s.sep;
    seg.fill(1, cut + 2, len + 3);
    mask.fill(1, 0, len + 3);
  }
}
