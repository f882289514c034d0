// The float64 reference interpreter of the tensor graph: the definition of every op's
// meaning and the oracle that tests compare generated kernels and gradients against.
// Written for clarity, never for speed; it is never on the execution path of `runtime/`.
import type { Graph, Node, Value } from './ir.ts';
import { resolveShape } from './ir.ts';

export interface Tensor {
  shape: number[];
  data: Float64Array | Int32Array;
}

export interface RunArgs {
  params: Map<string, Float64Array>;
  inputs: Map<string, Float64Array | Int32Array>;
  dims: Record<string, number>;
}

export function runReference(graph: Graph, args: RunArgs): Map<number, Tensor> {
  const env = new Map<number, Tensor>();
  for (const p of graph.params) {
    const data = args.params.get(p.name);
    if (!data) throw new Error(`no value for parameter ${p.name}`);
    env.set(p.value.id, { shape: resolveShape(p.value.shape, args.dims), data });
  }
  for (const i of graph.inputs) {
    const data = args.inputs.get(i.name);
    if (!data) throw new Error(`no value for input ${i.name}`);
    env.set(i.value.id, { shape: resolveShape(i.value.shape, args.dims), data });
  }
  for (const node of graph.nodes) {
    const ins = node.inputs.map((v) => {
      const t = env.get(v.id);
      if (!t) throw new Error(`value %${v.id} used by ${node.op} before it is defined`);
      return t;
    });
    const outs = KERNELS[node.op]?.(ins, node, args.dims);
    if (!outs) throw new Error(`reference interpreter has no op ${node.op}`);
    node.outputs.forEach((v, i) => env.set(v.id, outs[i]));
  }
  return env;
}

export function valueOf(env: Map<number, Tensor>, v: Value): Tensor {
  const t = env.get(v.id);
  if (!t) throw new Error(`value %${v.id} was not computed`);
  return t;
}

type Kernel = (ins: Tensor[], node: Node, dims: Record<string, number>) => Tensor[];
const f64 = (shape: number[]): Tensor => ({ shape, data: new Float64Array(shape.reduce((a, b) => a * b, 1)) });
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
const lastDim = (t: Tensor) => t.shape[t.shape.length - 1];

function broadcastShape(a: number[], b: number[]): number[] {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => Math.max(a[a.length - n + i] ?? 1, b[b.length - n + i] ?? 1));
}

/** Flat index into `shape` for the multi-index `idx` of a broadcast output of rank `idx.length`. */
function broadcastOffset(idx: number[], shape: number[]): number {
  let off = 0;
  const skip = idx.length - shape.length;
  for (let i = 0; i < shape.length; i++) off = off * shape[i] + (shape[i] === 1 ? 0 : idx[skip + i]);
  return off;
}

