// T5 pretraining by span corruption (`objective span_corruption`): the corpus tokenized into
// one stream (`<eos>` after each document, as T5 concatenates them), windows of the longest
// length whose corrupted input and target fit the encoder's and decoder's lengths
// (text/span-corruption.ts), each corrupted afresh; the decoder starts from `<pad>`, as T5's.
import { TfmError } from '../../common/errors.ts';
import { Rng } from '../init.ts';
import { corpusDigest, loadCorpus, splitDocuments, tokenStream } from '../text/data.ts';
import { corruptedLengths, corruptSpans, randomSpansNoiseMask, windowLength, type SpanSettings } from '../text/span-corruption.ts';
import { sentinelName, type TokenizerKind } from '../text/tokenizer.ts';
import type { ObjectiveData } from './objective.ts';
import { FRAMING, seq2seqObjective, type Example } from './seq2seq.ts';
import { openTokenizer, specialId } from './tokenizer-file.ts';

export interface SpanCorruptionOptions extends SpanSettings {
  data: string;
  tokenizer: TokenizerKind;
  batch: number;
  /** The encoder's length (--seq, else the spec's `input tokens context`). */
  srcSeq: number;
  /** The decoder's most: the spec's `input targets context`. */
  tgtContext: number;
  evalBatches: number;
  vocab: number;
  specials: string[];
  sentinels: number;
}

export function spanCorruptionData(o: SpanCorruptionOptions): ObjectiveData {
  const corpus = loadCorpus(o.data);
  const split = splitDocuments(corpus.documents);
  const length = windowLength(o.srcSeq, o.tgtContext, o);
  if (length < 2) throw new TfmError('TFM5008', `--seq ${o.srcSeq}: no window's corrupted input and target fit ${o.srcSeq} and ${o.tgtContext} tokens`);
  const c = corruptedLengths(length, o);
  if (c.spans + 1 > o.sentinels) throw new TfmError('TFM5008', `--seq ${o.srcSeq}: windows of ${length} tokens have ${c.spans} noise spans, which need ${c.spans + 1} sentinels; the vocabulary has ${o.sentinels}`);
  const srcSeq = c.input + 1;
  const tgtSeq = c.target + 1;
  return {
    settings: { data: corpusDigest(corpus), tokenizer: o.tokenizer, seq: o.srcSeq, noiseDensity: o.noiseDensity, meanSpanLength: o.meanSpanLength },
    dims: { batch: o.batch, src_seq: srcSeq, tgt_seq: tgtSeq },
    async open(ctx) {
      const { tok, text, folderFiles } = openTokenizer(ctx, o.tokenizer, split.train, o.vocab, o.specials);
      const purpose = 'span corruption';
      const eos = specialId(tok, '<eos>', purpose);
      const pad = specialId(tok, '<pad>', purpose);
      const sentinels = Array.from({ length: o.sentinels }, (_, k) => specialId(tok, sentinelName(k), purpose));
      const trainStream = tokenStream(split.train, tok);
      const valStream = tokenStream(split.val, tok);
      if (trainStream.length < length + 1 || valStream.length < length) throw new TfmError('TFM5009', `the training or validation text is shorter than one window of ${length} tokens`);
      const corrupt = (window: Int32Array, rng: Rng): Example => {
        const { input, target } = corruptSpans(window, randomSpansNoiseMask(length, o, rng), (k) => sentinels[k]);
        return { source: [...input, eos], target: [...target, eos] };
      };
      // Validation: consecutive windows from the start of the validation text, corrupted by a
      // fixed generator once.
      const valRng = new Rng(0x75c0);
      const valExamples: Example[] = [];
      for (let at = 0; valExamples.length < o.evalBatches * o.batch && at + length <= valStream.length; at += length) valExamples.push(corrupt(valStream.subarray(at, at + length), valRng));
      return seq2seqObjective(ctx, {
        batch: o.batch,
        srcSeq,
        tgtSeq,
        pad,
        start: specialId(tok, FRAMING.span_corruption.start, purpose),
        tok,
        vocab: o.vocab,
        trainExample: (rng) => {
          const at = rng.int(trainStream.length - length + 1);
          return corrupt(trainStream.subarray(at, at + length), rng);
        },
        valExamples,
        title: `${corpus.name} (${tok.kind} tokens, span corruption: windows of ${length} → ${srcSeq} in, ${tgtSeq} out)`,
        files: { 'tokenizer.json': text },
        folderFiles,
      });
    },
  };
}
