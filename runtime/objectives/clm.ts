// Next-token prediction (`objective clm`) on text: the corpus split by document, a tokenizer
// (the one a resumed run was trained with, else built from the training text), random
// windows for training, fixed consecutive windows for validation, and a greedy continuation
// of the validation text as a sample.
import { TfmError } from '../../common/errors.ts';
import { exists, LIMITS, readTextBounded } from '../../common/files.ts';
import { join } from 'node:path';
import { corpusDigest, loadCorpus, sampleBatch, splitDocuments, tokenStream, unigramEntropy, validationBatches } from '../text/data.ts';
import { bertTokenizer, bpeTokenizer, charTokenizer, gpt2Tokenizer, tokenizerFromJSON, TokenizerError, type Tokenizer, type TokenizerKind } from '../text/tokenizer.ts';
import { copyWeights, type ObjectiveData } from './objective.ts';

export interface ClmOptions {
  data: string;
  tokenizer: TokenizerKind;
  batch: number;
  seq: number;
  evalBatches: number;
  vocab: number;
  specials: string[];
  sampleTokens: number;
  log: (line: string) => void;
}

function buildTokenizer(kind: TokenizerKind, train: string[], vocab: number, specials: string[]): Tokenizer {
  switch (kind) {
    case 'gpt2':
      return gpt2Tokenizer();
    case 'bert':
      return bertTokenizer(specials);
    case 'bpe':
      return bpeTokenizer(train, vocab, specials);
    case 'char':
      return charTokenizer(train, vocab, specials);
  }
}

export function clmData(o: ClmOptions): ObjectiveData {
  const corpus = loadCorpus(o.data);
  const split = splitDocuments(corpus.documents);
  const { batch, seq } = o;
  return {
    settings: { data: corpusDigest(corpus), tokenizer: o.tokenizer, seq },
    dims: { batch, seq },
    async open(ctx) {
      // Tokenizer: the one the checkpoint was trained with; else the run folder's (a run
      // stopped before its first checkpoint, or an older checkpoint); else built from the
      // training text.
      const tokPath = join(ctx.out, 'tokenizer.json');
      const onDisk = exists(tokPath) ? readTextBounded(tokPath, LIMITS.tokenizer, 'tokenizer') : undefined;
      let tokText = ctx.checkpoint?.files['tokenizer.json'];
      if (tokText !== undefined && onDisk !== undefined && onDisk !== tokText) {
        throw new TfmError('TFM5013', `\`${tokPath}\` differs from the tokenizer checkpoint \`${ctx.checkpoint!.name}\` was trained with (recorded in its state.json): restore it from \`${join(ctx.out, ctx.checkpoint!.name, 'tokenizer.json')}\``);
      }
      if (tokText === undefined && ctx.resume) tokText = onDisk;
      let tok: Tokenizer;
      if (tokText !== undefined) {
        try {
          tok = tokenizerFromJSON(JSON.parse(tokText));
        } catch (e) {
          throw new TfmError('TFM5011', `\`${tokPath}\` is not a valid tokenizer: ${(e as Error).message}`);
        }
      } else {
        try {
          tok = buildTokenizer(o.tokenizer, split.train, o.vocab, o.specials);
        } catch (e) {
          if (e instanceof TokenizerError) throw new TfmError('TFM5014', `cannot build the ${o.tokenizer} tokenizer: ${e.message}`);
          throw e;
        }
        tokText = JSON.stringify(tok.toJSON()) + '\n';
      }
      if (tok.vocabSize > o.vocab) throw new TfmError('TFM5014', `the ${tok.kind} tokenizer has ${tok.vocabSize} tokens but the spec's vocabulary is ${o.vocab}: use a larger \`vocab\` or another --tokenizer`);
      const trainStream = tokenStream(split.train, tok);
      const valStream = tokenStream(split.val, tok);
      const entropy = unigramEntropy(valStream);
      const valBatches = validationBatches(valStream, batch, seq, o.evalBatches);
      const text = tokText;
      const folderFiles: Record<string, string> = onDisk !== text ? { 'tokenizer.json': text } : {};

      const evalEx = await ctx.executor({ batch, seq });
      const sampler = await ctx.executor({ batch: 1, seq });
      const ex = ctx.train;
      const tokens = ex.input('tokens') as Int32Array;
      const targets = ex.input('targets') as Int32Array;
      return {
        title: `${corpus.name} (${tok.kind} tokens)`,
        per: 'token',
        perStep: batch * seq,
        reference: { label: `unigram entropy ${entropy.toFixed(3)}`, value: entropy },
        naming: 'hf-gpt2',
        files: { 'tokenizer.json': text },
        fill: (rng) => sampleBatch(trainStream, batch, seq, rng, tokens, targets),
        async evaluate() {
          await copyWeights(ex, evalEx);
          let total = 0;
          for (const b of valBatches) {
            evalEx.input('tokens').set(b.tokens);
            evalEx.input('targets').set(b.targets);
            total += await evalEx.forward();
          }
          return { loss: total / valBatches.length, count: valBatches.length * batch * seq };
        },
        /** Greedy continuation of the start of the validation text (argmax at the last position). */
        async sample() {
          await copyWeights(ex, sampler);
          const ids = Array.from(valStream.subarray(0, Math.min(16, valStream.length)));
          const prompt = ids.length;
          const input = sampler.input('tokens') as Int32Array;
          (sampler.input('targets') as Int32Array).fill(-100);
          for (let k = 0; k < o.sampleTokens; k++) {
            const window = ids.slice(-seq);
            input.fill(0);
            input.set(window);
            await sampler.forward();
            const logits = (await sampler.read('logits')) as Float32Array;
            const row = logits.subarray((window.length - 1) * tok.vocabSize, window.length * tok.vocabSize);
            let best = 0;
            for (let c = 1; c < tok.vocabSize; c++) if (row[c] > row[best]) best = c;
            ids.push(best);
          }
          return `${tok.decode(ids.slice(0, prompt))}⟨${tok.decode(ids.slice(prompt))}⟩`;
        },
        close() {
          evalEx.close();
          sampler.close();
        },
        // The run folder keeps the tokenizer even before its first checkpoint.
        folderFiles,
      };
    },
  };
}