function forEachIndex(shape: number[], fn: (idx: number[], flat: number) => void): void {
  const idx = new Array(shape.length).fill(0);
  const n = size(shape);
  for (let flat = 0; flat < n; flat++) {
    fn(idx, flat);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

function binary(f: (x: number, y: number) => number): Kernel {
  return ([a, b]) => {
    const out = f64(broadcastShape(a.shape, b.shape));
    forEachIndex(out.shape, (idx, flat) => {
      out.data[flat] = f(a.data[broadcastOffset(idx, a.shape)], b.data[broadcastOffset(idx, b.shape)]);
    });
    return [out];
  };
}

// ---- activations ------------------------------------------------------------------------

/** erf to ~1e-15: Taylor series below 3, continued fraction for erfc above. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = ax;
    let sum = ax;
    const x2 = ax * ax;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * sum * (2 / Math.sqrt(Math.PI));
  }
  // erfc(x) = exp(-x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))), Lentz's method
  let f = ax;
  let c = ax;
  let d = 0;
  for (let n = 1; n < 300; n++) {
    const an = n / 2;
    d = ax + an * d;
    d = 1 / d;
    c = ax + an / c;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
export const ACT: Record<string, { f: (x: number) => number; df: (x: number) => number }> = {
  relu: { f: (x) => (x > 0 ? x : 0), df: (x) => (x > 0 ? 1 : 0) },
  gelu: { f: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)), df: (x) => 0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI) },
  gelu_tanh: {
    f: (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x ** 3))),
    df: (x) => {
      const u = SQRT_2_OVER_PI * (x + 0.044715 * x ** 3);
      const t = Math.tanh(u);
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
    },
  },
  tanh: { f: Math.tanh, df: (x) => 1 - Math.tanh(x) ** 2 },
  sigmoid: { f: (x) => 1 / (1 + Math.exp(-x)), df: (x) => Math.exp(-x) / (1 + Math.exp(-x)) ** 2 },
  silu: { f: (x) => x / (1 + Math.exp(-x)), df: (x) => 1 / (1 + Math.exp(-x)) + (x * Math.exp(-x)) / (1 + Math.exp(-x)) ** 2 },
};

// ---- dropout ----------------------------------------------------------------------------

/** Counter-based uniform in [0, 1) from (seed, salt, index): the same stream in every target. */
export function dropoutUniform(seed: number, salt: number, index: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(salt + 0x632be5ab, 0xc2b2ae35) ^ Math.imul(index + 0x27d4eb2f, 0x165667b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

// ---- attention --------------------------------------------------------------------------

/** T5's relative position bucket (Hugging Face `_relative_position_bucket`). */
export function relativeBucket(relative: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number {
  let buckets = 0;
  let n = numBuckets;
  let rel = relative;
  if (bidirectional) {
    n = Math.floor(n / 2);
    if (rel > 0) buckets += n;
    rel = Math.abs(rel);
  } else rel = -Math.min(rel, 0);
  const maxExact = Math.floor(n / 2);
  if (rel < maxExact) return buckets + rel;
  const large = maxExact + Math.trunc((Math.log(rel / maxExact) / Math.log(maxDistance / maxExact)) * (n - maxExact));
  return buckets + Math.min(large, n - 1);
}

interface AttnShape {
  B: number;
  Tq: number;
  Tk: number;
  H: number;
  KV: number;
  hd: number;
}

function attnInputs(ins: Tensor[], a: Node['attrs']) {
  let i = 3;
  const bias = a.has_bias ? ins[i++] : undefined;
  const keyMask = a.has_key_mask ? ins[i++] : undefined;
  const prefix = a.has_prefix ? ins[i++] : undefined;
  const qPos = a.has_q_pos ? ins[i++] : undefined;
  const seed = a.p_drop ? (ins[i++].data[0] as number) : 0;
  const [q, k] = ins;
  const s: AttnShape = { B: q.shape[0], Tq: q.shape[1], Tk: k.shape[1], H: a.heads as number, KV: a.kv_heads as number, hd: a.head_dim as number };
  return { bias, keyMask, prefix, qPos, s, seed };
}

/** Dropout keep-scale of probability (b, h, i, j): 0 or 1/(1-p), from the counter hash. */
function dropKeep(a: Node['attrs'], seed: number, s: AttnShape, b: number, h: number, i: number, j: number): number {
  const p = (a.p_drop as number) ?? 0;
  if (!p) return 1;
  return dropoutUniform(seed, a.salt as number, ((b * s.H + h) * s.Tq + i) * s.Tk + j) < p ? 0 : 1 / (1 - p);
}

function visible(a: Node['attrs'], b: number, i: number, j: number, keyMask?: Tensor, prefix?: Tensor, Tk = 0): boolean {
  if (keyMask && keyMask.data[b * Tk + j] === 0) return false;
  switch (a.mask) {
    case 'causal':
      return j <= i;
    case 'local':
      return j <= i && i - j < (a.window as number);
    case 'prefix':
      return j <= i || j < (prefix!.data[b] as number);
    default:
      return true;
  }
}

/** Rotates head vectors in place (rotate-half form); `sign` -1 applies the inverse rotation. */
function rotary(x: Float64Array, off: number, hd: number, pos: number, sign: number, base: number): void {
  const half = hd / 2;
  for (let d = 0; d < half; d++) {
    const theta = pos * base ** ((-2 * d) / hd);
    const c = Math.cos(theta);
    const s = Math.sin(theta) * sign;
    const x1 = x[off + d];
    const x2 = x[off + d + half];
    x[off + d] = x1 * c - x2 * s;
    x[off + d + half] = x2 * c + x1 * s;
  }
}

/** Rotary positions: every head vector of x [B, T, H·hd] rotated by its position (t, or
 *  past[b] + t with a key/value cache);
 *  `inverse` applies the transposed rotation (the gradient). */
function rotaryKernel([x, past]: Tensor[], node: Node): Tensor[] {
  const out = Float64Array.from(x.data as Float64Array);
  const [B, T] = x.shape;
  const hd = node.attrs.head_dim as number;
  const heads = x.shape[2] / hd;
  for (let b = 0; b < B; b++) for (let i = 0; i < T; i++) for (let h = 0; h < heads; h++) rotary(out, (b * T + i) * heads * hd + h * hd, hd, i + (past ? (past.data[b] as number) : 0), node.attrs.inverse ? -1 : 1, node.attrs.base as number);
  return [{ shape: x.shape, data: out }];
}

/** Softmax probabilities for one (b, h, i) row; masked keys get 0; an all-masked row is all 0.
 *  `stats`, when given, receives the row's log-sum-exp of the scores (0 for an all-masked row). */
function probs(q: Float64Array, k: Float64Array, a: Node['attrs'], s: AttnShape, b: number, h: number, i: number, bias?: Tensor, keyMask?: Tensor, prefix?: Tensor, stats?: { lse: number }, qPos?: Tensor): Float64Array {
  const { Tq, Tk, H, KV, hd } = s;
  // Query i's position among the keys: i itself, or past[b] + i with a key/value cache.
  const at = i + (qPos ? (qPos.data[b] as number) : 0);
  const kh = Math.floor(h / (H / KV));
  const scale = a.scale as number;
  const p = new Float64Array(Tk);
  let max = -Infinity;
  const qo = (b * Tq + i) * H * hd + h * hd;
  for (let j = 0; j < Tk; j++) {
    if (!visible(a, b, at, j, keyMask, prefix, Tk)) {
      p[j] = -Infinity;
      continue;
    }
    const ko = (b * Tk + j) * KV * hd + kh * hd;
    let dot = 0;
    for (let d = 0; d < hd; d++) dot += q[qo + d] * k[ko + d];
    let sc = dot * scale;
    if (bias) sc += bias.data[relativeBucket(j - at, !!a.rel_bidirectional, a.rel_buckets as number, a.rel_max_distance as number) * H + h];
    p[j] = sc;
    if (sc > max) max = sc;
  }
  if (stats) stats.lse = 0;
  if (max === -Infinity) return p.fill(0);
  let sum = 0;
  for (let j = 0; j < Tk; j++) sum += p[j] = p[j] === -Infinity ? 0 : Math.exp(p[j] - max);
  if (stats) stats.lse = max + Math.log(sum);
  for (let j = 0; j < Tk; j++) p[j] /= sum;
  return p;
}

const attentionKernel: Kernel = (ins, node) => {
  const a = node.attrs;
  const { bias, keyMask, prefix, qPos, s, seed } = attnInputs(ins, a);
  const { B, Tq, Tk, H, KV, hd } = s;
  const q = ins[0].data as Float64Array;
  const k = ins[1].data as Float64Array;
  const v = ins[2].data;
  const out = f64([B, Tq, H * hd]);
  const lse = f64([B, Tq, H]);
  const stats = { lse: 0 };
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const kh = Math.floor(h / (H / KV));
      for (let i = 0; i < Tq; i++) {
        const p = probs(q, k, a, s, b, h, i, bias, keyMask, prefix, stats, qPos);
        lse.data[(b * Tq + i) * H + h] = stats.lse;
        const oo = (b * Tq + i) * H * hd + h * hd;
        for (let j = 0; j < Tk; j++) {
          const pj = p[j] * dropKeep(a, seed, s, b, h, i, j);
          if (pj === 0) continue;
          const vo = (b * Tk + j) * KV * hd + kh * hd;
          for (let d = 0; d < hd; d++) out.data[oo + d] += pj * v[vo + d];
        }
      }
    }
  return [out, lse];
};

const attentionGradKernel: Kernel = (ins, node) => {
  const a = node.attrs;
  const { bias, keyMask, prefix, s, seed } = attnInputs(ins, a);
  const { B, Tq, Tk, H, KV, hd } = s;
  const dOut = ins[ins.length - 1].data;
  const q = ins[0].data as Float64Array;
  const k = ins[1].data as Float64Array;
  const v = ins[2].data;
  const dq = f64(ins[0].shape);
  const dk = f64(ins[1].shape);
  const dv = f64(ins[2].shape);
  const dbias = bias ? f64(bias.shape) : undefined;
  const scale = a.scale as number;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const kh = Math.floor(h / (H / KV));
      for (let i = 0; i < Tq; i++) {
        const p = probs(q, k, a, s, b, h, i, bias, keyMask, prefix);
        const oo = (b * Tq + i) * H * hd + h * hd;
        const dp = new Float64Array(Tk);
        let dot = 0;
        for (let j = 0; j < Tk; j++) {
          if (p[j] === 0) continue;
          const keep = dropKeep(a, seed, s, b, h, i, j);
          const vo = (b * Tk + j) * KV * hd + kh * hd;
          for (let d = 0; d < hd; d++) {
            dv.data[vo + d] += p[j] * keep * dOut[oo + d];
            dp[j] += dOut[oo + d] * v[vo + d];
          }
          dp[j] *= keep;
          dot += p[j] * dp[j];
        }
        for (let j = 0; j < Tk; j++) {
          if (p[j] === 0) continue;
          const ds = p[j] * (dp[j] - dot);
          const ko = (b * Tk + j) * KV * hd + kh * hd;
          for (let d = 0; d < hd; d++) {
            dq.data[oo + d] += ds * scale * k[ko + d];
            dk.data[ko + d] += ds * scale * q[oo + d];
          }
          if (dbias) dbias.data[relativeBucket(j - i, !!a.rel_bidirectional, a.rel_buckets as number, a.rel_max_distance as number) * H + h] += ds;
        }
      }
    }
  return dbias ? [dq, dk, dv, dbias] : [dq, dk, dv];
};

// ---- the kernel table -------------------------------------------------------------------

const KERNELS: Record<string, Kernel> = {
  embedding: ([table, ids]) => {
    const D = table.shape[1];
    const out = f64([...ids.shape, D]);
    for (let r = 0; r < ids.data.length; r++) {
      const id = ids.data[r];
      if (id < 0 || id >= table.shape[0]) throw new Error(`token id ${id} outside the vocabulary of ${table.shape[0]}`);
      out.data.set(table.data.subarray(id * D, id * D + D), r * D);
    }
    return [out];
  },
  embedding_grad: ([ids, dy], node, dims) => {
    const D = lastDim(dy);
    const out = f64([resolveDim(node.attrs.vocab, dims), D]);
    for (let r = 0; r < ids.data.length; r++) for (let d = 0; d < D; d++) out.data[ids.data[r] * D + d] += dy.data[r * D + d];
    return [out];
  },
  slice_rows: ([t], node, dims) => {
    const rows = resolveDim(node.attrs.rows, dims);
    const off = (node.attrs.offset as number) ?? 0;
    const D = t.shape[1];
    if (off + rows > t.shape[0]) throw new Error(`sequence of ${rows} exceeds the ${t.shape[0] - off} learned positions`);
    return [{ shape: [rows, D], data: Float64Array.from(t.data.subarray(off * D, (off + rows) * D)) }];
  },
  slice_rows_grad: ([dy], node, dims) => {
    const out = f64([resolveDim(node.attrs.total, dims), dy.shape[1]]);
    out.data.set(dy.data, ((node.attrs.offset as number) ?? 0) * dy.shape[1]);
    return [out];
  },
  matmul: ([a, b], node) => {
    const ta = !!node.attrs.ta;
    const tb = !!node.attrs.tb;
    const Ka = lastDim(a);
    const Ra = a.data.length / Ka;
    const Kb = lastDim(b);
    const Rb = b.data.length / Kb;
    const [M, K] = ta ? [Ka, Ra] : [Ra, Ka];
    const N = tb ? Rb : Kb;
    const A = (m: number, k: number) => (ta ? a.data[k * Ka + m] : a.data[m * Ka + k]);
    const Bv = (k: number, n: number) => (tb ? b.data[n * Kb + k] : b.data[k * Kb + n]);
    const shape = ta ? [Ka, N] : [...a.shape.slice(0, -1), N];
    const out = f64(shape);
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += A(m, k) * Bv(k, n);
        out.data[m * N + n] = acc;
      }
    return [out];
  },
  add: binary((x, y) => x + y),
  sub: binary((x, y) => x - y),
  mul: binary((x, y) => x * y),
  scale: ([x], node) => [{ shape: x.shape, data: (x.data as Float64Array).map((v) => v * (node.attrs.c as number)) }],
  reduce_to: ([x], node, dims) => {
    const shape = (node.attrs.shape as (number | string)[]).map((d) => resolveDim(d, dims));
    const out = f64(shape);
    forEachIndex(x.shape, (idx, flat) => {
      out.data[broadcastOffset(idx, shape)] += x.data[flat];
    });
    return [out];
  },
  reshape: ([x], node, dims) => [{ shape: (node.attrs.shape as (number | string)[]).map((d) => resolveDim(d, dims)), data: x.data }],
  broadcast: ([x], node, dims) => {
    const shape = (node.attrs.shape as (number | string)[]).map((d) => resolveDim(d, dims));
    const out = f64(shape);
    forEachIndex(shape, (idx, flat) => {
      out.data[flat] = x.data[broadcastOffset(idx, x.shape)];
    });
    return [out];
  },
  act: ([x], node) => [{ shape: x.shape, data: (x.data as Float64Array).map(ACT[node.attrs.kind as string].f) }],
  act_grad: ([x, dy], node) => {
    const df = ACT[node.attrs.kind as string].df;
    return [{ shape: x.shape, data: (x.data as Float64Array).map((v, i) => df(v) * dy.data[i]) }];
  },
  layernorm: ([x, g, b], node) => {
    const D = lastDim(x);
    const eps = node.attrs.eps as number;
    const out = f64(x.shape);
    for (let r = 0; r < x.data.length / D; r++) {
      const row = x.data.subarray(r * D, r * D + D) as Float64Array;
      const mean = row.reduce((s, v) => s + v, 0) / D;
      const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / D;
      const rstd = 1 / Math.sqrt(variance + eps);
      for (let d = 0; d < D; d++) out.data[r * D + d] = (row[d] - mean) * rstd * g.data[d] + (b ? b.data[d] : 0);
    }
    return [out];
  },
  layernorm_grad: ([x, g, dy], node) => {
    const D = lastDim(x);
    const eps = node.attrs.eps as number;
    const dx = f64(x.shape);
    const dg = f64([D]);
    const db = f64([D]);
    for (let r = 0; r < x.data.length / D; r++) {
      const o = r * D;
      let mean = 0;
      for (let d = 0; d < D; d++) mean += x.data[o + d];
      mean /= D;
      let variance = 0;
      for (let d = 0; d < D; d++) variance += (x.data[o + d] - mean) ** 2;
      const rstd = 1 / Math.sqrt(variance / D + eps);
      let meanDh = 0;
      let meanDhX = 0;
      for (let d = 0; d < D; d++) {
        const xhat = (x.data[o + d] - mean) * rstd;
        const dh = dy.data[o + d] * g.data[d];
        dg.data[d] += dy.data[o + d] * xhat;
        db.data[d] += dy.data[o + d];
        meanDh += dh / D;
        meanDhX += (dh * xhat) / D;
      }
      for (let d = 0; d < D; d++) {
        const xhat = (x.data[o + d] - mean) * rstd;
        dx.data[o + d] = rstd * (dy.data[o + d] * g.data[d] - meanDh - xhat * meanDhX);
      }
    }
    return node.attrs.bias ? [dx, dg, db] : [dx, dg];
  },
  rmsnorm: ([x, g], node) => {
    const D = lastDim(x);
    const out = f64(x.shape);
    for (let r = 0; r < x.data.length / D; r++) {
      let ms = 0;
      for (let d = 0; d < D; d++) ms += x.data[r * D + d] ** 2 / D;
      const rr = 1 / Math.sqrt(ms + (node.attrs.eps as number));
      for (let d = 0; d < D; d++) out.data[r * D + d] = x.data[r * D + d] * rr * g.data[d];
    }
    return [out];
  },
  rmsnorm_grad: ([x, g, dy], node) => {
    const D = lastDim(x);
    const dx = f64(x.shape);
    const dg = f64([D]);
    for (let r = 0; r < x.data.length / D; r++) {
      const o = r * D;
      let ms = 0;
      for (let d = 0; d < D; d++) ms += x.data[o + d] ** 2 / D;
      const rr = 1 / Math.sqrt(ms + (node.attrs.eps as number));
      let meanDhX = 0;
      for (let d = 0; d < D; d++) {
        dg.data[d] += dy.data[o + d] * x.data[o + d] * rr;
        meanDhX += (dy.data[o + d] * g.data[d] * x.data[o + d]) / D;
      }
      for (let d = 0; d < D; d++) dx.data[o + d] = rr * (dy.data[o + d] * g.data[d] - x.data[o + d] * rr * rr * meanDhX);
    }
    return [dx, dg];
  },
  attention: attentionKernel,
  rotary: rotaryKernel,
  attention_grad: attentionGradKernel,
  softmax_xent: ([logits, targets], node) => {
    const V = lastDim(logits);
    const ignore = (node.attrs.ignore_index as number) ?? -100;
    let loss = 0;
    let count = 0;
    for (let r = 0; r < targets.data.length; r++) {
      const t = targets.data[r];
      if (t === ignore) continue;
      const row = logits.data.subarray(r * V, r * V + V) as Float64Array;
      const max = row.reduce((m, v) => Math.max(m, v), -Infinity);
      const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
      loss += lse - row[t];
      count++;
    }
    return [{ shape: [], data: Float64Array.of(count ? loss / count : 0) }];
  },
  softmax_xent_grad: ([logits, targets, dloss], node) => {
    const V = lastDim(logits);
    const ignore = (node.attrs.ignore_index as number) ?? -100;
    const out = f64(logits.shape);
    const count = Array.from(targets.data).filter((t) => t !== ignore).length;
    for (let r = 0; r < targets.data.length; r++) {
      const t = targets.data[r];
      if (t === ignore) continue;
      const row = logits.data.subarray(r * V, r * V + V) as Float64Array;
      const max = row.reduce((m, v) => Math.max(m, v), -Infinity);
      const sum = row.reduce((s, v) => s + Math.exp(v - max), 0);
      for (let c = 0; c < V; c++) out.data[r * V + c] = ((Math.exp(row[c] - max) / sum - (c === t ? 1 : 0)) / count) * dloss.data[0];
    }
    return [out];
  },
  dropout: ([x, seed], node) => {
    const p = node.attrs.p as number;
    if (p === 0) return [x];
    const out = f64(x.shape);
    for (let i = 0; i < x.data.length; i++) out.data[i] = dropoutUniform(seed.data[0], node.attrs.salt as number, i) < p ? 0 : x.data[i] / (1 - p);
    return [out];
  },
  patchify: ([img], node) => {
    const [B, C, H, W] = img.shape;
    const p = node.attrs.patch as number;
    const nw = W / p;
    const np = (H / p) * nw;
    const F = C * p * p;
    const out = f64([B, np, F]);
    for (let b = 0; b < B; b++)
      for (let py = 0; py < H / p; py++)
        for (let px = 0; px < nw; px++)
          for (let c = 0; c < C; c++)
            for (let i = 0; i < p; i++)
              for (let j = 0; j < p; j++) out.data[(b * np + py * nw + px) * F + c * p * p + i * p + j] = img.data[((b * C + c) * H + py * p + i) * W + px * p + j];
    return [out];
  },
  prepend: ([x, row]) => {
    const [B, P, D] = x.shape;
    const out = f64([B, P + 1, D]);
    for (let b = 0; b < B; b++) {
      out.data.set(row.data, b * (P + 1) * D);
      out.data.set(x.data.subarray(b * P * D, (b + 1) * P * D), (b * (P + 1) + 1) * D);
    }
    return [out];
  },
  prepend_grad: ([dy]) => {
    const [B, P1, D] = dy.shape;
    const dx = f64([B, P1 - 1, D]);
    const drow = f64([D]);
    for (let b = 0; b < B; b++) {
      for (let d = 0; d < D; d++) drow.data[d] += dy.data[b * P1 * D + d];
      dx.data.set(dy.data.subarray((b * P1 + 1) * D, (b + 1) * P1 * D), b * (P1 - 1) * D);
    }
    return [dx, drow];
  },
  gather_rows: ([x, idx]) => {
    const [B, T, D] = x.shape;
    const M = idx.shape[1];
    const out = f64([B, M, D]);
    for (let b = 0; b < B; b++)
      for (let j = 0; j < M; j++) {
        const t = idx.data[b * M + j];
        if (t < 0 || t >= T) throw new Error(`gathered position ${t} outside a row of ${T}`);
        out.data.set(x.data.subarray((b * T + t) * D, (b * T + t + 1) * D), (b * M + j) * D);
      }
    return [out];
  },
  gather_rows_grad: ([idx, dy], node, dims) => {
    const [B, M, D] = dy.shape;
    const T = resolveDim(node.attrs.seq, dims);
    const out = f64([B, T, D]);
    for (let b = 0; b < B; b++) for (let j = 0; j < M; j++) for (let d = 0; d < D; d++) out.data[(b * T + idx.data[b * M + j]) * D + d] += dy.data[(b * M + j) * D + d];
    return [out];
  },
  take_first: ([x]) => {
    const [B, T, D] = x.shape;
    const out = f64([B, D]);
    for (let b = 0; b < B; b++) out.data.set(x.data.subarray(b * T * D, b * T * D + D), b * D);
    return [out];
  },
  take_first_grad: ([dy], node, dims) => {
    const [B, D] = dy.shape;
    const T = resolveDim(node.attrs.seq, dims);
    const out = f64([B, T, D]);
    for (let b = 0; b < B; b++) out.data.set(dy.data.subarray(b * D, b * D + D), b * T * D);
    return [out];
  },
  mean_seq: ([x]) => {
    const [B, T, D] = x.shape;
    const out = f64([B, D]);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) out.data[b * D + d] += x.data[(b * T + t) * D + d] / T;
    return [out];
  },
  mean_seq_grad: ([dy], node, dims) => {
    const [B, D] = dy.shape;
    const T = resolveDim(node.attrs.seq, dims);
    const out = f64([B, T, D]);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) out.data[(b * T + t) * D + d] = dy.data[b * D + d] / T;
    return [out];
  },
  sinusoidal: (_ins, node, dims) => {
    const rows = resolveDim(node.attrs.rows, dims);
    const D = node.attrs.dim as number;
    const out = f64([rows, D]);
    for (let pos = 0; pos < rows; pos++)
      for (let i = 0; i < D / 2; i++) {
        const angle = pos / 10000 ** ((2 * i) / D);
        out.data[pos * D + 2 * i] = Math.sin(angle);
        out.data[pos * D + 2 * i + 1] = Math.cos(angle);
      }
    return [out];
  },
  fill: (_ins, node, dims) => {
    const out = f64((node.attrs.shape as (number | string)[]).map((d) => resolveDim(d, dims)));
    out.data.fill(node.attrs.value as number);
    return [out];
  },
  matmul_epilogue: ([a, b, bias], node, dims) => {
    const [pre] = KERNELS.add([KERNELS.matmul([a, b], { ...node, attrs: { tb: node.attrs.tb } }, dims)[0], bias], node, dims);
    if (!node.attrs.act) return [pre];
    return [pre, KERNELS.act([pre], { ...node, attrs: { kind: node.attrs.act } }, dims)[0]];
  },
  add_norm: ([x, y, ...norm], node, dims) => {
    const [sum] = KERNELS.add([x, y], node, dims);
    return [sum, KERNELS[node.attrs.kind as string]([sum, ...norm], node, dims)[0]];
  },
  kv_write: ([x, past], node, dims) => {
    const [B, T, W] = x.shape;
    const C = resolveDim(node.attrs.ctx, dims);
    // Rows not written by this call are 0 here; the compiled kernel leaves what earlier calls wrote.
    const out = f64([B, C, W]);
    for (let b = 0; b < B; b++)
      for (let t = 0; t < T; t++) {
        const row = (past.data[b] as number) + t;
        if (row >= C) continue;
        for (let k = 0; k < W; k++) out.data[(b * C + row) * W + k] = x.data[(b * T + t) * W + k];
      }
    return [out];
  },
  position_rows: ([table, past], node, dims) => {
    const T = resolveDim(node.attrs.rows, dims);
    const [L, D] = table.shape;
    const B = past.shape[0];
    const out = f64([B, T, D]);
    for (let b = 0; b < B; b++)
      for (let t = 0; t < T; t++) {
        const row = ((node.attrs.offset as number) ?? 0) + (past.data[b] as number) + t;
        if (row >= L) continue;
        for (let k = 0; k < D; k++) out.data[(b * T + t) * D + k] = table.data[row * D + k];
      }
    return [out];
  },
  sinusoidal_at: ([past], node, dims) => {
    const T = resolveDim(node.attrs.rows, dims);
    const D = node.attrs.dim as number;
    const B = past.shape[0];
    const out = f64([B, T, D]);
    for (let b = 0; b < B; b++)
      for (let t = 0; t < T; t++) {
        const pos = (past.data[b] as number) + t;
        for (let i = 0; i < D / 2; i++) {
          const angle = pos / 10000 ** ((2 * i) / D);
          out.data[(b * T + t) * D + 2 * i] = Math.sin(angle);
          out.data[(b * T + t) * D + 2 * i + 1] = Math.cos(angle);
        }
      }
    return [out];
  },
  sum_all: ([x]) => [{ shape: [], data: Float64Array.of((x.data as Float64Array).reduce((s, v) => s + v, 0)) }],
};

function resolveDim(d: unknown, dims: Record<string, number>): number {
  if (typeof d === 'number') return d;
  const v = dims[d as string];
  if (v === undefined) throw new Error(`run-time dim \`${String(d)}\` has no value`);
  return v;
}
