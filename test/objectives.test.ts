// The objectives' data pipelines (runtime/objectives/), run against a stand-in executor that
// records its inputs and answers with logits the test controls: what a training batch puts in
// each input, and that validation counts exactly what it claims (loss per chosen token,
// masked-token accuracy), for masked-LM pretraining and image classification.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../runtime/init.ts';
import { imageClassifyData } from '../runtime/objectives/classify-image.ts';
import { mlmData } from '../runtime/objectives/mlm.ts';
import { loadSentences, parseSentences, splitSentences, textClassifyData } from '../runtime/objectives/classify-text.ts';
import { TfmError } from '../common/errors.ts';
import { IGNORE_INDEX, maxPicks } from '../runtime/text/mlm.ts';
import { imageFolder } from './support/images.ts';
import { standIn } from './support/stand-in.ts';

const WORDS = 'the whale swam under the grey sea. ishmael watched the ship! did ahab see it? the crew sang and the sails rose';

describe('masked-LM objective', () => {
  it('a training batch: <cls> A <sep> B <sep> rows, targets only at chosen ordinary tokens, inputs masked 80/10/10 from them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tfm-mlm-'));
    for (let k = 0; k < 12; k++) writeFileSync(join(dir, `doc${k}.txt`), `${WORDS} ${k} `.repeat(6));
    const [batch, seq] = [4, 24];
    const data = mlmData({ data: dir, tokenizer: 'bert', batch, seq, evalBatches: 3, vocab: 30522, specials: ['<pad>', '<unk>', '<cls>', '<sep>', '<mask>'], maskProb: 0.15, split: [0.8, 0.1, 0.1] });
    const n = batch * seq;
    const io = () => ({ tokens: new Int32Array(n), segments: new Int32Array(n), key_mask: new Float32Array(n), targets: new Int32Array(n) });
    // The training graph takes the chosen positions gathered: maxPicks(0.15, 24) = 4 per row.
    const picks = maxPicks(0.15, seq);
    const train = standIn({ ...io(), mlm_positions: new Int32Array(batch * picks), targets: new Int32Array(batch * picks) }, () => new Float32Array(batch * picks * 30522));
    // Logits that are right at every other chosen position (by order), wrong elsewhere.
    let right = 0;
    let chosen = 0;
    const evaluator = standIn(io(), (inp) => {
      const out = new Float32Array(n * 30522);
      const t = inp.targets as Int32Array;
      for (let p = 0; p < n; p++) {
        if (t[p] === IGNORE_INDEX) continue;
        const guess = chosen++ % 2 === 0 ? t[p] : (t[p] + 1) % 30522;
        if (guess === t[p]) right++;
        out[p * 30522 + guess] = 1;
      }
      return out;
    });
    const task = await data.open({ train, executor: async () => evaluator, out: join(dir, 'run'), resume: false });
    const rng = new Rng(Math.floor(Math.random() * 2 ** 31));
    task.fill(rng);
    const [tokens, segments, mask, positions, gathered] = ['tokens', 'segments', 'key_mask', 'mlm_positions', 'targets'].map((k) => train.input(k));
    // Back to a target per position; the gathered positions come in order, then (0, ignored).
    const targets = new Int32Array(n).fill(IGNORE_INDEX);
    for (let r = 0; r < batch; r++) {
      const row = Array.from(positions.subarray(r * picks, (r + 1) * picks));
      const used = Array.from(gathered.subarray(r * picks, (r + 1) * picks)).filter((t) => t !== IGNORE_INDEX).length;
      expect(row.slice(0, used)).toEqual([...row.slice(0, used)].sort((a, b) => a - b));
      expect(row.slice(used).every((p) => p === 0)).toBe(true);
      for (let j = 0; j < used; j++) targets[r * seq + row[j]] = gathered[r * picks + j];
    }
    const [PAD, CLS, SEP, MASK] = [0, 101, 102, 103];
    for (let r = 0; r < batch; r++) {
      const row = Array.from(tokens.subarray(r * seq, (r + 1) * seq));
      const tg = Array.from(targets.subarray(r * seq, (r + 1) * seq));
      expect(row[0]).toBe(CLS);
      const real = Array.from(mask.subarray(r * seq, (r + 1) * seq)).filter((x) => x === 1).length;
      expect(row[real - 1]).toBe(SEP);
      expect(row.slice(real).every((t) => t === PAD)).toBe(true);
      const picked = tg.flatMap((t, p) => (t === IGNORE_INDEX ? [] : [p]));
      // round(15%) of the ordinary tokens (all but <cls>, two <sep>s and padding).
      expect(picked.length).toBe(Math.max(1, Math.round(0.15 * (real - 3))));
      for (const p of picked) {
        expect([CLS, SEP, PAD, MASK]).not.toContain(tg[p]);
        expect(mask[r * seq + p]).toBe(1);
      }
      for (let p = 0; p < seq; p++) if (tg[p] === IGNORE_INDEX) expect(row[p] === MASK).toBe(false);
      const seg = Array.from(segments.subarray(r * seq, (r + 1) * seq));
      expect(seg.slice(real).every((s) => s === 0)).toBe(true);
      expect(seg[0]).toBe(0);
      expect(seg[real - 1]).toBe(1);
    }
    // Validation: the same batches every time; accuracy counts exactly the right guesses.
    const m1 = await task.evaluate();
    expect(m1.count).toBe(chosen);
    expect(m1.accuracy).toBe(right / chosen);
    expect(m1.loss).toBeCloseTo(1.5, 12);
    const first = evaluator.seen.map((s) => Array.from(s.tokens));
    await task.evaluate();
    expect(evaluator.seen.slice(3).map((s) => Array.from(s.tokens))).toEqual(first);
    expect(task.reference!.value).toBeGreaterThan(0);
    expect(task.baseline).toMatch(/^always guessing "the": \d+\.\d\d%$/);
  });
});

