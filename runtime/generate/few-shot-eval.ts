// `tfm eval --few-shot`: GPT-3's comparison of zero-, one- and few-shot prompting of a
// decoder that is not updated. For each task, a fixed sample of held-out queries is asked with
// k examples drawn from the task's training pairs (per query, seeded), greedy decoding runs to
// the end of the answer's line, and the answer counts when it equals the expected one after
// normalisation (few-shot.ts `normalise`).
import type { ModelRunner } from '../executor.ts';
import { Rng } from '../init.ts';
import type { Tokenizer } from '../text/tokenizer.ts';
import { answerOf, drawExamples, fewShotPrompt, normalise, type Pair } from './few-shot.ts';
import { generateWithCache, prefillLength } from './generate.ts';

export interface FewShotTask {
  name: string;
  description?: string;
  /** Where examples are drawn from. */
  train: Pair[];
  /** Where queries are drawn from. */
  heldout: Pair[];
}

export interface FewShotRow {
  task: string;
  shots: number;
  correct: number;
  queries: number;
  /** Prompts longer than the context (their oldest tokens were cut). */
  cut: number;
  /** The first few answers, for the report. */
  samples: { query: string; expected: string; answer: string }[];
}

export interface FewShotOptions {
  shots: number[];
  /** Held-out queries per task (fewer when the task has fewer). */
  queries: number;
  batch: number;
  seed: number;
  context: number;
  vocab: number;
  /** With the task description as the prompt's first line (GPT-3's setting), or without. */
  describe: boolean;
}

/**
 * Accuracy of each task at each number of shots. `runner(dims)` makes an executor of the
 * model's inference program with a key/value cache ({batch, seq, ctx}); its parameters must
 * already be set by the caller (it is called once).
 */
export async function evaluateFewShot(runner: (dims: Record<string, number>) => Promise<ModelRunner>, tok: Tokenizer, tasks: FewShotTask[], o: FewShotOptions, onProgress?: (done: number, total: number) => void): Promise<FewShotRow[]> {
  const dims = { batch: o.batch, seq: o.context, ctx: o.context };
  const ex = await runner(dims);
  const eos = tok.specials.get('<eos>');
  const rows: FewShotRow[] = [];
  const total = tasks.reduce((s, t) => s + Math.min(o.queries, t.heldout.length), 0) * o.shots.length;
  let done = 0;
  try {
    for (const task of tasks) {
      // The same queries for every number of shots: a fixed sample of the held-out pairs.
      const pick = new Rng(o.seed);
      const pool = [...task.heldout];
      const queries = Array.from({ length: Math.min(o.queries, pool.length) }, () => pool.splice(pick.int(pool.length), 1)[0]);
      // Room for the longest answer and its line break, in tokens.
      const answerTokens = Math.max(...queries.map((q) => tok.encode(` ${q.answer}\n`).length)) + 1;
      for (const shots of o.shots) {
        const draw = new Rng(o.seed * 1000 + shots);
        const row: FewShotRow = { task: task.name, shots, correct: 0, queries: queries.length, cut: 0, samples: [] };
        for (let at = 0; at < queries.length; at += o.batch) {
          const part = queries.slice(at, at + o.batch);
          const prompts = part.map((q) => {
            const ids = tok.encode(fewShotPrompt(o.describe ? task.description : undefined, drawExamples(task.train, shots, q.input, draw), q.input));
            const room = o.context - answerTokens;
            if (ids.length > room) row.cut++;
            return ids.slice(-Math.max(1, room));
          });
          const out = await generateWithCache(ex, { batch: o.batch, seq: prefillLength(prompts, o.context), ctx: o.context, vocab: o.vocab }, prompts, { temperature: 0, maxNewTokens: answerTokens, stop: ['\n'], stopTokens: eos === undefined ? [] : [eos] }, new Rng(0), (ids) => tok.decode(ids));
          part.forEach((q, k) => {
            const answer = answerOf(out.text[k]);
            if (normalise(answer) === normalise(q.answer)) row.correct++;
            if (row.samples.length < 5) row.samples.push({ query: q.input, expected: q.answer, answer });
          });
          done += part.length;
          onProgress?.(done, total);
        }
        rows.push(row);
      }
    }
  } finally {
    ex.close();
  }
  return rows;
}

/** The accuracies as a text table: a row per task, a column per number of shots, and the mean. */
export function fewShotTable(rows: FewShotRow[]): string {
  const shots = [...new Set(rows.map((r) => r.shots))].sort((a, b) => a - b);
  const tasks = [...new Set(rows.map((r) => r.task))];
  const pct = (r: FewShotRow | undefined) => (r ? `${((100 * r.correct) / r.queries).toFixed(1)}%` : '');
  const head = ['task', 'queries', ...shots.map((k) => `${k}-shot`)];
  const body = tasks.map((t) => {
    const of = rows.filter((r) => r.task === t);
    return [t, String(of[0].queries), ...shots.map((k) => pct(of.find((r) => r.shots === k)))];
  });
  const mean = shots.map((k) => {
    const of = rows.filter((r) => r.shots === k);
    return `${((100 * of.reduce((s, r) => s + r.correct / r.queries, 0)) / of.length).toFixed(1)}%`;
  });
  body.push(['mean', '', ...mean]);
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((b) => b[c].length)));
  const line = (cells: string[]) => cells.map((x, c) => (c === 0 ? x.padEnd(widths[c]) : x.padStart(widths[c]))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
