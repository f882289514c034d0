// What every encoder-decoder objective shares (span corruption, denoising): rows of a source
// (encoder input, padded, with a key mask) and a target, fed to the decoder by teacher forcing
// — its input is the target shifted right behind a start token — with the loss on the real
// target tokens only. Validation is a fixed set of examples drawn once from the validation
// text: the loss per target token and the share of target tokens predicted right, against a
// unigram model of target tokens fit on training examples (the best context-free loss).
import { TfmError } from '../../common/errors.ts';
import type { ModelRunner } from '../executor.ts';
import { Rng } from '../init.ts';
import { IGNORE_INDEX } from '../text/mlm.ts';
import type { Tokenizer } from '../text/tokenizer.ts';
import { argmax, copyWeights, type Metrics, type Objective, type OpenContext } from './objective.ts';

export interface Example {
  /** Encoder input, `<eos>` included. */
  source: number[];
  /** What the decoder must produce, `<eos>` included. */
  target: number[];
}

/** How each encoder-decoder objective frames its text, which `tfm generate` follows: T5 (span
 *  corruption) reads `text <eos>` and its decoder starts from `<pad>`; BART (denoising)
 *  reads `<bos> text <eos>` and its decoder starts from `<eos>`. */
export const FRAMING = {
  span_corruption: { bos: false, start: '<pad>' },
  denoise: { bos: true, start: '<eos>' },
  /** T5's fine-tuning reads and starts as its pretraining does. */
  text_to_text: { bos: false, start: '<pad>' },
} as const;

export interface Seq2SeqRows {
  batch: number;
  srcSeq: number;
  tgtSeq: number;
  pad: number;
  /** The decoder's first input (T5: `<pad>`; BART: `<eos>`). */
  start: number;
}

/** Writes each row's source (cut to fit) into `src_tokens`, right-padded, and its key mask
 *  where the model takes one (a model without a padding mask does not). */
export function fillSources(runner: Pick<ModelRunner, 'input' | 'hasInput'>, rows: Pick<Seq2SeqRows, 'batch' | 'srcSeq' | 'pad'>, sourceOf: (row: number) => number[]): void {
  const { batch, srcSeq, pad } = rows;
  const src = runner.input('src_tokens') as Int32Array;
  const mask = runner.hasInput('src_key_mask') ? (runner.input('src_key_mask') as Float32Array) : undefined;
  src.fill(pad);
  mask?.fill(0);
  for (let b = 0; b < batch; b++) {
    const s = sourceOf(b).slice(0, srcSeq);
    src.set(s, b * srcSeq);
    mask?.fill(1, b * srcSeq, b * srcSeq + s.length);
  }
}

/** Writes examples into the model's inputs: right-padded sources with their key mask, the
 *  decoder's inputs and the targets (IGNORE_INDEX past each target's end). Longer sources or
 *  targets are cut to fit. */
export function fillRows(runner: Pick<ModelRunner, 'input' | 'hasInput'>, rows: Seq2SeqRows, examples: Example[]): void {
  const { batch, tgtSeq, pad, start } = rows;
  fillSources(runner, rows, (b) => examples[b].source);
  const tgt = runner.input('tgt_tokens') as Int32Array;
  const targets = runner.input('targets') as Int32Array;
  tgt.fill(pad);
  targets.fill(IGNORE_INDEX);
  for (let b = 0; b < batch; b++) {
    const e = examples[b];
    const m = Math.min(e.target.length, tgtSeq);
    for (let t = 0; t < m; t++) {
      tgt[b * tgtSeq + t] = t === 0 ? start : e.target[t - 1];
      targets[b * tgtSeq + t] = e.target[t];
    }
  }
}

export interface Seq2SeqSpec extends Seq2SeqRows {
  tok: Tokenizer;
  vocab: number;
  /** The next training example, drawn by `rng`. */
  trainExample(rng: Rng): Example;
  /** The fixed validation examples. */
  valExamples: Example[];
  title: string;
  /** A baseline accuracy to print beside validation's (e.g. copying the source). */
  baseline?: (val: Example[]) => string;
  files: Record<string, string>;
  folderFiles: Record<string, string>;
}

/** The unigram model of target tokens fit on `count` training examples (add-one smoothed):
 *  its loss on the validation targets, and the accuracy of always guessing its top token. */