describe('image-classification objective', () => {
  it('validation: accuracy over exactly the held-out images asked for, the wrapped last batch not counted twice', async () => {
    const f = imageFolder(10, 7, 28, 28);
    const batch = 3;
    const data = imageClassifyData({ data: f.dir, batch, evalBatches: 2, image: { channels: 1, height: 28, width: 28 }, classes: 10 });
    const io = () => ({ image: new Float32Array(batch * 784), labels: new Int32Array(batch) });
    // Right exactly for labels below 5.
    const evaluator = standIn(io(), (inp) => {
      const out = new Float32Array(batch * 10);
      const l = inp.labels as Int32Array;
      for (let b = 0; b < batch; b++) out[b * 10 + (l[b] < 5 ? l[b] : (l[b] + 1) % 10)] = 1;
      return out;
    });
    const task = await data.open({ train: standIn(io(), () => new Float32Array(0)), executor: async () => evaluator, out: join(f.dir, 'run'), resume: false });
    const val = await task.evaluate();
    expect(val.count).toBe(6);
    expect(val.accuracy).toBe(Array.from(f.testLabels.subarray(0, 6)).filter((l) => l < 5).length / 6);
    const all = await task.evaluateAll!();
    expect(all.count).toBe(7);
    expect(all.accuracy).toBe(Array.from(f.testLabels).filter((l) => l < 5).length / 7);
  });
});

describe('text-classification objective', () => {
  it('the sentiment sentences: 3,000 from imdb, yelp and amazon, half positive; every fifth held out', () => {
    const all = loadSentences('sentiment', 2);
    expect(all.length).toBe(3000);
    expect(all.filter((s) => s.label === 1).length).toBe(1500);
    expect(all[0]).toEqual({ text: 'A very, very, very slow-moving, aimless movie about a distressed, drifting young man.', label: 0 });
    const { train, test } = splitSentences(all);
    expect([train.length, test.length]).toEqual([2400, 600]);
    expect(test[0]).toBe(all[4]);
    expect(test[1]).toBe(all[9]);
  });

  it('refuses entries that are not {text, class}, and classes outside the model', () => {
    expect(parseSentences([{ text: 'a', class: 1 }, { text: '', class: null }], 'x')).toEqual([{ text: 'a', label: 1 }]);
    const bad = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e instanceof TfmError ? `${e.code}: ${e.message}` : String(e);
      }
      return 'no error';
    };
    expect(bad(() => parseSentences([{ text: 'a', class: 1.5 }], 'x'))).toMatch(/^TFM5011: `x`: entry 0 is not/);
    expect(bad(() => parseSentences({ text: 'a' }, 'x'))).toMatch(/^TFM5011: `x` is not a JSON array/);
    expect(bad(() => loadSentences('sentiment', 1))).toMatch(/^TFM5011: `sentiment`: sentence \d+ has class 1, outside the model's 1 classes/);
  });

  it('a batch: <cls> sentence <sep> then padding, segment 0, the mask on real tokens; validation counts each held-out sentence once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tfm-cls-'));
    const sentences = Array.from({ length: 23 }, (_, k) => ({ text: `the ship ${k % 2 ? 'sank' : 'sailed'} far ${'away '.repeat(k % 4)}`, class: k % 2 }));
    writeFileSync(join(dir, 'data.json'), JSON.stringify(sentences));
    const [batch, seq] = [4, 8];
    const data = textClassifyData({ data: join(dir, 'data.json'), tokenizer: 'bert', batch, seq, vocab: 30522, specials: ['<pad>', '<unk>', '<cls>', '<sep>', '<mask>'], classes: 2 });
    const io = () => ({ tokens: new Int32Array(batch * seq), segments: Int32Array.from({ length: batch * seq }, () => 7), key_mask: new Float32Array(batch * seq), labels: new Int32Array(batch) });
    const train = standIn(io(), () => new Float32Array(0));
    // Always class 1: right exactly for the held-out sentences of class 1.
    const evaluator = standIn(io(), () => Float32Array.from({ length: batch * 2 }, (_, k) => k % 2));
    const task = await data.open({ train, executor: async () => evaluator, out: join(dir, 'run'), resume: false });
    task.fill(new Rng(Math.floor(Math.random() * 2 ** 31)));
    const [tokens, segments, mask] = ['tokens', 'segments', 'key_mask'].map((k) => Array.from(train.input(k)));
    expect(segments.every((x) => x === 0)).toBe(true);
    for (let r = 0; r < batch; r++) {
      const row = tokens.slice(r * seq, (r + 1) * seq);
      const real = mask.slice(r * seq, (r + 1) * seq).filter((x) => x === 1).length;
      expect(row[0]).toBe(101);
      expect(row[real - 1]).toBe(102);
      expect(row.slice(real).every((t) => t === 0)).toBe(true);
      expect(real).toBeLessThanOrEqual(seq);
    }
    const held = sentences.filter((_, k) => k % 5 === 4);
    const m = await task.evaluate();
    expect(m.count).toBe(held.length);
    expect(m.accuracy).toBe(held.filter((s) => s.class === 1).length / held.length);
    expect(task.baseline).toMatch(/^always class [01]: \d+\.\d\d%$/);
  });
});
