// The op table of the tensor graph: for each op, its shape rule (used by the IR verifier)
// and its reverse-mode rule written as more graph (used by autodiff at compile time).
// Semantics are defined by the float64 reference interpreter (compiler/reference.ts).
import type { AttrValue, Graph, IrShape, Node, SymDim, Value } from './ir.ts';
import { sameShape, shapeKey } from './ir.ts';

export interface OpDef {
  /** Output shapes from input shapes and attributes; throws a message when they do not fit. */
  infer(inputs: Value[], attrs: Record<string, AttrValue>): { shape: IrShape; dtype?: 'f32' | 'i32' }[];
  /** Gradients of the inputs from the gradients of the outputs (undefined: no gradient flows). */
  backward?(g: Graph, node: Node, dOut: (Value | undefined)[]): (Value | undefined)[];
}

const fail = (msg: string): never => {
  throw new Error(msg);
};
const last = (s: IrShape): SymDim => s[s.length - 1];

export function broadcastShapes(a: IrShape, b: IrShape): IrShape {
  const n = Math.max(a.length, b.length);
  const out: IrShape = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i];
    const y = b[b.length - n + i];
    if (x === undefined) out.push(y);
    else if (y === undefined) out.push(x);
    else if (x === y) out.push(x);
    else if (x === 1) out.push(y);
    else if (y === 1) out.push(x);
    else fail(`shapes ${shapeKey(a)} and ${shapeKey(b)} do not broadcast`);
  }
  return out;
}

/** Sums a gradient down to `shape` (undoing broadcasting). */
export function reduceTo(g: Graph, x: Value, shape: IrShape): Value {
  if (sameShape(x.shape, shape)) return x;
  return g.add('reduce_to', [x], [{ shape }], { shape })[0];
}

const same = (inputs: Value[]) => [{ shape: inputs[0].shape }];

/** C = op(A) · op(B), where A and B are `a` and `b` with their leading dims flattened into
 *  rows. `ta` (used by weight gradients) contracts over all rows: [R, K]ᵀ · [R, N] → [K, N].
 *  `tb` multiplies by a transposed matrix: [.., K] · [N, K]ᵀ → [.., N] (tied heads). */
function matmulShape(a: Value, b: Value, ta: boolean, tb: boolean): IrShape {
  if (ta && tb) fail('matmul with both operands transposed is not an op of this IR');
  const ka = ta ? a.shape.slice(0, -1) : [last(a.shape)];
  const rows: IrShape = ta ? [last(a.shape)] : a.shape.slice(0, -1);
  if (tb) {
    if (b.shape.length !== 2 && !ta) fail(`matmul with transposed right operand needs a matrix, found ${shapeKey(b.shape)}`);
    const kb = ta ? b.shape.slice(0, -1) : [b.shape[1]];
    if (!sameShape(ka, kb)) fail(`matmul inner dims differ: ${shapeKey(a.shape)}${ta ? 'ᵀ' : ''} @ ${shapeKey(b.shape)}ᵀ`);
    return [...rows, ta ? last(b.shape) : b.shape[0]];
  }
  const kb = ta ? b.shape.slice(0, -1) : b.shape.slice(0, -1);
  if (!sameShape(ka, kb)) fail(`matmul inner dims differ: ${shapeKey(a.shape)}${ta ? 'ᵀ' : ''} @ ${shapeKey(b.shape)}`);
  return [...rows, last(b.shape)];
}

