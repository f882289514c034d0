// Masked-language-model pretraining (`objective mlm`, BERT): each row is a sentence pair
// `<cls> A <sep> B <sep>` from one document (text/pairs.ts: B is A's continuation, no
// next-sentence task), padded, with segment ids and a key mask; round(mask_prob · n) of its
// n ordinary tokens are chosen and masked 80/10/10 (text/mlm.ts), and the loss is taken on
// the chosen positions only. Validation is a fixed set of such batches drawn once from the
// validation documents: its loss per chosen token and masked-token accuracy, against two
// baselines that ignore context — the loss of a unigram model fit on the training text, and
// the accuracy of always guessing the most frequent training token.
import { TfmError } from '../../common/errors.ts';
import { Rng } from '../init.ts';
import { corpusDigest, loadCorpus, splitDocuments } from '../text/data.ts';
import { gatherTargets, IGNORE_INDEX, maxPicks, mlmMasker } from '../text/mlm.ts';
import { pairBatch, type PairBatch, type PairSettings } from '../text/pairs.ts';
import type { TokenizerKind } from '../text/tokenizer.ts';
import { argmax, copyWeights, type ObjectiveData } from './objective.ts';
import { openTokenizer, specialId } from './tokenizer-file.ts';

export interface MlmOptions {
  data: string;
  tokenizer: TokenizerKind;
  batch: number;
  seq: number;
  evalBatches: number;
  vocab: number;
  specials: string[];
  maskProb: number;
  split: [number, number, number];
}

interface Batch extends PairBatch {
  input: Int32Array;
  targets: Int32Array;
}

const newBatch = (n: number): Batch => ({ tokens: new Int32Array(n), segments: new Int32Array(n), keyMask: new Float32Array(n), input: new Int32Array(n), targets: new Int32Array(n) });

export function mlmData(o: MlmOptions): ObjectiveData {
  const corpus = loadCorpus(o.data);
  const split = splitDocuments(corpus.documents);
  const { batch, seq } = o;
  if (seq < 5) throw new TfmError('TFM5008', `--seq ${seq}: a sentence-pair row needs at least 5 tokens (<cls> A <sep> B <sep>)`);
  // The training graph gathers each row's chosen positions before the output layer.
  const picks = maxPicks(o.maskProb, seq);
  return {
    settings: { data: corpusDigest(corpus), tokenizer: o.tokenizer, seq, maskProb: o.maskProb, maskSplit: o.split.join('/') },
    dims: { batch, seq, picks },
    async open(ctx) {
      const { tok, text, folderFiles } = openTokenizer(ctx, o.tokenizer, split.train, o.vocab, o.specials);
      const id = (name: string) => specialId(tok, name, 'masked-LM pretraining');
      const special = new Set(tok.specials.values());
      const ends = new Set(['.', '!', '?'].flatMap((p) => tok.encode(p)));
      const pairs: PairSettings = { seq, cls: id('<cls>'), sep: id('<sep>'), pad: id('<pad>'), sentenceEnds: ends };
      const masker = mlmMasker({ maskProb: o.maskProb, split: o.split, maskId: id('<mask>'), special, vocab: tok.vocabSize });
      const encode = (docs: string[]) => docs.map((d) => Int32Array.from(tok.encode(d)));
      const trainDocs = encode(split.train);
      const valDocs = encode(split.val);
      if (!trainDocs.some((d) => d.length >= 2) || !valDocs.some((d) => d.length >= 2)) throw new TfmError('TFM5009', 'the training or validation text has no document of two tokens or more');

      // The validation batches, drawn once with a fixed generator: the same every time.
      const valRng = new Rng(0x7a11d);
      const valBatches = Array.from({ length: o.evalBatches }, () => {
        const b = newBatch(batch * seq);
        pairBatch(valDocs, pairs, valRng, b);
        masker.batch(b.tokens, seq, valRng, b.input, b.targets);
        return b;
      });
      // Baselines that ignore context, from token counts: the most frequent ordinary training
      // token, guessed everywhere, and the entropy of the chosen validation tokens.
      const counts = new Map<number, number>();
      for (const d of trainDocs) for (const t of d) if (!special.has(t)) counts.set(t, (counts.get(t) ?? 0) + 1);
      const top = [...counts].reduce((a, b) => (b[1] > a[1] || (b[1] === a[1] && b[0] < a[0]) ? b : a), [-1, 0])[0];
      const chosen = new Map<number, number>();
      let nChosen = 0;
      for (const b of valBatches)
        for (const t of b.targets)
          if (t !== IGNORE_INDEX) {
            chosen.set(t, (chosen.get(t) ?? 0) + 1);
            nChosen++;
          }
      // The loss of a unigram model fit on the training text (add-one smoothed), on the chosen
      // validation tokens: the plug-in entropy of a few thousand validation tokens would be
      // biased far below it.
      let total = 0;
      for (const c of counts.values()) total += c;
      let unigram = 0;
      for (const [t, c] of chosen) unigram -= c * Math.log(((counts.get(t) ?? 0) + 1) / (total + tok.vocabSize));
      unigram /= nChosen;
      const topAccuracy = (chosen.get(top) ?? 0) / nChosen;

      const ex = ctx.train;
      const evalEx = await ctx.executor({ batch, seq });
      const work = newBatch(batch * seq);
      const positions = new Int32Array(batch * picks);
      const picked = new Int32Array(batch * picks);
      const set = (runner: typeof ex, b: Batch) => {
        runner.input('tokens').set(b.input);
        runner.input('segments').set(b.segments);
        runner.input('key_mask').set(b.keyMask);
      };
      return {
        title: `${corpus.name} (${tok.kind} tokens, masked LM)`,
        per: 'token',
        perStep: batch * seq,
        reference: { label: `unigram model ${unigram.toFixed(3)}`, value: unigram },
        baseline: `always guessing ${JSON.stringify(tok.decode([top]))}: ${(100 * topAccuracy).toFixed(2)}%`,
        naming: 'internal',
        files: { 'tokenizer.json': text },
        folderFiles,
        fill(rng) {
          pairBatch(trainDocs, pairs, rng, work);
          masker.batch(work.tokens, seq, rng, work.input, work.targets);
          set(ex, work);
          gatherTargets(work.targets, seq, picks, positions, picked);
          ex.input('mlm_positions').set(positions);
          ex.input('targets').set(picked);
        },
        async evaluate() {
          await copyWeights(ex, evalEx);
          let loss = 0;
          let correct = 0;
          let count = 0;
          for (const b of valBatches) {
            set(evalEx, b);
            // The evaluation graph computes logits at every position (targets elsewhere ignored).
            evalEx.input('targets').set(b.targets);
            // The loss is the mean over the batch's chosen positions: weighted back to a sum.
            const n = b.targets.reduce((a, t) => a + (t !== IGNORE_INDEX ? 1 : 0), 0);
            loss += (await evalEx.forward()) * n;
            const logits = (await evalEx.read('logits')) as Float32Array;
            for (let p = 0; p < b.targets.length; p++) if (b.targets[p] !== IGNORE_INDEX && argmax(logits, p * o.vocab, tok.vocabSize) === b.targets[p]) correct++;
            count += n;
          }
          return { loss: loss / count, accuracy: correct / count, count };
        },
        close: () => evalEx.close(),
      };
    },
  };
}
