// Text classification (`objective classify` on tokens: BERT fine-tuning): labelled sentences,
// each row `<cls> sentence <sep>` then `<pad>`, segment 0, key mask 1 on real tokens; the
// classifier reads the `<cls>` state (through the pooler). Built in: the UCI Sentiment
// Labelled Sentences (imdb, yelp, amazon: 1,000 each, half positive) shipped as the
// `sentiment` package's test fixtures; a JSON file of the same form ([{text, class}]) works
// too. Every fifth sentence is held out, the same ones every run; validation and the final
// accuracy are on all of them.
import { TfmError } from '../../common/errors.ts';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { LIMITS, readTextBounded } from '../../common/files.ts';
import type { TokenizerKind } from '../text/tokenizer.ts';
import { argmax, copyWeights, Tally, type Metrics, type ObjectiveData } from './objective.ts';
import { openTokenizer, specialId } from './tokenizer-file.ts';

export interface Sentence {
  text: string;
  label: number;
}

export const BUILT_IN_SENTENCES: Record<string, () => Sentence[]> = {
  sentiment: () => ['imdb', 'yelp', 'amazon'].flatMap((f) => parseSentences(createRequire(import.meta.url)(`sentiment/test/fixtures/${f}.json`), `sentiment:${f}`)),
};

/** The names of a built-in set's classes, by label (UCI: 0 negative, 1 positive). */
export const BUILT_IN_CLASS_NAMES: Record<string, string[]> = { sentiment: ['negative', 'positive'] };

/** `[{text, class}]`; entries with an empty text and a null class (the fixtures end with one)
 *  are dropped; any other entry must have a text and an integer class. */
export function parseSentences(json: unknown, source: string): Sentence[] {
  if (!Array.isArray(json)) throw new TfmError('TFM5011', `\`${source}\` is not a JSON array of {"text", "class"}`);
  const out: Sentence[] = [];
  json.forEach((e: { text?: unknown; class?: unknown }, k) => {
    if (e && e.text === '' && e.class === null) return;
    if (!e || typeof e.text !== 'string' || !Number.isSafeInteger(e.class) || (e.class as number) < 0) throw new TfmError('TFM5011', `\`${source}\`: entry ${k} is not {"text": string, "class": integer ≥ 0}`);
    out.push({ text: e.text.trim(), label: e.class as number });
  });
  return out;
}

export function loadSentences(source: string, classes: number): Sentence[] {
  let all: Sentence[];
  if (Object.hasOwn(BUILT_IN_SENTENCES, source)) all = BUILT_IN_SENTENCES[source]();
  else {
    const text = readTextBounded(source, LIMITS.text, 'labelled sentences');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new TfmError('TFM5011', `\`${source}\` is not JSON: ${(e as Error).message}`);
    }
    all = parseSentences(json, source);
  }
  const bad = all.findIndex((s) => s.label >= classes);
  if (bad >= 0) throw new TfmError('TFM5011', `\`${source}\`: sentence ${bad} has class ${all[bad].label}, outside the model's ${classes} classes`);
  if (all.length < 10) throw new TfmError('TFM5009', `\`${source}\` holds ${all.length} labelled sentences; at least 10 are needed (every fifth is held out)`);
  return all;
}

/** Every fifth sentence (4, 9, 14, …) is held out. */
export function splitSentences(all: Sentence[]): { train: Sentence[]; test: Sentence[] } {
  return { train: all.filter((_, k) => k % 5 !== 4), test: all.filter((_, k) => k % 5 === 4) };
}

export interface TextClassifyOptions {
  data: string;
  tokenizer: TokenizerKind;
  batch: number;
  /** Tokens per row (longer sentences are cut); undefined: the spec's context. */
  seq?: number;
  context?: number;
  vocab: number;
  specials: string[];
  classes: number;
}