export const OPS: Record<string, OpDef> = {
  embedding: {
    infer: ([table, ids]) => {
      if (table.shape.length !== 2 || ids.dtype !== 'i32') fail('embedding needs a [V, D] table and i32 ids');
      return [{ shape: [...ids.shape, table.shape[1]] }];
    },
    backward: (g, n, [dy]) => [g.add('embedding_grad', [n.inputs[1], dy!], [{ shape: n.inputs[0].shape }], { vocab: n.inputs[0].shape[0] }, n.span)[0], undefined],
  },
  embedding_grad: { infer: ([, dy], a) => [{ shape: [a.vocab as SymDim, last(dy.shape)] }] },
  slice_rows: {
    infer: ([t], a) => [{ shape: [a.rows as SymDim, t.shape[1]] }],
    backward: (g, n, [dy]) => [g.add('slice_rows_grad', [dy!], [{ shape: n.inputs[0].shape }], { offset: n.attrs.offset, total: n.inputs[0].shape[0] })[0]],
  },
  slice_rows_grad: { infer: ([dy], a) => [{ shape: [a.total as SymDim, dy.shape[1]] }] },
  matmul: {
    infer: ([a, b], at) => [{ shape: matmulShape(a, b, !!at.ta, !!at.tb) }],
    backward: (g, n, [dy]) => {
      const [a, b] = n.inputs;
      const ta = !!n.attrs.ta;
      const tb = !!n.attrs.tb;
      const mm = (x: Value, y: Value, xa: boolean, yb: boolean) => g.add('matmul', [x, y], [{ shape: matmulShape(x, y, xa, yb) }], { ta: xa, tb: yb }, n.span)[0];
      // C = op(A) op(B). dA: ta ? op(B) dCᵀ : dC op(B)ᵀ ; dB: tb ? dCᵀ op(A) : op(A)ᵀ dC.
      // (ta, tb) is never (true, true): weight gradients are only taken of forward matmuls.
      const da = ta ? mm(b, dy!, false, true) : tb ? mm(dy!, b, false, false) : mm(dy!, b, false, true);
      const db = tb ? mm(dy!, a, true, false) : ta ? mm(a, dy!, false, false) : mm(a, dy!, true, false);
      return [fixShape(g, da, a.shape), fixShape(g, db, b.shape)];
    },
  },
  add: {
    infer: ([a, b]) => [{ shape: broadcastShapes(a.shape, b.shape) }],
    backward: (g, n, [dy]) => [reduceTo(g, dy!, n.inputs[0].shape), reduceTo(g, dy!, n.inputs[1].shape)],
  },
  sub: {
    infer: ([a, b]) => [{ shape: broadcastShapes(a.shape, b.shape) }],
    backward: (g, n, [dy]) => [reduceTo(g, dy!, n.inputs[0].shape), reduceTo(g, g.add('scale', [dy!], [{ shape: dy!.shape }], { c: -1 })[0], n.inputs[1].shape)],
  },
  mul: {
    infer: ([a, b]) => [{ shape: broadcastShapes(a.shape, b.shape) }],
    backward: (g, n, [dy]) => {
      const [a, b] = n.inputs;
      const da = g.add('mul', [dy!, b], [{ shape: dy!.shape }])[0];
      const db = g.add('mul', [dy!, a], [{ shape: dy!.shape }])[0];
      return [reduceTo(g, da, a.shape), reduceTo(g, db, b.shape)];
    },
  },
  scale: {
    infer: same,
    backward: (g, n, [dy]) => [g.add('scale', [dy!], [{ shape: dy!.shape }], { c: n.attrs.c })[0]],
  },
  reduce_to: { infer: (_i, a) => [{ shape: a.shape as IrShape }] },
  act: {
    infer: same,
    backward: (g, n, [dy]) => [g.add('act_grad', [n.inputs[0], dy!], [{ shape: dy!.shape }], { kind: n.attrs.kind }, n.span)[0]],
  },
  act_grad: { infer: same },
  layernorm: {
    infer: ([x, gamma]) => {
      if (!sameShape([last(x.shape)], gamma.shape)) fail(`layernorm weight ${shapeKey(gamma.shape)} does not match ${shapeKey(x.shape)}`);
      return [{ shape: x.shape }];
    },
    backward: (g, n, [dy]) => {
      const [x, gamma, beta] = n.inputs;
      const outs = [{ shape: x.shape }, { shape: gamma.shape }, ...(beta ? [{ shape: beta.shape }] : [])];
      return g.add('layernorm_grad', [x, gamma, dy!], outs, { eps: n.attrs.eps, bias: !!beta }, n.span);
    },
  },
  layernorm_grad: { infer: ([x, gamma], a) => [{ shape: x.shape }, { shape: gamma.shape }, ...(a.bias ? [{ shape: gamma.shape }] : [])] },
  rmsnorm: {
    infer: ([x]) => [{ shape: x.shape }],
    backward: (g, n, [dy]) => g.add('rmsnorm_grad', [n.inputs[0], n.inputs[1], dy!], [{ shape: n.inputs[0].shape }, { shape: n.inputs[1].shape }], { eps: n.attrs.eps }, n.span),
  },
  rmsnorm_grad: { infer: ([x, gamma]) => [{ shape: x.shape }, { shape: gamma.shape }] },
  attention: {
    // inputs: q [B,Tq,H*hd], k [B,Tk,KV*hd], v [B,Tk,KV*hd], then optional inputs named by attrs:
    // `bias` (relative bias table [buckets, H]), `key_mask` ([B,Tk] f32, 1 keeps), `prefix` ([B] i32).
    infer: ([q, k, v], a) => {
      const h = a.heads as number;
      const kv = a.kv_heads as number;
      const hd = a.head_dim as number;
      if (last(q.shape) !== h * hd || last(k.shape) !== kv * hd || last(v.shape) !== kv * hd) fail(`attention projections ${shapeKey(q.shape)} ${shapeKey(k.shape)} ${shapeKey(v.shape)} do not fit ${h} heads × ${hd}`);
      // The output, and each query row's log-sum-exp of its scores [B, Tq, H] (the softmax
      // statistics the backward pass reuses instead of recomputing them).
      return [{ shape: q.shape }, { shape: [q.shape[0], q.shape[1], h] }];
    },
    backward: (g, n, [dy]) => {
      const outs = n.inputs.map((x) => ({ shape: x.shape, dtype: x.dtype }));
      // The forward output (its dot with dy is each row's Σ p·dp) and the rows' log-sum-exp go along.
      const grads = g.add('attention_grad', [...n.inputs, n.outputs[0], n.outputs[1], dy!], outs.slice(0, 3).concat(n.attrs.has_bias ? [outs[3]] : []), n.attrs, n.span);
      const out: (Value | undefined)[] = grads.slice(0, 3);
      if (n.attrs.has_bias) out.push(grads[3]);
      while (out.length < n.inputs.length) out.push(undefined);
      return out;
    },
  },
  rotary: {
    infer: same,
    backward: (g, n, [dy]) => [g.add('rotary', [dy!], [{ shape: dy!.shape }], { ...n.attrs, inverse: !n.attrs.inverse }, n.span)[0]],
  },
  attention_grad: { infer: (inputs, a) => inputs.slice(0, a.has_bias ? 4 : 3).map((x) => ({ shape: x.shape })) },
  softmax_xent: {
    infer: ([logits, targets]) => {
      if (targets.dtype !== 'i32' || !sameShape(logits.shape.slice(0, -1), targets.shape)) fail(`cross-entropy targets ${shapeKey(targets.shape)} do not match logits ${shapeKey(logits.shape)}`);
      return [{ shape: [] }];
    },
    backward: (g, n, [dy]) => [g.add('softmax_xent_grad', [n.inputs[0], n.inputs[1], dy!], [{ shape: n.inputs[0].shape }], n.attrs, n.span)[0], undefined],
  },
  softmax_xent_grad: { infer: ([logits]) => [{ shape: logits.shape }] },
  dropout: {
    infer: same,
    backward: (g, n, [dy]) => [g.add('dropout', [dy!, n.inputs[1]], [{ shape: dy!.shape }], n.attrs, n.span)[0], undefined],
  },
  patchify: {
    infer: ([img], a) => {
      const [b, c, h, w] = img.shape as number[];
      const p = a.patch as number;
      return [{ shape: [b, (h / p) * (w / p), c * p * p] }];
    },
  },
  prepend: {
    infer: ([x, row]) => [{ shape: [x.shape[0], typeof x.shape[1] === 'number' ? x.shape[1] + 1 : `${x.shape[1]}+1`, row.shape[0]] }],
    backward: (g, n, [dy]) => g.add('prepend_grad', [dy!], [{ shape: n.inputs[0].shape }, { shape: n.inputs[1].shape }], { rows: n.inputs[0].shape[1] }, n.span),
  },
  prepend_grad: { infer: ([dy], a) => [{ shape: [dy.shape[0], a.rows as SymDim, last(dy.shape)] }, { shape: [last(dy.shape)] }] },
  gather_rows: {
    // x [B, T, D] at positions idx [B, M] (i32, each in [0, T)) of its own row → [B, M, D]:
    // the rows a loss is taken on (BERT's masked positions), before the output layer.
    infer: ([x, idx]) => {
      if (x.shape.length !== 3 || idx.shape.length !== 2 || idx.dtype !== 'i32' || x.shape[0] !== idx.shape[0]) fail(`gather_rows needs [B, T, D] rows and [B, M] i32 positions, found ${shapeKey(x.shape)} and ${shapeKey(idx.shape)}`);
      return [{ shape: [x.shape[0], idx.shape[1], last(x.shape)] }];
    },
    backward: (g, n, [dy]) => [g.add('gather_rows_grad', [n.inputs[1], dy!], [{ shape: n.inputs[0].shape }], { seq: n.inputs[0].shape[1] }, n.span)[0], undefined],
  },
  gather_rows_grad: { infer: ([, dy], a) => [{ shape: [dy.shape[0], a.seq as SymDim, last(dy.shape)] }] },
  take_first: {
    infer: ([x]) => [{ shape: [x.shape[0], last(x.shape)] }],
    backward: (g, n, [dy]) => [g.add('take_first_grad', [dy!], [{ shape: n.inputs[0].shape }], { seq: n.inputs[0].shape[1] }, n.span)[0]],
  },
  take_first_grad: { infer: ([dy], a) => [{ shape: [dy.shape[0], a.seq as SymDim, dy.shape[1]] }] },
  mean_seq: {
    infer: ([x]) => [{ shape: [x.shape[0], last(x.shape)] }],
    backward: (g, n, [dy]) => [g.add('mean_seq_grad', [dy!], [{ shape: n.inputs[0].shape }], { seq: n.inputs[0].shape[1] }, n.span)[0]],
  },
  mean_seq_grad: { infer: ([dy], a) => [{ shape: [dy.shape[0], a.seq as SymDim, dy.shape[1]] }] },
  sinusoidal: { infer: (_i, a) => [{ shape: [a.rows as SymDim, a.dim as number] }] },
  sum_all: {
    infer: () => [{ shape: [] }],
    backward: (g, n, [dy]) => [g.add('broadcast', [dy!], [{ shape: n.inputs[0].shape }], { shape: n.inputs[0].shape })[0]],
  },
  broadcast: { infer: (_i, a) => [{ shape: a.shape as IrShape }] },
};

