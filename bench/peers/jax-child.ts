// One jax-js measurement in a process of its own: `tsx bench/peers/jax-child.ts <task>
// <threads> <reps>`, task `gpt` (GPT-mini training), `matmul` (512³), `bert` (BERT-mini
// forward) or `gen:<model>:<batch>` (generation: prefill, then decode steps). jax-js chooses worker threads once, when its backend starts, so 1 and 2 threads
// need separate processes. Prints one JSON line: { name, ms, first, last }.
import { installWebWorkers } from './web-worker.ts';
import { MATMUL_WARMUP, measure } from '../measure.ts';

const [task, threadsArg, repsArg] = process.argv.slice(2);
const threads = Number(threadsArg);
const reps = Number(repsArg);
if (threads > 1) installWebWorkers(threads);
const { jit, numpy: np } = await import('@jax-js/jax');
const name = `jax-js wasm (${threads > 1 ? `${threads} worker threads` : '1 thread'})`;
let result;
if (task === 'gpt') {
  const { jaxStep } = await import('./jax-gpt.ts');
  const { GPT_MINI } = await import('../configs.ts');
  const { step } = jaxStep(GPT_MINI);
  const n = GPT_MINI.batch * GPT_MINI.seq;
  const batch = () => Int32Array.from({ length: n }, () => Math.floor(Math.random() * GPT_MINI.vocab));
  const [tokens, targets] = [batch(), batch()];
  result = await measure(name, () => step(tokens, targets), reps);
} else if (task === 'matmul') {
  const N = 512;
  const rnd = () => np.array(Float32Array.from({ length: N * N }, () => Math.random() - 0.5)).reshape([N, N]);
  const mm = jit((a: ReturnType<typeof rnd>, b: ReturnType<typeof rnd>) => np.matmul(a, b));
  const [a, b] = [rnd(), rnd()];
  result = await measure(name, async () => {
    const c = mm(a.ref, b.ref);
    const d = await c.data();
    return d[0];
  }, reps, MATMUL_WARMUP);
} else if (task === 'bert') {
  const { jaxBertForward } = await import('./jax-bert.ts');
  const { BERT_MINI } = await import('../configs.ts');
  const forward = jaxBertForward(BERT_MINI);
  const tokens = Int32Array.from({ length: BERT_MINI.batch * BERT_MINI.seq }, () => Math.floor(Math.random() * BERT_MINI.vocab));
  result = await measure(name, () => forward(tokens), reps, 1);
} else if (task.startsWith('gen:')) {
  // gen:<model>:<batch>: prefill and decode with a key/value cache (bench/peers/jax-gen.ts).
  const [, model, batchArg] = task.split(':');
  const { jaxGenerator } = await import('./jax-gen.ts');
  const { GEN_MODELS } = await import('../configs.ts');
  const cfg = { ...GEN_MODELS[model], batch: Number(batchArg) };
  const gen = jaxGenerator(cfg);
  const ids = (n: number) => Int32Array.from({ length: n }, () => Math.floor(Math.random() * cfg.vocab));
  const prompt = ids(cfg.batch * cfg.prompt);
  const prefill = await measure(name, () => gen.prefill(prompt), reps, 1);
  const token = ids(cfg.batch);
  const decode = await measure(name, () => gen.decode(token), 4 * reps, 2);
  result = { prefill, decode };
} else throw new Error(`unknown task ${task}`);
console.log(JSON.stringify(result));
process.exit(0);
