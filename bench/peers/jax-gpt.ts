// jax-js (wasm) peer for the GPT-mini training benchmark: the same model as
// specs/gpt_tiny.tfm, written as a jax-js user would — valueAndGrad of the loss and the Adam
// update inside one jit (PLATFORM.md: @jax-js/optax is not on the registry). jax-js moves
// ownership of every array passed to a function, hence the `.ref` on values used twice.
import { jit, nn, numpy as np, tree, valueAndGrad, type Array as JArray } from '@jax-js/jax';
import type { GptConfig } from './tfjs-gpt.ts';

type Layer = Record<'g1' | 'b1' | 'wq' | 'bq' | 'wk' | 'bk' | 'wv' | 'bv' | 'wo' | 'bo' | 'g2' | 'b2' | 'w1' | 'c1' | 'w2' | 'c2', JArray>;
type Params = { wte: JArray; wpe: JArray; layers: Layer[]; gf: JArray; bf: JArray; head: JArray };

export function jaxStep(cfg: GptConfig): { step: (tokens: Int32Array, targets: Int32Array) => Promise<number> } {
  const { vocab: V, d: D, heads: H, layers: L, batch: B, seq: T } = cfg;
  const hd = D / H;
  const randn = (shape: number[], std = 0.02) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return np.array(Float32Array.from({ length: n }, () => std * Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random()))).reshape(shape);
  };
  const zeros = (n: number) => np.zeros([n]);
  const ones = (n: number) => np.ones([n]);
  let params: Params = {
    wte: randn([V, D]),
    wpe: randn([cfg.ctx, D]),
    layers: Array.from({ length: L }, () => ({ g1: ones(D), b1: zeros(D), wq: randn([D, D]), bq: zeros(D), wk: randn([D, D]), bk: zeros(D), wv: randn([D, D]), bv: zeros(D), wo: randn([D, D]), bo: zeros(D), g2: ones(D), b2: zeros(D), w1: randn([D, 4 * D]), c1: zeros(4 * D), w2: randn([4 * D, D]), c2: zeros(D) })),
    gf: ones(D),
    bf: zeros(D),
    head: randn([D, V]),
  };
  const ln = (x: JArray, g: JArray, b: JArray) => {
    const mean = np.mean(x.ref, -1, { keepdims: true });
    const xc = x.sub(mean);
    const variance = np.mean(np.square(xc.ref), -1, { keepdims: true });
    return xc.mul(np.reciprocal(np.sqrt(variance.add(1e-5)))).mul(g).add(b);
  };
  const causal = np.tri(T, T, 0, { dtype: np.bool });
  const loss = (p: Params, tokens: JArray, targets: JArray) => {
    // One-hot matmuls for the gathers: the gradient of np.take is a scatter, which jit rejects.
    let x = np.matmul(nn.oneHot(tokens, V), p.wte).add(p.wpe);
    for (const l of p.layers) {
      const h = ln(x.ref, l.g1, l.b1);
      // Attention by hand: nn.dotProductAttention uses einsum, which needs iterator helpers
      // that Node 20 lacks (PLATFORM.md).
      const split = (t: JArray) => np.transpose(t.reshape([B, T, H, hd]), [0, 2, 1, 3]);
      const q = split(np.matmul(h.ref, l.wq).add(l.bq));
      const k = split(np.matmul(h.ref, l.wk).add(l.bk));
      const v = split(np.matmul(h, l.wv).add(l.bv));
      const scores = np.where(causal.ref, np.matmul(q, np.transpose(k, [0, 1, 3, 2])).mul(1 / Math.sqrt(hd)), -Infinity);
      const y = np.transpose(np.matmul(nn.softmax(scores, -1), v), [0, 2, 1, 3]).reshape([B, T, D]);
      x = x.add(np.matmul(y, l.wo).add(l.bo));
      const m = nn.gelu(np.matmul(ln(x.ref, l.g2, l.b2), l.w1).add(l.c1), { approximate: true });
      x = x.add(np.matmul(m, l.w2).add(l.c2));
    }
    const logp = nn.logSoftmax(np.matmul(ln(x, p.gf, p.bf), p.head), -1);
    return np.sum(logp.mul(nn.oneHot(targets, V))).mul(-1 / (B * T));
  };
  const lr = 1e-3;
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const train = jit((p: Params, m: Params, v: Params, tokens: JArray, targets: JArray, c1: JArray, c2: JArray) => {
    const [value, g] = valueAndGrad(loss)(tree.ref(p), tokens, targets);
    const mNew = tree.map((mi: JArray, gi: JArray) => mi.mul(b1).add(gi.mul(1 - b1)), m, tree.ref(g)) as Params;
    const vNew = tree.map((vi: JArray, gi: JArray) => vi.mul(b2).add(np.square(gi).mul(1 - b2)), v, g) as Params;
    const pNew = tree.map((pi: JArray, mi: JArray, vi: JArray) => pi.sub(mi.div(c1.ref).mul(lr).div(np.sqrt(vi.div(c2.ref)).add(eps))), p, tree.ref(mNew), tree.ref(vNew)) as Params;
    c1.dispose();
    c2.dispose();
    return [value, pNew, mNew, vNew];
  });
  let m = tree.map((x: JArray) => np.zerosLike(x.ref), params) as Params;
  let v = tree.map((x: JArray) => np.zerosLike(x.ref), params) as Params;
  let t = 0;
  // Async: with worker threads jax-js computes off the main thread, and data() waits for it.
  const step = async (tokens: Int32Array, targets: Int32Array): Promise<number> => {
    t++;
    const out = train(params, m, v, np.array(tokens, { dtype: np.int32 }).reshape([B, T]), np.array(targets, { dtype: np.int32 }).reshape([B, T]), np.array([1 - b1 ** t]), np.array([1 - b2 ** t])) as unknown as [JArray, Params, Params, Params];
    [, params, m, v] = out;
    return (await out[0].data())[0];
  };
  return { step };
}
