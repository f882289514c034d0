// Kernel builders: one per graph op, each writing its computation once in the kernel IR.
// Compile-time constants (d_model, heads, head_dim, vocab) are baked in; run-time dims
// (batch, seq) stay symbolic and become kernel arguments.
import type { IrShape, Node } from '../ir.ts';
import { add, arg, bin, call, cast, contraction, dim, div, f, i, if_, let_, load, loop, mapStmts, mul, neg, reduce, select, set, sizeExpr, store, sub, toF, v, walkKernel, type KExpr, type Kernel, type KStmt } from './kir.ts';

type Builder = (n: Node, name: string, variants: ReadonlySet<KernelVariant>) => Omit<Kernel, 'name' | 'span' | 'dims'>;

/**
 * Algorithms a target may ask for where the best way to compute an op differs between
 * machines (what is computed is the same; tests hold every variant to the reference):
 * - `attention-grad-by-keys`: the attention backward as two parallel passes — dq with one
 *   invocation per query row, then dk and dv with one per key row, each recomputing the
 *   scores it needs — instead of one pass per batch row that computes each score once and
 *   accumulates dk and dv across queries (the CPU's choice: few threads, no recomputation).
 *   A GPU needs the parallelism. Not for a relative position bias (its gradient sums over
 *   every query and key), which keeps the one-pass kernel.
 */
export type KernelVariant = 'attention-grad-by-keys';

export class MissingKernel extends Error {}

/** The optimizer: the global gradient norm and clip factor, then AdamW over all parameters at
 *  once (params, grads, moments and the decay mask are each one contiguous arena). */
export function optimizerKernels(): Kernel[] {
  const n = dim('n');
  const gradNorm: Kernel = {
    name: 'opt_grad_norm',
    doc: 'global L2 norm of all gradients; clip[0] = min(1, max_norm / norm) (1 when max_norm is 0), clip[1] = norm',
    buffers: [rd('grads'), wr('clip')],
    dims: ['n'],
    scalars: ['max_norm'],
    body: [
      // Accumulated in float64: a sum of millions of squares in f32 loses about 1e-4.
      reduce('sumsq', '+', 'o', n, mul(v('g'), v('g')), [let_('g', cast('f64', load('grads', v('o'))), 'f64')], 'f64'),
      let_('norm', cast('f32', call('sqrt', v('sumsq')))),
      store('clip', i(1), v('norm')),
      store('clip', i(0), select(bin('&&', bin('>', arg('max_norm'), f(0)), bin('>', v('norm'), arg('max_norm'))), div(arg('max_norm'), add(v('norm'), f(1e-6))), f(1))),
    ],
  };
  const adamw: Kernel = {
    name: 'opt_adamw',
    doc: 'AdamW (decoupled weight decay, bias-corrected moments) over every parameter, gradients scaled by clip[0]',
    buffers: [{ name: 'params', t: 'f32', access: 'readwrite' }, rd('grads'), { name: 'm', t: 'f32', access: 'readwrite' }, { name: 'vv', t: 'f32', access: 'readwrite' }, rd('decay'), rd('clip')],
    dims: ['n'],
    scalars: ['lr', 'beta1', 'beta2', 'eps', 'weight_decay', 'step'],
    body: [
      let_('scale', load('clip', i(0))),
      let_('bc1', sub(f(1), call('pow', arg('beta1'), arg('step')))),
      let_('bc2', sub(f(1), call('pow', arg('beta2'), arg('step')))),
      loop('o', n, [
        let_('g', mul(load('grads', v('o')), v('scale'))),
        let_('mo', add(mul(arg('beta1'), load('m', v('o'))), mul(sub(f(1), arg('beta1')), v('g')))),
        let_('vo', add(mul(arg('beta2'), load('vv', v('o'))), mul(mul(sub(f(1), arg('beta2')), v('g')), v('g')))),
        store('m', v('o'), v('mo')),
        store('vv', v('o'), v('vo')),
        let_('p', load('params', v('o'))),
        store('params', v('o'), sub(sub(v('p'), mul(mul(arg('lr'), arg('weight_decay')), mul(load('decay', v('o')), v('p')))), div(mul(arg('lr'), div(v('mo'), v('bc1'))), add(call('sqrt', div(v('vo'), v('bc2'))), arg('eps'))))),
      ], true),
    ],
  };
  const accumulate: Kernel = {
    name: 'opt_accumulate',
    doc: 'gradient accumulation over micro-batches: acc = (first ? 0 : acc) + scale · grads',
    buffers: [{ name: 'acc', t: 'f32', access: 'readwrite' }, rd('grads')],
    dims: ['n'],
    scalars: ['scale', 'first'],
    body: [loop('o', n, [store('acc', v('o'), add(select(bin('!=', arg('first'), f(0)), f(0), load('acc', v('o'))), mul(arg('scale'), load('grads', v('o')))))], true)],
  };
  return [gradNorm, adamw, accumulate];
}

export function buildKernel(n: Node, name: string, variants: ReadonlySet<KernelVariant> = new Set()): Kernel {
  const b = BUILDERS[n.op];
  if (!b) throw new MissingKernel(`no CPU kernel for op \`${n.op}\` yet`);
  const k = b(n, name, variants);
  return { ...k, name, span: n.span, dims: dimsOf(k.body) };
}

/** Run-time dims a kernel body mentions, in a stable order. */
function dimsOf(body: KStmt[]): string[] {
  const found = new Set<string>();
  walkKernel(body, { expr: (e) => e.k === 'dim' && found.add(e.name) });
  return [...found].sort();
}

const rd = (name: string) => ({ name, t: 'f32' as const, access: 'read' as const });
const rdI = (name: string) => ({ name, t: 'i32' as const, access: 'read' as const });
const wr = (name: string) => ({ name, t: 'f32' as const, access: 'write' as const });
const d = (x: number | string): KExpr => (typeof x === 'number' ? i(x) : dim(x));
const lastOf = (s: IrShape) => s[s.length - 1] as number;
const rowsOf = (s: IrShape) => sizeExpr(s.slice(0, -1));
const idiv = (a: KExpr, b: KExpr) => call('idiv', a, b);

/** Whether `shape` is the trailing dims of `of` (a bias of activations, a position table). */
const trailingOf = (shape: IrShape, of: IrShape) => shape.every((x, k) => x === of[of.length - shape.length + k]);

/** Index into `shape` (broadcast against `out`) for the flat output index `o`. */
function broadcastIndex(shape: IrShape, out: IrShape, o: KExpr): KExpr {
  if (shape.length === out.length && shape.every((x, k) => x === out[k])) return o;
  const n = out.length;
  // `shape` is the trailing part of `out`: a modulo.
  if (trailingOf(shape, out)) return bin('%', o, sizeExpr(shape));
  let idx: KExpr = i(0);
  let stride: KExpr = i(1);
  for (let k = shape.length - 1; k >= 0; k--) {
    const outK = n - shape.length + k;
    const outStride = sizeExpr(out.slice(outK + 1));
    if (shape[k] !== 1) idx = add(idx, mul(bin('%', idiv(o, outStride), d(out[outK])), stride));
    stride = mul(stride, d(shape[k]));
  }
  return idx;
}

