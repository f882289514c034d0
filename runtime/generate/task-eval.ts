// Scores a text-to-text model's generated answers per task: greedy decoding of held-out pairs
// (a batch at a time, by any next-token scorer: cached or recomputed), each answer against
// every right one by SQuAD's exact match and token F1 (text/t5-tasks.ts).
import { encodePair } from '../objectives/text-to-text.ts';
import type { Seq2SeqRows } from '../objectives/seq2seq.ts';
import { scoreAnswer, type TaskPair } from '../text/t5-tasks.ts';
import type { Tokenizer } from '../text/tokenizer.ts';
import { greedy, type NextLogits } from './beam.ts';

export interface TaskScore {
  task: string;
  count: number;
  /** Means over the task's pairs, in [0, 1]. */
  exact: number;
  f1: number;
  /** The first few pairs with what the model answered. */
  examples: { source: string; answers: string[]; predicted: string }[];
}

/** `scorer(sourceOf)`: next-token logits for rows whose sources are `sourceOf(row)`. */
export async function scoreTasks(scorer: (sourceOf: (row: number) => number[]) => Promise<NextLogits>, tok: Tokenizer, pairs: TaskPair[], rows: Seq2SeqRows & { width: number }, onBatch?: (done: number) => void): Promise<TaskScore[]> {
  const eos = tok.specials.get('<eos>')!;
  const byTask = new Map<string, TaskScore>();
  for (let at = 0; at < pairs.length; at += rows.batch) {
    const part = pairs.slice(at, at + rows.batch);
    const sources = part.map((p) => encodePair(tok, p.source, '', rows.srcSeq, eos).source);
    const answers = await greedy(await scorer((r) => sources[r] ?? sources[0]), part.length, { maxTokens: rows.tgtSeq, eos, width: rows.width, vocab: tok.vocabSize });
    part.forEach((p, k) => {
      const predicted = tok.decode(answers[k].filter((t) => t !== eos));
      const s = scoreAnswer(predicted, p.answers);
      const row = byTask.get(p.task) ?? { task: p.task, count: 0, exact: 0, f1: 0, examples: [] };
      row.count++;
      row.exact += s.exact;
      row.f1 += s.f1;
      if (row.examples.length < 5) row.examples.push({ source: p.source.slice(0, 120), answers: p.answers.slice(0, 5), predicted });
      byTask.set(p.task, row);
    });
    onBatch?.(at + part.length);
  }
  return [...byTask.values()].map((r) => ({ ...r, exact: r.exact / r.count, f1: r.f1 / r.count }));
}