function fixShape(g: Graph, v: Value, shape: IrShape): Value {
  if (sameShape(v.shape, shape)) return v;
  return g.add('reshape', [v], [{ shape }], { shape })[0];
}
OPS.reshape = { infer: (_i, a) => [{ shape: a.shape as IrShape }], backward: (g, n, [dy]) => [fixShape(g, dy!, n.inputs[0].shape)] };
OPS.fill = { infer: (_i, a) => [{ shape: a.shape as IrShape }] };

/** Appends `op` with output shapes from its rule. */
export function emit(g: Graph, op: string, inputs: Value[], attrs: Record<string, AttrValue> = {}, span?: Node['span']): Value[] {
  const def = OPS[op];
  if (!def) throw new Error(`internal: unknown op ${op}`);
  return g.add(op, inputs, def.infer(inputs, attrs), attrs, span);
}

// Fused ops (introduced by compiler/passes/fuse.ts after autodiff; they have no gradient rule).
OPS.matmul_epilogue = {
  infer: ([a, b], at) => {
    const shape = matmulShape(a, b, false, !!at.tb);
    return at.act ? [{ shape }, { shape }] : [{ shape }];
  },
};
OPS.add_norm = { infer: ([x]) => [{ shape: x.shape }, { shape: x.shape }] };

