// `tfm eval`: a checkpoint on its objective's held-out split — the metric on stdout, and a
// report folder with report.json and, for classifiers, confusion.svg (the matrix, and for
// images the first mistakes drawn).
import { basename, dirname, join, resolve } from 'node:path';
import { makeFolder, writeAtomically } from '../common/files.ts';
import { confusionTable, evaluateCheckpoint } from '../runtime/eval.ts';
import { confusionSvg } from '../runtime/plot.ts';
import { trainModel } from './driver.ts';
import { count as int } from './flags.ts';
import { checkedModel } from './weights.ts';

export async function evalCommand(spec: string, o: Record<string, string | boolean | undefined>): Promise<void> {
  const m = checkedModel(spec);
  const checkpoint = String(o.checkpoint);
  const report = await evaluateCheckpoint(trainModel(m, String(o.target ?? 'cpu')), {
    checkpoint,
    data: typeof o.data === 'string' ? o.data : undefined,
    batch: int(o.batch, 'batch'),
    seq: o.seq === undefined ? undefined : int(o.seq, 'seq', 2),
    evalBatches: int(o.evalBatches, 'eval-batches'),
  });
  const out = typeof o.out === 'string' ? o.out : join(dirname(resolve(checkpoint)), `eval-${basename(resolve(checkpoint))}`);
  makeFolder(out, 'report folder');
  const { pictures, ...json } = report;
  writeAtomically(join(out, 'report.json'), JSON.stringify(json, null, 1) + '\n', 'report');
  const { metrics } = report;
  const lines = [`${report.model} at step ${report.step} on ${report.data}`, `loss ${metrics.loss.toFixed(4)} over ${metrics.count} ${m.model.objective?.kind.value === 'classify' ? 'examples' : 'tokens'}${metrics.accuracy !== undefined ? `, accuracy ${(100 * metrics.accuracy).toFixed(2)}%` : ''}`];
  if (metrics.confusion) {
    lines.push('', confusionTable(metrics.confusion, report.classNames));
    writeAtomically(join(out, 'confusion.svg'), confusionSvg(metrics.confusion, `${report.model} at step ${report.step}: ${(100 * metrics.accuracy!).toFixed(2)}% of ${metrics.count}`, pictures, report.classNames), 'report');
    lines.push('', `confusion matrix: ${join(out, 'confusion.svg')}`);
  }
  lines.push(`report: ${join(out, 'report.json')}`);
  console.log(lines.join('\n'));
}
