// `npm run bench`: our generated kernels beside the peers, in one run on the same machine
// (`npm run bench -- --target webgpu`: the WebGPU target beside the peers' WebGPU backends,
// bench/webgpu.ts),
// reported as speeds and as ratios ours (wasm, 2 threads) / peer:
//   1. GPT-mini training (the model of specs/gpt_tiny.tfm, batch 16 × 64, AdamW) — ours on
//      the wasm target (1 and 2 threads) and the TypeScript target (2 threads), TensorFlow.js
//      (wasm backend), jax-js (wasm) on 1 thread and on 2 worker threads;
//   2. a 512³ fp32 matmul inside our generated kernels, against jax-js's matmul;
//   3. BERT-mini forward (bench/bert_mini.tfm: d 256, 4 layers, 4 heads, seq 128, batch 8,
//      vocab 30,522) from tokens to logits;
//   4. the compile time of every spec;
//   5. generation with a key/value cache (gpt_tiny, gpt2_small; batch 1 and 8): prefill and
//      decode tokens/s beside jax-js (2 worker threads) running the same model.
// jax-js picks its threads once per process, so each jax-js measurement runs in a child
// process (bench/peers/jax-child.ts). Numbers from a shared, noisy machine: medians.
import { readdirSync } from 'node:fs';
import { checkFiles } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { emit } from '../compiler/codegen/emit.ts';
import { TARGETS } from '../compiler/targets/index.ts';
import { Executor } from '../runtime/executor.ts';
import { initParams } from '../runtime/init.ts';
import { loadCompiled } from '../runtime/load.ts';
import { BERT_MINI, GPT_MINI } from './configs.ts';
import { kernelProgram } from './kernel-program.ts';
import { jaxChild, MATMUL_WARMUP, measure, printTable, randomIds, type Measured } from './measure.ts';
import { tfjsStep } from './peers/tfjs-gpt.ts';
import { generationBench } from './generation.ts';

const at = process.argv.indexOf('--target');
if (at > 0 && process.argv[at + 1] === 'webgpu') {
  await import('./webgpu.ts'); // the WebGPU benchmark; it exits when done
}
const STEPS = Number(process.env.BENCH_STEPS ?? 8);
const cfg = GPT_MINI;
const tokensPerStep = cfg.batch * cfg.seq;

async function gptStep(target: string, threads: number) {
  const r = checkFiles(['specs/gpt_tiny.tfm']);
  const compiled = compile(r.models[0], TARGETS[target], r.program.sources);
  // The committed generated/ program is what users run; it must equal this compile.
  const { program, source } = loadCompiled(`generated/gpt_tiny/${target}`);
  if (JSON.stringify(program) !== JSON.stringify(compiled.program)) throw new Error('generated/gpt_tiny is stale: run npm run generate');
  const ex = await Executor.create(program, source, { batch: cfg.batch, seq: cfg.seq }, { threads });
  initParams(ex, 1);
  const [tokens, targets] = [randomIds(tokensPerStep, cfg.vocab), randomIds(tokensPerStep, cfg.vocab)];
  return () => {
    ex.input('tokens').set(tokens);
    ex.input('targets').set(targets);
    const loss = ex.forward();
    ex.backward();
    ex.optimizerStep({ lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxNorm: 0 });
    return loss;
  };
}

const table = (title: string, rows: Measured[], unit: (m: Measured) => string, ours: Measured) => printTable(title, rows, unit, ours, 'wasm, 2 threads');

