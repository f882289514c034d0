// jax-js BERT-mini forward for the benchmark: the model of bench/bert_mini.tfm (learned
// positions, post-norm blocks, erf-GELU, the tied masked-LM head with its transform), as a
// jax-js user writes it: one jit of the forward from tokens to logits. No padding, so no mask.
import { jit, nn, numpy as np, type Array as JArray } from '@jax-js/jax';
import type { BertConfig } from '../configs.ts';

export function jaxBertForward(cfg: BertConfig): (tokens: Int32Array) => Promise<number> {
  const { vocab: V, d: D, heads: H, layers: L, batch: B, seq: T } = cfg;
  const hd = D / H;
  const randn = (shape: number[], std = 0.02) => np.array(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => std * Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random()))).reshape(shape);
  const zeros = (n: number) => np.zeros([n]);
  const ones = (n: number) => np.ones([n]);
  const layer = () => ({ wq: randn([D, D]), bq: zeros(D), wk: randn([D, D]), bk: zeros(D), wv: randn([D, D]), bv: zeros(D), wo: randn([D, D]), bo: zeros(D), g1: ones(D), b1: zeros(D), w1: randn([D, 4 * D]), c1: zeros(4 * D), w2: randn([4 * D, D]), c2: zeros(D), g2: ones(D), b2: zeros(D) });
  const p = { wte: randn([V, D]), wpe: randn([T, D]), ge: ones(D), be: zeros(D), layers: Array.from({ length: L }, layer), wt: randn([D, D]), bt: zeros(D), gt: ones(D), bt2: zeros(D), bias: zeros(V) };
  type P = typeof p;
  const ln = (x: JArray, g: JArray, b: JArray) => {
    const mean = np.mean(x.ref, -1, { keepdims: true });
    const xc = x.sub(mean);
    const variance = np.mean(np.square(xc.ref), -1, { keepdims: true });
    return xc.mul(np.reciprocal(np.sqrt(variance.add(1e-12)))).mul(g).add(b);
  };
  const forward = jit((q: P, tokens: JArray) => {
    // A gather (forward only: the training peer needs a one-hot matmul, np.take's gradient
    // is a scatter that jit rejects).
    let x = ln(np.take(q.wte.ref, tokens, 0).add(q.wpe), q.ge, q.be);
    for (const l of q.layers) {
      const split = (t: JArray) => np.transpose(t.reshape([B, T, H, hd]), [0, 2, 1, 3]);
      const qh = split(np.matmul(x.ref, l.wq).add(l.bq));
      const kh = split(np.matmul(x.ref, l.wk).add(l.bk));
      const vh = split(np.matmul(x.ref, l.wv).add(l.bv));
      const probs = nn.softmax(np.matmul(qh, np.transpose(kh, [0, 1, 3, 2])).mul(1 / Math.sqrt(hd)), -1);
      const y = np.transpose(np.matmul(probs, vh), [0, 2, 1, 3]).reshape([B, T, D]);
      x = ln(x.add(np.matmul(y, l.wo).add(l.bo)), l.g1, l.b1);
      const m = nn.gelu(np.matmul(x.ref, l.w1).add(l.c1), { approximate: false });
      x = ln(x.add(np.matmul(m, l.w2).add(l.c2)), l.g2, l.b2);
    }
    const h = ln(nn.gelu(np.matmul(x, q.wt).add(q.bt), { approximate: false }), q.gt, q.bt2);
    return np.matmul(h, np.transpose(q.wte, [1, 0])).add(q.bias);
  });
  return async (tokens: Int32Array) => {
    const logits = forward(structuredRef(p), np.array(tokens, { dtype: np.int32 }).reshape([B, T]));
    const data = await logits.data();
    return data[0];
  };
}

/** jax-js takes ownership of arguments: pass references so that the weights survive. */
export function structuredRef<T>(x: T): T {
  if (x && typeof x === 'object' && 'ref' in (x as object) && typeof (x as { ref: unknown }).ref === 'object') return (x as unknown as { ref: T }).ref;
  if (Array.isArray(x)) return x.map(structuredRef) as T;
  if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, structuredRef(v)])) as T;
  return x;
}
