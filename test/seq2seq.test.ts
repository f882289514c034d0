// The encoder-decoder objectives' data pipelines (runtime/objectives/span-corruption.ts,
// denoise.ts, seq2seq.ts) against a stand-in executor: what a training batch puts in each
// input (teacher forcing: the decoder reads the target shifted right behind its start token),
// and that validation counts exactly what it claims.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../runtime/init.ts';
import { denoiseData } from '../runtime/objectives/denoise.ts';
import { fillRows } from '../runtime/objectives/seq2seq.ts';
import { spanCorruptionData } from '../runtime/objectives/span-corruption.ts';
import { NO_NOISE } from '../runtime/text/denoise.ts';
import { IGNORE_INDEX } from '../runtime/text/mlm.ts';
import { corruptedLengths, windowLength } from '../runtime/text/span-corruption.ts';
import { parseTokenizer, sentinelName } from '../runtime/text/tokenizer.ts';
import { standIn } from './support/stand-in.ts';

const WORDS = 'the whale swam under the grey sea. ishmael watched the ship! did ahab see it? the crew sang and the sails rose. ';

function corpus(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tfm-seq2seq-'));
  for (let k = 0; k < 12; k++) writeFileSync(join(dir, `doc${k}.txt`), `${WORDS}${k} `.repeat(8));
  return dir;
}

const io = (batch: number, src: number, tgt: number) => ({
  src_tokens: new Int32Array(batch * src),
  src_key_mask: new Float32Array(batch * src),
  tgt_tokens: new Int32Array(batch * tgt),
  targets: new Int32Array(batch * tgt),
  seed: new Int32Array(1),
});