// 1. GPT-mini training.
const gpt: Measured[] = [];
for (const [target, threads] of [['wasm', 1], ['wasm', 2], ['ts', 2]] as const) gpt.push(await measure(`tfm ${target}, ${threads} thread${threads > 1 ? 's' : ''}`, await gptStep(target, threads), STEPS));
const tfjs = await tfjsStep(cfg);
const [tt, ty] = [randomIds(tokensPerStep, cfg.vocab), randomIds(tokensPerStep, cfg.vocab)];
gpt.push(await measure('TensorFlow.js wasm (SIMD, 1 thread)', () => tfjs.step(tt, ty), STEPS));
gpt.push(jaxChild('gpt', 1, STEPS), jaxChild('gpt', 2, STEPS));
table(`GPT-mini training (vocab ${cfg.vocab}, d_model ${cfg.d}, ${cfg.heads} heads, ${cfg.layers} layers, batch ${cfg.batch} × ${cfg.seq}), median of ${STEPS} steps:`, gpt, (m) => `${((tokensPerStep / m.ms) * 1000).toFixed(0)} tokens/s`, gpt[1]);

// 2. 512³ matmul.
const N = 512;
const mm: Measured[] = [];
for (const [layout, attrs] of [['a·b', {}], ['a·bᵀ', { tb: true }], ['aᵀ·b', { ta: true }]] as const) {
  const dir = `out/bench/matmul-${Object.keys(attrs)[0] ?? 'ab'}`;
  kernelProgram('matmul', [[N, N], [N, N]], attrs, 'wasm', dir);
  const { program, source } = loadCompiled(dir);
  for (const threads of layout === 'a·b' ? [1, 2] : [2]) {
    const ex = await Executor.create(program, source, {}, { threads });
    ex.input('x0').set(Float32Array.from({ length: N * N }, () => Math.random() - 0.5));
    ex.input('x1').set(Float32Array.from({ length: N * N }, () => Math.random() - 0.5));
    mm.push(await measure(`tfm wasm ${layout}, ${threads} thread${threads > 1 ? 's' : ''}`, () => ex.forward(), 20, MATMUL_WARMUP));
    ex.close();
  }
}
mm.push(jaxChild('matmul', 1, 20), jaxChild('matmul', 2, 20));
table(`${N}³ fp32 matmul, median of 20:`, mm, (m) => `${((2 * N ** 3) / m.ms / 1e6).toFixed(1)} GFLOP/s`, mm[1]);

// 3. BERT-mini forward.
const bert: Measured[] = [];
{
  const r = checkFiles(['bench/bert_mini.tfm']);
  emit(compile(r.models[0], TARGETS.wasm, r.program.sources, { train: false }), 'out/bench/bert_mini');
  const { program, source } = loadCompiled('out/bench/bert_mini');
  const tokens = randomIds(BERT_MINI.batch * BERT_MINI.seq, BERT_MINI.vocab);
  for (const threads of [1, 2]) {
    const ex = await Executor.create(program, source, { batch: BERT_MINI.batch, seq: BERT_MINI.seq }, { threads });
    initParams(ex, 1);
    ex.input('tokens').set(tokens);
    ex.input('key_mask').fill(1);
    bert.push(await measure(`tfm wasm, ${threads} thread${threads > 1 ? 's' : ''}`, () => ex.forwardTo('logits')[0], 4, 1));
    ex.close();
  }
}
bert.push(jaxChild('bert', 1, 3), jaxChild('bert', 2, 3));
table(`BERT-mini forward (d ${BERT_MINI.d}, ${BERT_MINI.layers} layers, ${BERT_MINI.heads} heads, batch ${BERT_MINI.batch} × ${BERT_MINI.seq}, vocab ${BERT_MINI.vocab}), tokens to logits:`, bert, (m) => `${m.ms.toFixed(0)} ms`, bert[1]);

// 5. Generation with a key/value cache (bench/generation.ts; alone: node --import ./bin/tsx.mjs bench/generation.ts).
await generationBench();

// 4. Compile times.
console.log('\ncompile time per spec (check + lower + autodiff + fuse + plan + schedule + WebAssembly):');
for (const f of readdirSync('specs').filter((x) => x.endsWith('.tfm')).sort()) {
  const t0 = performance.now();
  const r = checkFiles([`specs/${f}`]);
  const c = compile(r.models[0], TARGETS.wasm, r.program.sources);
  console.log(`  ${f.padEnd(28)} ${(performance.now() - t0).toFixed(0).padStart(5)} ms  ${c.kernels.length} kernels`);
}
process.exit(0);
