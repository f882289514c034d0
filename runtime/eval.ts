// `tfm eval`: a checkpoint measured on its objective's whole held-out split (validation text
// for language models) with the same data pipeline training used, and a report: the metric,
// and for classifiers the confusion matrix and the first mistakes.
import { join } from 'node:path';
import { readCheckpoint } from './checkpoint.ts';
import { objectiveData, type TrainModel } from './train.ts';
import type { Metrics } from './objectives/objective.ts';
import { setCheckpointWeights } from './weights.ts';
import type { TokenizerKind } from './text/tokenizer.ts';

export interface EvalOptions {
  checkpoint: string;
  data?: string;
  batch: number;
  seq?: number;
  evalBatches: number;
}

export interface EvalReport {
  model: string;
  checkpoint: string;
  step: number;
  objective: string;
  data: string;
  metrics: Metrics;
  /** The classes' names by label, where the data names them. */
  classNames?: string[];
  /** Per-class precision and recall, for classifiers. */
  classes?: { precision: number; recall: number; count: number }[];
  /** The first mistakes, with their text (sentences) or nothing (images: see the SVG). */
  mistakes?: { index: number; label: number; predicted: number; text?: string }[];
  /** Images of the mistakes, for the SVG. */
  pictures?: { label: number; predicted: number; data: Uint8Array; width: number; height: number }[];
}

export async function evaluateCheckpoint(model: TrainModel, o: EvalOptions): Promise<EvalReport> {
  const ck = readCheckpoint(o.checkpoint, model.specHash);
  // The run's own data settings, where it recorded them: the same tokenizer and row length.
  const recorded = ck.state.run ?? {};
  const seq = o.seq ?? (typeof recorded.seq === 'number' ? recorded.seq : undefined);
  const data = objectiveData(
    model,
    { data: o.data, tokenizer: typeof recorded.tokenizer === 'string' ? (recorded.tokenizer as TokenizerKind) : undefined, batch: o.batch, seq, evalBatches: o.evalBatches, sampleTokens: 0 },
    seq ?? model.context ?? 64,
  );
  const ex = await model.executor(data.dims, { train: false });
  try {
    setCheckpointWeights(ex, ck.model, ck.state.naming, o.checkpoint);
    ex.push();
    const task = await data.open({
      train: ex,
      executor: (dims) => model.executor(dims, { train: false }),
      out: o.checkpoint,
      resume: false,
      checkpoint: { name: o.checkpoint, files: { 'tokenizer.json': ck.tokenizer } },
    });
    try {
      const metrics = task.evaluateAll ? await task.evaluateAll() : await task.evaluate();
      const report: EvalReport = { model: model.name, checkpoint: o.checkpoint, step: ck.state.step, objective: model.objective, data: task.title, metrics };
      if (metrics.confusion) {
        if (task.classNames) report.classNames = task.classNames;
        const c = metrics.confusion;
        report.classes = c.map((row, k) => {
          const predicted = c.reduce((a, r) => a + r[k], 0);
          const count = row.reduce((a, b) => a + b, 0);
          return { precision: predicted ? row[k] / predicted : 0, recall: count ? row[k] / count : 0, count };
        });
        const shown = (metrics.mistakes ?? []).map((m) => ({ m, example: task.example?.(m.index) ?? {} }));
        report.mistakes = shown.map(({ m, example }) => (example.text !== undefined ? { ...m, text: example.text } : m));
        report.pictures = shown.flatMap(({ m, example }) => (example.pixels ? [{ label: m.label, predicted: m.predicted, ...example.pixels }] : []));
      }
      return report;
    } finally {
      task.close();
    }
  } finally {
    ex.close();
  }
}

/** The confusion matrix as a text table: rows are true classes (with their names, where
 *  known), columns predictions by label. */
export function confusionTable(confusion: number[][], names?: string[]): string {
  const w = Math.max(5, ...confusion.flat().map((n) => String(n).length + 1));
  const label = (k: number) => (names?.[k] !== undefined ? `${k} ${names[k]}` : String(k));
  const first = Math.max(10, ...confusion.map((_, k) => label(k).length + 1));
  const head = `${'true\\pred'.padEnd(first)}${confusion.map((_, k) => String(k).padStart(w)).join('')}${'recall'.padStart(9)}`;
  const rows = confusion.map((row, k) => {
    const n = row.reduce((a, b) => a + b, 0);
    return `${label(k).padEnd(first)}${row.map((x) => String(x).padStart(w)).join('')}${(n ? `${((100 * row[k]) / n).toFixed(1)}%` : '-').padStart(9)}`;
  });
  return [head, ...rows].join('\n');
}

export const reportPath = (dir: string) => join(dir, 'report.json');