// Inference with a key/value cache (lowerModel with `cache`; no gradient rules: the programs
// that hold them are never differentiated). `past` [B] i32 is how many tokens each row's
// cache already holds: the new tokens of row b sit at positions past[b], past[b] + 1, …
OPS.kv_write = {
  // new [B, T, W] → the cache [B, ctx, W] with rows past[b] … past[b] + T − 1 of row b
  // replaced. The cache is a program output: its buffer is pinned, so the rows written by
  // earlier calls of the program are still there (the kernel writes only the new rows).
  infer: ([x, past], a) => {
    if (x.shape.length !== 3 || past.dtype !== 'i32') fail('kv_write needs [B, T, W] rows and i32 positions');
    return [{ shape: [x.shape[0], a.ctx as SymDim, x.shape[2]] }];
  },
};
OPS.position_rows = {
  // table [L, D], past [B] → [B, T, D]: row t of batch row b is table[offset + past[b] + t].
  infer: ([t, past], a) => {
    if (t.shape.length !== 2 || past.dtype !== 'i32') fail('position_rows needs a [L, D] table and i32 positions');
    return [{ shape: [past.shape[0], a.rows as SymDim, t.shape[1]] }];
  },
};
OPS.sinusoidal_at = {
  // past [B] → [B, T, D]: the sinusoidal rows of positions past[b] + t.
  infer: ([past], a) => [{ shape: [past.shape[0], a.rows as SymDim, a.dim as number] }],
};