export function textClassifyData(o: TextClassifyOptions): ObjectiveData {
  const all = loadSentences(o.data, o.classes);
  const { train, test } = splitSentences(all);
  const digest = createHash('sha256');
  for (const s of all) digest.update(`${s.label}:${s.text.length}:${s.text}`);
  const { batch } = o;
  // The row length needs the tokenizer, which opens with the run: fixed here from --seq or the context.
  const rowLength = o.seq ?? o.context ?? 64;
  if (rowLength < 3) throw new TfmError('TFM5008', `--seq ${rowLength}: a row needs <cls>, a token and <sep>`);
  return {
    settings: { data: digest.digest('hex'), tokenizer: o.tokenizer, seq: rowLength },
    dims: { batch, seq: rowLength },
    async open(ctx) {
      const { tok, text, folderFiles } = openTokenizer(ctx, o.tokenizer, train.map((s) => s.text), o.vocab, o.specials);
      const id = (name: string) => specialId(tok, name, 'text classification');
      const [cls, sep, pad] = [id('<cls>'), id('<sep>'), id('<pad>')];
      const seq = rowLength;
      const encode = (s: Sentence) => Int32Array.from(tok.encode(s.text).slice(0, seq - 2));
      const trainIds = train.map(encode);
      const testIds = test.map(encode);
      const truncated = [...trainIds, ...testIds].filter((t) => t.length === seq - 2).length;
      const row = (ids: Int32Array, r: number, tokens: Int32Array, mask: Float32Array) => {
        const o0 = r * seq;
        tokens.fill(pad, o0, o0 + seq);
        mask.fill(0, o0, o0 + seq);
        tokens[o0] = cls;
        tokens.set(ids, o0 + 1);
        tokens[o0 + ids.length + 1] = sep;
        mask.fill(1, o0, o0 + ids.length + 2);
      };
      const ex = ctx.train;
      const evalEx = await ctx.executor({ batch, seq });
      for (const runner of [ex, evalEx]) runner.input('segments').fill(0);
      const measure = async (): Promise<Metrics> => {
        await copyWeights(ex, evalEx);
        const tokens = evalEx.input('tokens') as Int32Array;
        const mask = evalEx.input('key_mask') as Float32Array;
        const labels = evalEx.input('labels') as Int32Array;
        let loss = 0;
        const tally = new Tally(o.classes);
        for (let start = 0; start < test.length; start += batch) {
          // A last partial batch repeats the first sentences; only the new ones are counted.
          const n = Math.min(batch, test.length - start);
          for (let b = 0; b < batch; b++) {
            const k = (start + b) % test.length;
            row(testIds[k], b, tokens, mask);
            labels[b] = test[k].label;
          }
          loss += (await evalEx.forward()) * batch;
          const logits = (await evalEx.read('logits')) as Float32Array;
          for (let b = 0; b < n; b++) tally.add(start + b, labels[b], argmax(logits, b * o.classes, o.classes));
        }
        return { loss: loss / (Math.ceil(test.length / batch) * batch), accuracy: tally.correct / tally.count, count: tally.count, confusion: tally.confusion, mistakes: tally.mistakes };
      };
      const counts = new Map<number, number>();
      for (const s of train) counts.set(s.label, (counts.get(s.label) ?? 0) + 1);
      const major = [...counts].reduce((a, b) => (b[1] > a[1] || (b[1] === a[1] && b[0] < a[0]) ? b : a))[0];
      const majorAccuracy = test.filter((s) => s.label === major).length / test.length;
      return {
        title: `${o.data} (${train.length} training, ${test.length} held-out sentences, ${tok.kind} tokens${truncated ? `, ${truncated} cut to ${seq - 2}` : ''})`,
        per: 'sentence',
        perStep: batch,
        baseline: `always class ${major}: ${(100 * majorAccuracy).toFixed(2)}%`,
        naming: 'internal',
        ...(Object.hasOwn(BUILT_IN_CLASS_NAMES, o.data) ? { classNames: BUILT_IN_CLASS_NAMES[o.data] } : {}),
        files: { 'tokenizer.json': text },
        folderFiles,
        fill(rng) {
          const tokens = ex.input('tokens') as Int32Array;
          const mask = ex.input('key_mask') as Float32Array;
          const labels = ex.input('labels') as Int32Array;
          for (let b = 0; b < batch; b++) {
            const k = rng.int(train.length);
            row(trainIds[k], b, tokens, mask);
            labels[b] = train[k].label;
          }
        },
        evaluate: measure,
        evaluateAll: measure,
        example: (index) => ({ text: test[index].text }),
        close: () => evalEx.close(),
      };
    },
  };
}
