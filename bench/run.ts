// `npm run bench`: training throughput of the GPT-mini of PLATFORM.md (vocab 65, d_model 128,
// 4 heads, 4 layers, context 64, batch 16, Adam) for our generated CPU kernels and for the
// peers — TensorFlow.js (wasm backend) and jax-js (wasm) — measured one after another in
// one run on the same machine, reported as tokens/s and as ratios ours / peer; then the
// compile time of every spec. Numbers from a shared, noisy machine: medians of several steps.
import { readdirSync } from 'node:fs';
import { checkFiles } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { TARGETS } from '../compiler/targets/index.ts';
import { Executor } from '../runtime/executor.ts';
import { initParams } from '../runtime/init.ts';
import { loadCompiled } from '../runtime/load.ts';
import { jaxStep } from './peers/jax-gpt.ts';
import { tfjsStep, type GptConfig } from './peers/tfjs-gpt.ts';

const cfg: GptConfig = { vocab: 65, ctx: 64, d: 128, heads: 4, layers: 4, batch: 16, seq: 64 };
const STEPS = Number(process.env.BENCH_STEPS ?? 8);
const WARMUP = 2;
const tokensPerStep = cfg.batch * cfg.seq;
const batch = () => Int32Array.from({ length: tokensPerStep }, () => Math.floor(Math.random() * cfg.vocab));

function measure(name: string, step: (t: Int32Array, y: Int32Array) => number): { name: string; tokensPerSec: number; firstLoss: number; lastLoss: number } {
  const tokens = batch();
  const targets = batch();
  const times: number[] = [];
  let firstLoss = NaN;
  let lastLoss = NaN;
  for (let s = 0; s < WARMUP + STEPS; s++) {
    const t0 = performance.now();
    lastLoss = step(tokens, targets);
    const dt = performance.now() - t0;
    if (s === 0) firstLoss = lastLoss;
    if (s >= WARMUP) times.push(dt);
    process.stderr.write(`\r${name}: step ${s + 1}/${WARMUP + STEPS}, ${dt.toFixed(0)} ms, loss ${lastLoss.toFixed(3)}   `);
  }
  process.stderr.write('\n');
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  return { name, tokensPerSec: (tokensPerStep / median) * 1000, firstLoss, lastLoss };
}

async function ours(target: string, threads: number) {
  const r = checkFiles(['specs/gpt_tiny.tfm']);
  const compiled = compile(r.models[0], TARGETS[target], r.program.sources);
  // The committed generated/ program is what users run; it must equal this compile.
  const { program, source } = loadCompiled(`generated/gpt_tiny/${target}`);
  if (JSON.stringify(program) !== JSON.stringify(compiled.program)) throw new Error('generated/gpt_tiny is stale: run npm run generate');
  const ex = await Executor.create(program, source, { batch: cfg.batch, seq: cfg.seq }, { threads });
  initParams(ex, 1);
  return (tokens: Int32Array, targets: Int32Array) => {
    ex.input('tokens').set(tokens);
    ex.input('targets').set(targets);
    const loss = ex.forward();
    ex.backward();
    ex.optimizerStep({ lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxNorm: 0 });
    return loss;
  };
}

const results = [measure('tfm wasm, 1 thread', await ours('wasm', 1)), measure('tfm wasm, 2 threads', await ours('wasm', 2)), measure('tfm ts, 2 threads', await ours('ts', 2))];
results.push(measure('TensorFlow.js wasm', (await tfjsStep(cfg)).step));
results.push(measure('jax-js wasm (1 thread)', jaxStep(cfg).step));

const [, us, ...peers] = results;
console.log(`\nGPT-mini training (vocab ${cfg.vocab}, d_model ${cfg.d}, ${cfg.heads} heads, ${cfg.layers} layers, batch ${cfg.batch} × ${cfg.seq} tokens), median of ${STEPS} steps:`);
for (const r of results) console.log(`  ${r.name.padEnd(40)} ${r.tokensPerSec.toFixed(0).padStart(6)} tokens/s   loss ${r.firstLoss.toFixed(3)} → ${r.lastLoss.toFixed(3)}`);
for (const p of peers) console.log(`  ratio ours (2 threads) / ${p.name.padEnd(28)} ${(us.tokensPerSec / p.tokensPerSec).toFixed(2)}`);
console.log('  (jax-js runs on one thread here: its wasm threads need a global Worker, which Node 20 lacks)');

console.log('\ncompile time per spec (check + lower + autodiff + fuse + plan + TypeScript):');
for (const f of readdirSync('specs').filter((x) => x.endsWith('.tfm')).sort()) {
  const t0 = performance.now();
  const r = checkFiles([`specs/${f}`]);
  const c = compile(r.models[0], TARGETS.wasm, r.program.sources);
  console.log(`  ${f.padEnd(28)} ${(performance.now() - t0).toFixed(0).padStart(5)} ms  ${c.kernels.length} kernels`);
}
