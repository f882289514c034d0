// `npm run fuzz -- --count N --seed S [--workers W] [--out DIR]`: mutates specs, safetensors
// headers and token files (scripts/fuzz/engine.ts) and runs the checker and the readers on
// them in worker threads. Reports crashes (an exception that is not a coded error), invalid
// answers (a diagnostic without a code or with a span outside its file, tokens accepted in a
// wrong shape), hangs (a case over 1 s: the worker is stopped and restarted after it) and
// memory over the bound (a worker's heap is capped; running out is a finding). Each finding
// is written to DIR as a file that replays it (`--replay <index>` with the same seed).
// Exit 0 when nothing was found, 1 otherwise.
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import cliProgress from 'cli-progress';
import { context, runCase, type Finding } from './fuzz/engine.ts';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '10000' },
    seed: { type: 'string', default: '1' },
    workers: { type: 'string' },
    out: { type: 'string', default: 'fuzz-findings' },
    'hang-ms': { type: 'string', default: '1000' },
    'heap-mb': { type: 'string', default: '512' },
    replay: { type: 'string' },
  },
});
const int = (v: string | undefined, name: string) => {
  if (!v || !/^\d+$/.test(v)) throw new Error(`--${name} must be a decimal integer, got ${v}`);
  return Number(v);
};
const count = int(values.count, 'count');
const seed = int(values.seed, 'seed');
const hangMs = int(values['hang-ms'], 'hang-ms');
const heapMb = int(values['heap-mb'], 'heap-mb');
const workers = values.workers ? int(values.workers, 'workers') : Math.max(1, Math.min(availableParallelism(), 8));

type Found = (Finding & { index: number }) | { kind: 'hang' | 'memory' | 'crash'; index: number; message: string; target: 'spec'; input: string };

if (values.replay !== undefined) {
  const index = int(values.replay, 'replay');
  const { findings } = runCase(context(), seed, index);
  console.log(findings.length ? findings.map((f) => `${f.kind} (${f.target}): ${f.message}\ninput: ${JSON.stringify(f.input)}`).join('\n\n') : `case ${index} of seed ${seed}: nothing found`);
  process.exit(findings.length ? 1 : 0);
}

const current = new SharedArrayBuffer(4 * workers);
const done = new SharedArrayBuffer(4);
const rejected = new SharedArrayBuffer(4);
const doneCount = new Int32Array(done);
const currentIndex = new Int32Array(current);
const findings: Found[] = [];
const started = performance.now();
const bar = new cliProgress.SingleBar({ format: 'fuzz {value}/{total} |{bar}| {findings} findings | {rate} cases/s | ETA {eta_formatted}', hideCursor: true, noTTYOutput: true, notTTYSchedule: 30_000, etaBuffer: 50 }, cliProgress.Presets.shades_classic);
bar.start(count, 0, { findings: 0, rate: '-' });

/** Runs slot `slot`'s share of the cases from `from` on; restarts itself after a hang or an
 *  out-of-memory, skipping the case that caused it. */
function runSlot(slot: number, from: number): Promise<void> {
  return new Promise((resolve) => {
    if (from >= count) return resolve();
    const worker = new Worker(new URL('./fuzz/worker.mjs', import.meta.url), {
      workerData: { seed, start: from, stride: workers, end: count, slot, current, done, rejected },
      resourceLimits: { maxOldGenerationSizeMb: heapMb },
    });
    let last = -1;
    let since = performance.now();
    let ready = false;
    let settled = false;
    const restartAfter = (index: number, kind: 'hang' | 'memory' | 'crash', message: string) => {
      if (settled) return;
      settled = true;
      clearInterval(watch);
      findings.push({ kind, index, message, target: 'spec', input: '' });
      Atomics.add(doneCount, 0, 1);
      void worker.terminate().then(() => runSlot(slot, index + workers).then(resolve));
    };
    const watch = setInterval(() => {
      if (!ready) return;
      const now = Atomics.load(currentIndex, slot);
      if (now !== last) {
        last = now;
        since = performance.now();
      } else if (now >= 0 && performance.now() - since > hangMs) restartAfter(now, 'hang', `case ${now} ran over ${hangMs} ms`);
    }, Math.min(100, hangMs / 4));
    worker.on('message', (m: { ready?: boolean; finding?: Found; finished?: boolean }) => {
      if (m.ready) {
        ready = true;
        since = performance.now();
      }
      if (m.finding) findings.push(m.finding);
      if (m.finished && !settled) {
        settled = true;
        clearInterval(watch);
        void worker.terminate().then(() => resolve());
      }
    });
    worker.on('error', (e: Error & { code?: string }) => {
      const at = Atomics.load(currentIndex, slot);
      if (e.code === 'ERR_WORKER_OUT_OF_MEMORY') restartAfter(at, 'memory', `case ${at} needed more than ${heapMb} MiB of heap`);
      else restartAfter(at, 'crash', `the worker failed on case ${at} (replay it to see where): ${e.stack ?? e.message}`);
    });
  });
}

const ticker = setInterval(() => {
  const n = Atomics.load(doneCount, 0);
  bar.update(n, { findings: findings.length, rate: Math.round(n / ((performance.now() - started) / 1000)) });
}, 500);
await Promise.all(Array.from({ length: workers }, (_, slot) => runSlot(slot, slot)));
clearInterval(ticker);
bar.update(Atomics.load(doneCount, 0), { findings: findings.length, rate: Math.round(count / ((performance.now() - started) / 1000)) });
bar.stop();

const seconds = (performance.now() - started) / 1000;
const by = (k: string) => findings.filter((f) => f.kind === k).length;
if (findings.length) {
  mkdirSync(values.out!, { recursive: true });
  for (const f of findings) writeFileSync(join(values.out!, `seed${seed}-case${f.index}-${f.kind}-${f.target}.json`), JSON.stringify({ seed, ...f, replay: `npm run fuzz -- --seed ${seed} --replay ${f.index}` }, null, 1) + '\n');
  for (const f of findings.slice(0, 10)) console.error(`case ${f.index}: ${f.kind} (${f.target}): ${f.message.split('\n')[0]}`);
}
const headers = Math.ceil(count / 5);
console.log(`fuzz seed ${seed}: ${count} spec mutants (${Atomics.load(new Int32Array(rejected), 0)} rejected), ${headers} safetensors headers, ${headers} token files in ${seconds.toFixed(0)} s on ${workers} workers: ${by('crash')} crashes, ${by('invalid')} invalid answers, ${by('hang')} hangs over ${hangMs} ms, ${by('memory')} over ${heapMb} MiB${findings.length ? ` (written to ${values.out}/)` : ''}`);
process.exitCode = findings.length ? 1 : 0;