function elementwise(n: Node, fn: (loads: KExpr[]) => KExpr, doc: string, pre: (loads: KExpr[]) => KStmt[] = () => []): Omit<Kernel, 'name' | 'span' | 'dims'> {
  const out = n.outputs[0].shape;
  const names = n.inputs.map((_, k) => `x${k}`);
  const loads = n.inputs.map((x, k) => (x.shape.length === 0 ? load(names[k], i(0)) : load(names[k], broadcastIndex(x.shape, out, v('o')))));
  return {
    doc,
    buffers: [...names.map((nm, k) => (n.inputs[k].dtype === 'i32' ? rdI(nm) : rd(nm))), wr('y')],
    body: [loop('o', sizeExpr(out), [...pre(loads), store('y', v('o'), fn(loads))], true)],
  };
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
/** Activations and their derivatives in the kernel IR. A derivative that needs a value more
 *  than once (tanh, the sigmoid) computes it once into a local declared by `pre`. */
const ACT: Record<string, { f: (x: KExpr) => KExpr; df: (x: KExpr) => KExpr; pre?: (x: KExpr) => KStmt[] }> = {
  relu: { f: (x) => select(bin('>', x, f(0)), x, f(0)), df: (x) => select(bin('>', x, f(0)), f(1), f(0)) },
  gelu: {
    f: (x) => mul(mul(f(0.5), x), add(f(1), call('erf', mul(x, f(Math.SQRT1_2))))),
    df: (x) => add(mul(f(0.5), add(f(1), call('erf', mul(x, f(Math.SQRT1_2))))), mul(x, mul(f(1 / Math.sqrt(2 * Math.PI)), call('exp', mul(f(-0.5), mul(x, x)))))),
  },
  gelu_tanh: {
    f: (x) => mul(mul(f(0.5), x), add(f(1), call('tanh', mul(f(SQRT_2_OVER_PI), add(x, mul(f(0.044715), mul(x, mul(x, x)))))))),
    pre: (x) => [let_('t', call('tanh', mul(f(SQRT_2_OVER_PI), add(x, mul(f(0.044715), mul(x, mul(x, x)))))))],
    df: (x) => {
      const t = v('t');
      return add(mul(f(0.5), add(f(1), t)), mul(mul(mul(f(0.5), x), sub(f(1), mul(t, t))), mul(f(SQRT_2_OVER_PI), add(f(1), mul(f(3 * 0.044715), mul(x, x))))));
    },
  },
  tanh: { f: (x) => call('tanh', x), pre: (x) => [let_('t', call('tanh', x))], df: () => sub(f(1), mul(v('t'), v('t'))) },
  sigmoid: { f: (x) => div(f(1), add(f(1), call('exp', neg(x)))), pre: (x) => [let_('s', div(f(1), add(f(1), call('exp', neg(x)))))], df: () => mul(v('s'), sub(f(1), v('s'))) },
  silu: { f: (x) => div(x, add(f(1), call('exp', neg(x)))), pre: (x) => [let_('s', div(f(1), add(f(1), call('exp', neg(x)))))], df: (x) => add(v('s'), mul(x, mul(v('s'), sub(f(1), v('s'))))) },
};

/** A matmul as a contraction nest (kir.ts): C[i, j] = Σ_p A(i, p) · B(p, j), then the
 *  epilogue of each element. The index functions give the three layouts; how it is tiled,
 *  vectorized and split is each target's schedule (compiler/passes/schedule/). */
function matmulNest(o: { M: KExpr; N: number; P: KExpr; A: (i: KExpr, p: KExpr) => KExpr; B: (p: KExpr, j: KExpr) => KExpr; C: (i: KExpr, j: KExpr) => KExpr; epilogue?: (acc: KExpr, i: KExpr, j: KExpr) => KStmt[] }): KStmt[] {
  const [ii, jj, acc] = [v('i'), v('j'), v('acc')];
  const epilogue = o.epilogue ? o.epilogue(acc, ii, jj) : [store('c', o.C(ii, jj), acc)];
  return [contraction({ i: 'i', j: 'j', p: 'p', acc: 'acc', M: o.M, N: o.N, P: o.P, x: load('a', o.A(ii, v('p'))), y: load('b', o.B(v('p'), jj)), epilogue })];
}

function matmulKernel(n: Node): Omit<Kernel, 'name' | 'span' | 'dims'> {
  const [a, b] = n.inputs;
  const ta = !!n.attrs.ta;
  const tb = !!n.attrs.tb;
  const K = lastOf(a.shape);
  const buffers = [rd('a'), rd('b'), wr('c')];
  if (!ta && !tb) {
    const N = lastOf(b.shape);
    return { doc: `c = a @ b: [rows, ${K}] @ [${K}, ${N}]`, buffers, body: matmulNest({ M: rowsOf(a.shape), N, P: i(K), A: (r, p) => add(mul(r, i(K)), p), B: (p, j) => add(mul(p, i(N)), j), C: (r, j) => add(mul(r, i(N)), j) }) };
  }
  if (tb) {
    const N = b.shape[0] as number;
    return { doc: `c = a @ bᵀ: [rows, ${K}] @ [${N}, ${K}]ᵀ`, buffers, body: matmulNest({ M: rowsOf(a.shape), N, P: i(K), A: (r, p) => add(mul(r, i(K)), p), B: (p, j) => add(mul(j, i(K)), p), C: (r, j) => add(mul(r, i(N)), j) }) };
  }
  // ta (weight gradients): C[k, j] = Σ_r A[r, k] · B[r, j], a contraction over all rows.
  const N = lastOf(b.shape);
  return { doc: `c = aᵀ @ b: [rows, ${K}]ᵀ @ [rows, ${N}]`, buffers, body: matmulNest({ M: i(K), N, P: rowsOf(a.shape), A: (k, r) => add(mul(r, i(K)), k), B: (r, j) => add(mul(r, i(N)), j), C: (k, j) => add(mul(k, i(N)), j) }) };
}

/** Row statistics of layernorm / rmsnorm over the last dim D at row offset `o`. */
function rowStats(kind: 'layernorm' | 'rmsnorm', D: number, eps: number): KStmt[] {
  const x = (k: KExpr) => load('x', add(v('o'), k));
  if (kind === 'rmsnorm') return [reduce('ms', '+', 'k', i(D), mul(x(v('k')), x(v('k')))), let_('rstd', div(f(1), call('sqrt', add(div(v('ms'), f(D)), f(eps))))), let_('mean', f(0))];
  return [
    reduce('rowSum', '+', 'k', i(D), x(v('k'))),
    let_('mean', div(v('rowSum'), f(D))),
    reduce('variance', '+', 'k', i(D), mul(v('c'), v('c')), [let_('c', sub(x(v('k')), v('mean')))]),
    let_('rstd', div(f(1), call('sqrt', add(div(v('variance'), f(D)), f(eps))))),
  ];
}

function normKernel(n: Node): Omit<Kernel, 'name' | 'span' | 'dims'> {
  const kind = n.op as 'layernorm' | 'rmsnorm';
  const x = n.inputs[0];
  const D = lastOf(x.shape);
  const hasBias = n.inputs.length === 3;
  const xhat = mul(sub(load('x', add(v('o'), v('k'))), v('mean')), v('rstd'));
  return {
    doc: `${kind} over the last dim (${D}), eps ${n.attrs.eps}`,
    buffers: [rd('x'), rd('g'), ...(hasBias ? [rd('b')] : []), wr('y')],
    body: [
      loop('r', rowsOf(x.shape), [let_('o', mul(v('r'), i(D)), 'i32'), ...rowStats(kind, D, n.attrs.eps as number), loop('k', i(D), [store('y', add(v('o'), v('k')), add(mul(xhat, load('g', v('k'))), hasBias ? load('b', v('k')) : f(0)))], true)], true),
    ],
  };
}

function normGradKernel(n: Node): Omit<Kernel, 'name' | 'span' | 'dims'> {
  const kind = n.op === 'layernorm_grad' ? 'layernorm' : 'rmsnorm';
  const x = n.inputs[0];
  const D = lastOf(x.shape);
  const hasBias = n.outputs.length === 3;
  const xv = load('x', add(v('o'), v('k')));
  const dyv = load('dy', add(v('o'), v('k')));
  const xhat = mul(sub(xv, v('mean')), v('rstd'));
  const body: KStmt[] = [
    loop('k', i(D), [store('dg', v('k'), f(0)), ...(hasBias ? [store('db', v('k'), f(0))] : [])]),
    loop('r', rowsOf(x.shape), [
      let_('o', mul(v('r'), i(D)), 'i32'),
      ...rowStats(kind, D, n.attrs.eps as number),
      let_('meanDh', f(0), 'f32', true),
      let_('meanDhX', f(0), 'f32', true),
      loop('k', i(D), [
        let_('xh', xhat),
        let_('dh', mul(dyv, load('g', v('k')))),
        store('dg', v('k'), mul(dyv, v('xh')), true),
        ...(hasBias ? [store('db', v('k'), dyv, true)] : []),
        set('meanDh', v('dh'), '+'),
        set('meanDhX', mul(v('dh'), v('xh')), '+'),
      ]),
      set('meanDh', div(v('meanDh'), f(D))),
      set('meanDhX', div(v('meanDhX'), f(D))),
      loop('k', i(D), [
        let_('xh', xhat),
        store('dx', add(v('o'), v('k')), mul(v('rstd'), sub(sub(mul(dyv, load('g', v('k'))), kind === 'layernorm' ? v('meanDh') : f(0)), mul(v('xh'), v('meanDhX'))))),
      ]),
    ]),
  ];
  return { doc: `${kind} backward: dx, dg${hasBias ? ', db' : ''}`, buffers: [rd('x'), rd('g'), rd('dy'), wr('dx'), wr('dg'), ...(hasBias ? [wr('db')] : [])], body };
}

/** Attention buffers and the visibility test of key j from query i. */
function attentionSetup(n: Node) {
  const a = n.attrs;
  const [q, k] = n.inputs;
  const H = a.heads as number;
  const KV = a.kv_heads as number;
  const hd = a.head_dim as number;
  const Tq = q.shape[1];
  const Tk = k.shape[1];
  const qOff = add(mul(add(mul(v('b'), d(Tq)), v('qi')), i(H * hd)), mul(v('h'), i(hd)));
  const kOff = (j: KExpr) => add(mul(add(mul(v('b'), d(Tk)), j), i(KV * hd)), mul(v('kh'), i(hd)));
  // Query qi's position among the keys: qi, or (with a key/value cache, `q_pos`) the count of
  // tokens before this call in row b's cache plus qi.
  const at: KExpr = a.has_q_pos ? v('qa') : v('qi');
  // Causal and local masks bound the key loop itself (half the work of testing every key;
  // with a cache, the keys past a query's position are never read).
  const jFrom: KExpr = a.mask === 'local' ? call('max', i(0), sub(at, i((a.window as number) - 1))) : i(0);
  const jTo: KExpr = a.mask === 'causal' || a.mask === 'local' ? call('min', d(Tk), add(at, i(1))) : d(Tk);
  const keys = (body: KStmt[]): KStmt => loop('j', jTo, body, false, jFrom);
  const conds: KExpr[] = [];
  if (a.mask === 'prefix') conds.push(bin('||', bin('<=', v('j'), at), bin('<', v('j'), load('prefix', v('b')))));
  if (a.has_key_mask) conds.push(bin('!=', load('keyMask', add(mul(v('b'), d(Tk)), v('j'))), f(0)));
  const visible = conds.reduce<KExpr | undefined>((acc, c) => (acc ? bin('&&', acc, c) : c), undefined);
  const bucket: KStmt[] = a.has_bias ? relativeBucket(!!a.rel_bidirectional, a.rel_buckets as number, a.rel_max_distance as number, at) : [];
  /** The score of key j (at `ko`, declared here unless the caller has). */
  const score = (j: KExpr, declareKo = true): KStmt[] => [
    ...(declareKo ? [let_('ko', kOff(j), 'i32')] : []),
    reduce('dot', '+', 'e', i(hd), mul(load('q', add(v('qo'), v('e'))), load('k', add(v('ko'), v('e'))))),
    ...bucket,
    let_('s', a.has_bias ? add(mul(v('dot'), f(a.scale as number)), load('bias', add(mul(v('bucket'), i(H)), v('h')))) : mul(v('dot'), f(a.scale as number))),
  ];
  /** The loops over batch (parallel), heads and queries; `prologue` runs once per batch row.
   *  With `independent`, every (b, h, qi) writes only its own row (the forward pass): the
   *  three loops are one parallel index space.
   *  Without `rowsApart`, batch rows write shared data too (the backward's dbias): not parallel. */
  const heads = (inner: KStmt[], prologue: KStmt[] = [], independent = false, rowsApart = true): KStmt => loop('b', dim('batch'), [...prologue, loop('h', i(H), [let_('kh', H === KV ? v('h') : idiv(v('h'), i(H / KV)), 'i32'), loop('qi', d(Tq), [let_('qo', qOff, 'i32'), ...(a.has_q_pos ? [let_('qa', add(load('qPos', v('b')), v('qi')), 'i32')] : []), ...inner], independent)], independent)], rowsApart);
  // Dropout on probabilities: keep-scale of (b, h, i, j) from the counter hash, as in the reference.
  const p = (a.p_drop as number) ?? 0;
  const keep: KExpr = p ? select(bin('<', call('hash_uniform', load('seed', i(0)), i(a.salt as number), add(mul(add(mul(add(mul(v('b'), i(H)), v('h')), d(Tq)), v('qi')), d(Tk)), v('j'))), f(p)), f(0), f(1 / (1 - p))) : f(1);
  const extra = [...(a.has_bias ? [rd('bias')] : []), ...(a.has_key_mask ? [rd('keyMask')] : []), ...(a.has_prefix ? [rdI('prefix')] : []), ...(a.has_q_pos ? [rdI('qPos')] : []), ...(p ? [rdI('seed')] : [])];
  /** Where the row (b, qi, h) keeps its log-sum-exp. */
  const lseAt = add(mul(add(mul(v('b'), d(Tq)), v('qi')), i(H)), v('h'));
  return { H, KV, hd, Tk, visible, score, heads, kOff, keep, extra, keys, lseAt };
}

/** T5's relative position bucket of (query qi, key j), as the reference's relativeBucket. */
function relativeBucket(bidirectional: boolean, buckets: number, maxDistance: number, at: KExpr = v('qi')): KStmt[] {
  const n = bidirectional ? Math.floor(buckets / 2) : buckets;
  const maxExact = Math.floor(n / 2);
  const rel = sub(v('j'), at);
  const r = bidirectional ? call('abs', rel) : call('max', neg(rel), i(0));
  const large = add(i(maxExact), cast('i32', call('floor', mul(div(call('log', div(toF(v('rAbs')), f(maxExact))), f(Math.log(maxDistance / maxExact))), f(n - maxExact)))));
  return [
    let_('rAbs', r, 'i32'),
    let_('bucket', add(bidirectional ? select(bin('>', rel, i(0)), i(n), i(0)) : i(0), select(bin('<', v('rAbs'), i(maxExact)), v('rAbs'), call('min', large, i(n - 1)))), 'i32'),
  ];
}

function attentionKernel(n: Node): Omit<Kernel, 'name' | 'span' | 'dims'> {
  const { hd, visible, score, heads, keep, extra, keys, lseAt } = attentionSetup(n);
  // One pass over the keys with an online softmax: no [T, T] score matrix is materialized.
  const step: KStmt[] = [
    ...score(v('j')),
    let_('mNew', call('max', v('m'), v('s'))),
    let_('corr', call('exp', sub(v('m'), v('mNew')))),
    let_('p', call('exp', sub(v('s'), v('mNew')))),
    set('l', add(mul(v('l'), v('corr')), v('p'))),
    let_('pv', mul(v('p'), keep)),
    loop('e', i(hd), [store('out', add(v('qo'), v('e')), add(mul(load('out', add(v('qo'), v('e'))), v('corr')), mul(v('pv'), load('v', add(v('ko'), v('e'))))))]),
    set('m', v('mNew')),
  ];
  return {
    doc: `fused attention (${n.attrs.mask}${n.attrs.has_key_mask ? ' + key padding' : ''}${n.attrs.p_drop ? `, dropout ${n.attrs.p_drop}` : ''}): scale, mask, online softmax, weighted sum of values; each row's log-sum-exp for the backward pass`,
    buffers: [rd('q'), rd('k'), rd('v'), ...extra, wr('out'), wr('lse')],
    body: [
      heads([
        let_('m', f(-Infinity), 'f32', true),
        let_('l', f(0), 'f32', true),
        loop('e', i(hd), [store('out', add(v('qo'), v('e')), f(0))]),
        keys(visible ? [if_(visible, step)] : step),
        let_('inv', select(bin('>', v('l'), f(0)), div(f(1), v('l')), f(0))),
        loop('e', i(hd), [store('out', add(v('qo'), v('e')), mul(load('out', add(v('qo'), v('e'))), v('inv')))]),
        // An all-masked row (l = 0) has no keys to weigh: 0 stands in.
        store('lse', lseAt, select(bin('>', v('l'), f(0)), add(v('m'), call('log', v('l'))), f(0))),
      ], [], true),
    ],
  };
}

function attentionGradKernel(n: Node): Omit<Kernel, 'name' | 'span' | 'dims'> {
  const { hd, visible, score, heads, keep, extra, keys, KV, Tk, lseAt } = attentionSetup(n);
  /** One batch row of k and v: Tk · KV · hd values. */
  const kvRow = mul(d(Tk), i(KV * hd));
  const guard = (s: KStmt[]) => (visible ? [if_(visible, s)] : s);
  const scale = f(n.attrs.scale as number);
  // dp_j = keep_j · (dOut · v_j): the gradient reaching the undropped probability.
  const dp = (): KStmt[] => [reduce('dov', '+', 'e', i(hd), mul(load('dOut', add(v('qo'), v('e'))), load('v', add(v('ko'), v('e'))))), let_('keepj', keep), let_('dpj', mul(v('dov'), v('keepj')))];
  return {
    doc: "fused attention backward: recomputes each score once, its probability from the forward pass's log-sum-exp; dq, dk, dv",
    buffers: [rd('q'), rd('k'), rd('v'), ...extra, rd('out'), rd('lse'), rd('dOut'), wr('dq'), wr('dk'), wr('dv'), ...(n.attrs.has_bias ? [wr('dbias')] : [])],
    body: [
      // dbias is shared by all batch rows (so with it the batch loop is not parallel and the
      // kernel runs on one thread); dk and dv are zeroed per batch row inside the parallel
      // loop, which keeps the kernel splittable.
      ...(n.attrs.has_bias ? [loop('o', sizeExpr(n.inputs[3].shape), [store('dbias', v('o'), f(0))])] : []),
      heads([
        let_('rowLse', load('lse', lseAt)),
        // The row dot Σⱼ p·dp is dOut · out (out = Σⱼ p·keep·v), as FlashAttention-2 takes
        // it: no pass over the keys.
        reduce('rowDot', '+', 'e', i(hd), mul(load('dOut', add(v('qo'), v('e'))), load('out', add(v('qo'), v('e'))))),
        // One pass over the keys: p = exp(s − lse), dp and ds = p (dp − Σ p·dp); dv, dq and dk.
        loop('e', i(hd), [store('dq', add(v('qo'), v('e')), f(0))]),
        keys(guard([
          ...score(v('j')),
          let_('p', call('exp', sub(v('s'), v('rowLse')))),
          ...dp(),
          let_('pk', mul(v('p'), v('keepj'))),
          let_('dsRaw', mul(v('p'), sub(v('dpj'), v('rowDot')))),
          ...(n.attrs.has_bias ? [store('dbias', add(mul(v('bucket'), i(n.attrs.heads as number)), v('h')), v('dsRaw'), true)] : []),
          let_('ds', mul(v('dsRaw'), scale)),
          loop('e', i(hd), [
            store('dv', add(v('ko'), v('e')), mul(v('pk'), load('dOut', add(v('qo'), v('e')))), true),
            store('dq', add(v('qo'), v('e')), mul(v('ds'), load('k', add(v('ko'), v('e')))), true),
            store('dk', add(v('ko'), v('e')), mul(v('ds'), load('q', add(v('qo'), v('e')))), true),
          ]),
        ])),
      ], [loop('o', kvRow, [store('dk', add(mul(v('b'), kvRow), v('o')), f(0)), store('dv', add(mul(v('b'), kvRow), v('o')), f(0))])], false, !n.attrs.has_bias),
    ],
  };
}

/** The attention backward in two parallel passes (KernelVariant `attention-grad-by-keys`):
 *  dq per (batch, head, query), then dk and dv per (batch, kv head, key), each pass
 *  recomputing the scores, probabilities and row dots it needs. */
function attentionGradByKeysKernel(n: Node): Omit<Kernel, 'name' | 'span' | 'dims'> {
  const { hd, visible, score, heads, keep, extra, keys, H, KV, Tk, kOff, lseAt } = attentionSetup(n);
  const a = n.attrs;
  const scale = f(a.scale as number);
  const Tq = n.inputs[0].shape[1];
  const guard = (s: KStmt[]) => (visible ? [if_(visible, s)] : s);
  const qOff = add(mul(add(mul(v('b'), d(Tq)), v('qi')), i(H * hd)), mul(v('h'), i(hd)));
  /** p and ds of query qi (at qo) and key j (at ko, declared by the caller when `ko` is). */
  const probability = (ko = true): KStmt[] => [
    ...score(v('j'), ko),
    let_('p', call('exp', sub(v('s'), v('rowLse')))),
    reduce('dov', '+', 'e', i(hd), mul(load('dOut', add(v('qo'), v('e'))), load('v', add(v('ko'), v('e'))))),
    let_('keepj', keep),
    let_('ds', mul(mul(v('p'), sub(mul(v('dov'), v('keepj')), v('rowDot'))), scale)),
  ];
  const row: KStmt[] = [
    let_('rowLse', load('lse', lseAt)),
    reduce('rowDot', '+', 'e', i(hd), mul(load('dOut', add(v('qo'), v('e'))), load('out', add(v('qo'), v('e'))))),
  ];
  // The queries that see key j: the key loop's bounds turned around (causal: qi ≥ j; local:
  // j ≤ qi < j + window); the other masks are the same visibility test.
  const qFrom: KExpr = a.mask === 'causal' || a.mask === 'local' ? v('j') : i(0);
  const qTo: KExpr = a.mask === 'local' ? call('min', d(Tq), add(v('j'), i(a.window as number))) : d(Tq);
  const group = H / KV;
  return {
    doc: 'fused attention backward by queries then by keys (for a GPU): dq per query row, dk and dv per key row, each recomputing the scores it needs from the forward pass\'s log-sum-exp',
    buffers: [rd('q'), rd('k'), rd('v'), ...extra, rd('out'), rd('lse'), rd('dOut'), wr('dq'), wr('dk'), wr('dv')],
    body: [
      heads([
        ...row,
        loop('e', i(hd), [store('dq', add(v('qo'), v('e')), f(0))]),
        keys(guard([...probability(), loop('e', i(hd), [store('dq', add(v('qo'), v('e')), mul(v('ds'), load('k', add(v('ko'), v('e')))), true)])])),
      ], [], true),
      loop('b', dim('batch'), [
        loop('kh', i(KV), [
          loop('j', d(Tk), [
            let_('ko', kOff(v('j')), 'i32'),
            loop('e', i(hd), [store('dk', add(v('ko'), v('e')), f(0)), store('dv', add(v('ko'), v('e')), f(0))]),
            loop('g', i(group), [
              let_('h', add(mul(v('kh'), i(group)), v('g')), 'i32'),
              loop('qi', qTo, [
                let_('qo', qOff, 'i32'),
                ...guard([
                  ...row,
                  ...probability(false),
                  loop('e', i(hd), [
                    store('dv', add(v('ko'), v('e')), mul(mul(v('p'), v('keepj')), load('dOut', add(v('qo'), v('e')))), true),
                    store('dk', add(v('ko'), v('e')), mul(v('ds'), load('q', add(v('qo'), v('e')))), true),
                  ]),
                ]),
              ], false, qFrom),
            ]),
          ], true),
        ], true),
      ], true),
    ],
  };
}

function xentKernel(n: Node, grad: boolean): Omit<Kernel, 'name' | 'span' | 'dims'> {
  const logits = n.inputs[0];
  const V = lastOf(logits.shape);
  const ignore = (n.attrs.ignore_index as number) ?? -100;
  const row = (k: KExpr) => load('logits', add(mul(v('r'), i(V)), k));
  const stats: KStmt[] = [reduce('max', 'max', 'c', i(V), row(v('c'))), reduce('sum', '+', 'c', i(V), call('exp', sub(row(v('c')), v('max'))))];
  const rows = rowsOf(logits.shape);
  // Sums over the rows, as reductions (a GPU sums them in a tree): the targets that count,
  // and each counted row's −log p(target); an ignored row adds exactly 0.
  const counted = bin('!=', v('t'), i(ignore));
  const count: KStmt[] = [reduce('count', '+', 'r', rows, select(counted, f(1), f(0)), [let_('t', load('targets', v('r')), 'i32')])];
  if (!grad) {
    return {
      doc: `softmax cross-entropy over ${V} classes, mean over targets ≠ ${ignore}`,
      buffers: [rd('logits'), rdI('targets'), wr('loss')],
      body: [
        ...count,
        reduce('total', '+', 'r', rows, select(counted, sub(add(v('max'), call('log', v('sum'))), row(v('tc'))), f(0)), [
          let_('t', load('targets', v('r')), 'i32'),
          // An ignored row's target is no class: its (unused) term reads class 0.
          let_('tc', select(counted, v('t'), i(0)), 'i32'),
          ...stats,
        ]),
        store('loss', i(0), select(bin('>', v('count'), f(0)), div(v('total'), v('count')), f(0))),
      ],
    };
  }
  return {
    doc: `softmax cross-entropy backward: (softmax − onehot) · dloss / count`,
    buffers: [rd('logits'), rdI('targets'), rd('dloss'), wr('dlogits')],
    body: [
      ...count,
      let_('scale', select(bin('>', v('count'), f(0)), div(load('dloss', i(0)), v('count')), f(0))),
      loop('r', rows, [
        let_('t', load('targets', v('r')), 'i32'),
        if_(bin('==', v('t'), i(ignore)), [loop('c', i(V), [store('dlogits', add(mul(v('r'), i(V)), v('c')), f(0))], true)], [...stats, loop('c', i(V), [store('dlogits', add(mul(v('r'), i(V)), v('c')), mul(sub(div(call('exp', sub(row(v('c')), v('max'))), v('sum')), select(bin('==', v('c'), v('t')), f(1), f(0))), v('scale')))], true)]),
      ], true),
    ],
  };
}

/** matmul with its epilogue: pre = a @ b + bias, post = act(pre), written in the same pass. */
function matmulEpilogueKernel(n: Node): Omit<Kernel, 'name' | 'span' | 'dims'> {
  const [a, b] = n.inputs;
  const tb = !!n.attrs.tb;
  const K = lastOf(a.shape);
  const N = tb ? (b.shape[0] as number) : lastOf(b.shape);
  const act = n.attrs.act as string | null;
  const epilogue = (acc: KExpr, row: KExpr, j: KExpr): KStmt[] => {
    const idx = add(mul(row, i(N)), j);
    return [let_('pre', add(acc, load('bias', j))), store('c', idx, v('pre')), ...(act ? [store('post', idx, ACT[act].f(v('pre')))] : [])];
  };
  return {
    doc: `fused c = a @ b${tb ? 'ᵀ' : ''} + bias${act ? `, post = ${act}(c)` : ''}: [rows, ${K}] → [rows, ${N}]`,
    buffers: [rd('a'), rd('b'), rd('bias'), wr('c'), ...(act ? [wr('post')] : [])],
    body: matmulNest({ M: rowsOf(a.shape), N, P: i(K), A: (r, p) => add(mul(r, i(K)), p), B: tb ? (p, j) => add(mul(j, i(K)), p) : (p, j) => add(mul(p, i(N)), j), C: (r, j) => add(mul(r, i(N)), j), epilogue }),
  };
}

/** Residual add then layernorm / rmsnorm of each row, in one pass over the row. */
function addNormKernel(n: Node): Omit<Kernel, 'name' | 'span' | 'dims'> {
  const kind = n.attrs.kind as 'layernorm' | 'rmsnorm';
  const x = n.inputs[0];
  const D = lastOf(x.shape);
  const hasBias = n.inputs.length === 4; // x, y, g[, b]
  const xhat = mul(sub(load('sum', add(v('o'), v('k'))), v('mean')), v('rstd'));
  const stats = mapStmts(rowStats(kind, D, n.attrs.eps as number), (e) => (e.k === 'load' && e.buf === 'x' ? { ...e, buf: 'sum' } : e));
  return {
    doc: `fused residual add + ${kind} over the last dim (${D}): writes the sum and the normed row`,
    buffers: [rd('x'), rd('y'), rd('g'), ...(hasBias ? [rd('b')] : []), wr('sum'), wr('out')],
    body: [
      loop('r', rowsOf(x.shape), [
        let_('o', mul(v('r'), i(D)), 'i32'),
        loop('k', i(D), [store('sum', add(v('o'), v('k')), add(load('x', add(v('o'), v('k'))), load('y', add(v('o'), v('k')))))]),
        ...stats,
        loop('k', i(D), [store('out', add(v('o'), v('k')), add(mul(xhat, load('g', v('k'))), hasBias ? load('b', v('k')) : f(0)))]),
      ], true),
    ],
  };
}

/** Rotary positions (rotate-half form): each pair (d, d + hd/2) of every head turned by
 *  position · base^(−2d/hd); `inverse` turns it back (the gradient). */
function rotaryKernel(n: Node): Omit<Kernel, 'name' | 'span' | 'dims'> {
  const [B, T, W] = n.inputs[0].shape as [string, string | number, number];
  // With a key/value cache the rows of batch row b start at position past[b].
  const past = n.inputs.length > 1;
  const position = past ? add(load('past', idiv(v('row'), d(T))), bin('%', v('row'), d(T))) : bin('%', v('row'), d(T));
  const hd = n.attrs.head_dim as number;
  const half = hd / 2;
  const sign = n.attrs.inverse ? -1 : 1;
  const at = (k: KExpr) => add(add(mul(v('row'), i(W)), mul(v('h'), i(hd))), k);
  return {
    doc: `rotary positions${n.attrs.inverse ? ' (inverse)' : ''}: ${W / hd} heads × ${hd}, base ${n.attrs.base}`,
    buffers: [rd('x'), ...(past ? [rdI('past')] : []), wr('y')],
    body: [
      loop('row', mul(d(B), d(T)), [
        let_('pos', position, 'i32'),
        loop('h', i(W / hd), [
          loop('e', i(half), [
            let_('theta', mul(toF(v('pos')), call('pow', f(n.attrs.base as number), div(mul(f(-2), toF(v('e'))), f(hd))))),
            let_('cs', call('cos', v('theta'))),
            let_('sn', mul(call('sin', v('theta')), f(sign))),
            let_('x1', load('x', at(v('e')))),
            let_('x2', load('x', at(add(v('e'), i(half))))),
            store('y', at(v('e')), sub(mul(v('x1'), v('cs')), mul(v('x2'), v('sn')))),
            store('y', at(add(v('e'), i(half))), add(mul(v('x2'), v('cs')), mul(v('x1'), v('sn')))),
          ]),
        ]),
      ], true),
    ],
  };
}

const BUILDERS: Record<string, Builder> = {
  rotary: rotaryKernel,
  matmul_epilogue: matmulEpilogueKernel,
  add_norm: addNormKernel,
  gather_rows: (n) => {
    const [B, T, D] = n.inputs[0].shape;
    const M = n.inputs[1].shape[1];
    return {
      doc: 'the rows at given positions of each sequence (the positions a loss is taken on)',
      buffers: [rd('x'), rdI('idx'), wr('y')],
      body: [loop('b', d(B), [loop('j', d(M), [let_('src', mul(add(mul(v('b'), d(T)), load('idx', add(mul(v('b'), d(M)), v('j')))), i(D as number)), 'i32'), loop('k', i(D as number), [store('y', add(mul(add(mul(v('b'), d(M)), v('j')), i(D as number)), v('k')), load('x', add(v('src'), v('k'))))])], true)], true)],
    };
  },
  gather_rows_grad: (n) => {
    const [B, T, D] = n.outputs[0].shape;
    const M = n.inputs[0].shape[1];
    // One iteration per sequence: it zeroes its own rows, then adds each gathered row's
    // gradient back at its position — every write stays inside the sequence, so sequences
    // run in parallel without atomics, and a position gathered twice gets both.
    return {
      doc: 'gather_rows backward: zeros, then each gathered row added back at its position',
      buffers: [rdI('idx'), rd('dy'), wr('dx')],
      body: [
        loop('b', d(B), [
          loop('o', mul(d(T), i(D as number)), [store('dx', add(mul(mul(v('b'), d(T)), i(D as number)), v('o')), f(0))]),
          loop('j', d(M), [
            let_('dst', mul(add(mul(v('b'), d(T)), load('idx', add(mul(v('b'), d(M)), v('j')))), i(D as number)), 'i32'),
            loop('k', i(D as number), [store('dx', add(v('dst'), v('k')), load('dy', add(mul(add(mul(v('b'), d(M)), v('j')), i(D as number)), v('k'))), true)]),
          ]),
        ], true),
      ],
    };
  },
  take_first: (n) => {
    const [B, T, D] = n.inputs[0].shape;
    return { doc: 'the first position of every sequence (<cls>)', buffers: [rd('x'), wr('y')], body: [loop('b', d(B), [loop('k', i(D as number), [store('y', add(mul(v('b'), i(D as number)), v('k')), load('x', add(mul(mul(v('b'), d(T)), i(D as number)), v('k'))))], true)], true)] };
  },
  take_first_grad: (n) => {
    const [B, T, D] = n.outputs[0].shape;
    return { doc: 'take_first backward: dy into position 0, zeros elsewhere', buffers: [rd('dy'), wr('dx')], body: [loop('o', sizeExpr(n.outputs[0].shape), [store('dx', v('o'), f(0))]), loop('b', d(B), [loop('k', i(D as number), [store('dx', add(mul(mul(v('b'), d(T)), i(D as number)), v('k')), load('dy', add(mul(v('b'), i(D as number)), v('k'))))])])] };
  },
  mean_seq: (n) => {
    const [B, T, D] = n.inputs[0].shape;
    return { doc: 'mean over the sequence', buffers: [rd('x'), wr('y')], body: [loop('b', d(B), [loop('k', i(D as number), [reduce('acc', '+', 't', d(T), load('x', add(mul(add(mul(v('b'), d(T)), v('t')), i(D as number)), v('k')))), store('y', add(mul(v('b'), i(D as number)), v('k')), div(v('acc'), toF(d(T))))], true)], true)] };
  },
  mean_seq_grad: (n) => {
    const [B, T, D] = n.outputs[0].shape;
    return { doc: 'mean_seq backward', buffers: [rd('dy'), wr('dx')], body: [loop('b', d(B), [loop('t', d(T), [loop('k', i(D as number), [store('dx', add(mul(add(mul(v('b'), d(T)), v('t')), i(D as number)), v('k')), div(load('dy', add(mul(v('b'), i(D as number)), v('k'))), toF(d(T))))], true)], true)], true)] };
  },
  prepend: (n) => {
    const [B, P, D] = n.inputs[0].shape as [string, number, number];
    const row = (b: KExpr, t: KExpr) => add(mul(add(mul(b, i(P + 1)), t), i(D)), v('k'));
    return {
      doc: 'prepend a learned row (<cls>) to every sequence',
      buffers: [rd('x'), rd('row'), wr('y')],
      body: [loop('b', d(B), [loop('k', i(D), [store('y', row(v('b'), i(0)), load('row', v('k')))]), loop('t', i(P), [loop('k', i(D), [store('y', row(v('b'), add(v('t'), i(1))), load('x', add(mul(add(mul(v('b'), i(P)), v('t')), i(D)), v('k'))))])])], true)],
    };
  },
  prepend_grad: (n) => {
    const [B, P1, D] = n.inputs[0].shape as [string, number, number];
    return {
      doc: 'prepend backward: dx from positions 1.., drow summed over the batch',
      buffers: [rd('dy'), wr('dx'), wr('drow')],
      body: [
        loop('k', i(D), [store('drow', v('k'), f(0))]),
        loop('b', d(B), [loop('k', i(D), [store('drow', v('k'), load('dy', add(mul(mul(v('b'), i(P1)), i(D)), v('k'))), true)]), loop('t', i(P1 - 1), [loop('k', i(D), [store('dx', add(mul(add(mul(v('b'), i(P1 - 1)), v('t')), i(D)), v('k')), load('dy', add(mul(add(mul(v('b'), i(P1)), add(v('t'), i(1))), i(D)), v('k'))))])])]),
      ],
    };
  },
  patchify: (n) => {
    const [B, C, H, W] = n.inputs[0].shape as [string, number, number, number];
    const p = n.attrs.patch as number;
    const nw = W / p;
    const np = (H / p) * nw;
    const F = C * p * p;
    return {
      doc: `cut [${C}, ${H}, ${W}] images into ${np} patches of ${p}×${p} (channel-major features, as a conv weight flattens)`,
      buffers: [rd('img'), wr('y')],
      body: [
        loop('b', d(B), [
          loop('py', i(H / p), [
            loop('px', i(nw), [
              loop('c', i(C), [
                loop('u', i(p), [
                  loop('w', i(p), [
                    store('y', add(mul(add(mul(v('b'), i(np)), add(mul(v('py'), i(nw)), v('px'))), i(F)), add(add(mul(v('c'), i(p * p)), mul(v('u'), i(p))), v('w'))), load('img', add(mul(add(mul(add(mul(v('b'), i(C)), v('c')), i(H)), add(mul(v('py'), i(p)), v('u'))), i(W)), add(mul(v('px'), i(p)), v('w'))))),
                  ]),
                ]),
              ]),
            ]),
          ]),
        ], true),
      ],
    };
  },
  sinusoidal: (n) => {
    const D = n.attrs.dim as number;
    return {
      doc: `sinusoidal positions: sin/cos of pos / 10000^(2i/${D})`,
      buffers: [wr('y')],
      body: [loop('pos', d(n.attrs.rows as string | number), [loop('k', i(D / 2), [let_('angle', div(toF(v('pos')), call('pow', f(10000), div(mul(f(2), toF(v('k'))), f(D))))), store('y', add(mul(v('pos'), i(D)), mul(i(2), v('k'))), call('sin', v('angle'))), store('y', add(add(mul(v('pos'), i(D)), mul(i(2), v('k'))), i(1)), call('cos', v('angle')))])])],
    };
  },
  embedding: (n) => {
    const [table] = n.inputs;
    const D = table.shape[1] as number;
    return {
      doc: `token embedding lookup: [vocab ${table.shape[0]}, ${D}]`,
      buffers: [rd('table'), rdI('ids'), wr('y')],
      body: [loop('r', sizeExpr(n.inputs[1].shape), [let_('src', mul(load('ids', v('r')), i(D)), 'i32'), loop('k', i(D), [store('y', add(mul(v('r'), i(D)), v('k')), load('table', add(v('src'), v('k'))))])], true)],
    };
  },
  embedding_grad: (n) => {
    const D = lastOf(n.inputs[1].shape);
    return {
      doc: 'embedding backward: scatter-add rows of dy into the table gradient',
      buffers: [rdI('ids'), rd('dy'), wr('dtable')],
      body: [loop('o', sizeExpr(n.outputs[0].shape), [store('dtable', v('o'), f(0))]), loop('r', sizeExpr(n.inputs[0].shape), [let_('dst', mul(load('ids', v('r')), i(D)), 'i32'), loop('k', i(D), [store('dtable', add(v('dst'), v('k')), load('dy', add(mul(v('r'), i(D)), v('k'))), true)])])],
    };
  },
  slice_rows: (n) => {
    const D = n.inputs[0].shape[1] as number;
    const off = (n.attrs.offset as number) ?? 0;
    return { doc: `rows [${off}, ${off} + ${n.attrs.rows}) of a [${n.inputs[0].shape.join(', ')}] table`, buffers: [rd('table'), wr('y')], body: [loop('o', mul(d(n.attrs.rows as string | number), i(D)), [store('y', v('o'), load('table', add(v('o'), i(off * D))))], true)] };
  },
  kv_write: (n) => {
    const [B, T, W] = n.inputs[0].shape as [string, string | number, number];
    const C = n.attrs.ctx as string | number;
    const src = add(mul(add(mul(v('b'), d(T)), v('t')), i(W)), v('k'));
    const dst = add(mul(add(mul(v('b'), d(C)), v('row')), i(W)), v('k'));
    return {
      doc: `key/value cache: the ${T} new rows of each batch row go to rows past[b] … past[b] + ${T} − 1 of the [${B}, ${C}, ${W}] cache; the rows before them stay as earlier calls wrote them`,
      buffers: [rd('x'), rdI('past'), wr('cache')],
      body: [loop('b', d(B), [loop('t', d(T), [let_('row', add(load('past', v('b')), v('t')), 'i32'), if_(bin('<', v('row'), d(C)), [loop('k', i(W), [store('cache', dst, load('x', src))])])])], true)],
    };
  },
  position_rows: (n) => {
    const [L, D] = n.inputs[0].shape as [number, number];
    const T = n.attrs.rows as string | number;
    const off = (n.attrs.offset as number) ?? 0;
    return {
      doc: `positions of the new tokens with a key/value cache: rows ${off ? `${off} + ` : ''}past[b] + t of a [${L}, ${D}] table (0 past its end)`,
      buffers: [rd('table'), rdI('past'), wr('y')],
      body: [
        loop('b', dim('batch'), [
          loop('t', d(T), [
            let_('row', add(add(load('past', v('b')), v('t')), i(off)), 'i32'),
            loop('k', i(D), [store('y', add(mul(add(mul(v('b'), d(T)), v('t')), i(D)), v('k')), select(bin('<', v('row'), i(L)), load('table', add(mul(call('min', v('row'), i(L - 1)), i(D)), v('k'))), f(0)))]),
          ]),
        ], true),
      ],
    };
  },
  sinusoidal_at: (n) => {
    const D = n.attrs.dim as number;
    const T = n.attrs.rows as string | number;
    const at = (k: KExpr) => add(mul(add(mul(v('b'), d(T)), v('t')), i(D)), k);
    return {
      doc: `sinusoidal positions of the new tokens with a key/value cache: sin/cos of (past[b] + t) / 10000^(2i/${D})`,
      buffers: [rdI('past'), wr('y')],
      body: [
        loop('b', dim('batch'), [
          loop('t', d(T), [
            let_('pos', add(load('past', v('b')), v('t')), 'i32'),
            loop('k', i(D / 2), [let_('angle', div(toF(v('pos')), call('pow', f(10000), div(mul(f(2), toF(v('k'))), f(D))))), store('y', at(mul(i(2), v('k'))), call('sin', v('angle'))), store('y', at(add(mul(i(2), v('k')), i(1))), call('cos', v('angle')))]),
          ]),
        ], true),
      ],
    };
  },
  slice_rows_grad: (n) => {
    const D = n.inputs[0].shape[1] as number;
    const off = (n.attrs.offset as number) ?? 0;
    return { doc: 'slice_rows backward: scatter into a zeroed table gradient', buffers: [rd('dy'), wr('dtable')], body: [loop('o', sizeExpr(n.outputs[0].shape), [store('dtable', v('o'), f(0))]), loop('o', sizeExpr(n.inputs[0].shape), [store('dtable', add(v('o'), i(off * D)), load('dy', v('o')))])] };
  },
  matmul: matmulKernel,
  add: (n) => elementwise(n, ([a, b]) => add(a, b), 'y = a + b (broadcast)'),
  sub: (n) => elementwise(n, ([a, b]) => sub(a, b), 'y = a − b (broadcast)'),
  mul: (n) => elementwise(n, ([a, b]) => mul(a, b), 'y = a · b (broadcast)'),
  scale: (n) => elementwise(n, ([a]) => mul(a, f(n.attrs.c as number)), `y = ${n.attrs.c} · x`),
  act: (n) => elementwise(n, ([x]) => ACT[n.attrs.kind as string].f(x), `${n.attrs.kind}`),
  act_grad: (n) => {
    const a = ACT[n.attrs.kind as string];
    return elementwise(n, ([, dy]) => mul(a.df(v('x')), dy), `${n.attrs.kind} backward`, ([x]) => [let_('x', x), ...(a.pre?.(v('x')) ?? [])]);
  },
  reshape: (n) => elementwise(n, ([x]) => x, 'copy (reshape)'),
  broadcast: (n) => elementwise(n, ([x]) => x, 'broadcast'),
  fill: (n) => ({ doc: `fill with ${n.attrs.value}`, buffers: [wr('y')], body: [loop('o', sizeExpr(n.outputs[0].shape), [store('y', v('o'), f(n.attrs.value as number))])] }),
  reduce_to: (n) => {
    const x = n.inputs[0].shape;
    const out = n.outputs[0].shape;
    const zero = loop('o', sizeExpr(out), [store('y', v('o'), f(0))]);
    const doc = `sum [${x.join(', ')}] down to [${out.join(', ')}] (gradient of a broadcast)`;
    // Down to trailing dims (a bias): rows of x added to y, one contiguous row at a time.
    if (trailingOf(out, x)) {
      const width = sizeExpr(out);
      return { doc, buffers: [rd('x'), wr('y')], body: [zero, loop('r', sizeExpr(x.slice(0, x.length - out.length)), [loop('c', width, [store('y', v('c'), load('x', add(mul(v('r'), width), v('c'))), true)])])] };
    }
    return { doc, buffers: [rd('x'), wr('y')], body: [zero, loop('o', sizeExpr(x), [store('y', broadcastIndex(out, x, v('o')), load('x', v('o')), true)])] };
  },
  sum_all: (n) => ({ doc: 'sum of all elements', buffers: [rd('x'), wr('y')], body: [reduce('acc', '+', 'o', sizeExpr(n.inputs[0].shape), load('x', v('o'))), store('y', i(0), v('acc'))] }),
  layernorm: normKernel,
  rmsnorm: normKernel,
  layernorm_grad: normGradKernel,
  rmsnorm_grad: normGradKernel,
  attention: attentionKernel,
  attention_grad: (n, _name, variants) => (variants.has('attention-grad-by-keys') && !n.attrs.has_bias ? attentionGradByKeysKernel(n) : attentionGradKernel(n)),
  softmax_xent: (n) => xentKernel(n, false),
  softmax_xent_grad: (n) => xentKernel(n, true),
  dropout: (n) => {
    const p = n.attrs.p as number;
    return {
      doc: `dropout p = ${p} (mask from the counter hash of seed, site ${n.attrs.salt}, index)`,
      buffers: [rd('x'), rdI('seed'), wr('y')],
      body: [loop('o', sizeExpr(n.inputs[0].shape), [store('y', v('o'), select(bin('<', call('hash_uniform', load('seed', i(0)), i(n.attrs.salt as number), v('o')), f(p)), f(0), mul(load('x', v('o')), f(1 / (1 - p)))))], true)],
    };
  },
};

/** Ops that have a CPU kernel builder. */
export function hasKernel(op: string): boolean {
  return op in BUILDERS;
}
