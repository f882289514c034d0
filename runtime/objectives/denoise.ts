// BART pretraining by denoising (`objective denoise`): random windows of the tokenized corpus,
// each noised afresh by the spec's noises (text/denoise.ts); the encoder reads
// `<bos> noised <eos>`, the decoder reconstructs `<bos> original <eos>`, starting from `<eos>`
// as BART's does. Beside the always-guess baseline, validation reports what copying the
// noised input as the output would score, position by position.
import { TfmError } from '../../common/errors.ts';
import { Rng } from '../init.ts';
import { corpusDigest, loadCorpus, splitDocuments, tokenStream } from '../text/data.ts';
import { addNoise, type DenoiseSettings } from '../text/denoise.ts';
import type { TokenizerKind } from '../text/tokenizer.ts';
import type { ObjectiveData } from './objective.ts';
import { FRAMING, seq2seqObjective, type Example } from './seq2seq.ts';
import { openTokenizer, specialId } from './tokenizer-file.ts';

export interface DenoiseOptions {
  data: string;
  tokenizer: TokenizerKind;
  batch: number;
  /** The encoder's length (--seq, else the spec's context); windows are 2 shorter. */
  seq: number;
  /** The decoder's most: the spec's `input targets context`. */
  tgtContext: number;
  evalBatches: number;
  vocab: number;
  specials: string[];
  noise: DenoiseSettings;
}

/** The share of target positions where copying the source, token by token, would be right. */
export function copyAccuracy(examples: Example[], tgtSeq: number): number {
  let hits = 0;
  let n = 0;
  for (const e of examples)
    for (let t = 0; t < Math.min(e.target.length, tgtSeq); t++, n++) if (e.source[t] === e.target[t]) hits++;
  return hits / n;
}

export function denoiseData(o: DenoiseOptions): ObjectiveData {
  const corpus = loadCorpus(o.data);
  const split = splitDocuments(corpus.documents);
  const length = Math.min(o.seq, o.tgtContext) - 2;
  if (length < 2) throw new TfmError('TFM5008', `--seq ${o.seq}: a denoising window needs at least 4 tokens (<bos>, two tokens, <eos>)`);
  const srcSeq = o.seq;
  const tgtSeq = length + 2;
  const n = o.noise;
  return {
    settings: { data: corpusDigest(corpus), tokenizer: o.tokenizer, seq: o.seq, noise: `mask ${n.mask} delete ${n.delete} infill ${n.infill} λ ${n.poissonLambda} permute ${n.permute} rotate ${n.rotate}` },
    dims: { batch: o.batch, src_seq: srcSeq, tgt_seq: tgtSeq },
    async open(ctx) {
      const { tok, text, folderFiles } = openTokenizer(ctx, o.tokenizer, split.train, o.vocab, o.specials);
      const purpose = 'denoising';
      const [bos, eos, pad, mask] = ['<bos>', '<eos>', '<pad>', '<mask>'].map((s) => specialId(tok, s, purpose));
      const sentenceEnds = new Set(['.', '!', '?'].flatMap((p) => tok.encode(p)));
      // The stream without document markers: a window is plain text, framed by <bos> … <eos>.
      const plain = (docs: string[]) => tokenStream(docs, tok).filter((t) => t !== bos && t !== eos);
      const trainStream = plain(split.train);
      const valStream = plain(split.val);
      if (trainStream.length < length + 1 || valStream.length < length) throw new TfmError('TFM5009', `the training or validation text is shorter than one window of ${length} tokens`);
      const example = (window: Int32Array, rng: Rng): Example => {
        const original = Array.from(window);
        return { source: [bos, ...addNoise(original, n, { mask, sentenceEnds }, rng), eos], target: [bos, ...original, eos] };
      };
      const valRng = new Rng(0xba27);
      const valExamples: Example[] = [];
      for (let at = 0; valExamples.length < o.evalBatches * o.batch && at + length <= valStream.length; at += length) valExamples.push(example(valStream.subarray(at, at + length), valRng));
      return seq2seqObjective(ctx, {
        batch: o.batch,
        srcSeq,
        tgtSeq,
        pad,
        start: specialId(tok, FRAMING.denoise.start, purpose),
        tok,
        vocab: o.vocab,
        trainExample: (rng) => {
          const at = rng.int(trainStream.length - length + 1);
          return example(trainStream.subarray(at, at + length), rng);
        },
        valExamples,
        baseline: (val) => `copying the noised input: ${(100 * copyAccuracy(val, tgtSeq)).toFixed(2)}%`,
        title: `${corpus.name} (${tok.kind} tokens, denoising windows of ${length})`,
        files: { 'tokenizer.json': text },
        folderFiles,
      });
    },
  };
}
