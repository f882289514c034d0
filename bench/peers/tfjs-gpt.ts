// TensorFlow.js (wasm backend) peer for the GPT-mini training benchmark: the same model as
// specs/gpt_tiny.tfm (pre-norm, learned positions, tanh-GELU, untied head, biases, Adam),
// written the way its users write it, with explicit transposes (PLATFORM.md: tfjs-wasm's
// transposed matMul flags are ~15x slower) and the embedding as a one-hot matmul (tf.gather
// has no gradient on wasm).
import { createRequire } from 'node:module';
import type * as TF from '@tensorflow/tfjs-core';

// The CommonJS bundles: tfjs's ESM builds import directories, which Node's ESM loader rejects.
const require = createRequire(import.meta.url);
const tf = require('@tensorflow/tfjs') as typeof TF; // the union bundle registers every gradient
require('@tensorflow/tfjs-backend-wasm');

/** The tfjs module, with the WebGPU backend registered (loaded only when asked for: it needs
 *  navigator.gpu, which bench/peers/webgpu-child.ts provides). */
export function tfjs(): typeof TF {
  require('@tensorflow/tfjs-backend-webgpu');
  return tf;
}

export interface GptConfig {
  vocab: number;
  ctx: number;
  d: number;
  heads: number;
  layers: number;
  batch: number;
  seq: number;
}

export async function tfjsStep(cfg: GptConfig, backend: 'wasm' | 'webgpu' = 'wasm'): Promise<{ step: (tokens: Int32Array, targets: Int32Array) => Promise<number>; backend: string }> {
  // wasm: the fastest configuration that runs in Node: the SIMD build, one thread (the default
  // here). Its threaded-SIMD build cannot start in Node: forcing WASM_HAS_MULTITHREAD_SUPPORT
  // makes Emscripten create its pthread workers from blob: URLs, which worker_threads refuses
  // (ERR_WORKER_PATH), and the backend fails to initialise.
  if (backend === 'webgpu') tfjs();
  await tf.setBackend(backend);
  await tf.ready();
  const { vocab: V, d: D, heads: H, layers: L, batch: B, seq: T } = cfg;
  const hd = D / H;
  const w = (shape: number[], std = 0.02) => tf.variable(tf.randomNormal(shape, 0, std));
  const z = (n: number) => tf.variable(tf.zeros([n]));
  const o = (n: number) => tf.variable(tf.ones([n]));
  const p = {
    wte: w([V, D]),
    wpe: w([cfg.ctx, D]),
    layers: Array.from({ length: L }, () => ({ g1: o(D), b1: z(D), wq: w([D, D]), bq: z(D), wk: w([D, D]), bk: z(D), wv: w([D, D]), bv: z(D), wo: w([D, D]), bo: z(D), g2: o(D), b2: z(D), w1: w([D, 4 * D]), c1: z(4 * D), w2: w([4 * D, D]), c2: z(D) })),
    gf: o(D),
    bf: z(D),
    head: w([D, V]),
  };
  // Functional ops only: the CommonJS bundle does not register the chained-method API.
  const { add, sub, mul, matMul, reshape, transpose } = tf;
  const ln = (x: TF.Tensor, g: TF.Variable, b: TF.Variable) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return add(mul(mul(sub(x, mean), tf.rsqrt(add(variance, 1e-5))), g), b);
  };
  const gelu = (x: TF.Tensor) => mul(mul(x, 0.5), add(tf.tanh(mul(add(x, mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI))), 1));
  const mask = mul(sub(tf.linalg.bandPart(tf.ones([T, T]), -1, 0), 1), 1e9);
  const heads = (x: TF.Tensor) => transpose(reshape(x, [B, T, H, hd]), [0, 2, 1, 3]);
  const vars = [p.wte, p.wpe, ...p.layers.flatMap((l) => Object.values(l)), p.gf, p.bf, p.head] as TF.Variable[];
  const opt = tf.train.adam(1e-3);
  // The loss is read asynchronously: tfjs WebGPU in Node has no synchronous read (dataSync
  // needs an OffscreenCanvas).
  const step = async (tokens: Int32Array, targets: Int32Array): Promise<number> => {
    const ids = tf.tensor1d(tokens, 'int32');
    const tgt = tf.oneHot(tf.tensor1d(targets, 'int32'), V);
    const loss = opt.minimize(() => {
      let x = add(matMul(tf.cast(tf.oneHot(ids, V), 'float32'), p.wte), tf.tile(tf.slice(p.wpe, [0, 0], [T, D]), [B, 1]));
      for (const l of p.layers) {
        const h = ln(x, l.g1, l.b1);
        const q = heads(add(matMul(h, l.wq), l.bq));
        const k = heads(add(matMul(h, l.wk), l.bk));
        const v = heads(add(matMul(h, l.wv), l.bv));
        const att = tf.softmax(add(mul(matMul(q, transpose(k, [0, 1, 3, 2])), 1 / Math.sqrt(hd)), mask));
        const y = reshape(transpose(matMul(att, v), [0, 2, 1, 3]), [B * T, D]);
        x = add(x, add(matMul(y, l.wo), l.bo));
        x = add(x, add(matMul(gelu(add(matMul(ln(x, l.g2, l.b2), l.w1), l.c1)), l.w2), l.c2));
      }
      return tf.losses.softmaxCrossEntropy(tgt, matMul(ln(x, p.gf, p.bf), p.head)) as TF.Scalar;
    }, true, vars)!;
    const value = (await loss.data())[0];
    tf.dispose([loss, ids, tgt]);
    return value;
  };
  return { step, backend: tf.getBackend() };
}
