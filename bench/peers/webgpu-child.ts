// One peer measurement on WebGPU in a process of its own (each library picks its device once):
// `tsx bench/peers/webgpu-child.ts <jax|tfjs> <gpt|matmul> <reps>`. Both run on the adapter
// Dawn offers this process — the one tfm's WebGPU executor uses. Prints one JSON line:
// { name, ms, first, last }.
import { create, globals } from 'webgpu';
import { measure } from '../measure.ts';
import { GPT_MINI } from '../configs.ts';

const [peer, task, repsArg] = process.argv.slice(2);
const reps = Number(repsArg);
Object.assign(globalThis, globals);
// Kept reachable for the whole run: Dawn's GPU object must outlive every device.
const gpu = create([]);
Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: 'node', hardwareConcurrency: 2 }, configurable: true });
const N = 512;
const n = GPT_MINI.batch * GPT_MINI.seq;
const ids = () => Int32Array.from({ length: n }, () => Math.floor(Math.random() * GPT_MINI.vocab));
const square = () => Float32Array.from({ length: N * N }, () => Math.random() - 0.5);
let result;
if (peer === 'jax') {
  const jax = await import('@jax-js/jax');
  await jax.init('webgpu');
  jax.defaultDevice('webgpu');
  const name = 'jax-js WebGPU';
  if (task === 'gpt') {
    const { jaxStep } = await import('./jax-gpt.ts');
    const { step } = jaxStep(GPT_MINI);
    const [tokens, targets] = [ids(), ids()];
    result = await measure(name, () => step(tokens, targets), reps);
  } else {
    const np = jax.numpy;
    const mm = jax.jit((a: ReturnType<typeof np.array>, b: ReturnType<typeof np.array>) => np.matmul(a, b));
    const [a, b] = [np.array(square()).reshape([N, N]), np.array(square()).reshape([N, N])];
    result = await measure(name, async () => (await mm(a.ref, b.ref).data())[0], reps);
  }
} else if (peer === 'tfjs') {
  const { tfjsStep, tfjs } = await import('./tfjs-gpt.ts');
  const name = 'TensorFlow.js WebGPU';
  if (task === 'gpt') {
    const { step } = await tfjsStep(GPT_MINI, 'webgpu');
    const [tokens, targets] = [ids(), ids()];
    result = await measure(name, () => step(tokens, targets), reps);
  } else {
    const tf = tfjs();
    await tf.setBackend('webgpu');
    await tf.ready();
    const [a, b] = [tf.tensor2d(square(), [N, N]), tf.tensor2d(square(), [N, N])];
    result = await measure(name, async () => {
      const c = tf.matMul(a, b);
      const d = await c.data();
      c.dispose();
      return d[0];
    }, reps);
  }
} else throw new Error(`unknown peer ${peer}`);
console.log(JSON.stringify(result));
process.exit(0);
