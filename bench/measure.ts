// Medians of timed repetitions, shared by the benchmark and the peer child processes.
// Numbers from a shared, noisy machine: warm-up runs are dropped, the median is reported,
// and beside it the fastest repetition. Noise on a shared machine only ever adds time, so the
// best-of ratio is the one a loaded machine cannot flatter: where a peer's repetitions
// scatter (a peer still warming up — see MATMUL_WARMUP — or both sides on lavapipe), the two
// ratios differ, and a goal is robust only when both meet it.
import { spawnSync } from 'node:child_process';

export interface Measured {
  name: string;
  /** Median milliseconds per repetition. */
  ms: number;
  /** The fastest repetition's milliseconds. */
  best: number;
  first: number;
  last: number;
}

export async function measure(name: string, step: () => number | Promise<number>, reps: number, warmup = 2): Promise<Measured> {
  const times: number[] = [];
  let first = NaN;
  let last = NaN;
  for (let s = 0; s < warmup + reps; s++) {
    const t0 = performance.now();
    last = await step();
    const dt = performance.now() - t0;
    if (s === 0) first = last;
    if (s >= warmup) times.push(dt);
    process.stderr.write(`\r${name}: ${s + 1}/${warmup + reps}, ${dt.toFixed(0)} ms   `);
  }
  process.stderr.write('\n');
  times.sort((a, b) => a - b);
  return { name, ms: times[Math.floor(times.length / 2)], best: times[0], first, last };
}

/** Warm-up repetitions of the 512³ matmul, ours and jax-js's alike. jax-js's two-worker
 *  product takes ≈ 6.0 ms for its first 15–20 calls and ≈ 5.2 ms after (two runs of 60
 *  calls on a quiet machine; not V8's move from baseline to optimized Wasm code — with
 *  `node --no-liftoff` it speeds up the same way), so two warm-up calls measured it ≈ 15%
 *  slow and flattered our ratio. Ours runs at its final speed from the first call. */
export const MATMUL_WARMUP = 20;

/** Prints rows of measurements (a peer that failed to run is undefined, and left out) at the
 *  median and at the best repetition, then the ratio of each peer to ours, how many times
 *  faster ours is: medians to medians, then best to best. */
export function printTable(title: string, rows: (Measured | undefined)[], unit: (m: Measured) => string, ours: Measured | undefined, oursLabel: string): void {
  console.log(`\n${title}`);
  for (const r of rows) if (r) console.log(`  ${r.name.padEnd(44)} ${unit(r).padStart(16)}   best ${unit({ ...r, ms: r.best }).padStart(16)}`);
  for (const r of rows) if (r && ours && r !== ours) console.log(`  ratio ours (${oursLabel}) / ${r.name.padEnd(34)} ${(r.ms / ours.ms).toFixed(2)}×   best to best ${(r.best / ours.best).toFixed(2)}×`);
}

/** Random token ids in [0, vocab). */
export const randomIds = (n: number, vocab: number) => Int32Array.from({ length: n }, () => Math.floor(Math.random() * vocab));

/** One jax-js measurement in a child process of its own (bench/peers/jax-child.ts: jax-js
 *  picks its threads once per process); its last line of output, parsed. */
export function jaxChild<T = Measured>(task: string, threads: number, reps: number): T {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/peers/jax-child.ts', task, String(threads), String(reps)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`jax-js ${task} on ${threads} thread(s) failed (exit ${r.status})`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}
