// `npm run bench -- --target webgpu`: the WebGPU target beside jax-js's and TensorFlow.js's
// WebGPU backends, on the same adapter, in one run: GPT-mini training (tokens/s) and a 512³
// fp32 matmul (GFLOP/s), with the ratios ours / peer. Each peer runs in a process of its own
// (bench/peers/webgpu-child.ts). On lavapipe the "GPU" is this machine's CPU: the run says
// so, and its numbers compare the three libraries' GPU code on one device — they are not GPU
// speeds.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { checkFiles } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { TARGETS } from '../compiler/targets/index.ts';
import { initParams } from '../runtime/init.ts';
import { loadCompiled } from '../runtime/load.ts';
import { gpuContext } from '../runtime/webgpu/device.ts';
import { GpuExecutor } from '../runtime/webgpu/executor.ts';
import { GPT_MINI } from './configs.ts';
import { kernelProgram } from './kernel-program.ts';
import { measure, printTable, type Measured } from './measure.ts';

const STEPS = Number(process.env.BENCH_STEPS ?? 5);
const cfg = GPT_MINI;
const tokensPerStep = cfg.batch * cfg.seq;
const N = 512;
/** Products timed per side: one takes 25–60 ms on lavapipe, where both sides scatter by up
 *  to a half (ours 23–39 ms in a run of 40), so 10 left the median to chance. */
const MM_REPS = 40;
const ids = () => Int32Array.from({ length: tokensPerStep }, () => Math.floor(Math.random() * cfg.vocab));

function peer(name: string, task: string, reps: number): Measured | undefined {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/peers/webgpu-child.ts', name, task, String(reps)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    console.log(`  (${name} ${task} on WebGPU failed: exit ${r.status})`);
    return undefined;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Measured;
}

const table = (title: string, rows: (Measured | undefined)[], unit: (m: Measured) => string) => printTable(title, rows, unit, rows[0], 'webgpu');

const gpu = await gpuContext();
console.log(`WebGPU adapter: ${gpu.adapter}${gpu.software ? ' — a software rasterizer running on this machine\'s CPU: these numbers compare the libraries\' GPU code on one device, they are not GPU speeds' : ''}`);

// 1. GPT-mini training: one step = forward, backward, AdamW, the loss read back.
const r = checkFiles(['specs/gpt_tiny.tfm']);
const compiled = compile(r.models[0], TARGETS.webgpu, r.program.sources);
const { program, source } = loadCompiled('generated/gpt_tiny/webgpu');
if (JSON.stringify(program) !== JSON.stringify(compiled.program)) throw new Error('generated/gpt_tiny is stale: run npm run generate');
const ex = await GpuExecutor.create(program, readFileSync(new URL(source.url), 'utf8'), { batch: cfg.batch, seq: cfg.seq }, { gpu });
initParams(ex, 1);
ex.push();
const [tokens, targets] = [ids(), ids()];
const settings = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxNorm: 0 };
const ours = await measure('tfm webgpu', async () => (await ex.trainStep(1, () => (ex.setInput('tokens', tokens), ex.setInput('targets', targets)), settings)).loss, STEPS);
ex.close();
table(`GPT-mini training (vocab ${cfg.vocab}, d_model ${cfg.d}, ${cfg.heads} heads, ${cfg.layers} layers, batch ${cfg.batch} × ${cfg.seq}) on WebGPU, median of ${STEPS} steps:`, [ours, peer('jax', 'gpt', STEPS), peer('tfjs', 'gpt', STEPS)], (m) => `${((tokensPerStep / m.ms) * 1000).toFixed(0)} tokens/s`);

// 2. 512³ matmul: one dispatch and the product read back, as the peers' `await c.data()`.
kernelProgram('matmul', [[N, N], [N, N]], {}, 'webgpu', 'out/bench/matmul-webgpu');
const mm = loadCompiled('out/bench/matmul-webgpu');
const mex = await GpuExecutor.create(mm.program, readFileSync(new URL(mm.source.url), 'utf8'), {}, { gpu });
mex.setInput('x0', Float32Array.from({ length: N * N }, () => Math.random() - 0.5));
mex.setInput('x1', Float32Array.from({ length: N * N }, () => Math.random() - 0.5));
const oursMm = await measure('tfm webgpu', () => mex.forward(), MM_REPS);
mex.close();
table(`${N}³ fp32 matmul on WebGPU (with the product read back), median of ${MM_REPS}:`, [oursMm, peer('jax', 'matmul', MM_REPS), peer('tfjs', 'matmul', MM_REPS)], (m) => `${((2 * N ** 3) / m.ms / 1e6).toFixed(2)} GFLOP/s`);
process.exit(0);
