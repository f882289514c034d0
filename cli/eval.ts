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
import type { CheckedModel } from '../compiler/check.ts';
import { TfmError } from '../common/errors.ts';
import { LIMITS, readTextBounded } from '../common/files.ts';
import { evaluateFewShot, fewShotTable, type FewShotTask } from '../runtime/generate/few-shot-eval.ts';
import { parsePairs } from '../runtime/generate/few-shot.ts';
import { fewShotSvg } from '../runtime/plot.ts';
import { progress } from '../runtime/progress.ts';
import { heldOut, taskPairs, TASKS } from '../runtime/text/tasks.ts';
import { checkpointExecutor, seq2seqCacheExecutors, textCheckpoint, requireDecoder } from './driver.ts';
import { scoreTasks } from '../runtime/generate/task-eval.ts';
import { cachedNext } from '../runtime/generate/seq2seq.ts';
import { ANSWER_TOKENS, heldOutPairs } from '../runtime/objectives/text-to-text.ts';
import { FRAMING } from '../runtime/objectives/seq2seq.ts';
import { specialId } from '../runtime/objectives/tokenizer-file.ts';

export async function evalCommand(spec: string, o: Record<string, string | boolean | undefined>): Promise<void> {
  const m = checkedModel(spec);
  const checkpoint = String(o.checkpoint);
  if (o.fewShot) return fewShotCommand(m, checkpoint, o);
  if (m.model.objective?.kind.value === 'text_to_text') return tasksCommand(m, checkpoint, o);
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

/** `tfm eval --few-shot`: 0/1/k-shot accuracy of a decoder checkpoint on held-out pairs. */
async function fewShotCommand(m: CheckedModel, checkpoint: string, o: Record<string, string | boolean | undefined>): Promise<void> {
  const model = m.model;
  requireDecoder(m, 'tfm eval --few-shot', 'prompts');
  // Defaults as the command line gives them (cli/main.ts), for callers that leave them out.
  const shots = String(o.shots ?? '0,1,4').split(',').map((x) => int(x.trim(), 'shots', 0));
  const queries = int(o.queries ?? '100', 'queries');
  const seed = int(o.seed ?? '1', 'seed', 0);
  let tasks: FewShotTask[];
  if (typeof o.examples === 'string') {
    // The user's pairs: held out by the same hash of the input as the built-in tasks.
    const pairs = parsePairs(readTextBounded(o.examples, LIMITS.tokens, 'examples'), `\`${o.examples}\``);
    const task: FewShotTask = { name: basename(o.examples), description: typeof o.task === 'string' ? o.task : undefined, train: pairs.filter((p) => !heldOut(p.input)), heldout: pairs.filter((p) => heldOut(p.input)) };
    if (task.heldout.length === 0 || (Math.max(...shots) > 0 && task.train.length === 0)) throw new TfmError('TFM5009', `\`${o.examples}\` has ${task.train.length} training and ${task.heldout.length} held-out pairs (one in five inputs is held out, by a hash): give more pairs`);
    tasks = [task];
  } else {
    const names = typeof o.tasks === 'string' ? o.tasks.split(',').map((x) => x.trim()) : TASKS.map((t) => t.name);
    tasks = names.map((name) => {
      const t = TASKS.find((x) => x.name === name);
      if (!t) throw new TfmError('TFM5008', `no built-in task \`${name}\`: the tasks are ${TASKS.map((x) => x.name).join(', ')} (or give --examples pairs.tsv)`);
      return { name: t.name, description: t.description, train: taskPairs(t, 'train'), heldout: taskPairs(t, 'heldout') };
    });
  }
  const { ck, tok, context } = textCheckpoint(m, checkpoint, 'tfm eval --few-shot');
  const bar = progress('few-shot prompts {value}/{total} |{bar}| ETA {eta_formatted}', { tty: process.stderr.isTTY === true, every: 100, write: (line) => process.stderr.write(`${line}\n`) });
  let started = false;
  const rows = await evaluateFewShot(
    (dims) => checkpointExecutor(m, ck, checkpoint, dims, { train: false, cache: true, target: String(o.target ?? 'cpu'), threads: 2, variants: [{ seq: 1 }] }),
    tok,
    tasks,
    { shots, queries, batch: int(o.batch, 'batch'), seed, context, vocab: model.embed!.tokens!.vocab.value, describe: o.description !== false },
    (done, total) => {
      if (!started) bar.start(total, 0, {});
      started = true;
      bar.update(done, {});
    },
  );
  if (started) bar.stop();
  const out = typeof o.out === 'string' ? o.out : join(dirname(resolve(checkpoint)), `few-shot-${basename(resolve(checkpoint))}`);
  makeFolder(out, 'report folder');
  const title = `${model.name} at step ${ck.state.step}: exact match on held-out queries${o.description === false ? ', no task description' : ''}`;
  writeAtomically(join(out, 'report.json'), JSON.stringify({ model: model.name, checkpoint, step: ck.state.step, seed, shots, description: o.description !== false, rows }, null, 1) + '\n', 'report');
  writeAtomically(join(out, 'few-shot.svg'), fewShotSvg(rows.map((r) => [r.task, r.shots, r.correct / r.queries]), title), 'report');
  const cut = rows.reduce((s, r) => s + r.cut, 0);
  console.log([title, '', fewShotTable(rows), ...(cut ? ['', `${cut} prompts were longer than the context; their oldest tokens were cut`] : []), '', `plot: ${join(out, 'few-shot.svg')}`, `report: ${join(out, 'report.json')}`].join('\n'));
}

/** A text-to-text model: its generated answers to held-out pairs of each task, scored by exact
 *  match and token F1; a table on stdout and report.json with the first answers of each task. */
async function tasksCommand(m: CheckedModel, checkpoint: string, o: Record<string, string | boolean | undefined>): Promise<void> {
  const perTask = int(o.queries ?? '100', 'queries');
  const batch = int(o.batch ?? '32', 'batch');
  const { ck, tok, context } = textCheckpoint(m, checkpoint, 'tfm eval');
  const srcSeq = typeof o.seq === 'string' ? int(o.seq, 'seq', 2) : Number(ck.state.run?.seq ?? context);
  const pairs = heldOutPairs(perTask);
  const [pad, start] = ['<pad>', FRAMING.text_to_text.start].map((s) => specialId(tok, s, 'tfm eval'));
  const rows = { batch, srcSeq, tgtSeq: Math.min(ANSWER_TOKENS, m.model.inputs.targets?.context?.value ?? ANSWER_TOKENS), pad, start, width: m.model.embed!.tokens!.vocab.value };
  // The encoder once per batch, the decoder one token per pass with its caches.
  const [encoder, decoder] = await seq2seqCacheExecutors(m, ck, checkpoint, batch, rows.srcSeq, rows.tgtSeq, { target: String(o.target ?? 'cpu'), threads: 2 });
  const bar = progress('held-out answers {value}/{total} |{bar}| ETA {eta_formatted}', { tty: process.stderr.isTTY === true, every: 5, write: (line) => process.stderr.write(`${line}\n`) });
  bar.start(pairs.length, 0, {});
  let scores;
  try {
    scores = await scoreTasks((sourceOf) => cachedNext(encoder, decoder, rows, sourceOf), tok, pairs, rows, (done) => bar.update(done, {}));
  } finally {
    bar.stop();
    encoder.close();
    decoder.close();
  }
  const out = typeof o.out === 'string' ? o.out : join(dirname(resolve(checkpoint)), `eval-${basename(resolve(checkpoint))}`);
  makeFolder(out, 'report folder');
  writeAtomically(join(out, 'report.json'), JSON.stringify({ model: m.model.name, checkpoint, step: ck.state.step, perTask, tasks: scores }, null, 1) + '\n', 'report');
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`.padStart(7);
  console.log([`${m.model.name} at step ${ck.state.step}: greedy answers to held-out pairs`, '', 'task         pairs   exact      F1', ...scores.map((s) => `${s.task.padEnd(12)} ${String(s.count).padStart(5)} ${pct(s.exact)} ${pct(s.f1)}`), '', `report: ${join(out, 'report.json')}`].join('\n'));
}
