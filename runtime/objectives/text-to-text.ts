// Multi-task text-to-text fine-tuning (`objective text_to_text`, T5's fine-tuning): pairs of
// several tasks told apart by a prefix of the source (text/t5-tasks.ts), each training row a
// task drawn uniformly, then a pair of it, then (where several answers are right) one of its
// answers; the decoder learns the answer by teacher forcing. Validation is teacher-forced loss
// and token accuracy on fixed held-out pairs, an equal share from each task; `tfm eval` scores
// generated answers per task (exact match and token F1).
import { TfmError } from '../../common/errors.ts';
import { Rng } from '../init.ts';
import { taskPairs, type TaskPair } from '../text/t5-tasks.ts';
import type { Tokenizer, TokenizerKind } from '../text/tokenizer.ts';
import type { ObjectiveData } from './objective.ts';
import { FRAMING, seq2seqObjective, type Example } from './seq2seq.ts';
import { openTokenizer, specialId } from './tokenizer-file.ts';

export interface TextToTextOptions {
  data?: string;
  tokenizer: TokenizerKind;
  batch: number;
  srcSeq: number;
  tgtContext: number;
  evalBatches: number;
  vocab: number;
  specials: string[];
}

/** How long a decoder row is: answers are short (a definition, a word, a title). */
export const ANSWER_TOKENS = 32;

/** A pair as the model reads it: `source <eos>` (cut to fit, `<eos>` kept) and `answer <eos>`. */
export function encodePair(tok: Tokenizer, source: string, answer: string, srcSeq: number, eos: number): Example {
  return { source: [...tok.encode(source).slice(0, srcSeq - 1), eos], target: [...tok.encode(answer), eos] };
}

/** Held-out pairs for validation and evaluation: `perTask` of each task, in a fixed order. */
export function heldOutPairs(perTask: number): TaskPair[] {
  const rng = new Rng(0x7a5c);
  return [...taskPairs('heldout').values()].flatMap((pairs) => rng.shuffle(pairs.map((_, i) => i)).slice(0, perTask).map((i) => pairs[i]));
}

export function textToTextData(o: TextToTextOptions): ObjectiveData {
  if (o.data !== undefined && o.data !== 't5-tasks') throw new TfmError('TFM5006', `\`objective text_to_text\` trains on the built-in task pairs (\`--data t5-tasks\`: define, synonym, summarize); \`${o.data}\` is not supported yet`);
  const train = [...taskPairs('train').values()].filter((p) => p.length > 0);
  const tgtSeq = Math.min(o.tgtContext, ANSWER_TOKENS);
  return {
    settings: { data: 't5-tasks', tokenizer: o.tokenizer, seq: o.srcSeq },
    dims: { batch: o.batch, src_seq: o.srcSeq, tgt_seq: tgtSeq },
    async open(ctx) {
      const texts = train.flatMap((pairs) => pairs.flatMap((p) => [p.source, ...p.answers]));
      const { tok, text, folderFiles } = openTokenizer(ctx, o.tokenizer, texts, o.vocab, o.specials);
      const purpose = 'text-to-text fine-tuning';
      const eos = specialId(tok, '<eos>', purpose);
      const pad = specialId(tok, '<pad>', purpose);
      const perTask = Math.ceil((o.evalBatches * o.batch) / train.length);
      const valExamples = heldOutPairs(perTask).map((p) => encodePair(tok, p.source, p.answers[0], o.srcSeq, eos));
      return seq2seqObjective(ctx, {
        batch: o.batch,
        srcSeq: o.srcSeq,
        tgtSeq,
        pad,
        start: specialId(tok, FRAMING.text_to_text.start, purpose),
        tok,
        vocab: o.vocab,
        trainExample: (rng) => {
          const pairs = train[rng.int(train.length)];
          const p = pairs[rng.int(pairs.length)];
          return encodePair(tok, p.source, p.answers[rng.int(p.answers.length)], o.srcSeq, eos);
        },
        valExamples,
        title: `t5-tasks (${train.map((p) => `${p[0].task} ${p.length}`).join(', ')} pairs; ${tok.kind} tokens)`,
        files: { 'tokenizer.json': text },
        folderFiles,
      });
    },
  };
}