export function targetUnigram(spec: Seq2SeqSpec, count: number): { loss: number; top: number; topAccuracy: number } {
  const rng = new Rng(0x0516);
  const counts = new Map<number, number>();
  let total = 0;
  for (let k = 0; k < count; k++)
    for (const t of spec.trainExample(rng).target.slice(0, spec.tgtSeq)) {
      counts.set(t, (counts.get(t) ?? 0) + 1);
      total++;
    }
  let loss = 0;
  let n = 0;
  let top = -1;
  for (const [t, c] of counts) if (top < 0 || c > counts.get(top)! || (c === counts.get(top)! && t < top)) top = t;
  let hits = 0;
  for (const e of spec.valExamples)
    for (const t of e.target.slice(0, spec.tgtSeq)) {
      loss -= Math.log(((counts.get(t) ?? 0) + 1) / (total + spec.tok.vocabSize));
      n++;
      if (t === top) hits++;
    }
  return { loss: loss / n, top, topAccuracy: hits / n };
}

/** The objective over an encoder-decoder's training executor. */
export async function seq2seqObjective(ctx: OpenContext, spec: Seq2SeqSpec): Promise<Objective> {
  const { batch, tok } = spec;
  if (spec.valExamples.length < batch) throw new TfmError('TFM5009', `the validation text gives ${spec.valExamples.length} examples, fewer than one batch of ${batch}`);
  const valBatches: Example[][] = [];
  for (let k = 0; k + batch <= spec.valExamples.length; k += batch) valBatches.push(spec.valExamples.slice(k, k + batch));
  const uni = targetUnigram(spec, 64 * batch);
  const ex = ctx.train;
  const evalEx = await ctx.executor({ batch, src_seq: spec.srcSeq, tgt_seq: spec.tgtSeq });
  const work: Example[] = new Array(batch);
  const evaluate = async (): Promise<Metrics & { predicted: number[][] }> => {
    await copyWeights(ex, evalEx);
    let loss = 0;
    let correct = 0;
    let count = 0;
    const predicted: number[][] = [];
    for (const rows of valBatches) {
      fillRows(evalEx, spec, rows);
      const targets = evalEx.input('targets') as Int32Array;
      const n = targets.reduce((a, t) => a + (t !== IGNORE_INDEX ? 1 : 0), 0);
      // The loss is the mean over the batch's real target tokens: weighted back to a sum.
      loss += (await evalEx.forward()) * n;
      const logits = (await evalEx.read('logits')) as Float32Array;
      for (let b = 0; b < batch; b++) {
        const row: number[] = [];
        for (let t = 0; t < spec.tgtSeq; t++) {
          const p = b * spec.tgtSeq + t;
          if (targets[p] === IGNORE_INDEX) break;
          const guess = argmax(logits, p * spec.vocab, tok.vocabSize);
          row.push(guess);
          if (guess === targets[p]) correct++;
        }
        if (predicted.length < 1) predicted.push(row);
      }
      count += n;
    }
    return { loss: loss / count, accuracy: correct / count, count, predicted };
  };
  let last: number[][] | undefined;
  const show = (ids: number[]) => JSON.stringify(tok.decode(ids));
  return {
    title: spec.title,
    per: 'token',
    perStep: batch * spec.tgtSeq,
    reference: { label: `unigram model of targets ${uni.loss.toFixed(3)}`, value: uni.loss },
    baseline: [`always guessing ${show([uni.top])}: ${(100 * uni.topAccuracy).toFixed(2)}%`, ...(spec.baseline ? [spec.baseline(spec.valExamples)] : [])].join('; '),
    naming: 'internal',
    files: spec.files,
    folderFiles: spec.folderFiles,
    fill(rng) {
      for (let b = 0; b < batch; b++) work[b] = spec.trainExample(rng);
      fillRows(ex, spec, work);
    },
    evaluate: async () => {
      const { predicted, ...m } = await evaluate();
      last = predicted;
      return m;
    },
    /** The first validation example's target and the model's teacher-forced guess of each of its tokens. */
    async sample() {
      const predicted = last ?? (await evaluate()).predicted;
      const first = (ids: number[]) => `${show(ids.slice(0, 24))}${ids.length > 24 ? '…' : ''}`;
      return `target ${first(spec.valExamples[0].target)}, predicted ${first(predicted[0])} (each token given the true ones before it)`;
    },
    close: () => evalEx.close(),
  };
}