describe('encoder-decoder batches', () => {
  it('fillRows: right-padded sources with their key mask, the target shifted right behind the start token, no loss past each target', () => {
    const inputs = io(2, 5, 4);
    fillRows(standIn(inputs, () => new Float32Array(0)), { batch: 2, srcSeq: 5, tgtSeq: 4, pad: 0, start: 9 }, [
      { source: [5, 6, 1], target: [7, 8, 1] },
      { source: [5, 6, 7, 8, 6, 1], target: [3, 4, 5, 6, 1] },
    ]);
    expect(Array.from(inputs.src_tokens)).toEqual([5, 6, 1, 0, 0, 5, 6, 7, 8, 6]);
    expect(Array.from(inputs.src_key_mask)).toEqual([1, 1, 1, 0, 0, 1, 1, 1, 1, 1]);
    expect(Array.from(inputs.tgt_tokens)).toEqual([9, 7, 8, 0, 9, 3, 4, 5]);
    expect(Array.from(inputs.targets)).toEqual([7, 8, 1, IGNORE_INDEX, 3, 4, 5, 6]);
  });

  it('span corruption: each row uncorrupts to a window of the training text; sentinels count up; validation weighs the loss by target tokens and counts accuracy exactly', async () => {
    const specials = ['<pad>', '<eos>', '<unk>', ...Array.from({ length: 8 }, (_, k) => sentinelName(k))];
    const settings = { noiseDensity: 0.15, meanSpanLength: 3 };
    const [batch, srcSeq, tgtContext] = [3, 40, 16];
    const data = spanCorruptionData({ data: corpus(), tokenizer: 'char', batch, srcSeq, tgtContext, evalBatches: 2, vocab: 64, specials, sentinels: 8, ...settings });
    const length = windowLength(srcSeq, tgtContext, settings);
    const c = corruptedLengths(length, settings);
    expect(data.dims).toEqual({ batch, src_seq: c.input + 1, tgt_seq: c.target + 1 });
    const [S, T] = [c.input + 1, c.target + 1];
    const train = standIn(io(batch, S, T), () => new Float32Array(0));
    // Logits right at every other real target token of the evaluator's batch.
    let right = 0;
    let real = 0;
    const evaluator = standIn(io(batch, S, T), (inp) => {
      const out = new Float32Array(batch * T * 64);
      const t = inp.targets as Int32Array;
      for (let p = 0; p < t.length; p++) {
        if (t[p] === IGNORE_INDEX) continue;
        out[p * 64 + (real % 2 === 0 ? t[p] : (t[p] + 1) % 8)] = 1;
        if (real % 2 === 0) right++;
        real++;
      }
      return out;
    }, 2.5);
    const obj = await data.open({ train, executor: async () => evaluator, out: mkdtempSync(join(tmpdir(), 'tfm-out-')), resume: false });
    // The char tokenizer puts the specials first: <extra_id_k> is 3 + k.
    const sentinel = (k: number) => 3 + k;
    const isSentinel = (t: number) => t >= 3 && t < 11;
    const tok = parseTokenizer(obj.files['tokenizer.json'], 'test');
    obj.fill(new Rng(7));
    for (let b = 0; b < batch; b++) {
      const src = Array.from(train.input('src_tokens').subarray(b * S, (b + 1) * S) as Int32Array);
      const tgtIn = Array.from(train.input('tgt_tokens').subarray(b * T, (b + 1) * T) as Int32Array);
      const tgt = Array.from(train.input('targets').subarray(b * T, (b + 1) * T) as Int32Array);
      expect(src.at(-1)).toBe(1); // <eos>
      expect(tgt.at(-1)).toBe(1);
      expect(tgtIn).toEqual([0, ...tgt.slice(0, -1)]); // starts from <pad>
      // Put each span back where its sentinel stands: a window of `length` tokens.
      const spans: number[][] = [];
      for (const t of tgt.slice(0, -1)) {
        if (isSentinel(t)) spans.push([]);
        else spans.at(-1)!.push(t);
      }
      expect(tgt.filter(isSentinel)).toEqual(spans.map((_, k) => sentinel(k)));
      expect(spans.at(-1)).toEqual([]); // the closing sentinel
      const restored = src.slice(0, -1).flatMap((t) => (isSentinel(t) ? spans[t - 3] : [t]));
      expect(restored.length).toBe(length);
      expect(restored.every((t) => t >= 11 || t === 1)).toBe(true);
      // The restored window is text of the corpus (documents end with <eos>).
      for (const piece of tok.decode(restored).split(/\d /)) expect(WORDS.repeat(3)).toContain(piece.replace(/^ /, ''));
    }
    const m = await obj.evaluate();
    expect(m.count).toBe(real);
    expect(m.accuracy).toBeCloseTo(right / real, 12);
    expect(m.loss).toBeCloseTo(2.5, 12);
    expect(evaluator.seen.length).toBe(2);
    obj.close();
  });

  it('denoising: <bos> noised <eos> in, <bos> original <eos> out, the decoder starting from <eos>; without noise the copy baseline is 100%', async () => {
    const specials = ['<bos>', '<pad>', '<eos>', '<unk>', '<mask>'];
    const [batch, seq] = [2, 20];
    const mk = (noise: typeof NO_NOISE) => denoiseData({ data: corpus(), tokenizer: 'char', batch, seq, tgtContext: 20, evalBatches: 1, vocab: 64, specials, noise });
    const quiet = mk(NO_NOISE);
    expect(quiet.dims).toEqual({ batch, src_seq: 20, tgt_seq: 20 });
    const train = standIn(io(batch, 20, 20), () => new Float32Array(0));
    const evaluator = standIn(io(batch, 20, 20), () => new Float32Array(batch * 20 * 64));
    const obj = await quiet.open({ train, executor: async () => evaluator, out: mkdtempSync(join(tmpdir(), 'tfm-out-')), resume: false });
    expect(obj.baseline).toMatch(/copying the noised input: 100\.00%/);
    obj.fill(new Rng(3));
    const src = Array.from(train.input('src_tokens') as Int32Array);
    const tgt = Array.from(train.input('targets') as Int32Array);
    const tgtIn = Array.from(train.input('tgt_tokens') as Int32Array);
    expect(src).toEqual(tgt);
    expect([tgt[0], tgt[19], tgtIn[0], tgtIn[20]]).toEqual([0, 2, 2, 2]);
    expect(tgtIn.slice(1, 20)).toEqual(tgt.slice(0, 19));
    // With masking, the source differs from the target at <mask> only.
    const noisy = await mk({ ...NO_NOISE, mask: 0.5 }).open({ train, executor: async () => evaluator, out: mkdtempSync(join(tmpdir(), 'tfm-out-')), resume: false });
    noisy.fill(new Rng(4));
    const src2 = Array.from(train.input('src_tokens') as Int32Array);
    const tgt2 = Array.from(train.input('targets') as Int32Array);
    expect(src2.some((t) => t === 4)).toBe(true);
    expect(src2.every((t, i) => t === tgt2[i] || t === 4)).toBe(true);
  });
});
