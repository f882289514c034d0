// Time per kernel of one GPT-mini training step (forward, backward, AdamW) on the wasm
// target, on 1 and on 2 threads, summed by op over the layers: where a step's time goes.
// `node --import ./bin/tsx.mjs bench/profile.ts [steps]` (default 6 measured steps after 3 warm-up steps; medians
// of noisy machines are in `npm run bench`, this is for finding the next thing to speed up).
// DIR=<folder> profiles another compiled gpt_tiny (e.g. one built before a change, for an A/B).
import { Executor } from '../runtime/executor.ts';
import { initParams } from '../runtime/init.ts';
import { loadCompiled } from '../runtime/load.ts';
import { GPT_MINI as cfg } from './configs.ts';

const STEPS = Number(process.argv[2] ?? 6);
const WARMUP = 3;
const ADAMW = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxNorm: 1 };

const byThreads = new Map<number, Map<string, number>>();
for (const threads of [1, 2]) {
  const { program, source } = loadCompiled(process.env.DIR ?? 'generated/gpt_tiny/wasm');
  const ex = await Executor.create(program, source, { batch: cfg.batch, seq: cfg.seq }, { threads });
  initParams(ex, 1);
  const ids = Int32Array.from({ length: cfg.batch * cfg.seq }, () => Math.floor(Math.random() * cfg.vocab));
  ex.input('tokens').set(ids);
  ex.input('targets').set(ids);
  const per = new Map<string, number>();
  for (let step = 0; step < WARMUP + STEPS; step++) {
    ex.onKernel = step < WARMUP ? undefined : (k, ms) => {
      const op = program.steps[k]?.op ?? 'optimizer';
      per.set(op, (per.get(op) ?? 0) + ms / STEPS);
    };
    ex.forward();
    ex.backward();
    ex.optimizerStep(ADAMW);
  }
  ex.close();
  byThreads.set(threads, per);
}
const [one, two] = [byThreads.get(1)!, byThreads.get(2)!];
const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
console.log(`GPT-mini training step (batch ${cfg.batch} × ${cfg.seq}), ms per step by op, mean of ${STEPS} steps:`);
console.log(`  ${'op'.padEnd(24)} ${'1 thread'.padStart(9)} ${'2 threads'.padStart(10)}`);
for (const op of [...one.keys()].sort((a, b) => one.get(b)! - one.get(a)!)) console.log(`  ${op.padEnd(24)} ${one.get(op)!.toFixed(1).padStart(9)} ${(two.get(op) ?? 0).toFixed(1).padStart(10)}`);
console.log(`  ${'total'.padEnd(24)} ${total(one).toFixed(1).padStart(9)} ${total(two).toFixed(1).padStart(10)}`);
process.exit(0);
