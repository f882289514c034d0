// jax-js peer for the generation benchmark: a GPT-2-layout decoder (pre-norm, learned
// positions, tanh-GELU, untied head — gpt_tiny's and gpt2_small's layout) with a key/value
// cache, as a jax-js user writes it: one jit for the prefill (the prompt in one pass, logits
// at every position, as ours computes them) and one for a decode step (one token per row, the
// cache updated by a one-hot mask — jit wants fixed shapes). Every row is at the same position.
import { jit, nn, numpy as np, type Array as JArray } from '@jax-js/jax';
import { structuredRef } from './jax-bert.ts';

export interface GenConfig {
  vocab: number;
  d: number;
  heads: number;
  layers: number;
  ctx: number;
  batch: number;
  prompt: number;
}

export function jaxGenerator(cfg: GenConfig) {
  const { vocab: V, d: D, heads: H, layers: L, ctx: C, batch: B, prompt: P } = cfg;
  const hd = D / H;
  const randn = (shape: number[], std = 0.02) => np.array(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => std * Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random()))).reshape(shape);
  const zeros = (n: number) => np.zeros([n]);
  const ones = (n: number) => np.ones([n]);
  const layer = () => ({ g1: ones(D), b1: zeros(D), wq: randn([D, D]), bq: zeros(D), wk: randn([D, D]), bk: zeros(D), wv: randn([D, D]), bv: zeros(D), wo: randn([D, D]), bo: zeros(D), g2: ones(D), b2: zeros(D), w1: randn([D, 4 * D]), c1: zeros(4 * D), w2: randn([4 * D, D]), c2: zeros(D) });
  const p = { wte: randn([V, D]), wpe: randn([C, D]), layers: Array.from({ length: L }, layer), gf: ones(D), bf: zeros(D), head: randn([D, V]) };
  type Params = typeof p;
  const ln = (x: JArray, g: JArray, b: JArray) => {
    const mean = np.mean(x.ref, -1, { keepdims: true });
    const xc = x.sub(mean);
    const variance = np.mean(np.square(xc.ref), -1, { keepdims: true });
    return xc.mul(np.reciprocal(np.sqrt(variance.add(1e-5)))).mul(g).add(b);
  };
  const heads = (t: JArray, T: number) => np.transpose(t.reshape([B, T, H, hd]), [0, 2, 1, 3]);
  const causal = np.tri(P, P, 0, { dtype: np.bool });
  const prefill = jit((q: Params, tokens: JArray) => {
    let x = np.take(q.wte, tokens, 0).add(q.wpe.slice([0, P]));
    const caches: JArray[] = [];
    for (const l of q.layers) {
      const h = ln(x.ref, l.g1, l.b1);
      const qh = heads(np.matmul(h.ref, l.wq).add(l.bq), P);
      const kh = heads(np.matmul(h.ref, l.wk).add(l.bk), P);
      const vh = heads(np.matmul(h, l.wv).add(l.bv), P);
      const scores = np.where(causal.ref, np.matmul(qh, np.transpose(kh.ref, [0, 1, 3, 2])).mul(1 / Math.sqrt(hd)), -Infinity);
      const y = np.transpose(np.matmul(nn.softmax(scores, -1), vh.ref), [0, 2, 1, 3]).reshape([B, P, D]);
      x = x.add(np.matmul(y, l.wo).add(l.bo));
      x = x.add(np.matmul(nn.gelu(np.matmul(ln(x.ref, l.g2, l.b2), l.w1).add(l.c1), { approximate: true }), l.w2).add(l.c2));
      // The cache holds the context: the prompt's keys and values, then zeros.
      const pad = np.zeros([B, H, C - P, hd]);
      caches.push(np.concatenate([kh, pad.ref], 2), np.concatenate([vh, pad], 2));
    }
    return [np.matmul(ln(x, q.gf, q.bf), q.head), ...caches];
  });
  const positions = np.arange(C);
  const decode = jit((q: Params, caches: JArray[], token: JArray, pos: JArray) => {
    // pos: the row's position (a 0-d int32 array, so that one compiled step serves them all).
    const at = np.equal(positions.ref, pos.ref);
    const oneHot = at.ref.astype(np.float32).reshape([1, 1, C, 1]);
    const visible = np.lessEqual(positions.ref, pos).reshape([1, 1, 1, C]);
    let x = np.take(q.wte, token, 0).add(np.matmul(at.astype(np.float32).reshape([1, C]), q.wpe));
    const out: JArray[] = [];
    q.layers.forEach((l, n) => {
      const h = ln(x.ref, l.g1, l.b1);
      const qh = heads(np.matmul(h.ref, l.wq).add(l.bq), 1);
      const kh = heads(np.matmul(h.ref, l.wk).add(l.bk), 1);
      const vh = heads(np.matmul(h, l.wv).add(l.bv), 1);
      const keep = np.subtract(1, oneHot.ref);
      const k = caches[2 * n].mul(keep.ref).add(kh.mul(oneHot.ref));
      const v = caches[2 * n + 1].mul(keep).add(vh.mul(oneHot.ref));
      const scores = np.where(visible.ref, np.matmul(qh, np.transpose(k.ref, [0, 1, 3, 2])).mul(1 / Math.sqrt(hd)), -Infinity);
      const y = np.transpose(np.matmul(nn.softmax(scores, -1), v.ref), [0, 2, 1, 3]).reshape([B, 1, D]);
      x = x.add(np.matmul(y, l.wo).add(l.bo));
      x = x.add(np.matmul(nn.gelu(np.matmul(ln(x.ref, l.g2, l.b2), l.w1).add(l.c1), { approximate: true }), l.w2).add(l.c2));
      out.push(k, v);
    });
    oneHot.dispose();
    visible.dispose();
    return [np.matmul(ln(x, q.gf, q.bf), q.head), ...out];
  });
  let caches: JArray[] = [];
  let pos = P;
  return {
    /** The prompts [B, P] in one pass; waits for the logits and the last layer's cache. */
    async prefill(tokens: Int32Array): Promise<number> {
      for (const c of caches) c.dispose();
      const [logits, ...c] = prefill(structuredRef(p), np.array(tokens, { dtype: np.int32 }).reshape([B, P])) as JArray[];
      caches = c;
      pos = P;
      const v = (await logits.data())[0];
      await caches[caches.length - 1].ref.data();
      return v;
    },
    /** One new token per row at the next position; waits for its logits. */
    async decode(tokens: Int32Array): Promise<number> {
      const [logits, ...c] = decode(structuredRef(p), caches, np.array(tokens, { dtype: np.int32 }).reshape([B, 1]), np.array(Int32Array.of(pos), { dtype: np.int32 }).reshape([])) as JArray[];
      caches = c;
      pos = Math.min(pos + 1, C - 1);
      return (await logits.data())[0];
    },
  };
}
