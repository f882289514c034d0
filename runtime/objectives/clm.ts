// Next-token prediction (`objective clm`) on text: the corpus split by document, a tokenizer
// (the one a resumed run was trained with, else built from the training text), random
// windows for training, fixed consecutive windows for validation, and a greedy continuation
// of the validation text as a sample.
import { corpusDigest, loadCorpus, sampleBatch, splitDocuments, tokenStream, unigramEntropy, validationBatches } from '../text/data.ts';
import type { TokenizerKind } from '../text/tokenizer.ts';
import { argmax, copyWeights, type ObjectiveData } from './objective.ts';
import { openTokenizer } from './tokenizer-file.ts';

export interface ClmOptions {
  data: string;
  tokenizer: TokenizerKind;
  batch: number;
  seq: number;
  evalBatches: number;
  vocab: number;
  specials: string[];
  sampleTokens: number;
}

export function clmData(o: ClmOptions): ObjectiveData {
  const corpus = loadCorpus(o.data);
  const split = splitDocuments(corpus.documents);
  const { batch, seq } = o;
  return {
    settings: { data: corpusDigest(corpus), tokenizer: o.tokenizer, seq },
    dims: { batch, seq },
    async open(ctx) {
      const { tok, text, folderFiles } = openTokenizer(ctx, o.tokenizer, split.train, o.vocab, o.specials);
      const trainStream = tokenStream(split.train, tok);
      const valStream = tokenStream(split.val, tok);
      const entropy = unigramEntropy(valStream);
      const valBatches = validationBatches(valStream, batch, seq, o.evalBatches);

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
            // Logit rows are the model's vocabulary wide; the tokenizer may use fewer ids.
            ids.push(argmax(logits, (window.length - 1) * o.vocab, tok.vocabSize));
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
