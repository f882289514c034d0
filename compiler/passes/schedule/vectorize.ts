// Vectorization of innermost loops, for targets with 128-bit vectors (f32x4): a loop whose
// body only loads, does + − × ÷ (and exp, tanh, erf, sqrt, max, min, comparisons and selects) on f32, stores along the loop (stride 1) and accumulates
// into outer f32 locals runs four iterations at a time — loads along the loop become vector
// loads, loads that do not move become broadcasts, each accumulator gets a vector partner
// summed across lanes after the loop — and the iterations left over (trip count not a
// multiple of four) run as the original scalar loop. Loops with anything else (other calls,
// integer comparisons, conditions, integer locals, gathers, stores that do not move along the loop)
// stay scalar. The attention, norm and softmax loops over head_dim / d_model are the ones
// this reaches. `vectorExpr` and `stride` serve the SIMD tiles too (simd-tile.ts).
import { add, bin, declared, f, hsum, i, let_, mentions, set, splat, sub, substitute, v, vload, walkKernel, VECTOR_FN, type ElemType, type KExpr, type Kernel, type KStmt, type KType } from '../../codegen/kir.ts';

/** The longest loop unrolled whole, in vector steps (32 floats: a head of 32). */
const MAX_UNROLL = 8;

/** Options for a target whose vectors are not the CPU's (WGSL's vec4<f32>): `parallel`:
 *  whether a parallel loop may be vectorized (a GPU maps it to invocations: no); `fns`: the
 *  functions it has lane-wise; `scratch`: whether per-invocation scratch rows (private arrays
 *  on a GPU) are vectorized like buffers. */
export interface VectorizeOptions {
  parallel?: boolean;
  fns?: ReadonlySet<string>;
  scratch?: boolean;
  /** Loops with more accumulators stay scalar (a GPU's register tile: 64 of them). */
  maxReductions?: number;
}

export function vectorize(opts: VectorizeOptions = {}) {
  const { parallel = true, fns = VECTOR_FN, scratch = false, maxReductions = Infinity } = opts;
  return (k: Kernel): Kernel => {
    let fresh = 0;
    const buffers = new Map<string, ElemType>([...k.buffers.map((b) => [b.name, b.t] as [string, ElemType]), ...(scratch ? (k.scratch ?? []).map((x) => [x.name, 'f32'] as [string, ElemType]) : [])]);
    // `top`: the kernel's own statements, where a parallel loop is the one split across threads.
    const block = (stmts: KStmt[], outer: Map<string, KType>, top = false): KStmt[] => {
      const scope = new Map(outer);
      const out: KStmt[] = [];
      for (const s of stmts) {
        if (s.k === 'let') scope.set(s.v, s.t);
        if (s.k === 'for') {
          const vector = (s.step ?? 1) === 1 && (parallel || !s.parallel) && s.body.every((b) => b.k !== 'for' && b.k !== 'if') ? vectorizeLoop(s, scope, buffers, fresh, top && !!s.parallel, fns, maxReductions) : undefined;
          if (vector) {
            out.push(...vector);
            fresh++;
            // The copies of an unrolled loop declare their locals in this block: a later
            // unrolled sibling must not declare the same names (WGSL rejects redeclaration).
            for (const name of declared(vector)) if (!scope.has(name)) scope.set(name, 'f32x4');
          }
          else out.push({ ...s, body: block(s.body, new Map(scope).set(s.v, 'i32')) });
        } else if (s.k === 'if') out.push({ ...s, then: block(s.then, scope), else: s.else && block(s.else, scope) });
        else out.push(s);
      }
      return out;
    };
    return { ...k, body: block(k.body, new Map(), true) };
  };
}

/**
 * `e` as four lanes along `iv`: loads of f32 buffers with stride 1 in `iv` become vector
 * loads and loads that do not move become broadcasts (their index may not read a name
 * `local` gives a vector for), f32 constants and scalar arguments become broadcasts, names
 * become what `local` says (a vector, or 'splat' for a scalar to broadcast), and + − × ÷,
 * negation, the VECTOR_FN calls, comparisons of floats (lane masks, `bool4`) and selects on
 * them keep their shape. Undefined for anything else (another call, an integer comparison,
 * a gather).
 * `at` rewrites the indices (a tile's row and first column).
 */
export function vectorExpr(e: KExpr, iv: string, buffers: Map<string, ElemType>, local: (name: string) => KExpr | 'splat' | undefined, at: (idx: KExpr) => KExpr = (x) => x, fns: ReadonlySet<string> = VECTOR_FN): KExpr | undefined {
  const vec = (x: KExpr): KExpr | undefined => {
    switch (x.k) {
      case 'num':
        return x.t === 'f32' ? splat(x) : undefined;
      case 'arg':
        return splat(x);
      case 'var': {
        const l = local(x.name);
        return l === 'splat' ? splat(x) : l;
      }
      case 'load': {
        const s = stride(x.idx, iv);
        if (buffers.get(x.buf) !== 'f32' || mentions(x.idx, (n) => typeof local(n) === 'object')) return undefined;
        return s === 1 ? vload(x.buf, at(x.idx)) : s === 0 ? splat({ ...x, idx: at(x.idx) }) : undefined;
      }
      case 'neg': {
        const a = vec(x.a);
        return a && bin('-', splat({ k: 'num', v: 0, t: 'f32' }), a);
      }
      case 'bin': {
        // Arithmetic, lane-wise comparisons of floats (a mask per lane) and their && / ||.
        if (!['+', '-', '*', '/', '<', '<=', '>', '>=', '==', '!=', '&&', '||'].includes(x.op)) return undefined;
        const [a, b] = [vec(x.a), vec(x.b)];
        return a && b ? { ...x, a, b } : undefined;
      }
      case 'select': {
        // A lane-wise choice: relu, its derivative, masks.
        const [c, a, b] = [vec(x.c), vec(x.a), vec(x.b)];
        return c && a && b ? { ...x, c, a, b } : undefined;
      }
      case 'call': {
        if (!fns.has(x.fn)) return undefined;
        const args = x.args.map(vec);
        return args.every((a) => a !== undefined) ? { ...x, args: args as KExpr[] } : undefined;
      }
      default:
        return undefined;
    }
  };
  return vec(e);
}

/** How far an index moves when `name` grows by one, if that is the same at a few points of
 *  the other names (an affine index); undefined otherwise. */
export function stride(e: KExpr, name: string): number | undefined {
  let seen: number | undefined;
  for (let trial = 0; trial < 4; trial++) {
    const env = new Map<string, number>();
    // Deterministic points: the pass must give the same code on every compile.
    const value = (n: string) => {
      if (!env.has(n)) env.set(n, 3 + ((trial * 7919 + [...n].reduce((a, ch) => a * 31 + ch.charCodeAt(0), 17)) % 29));
      return env.get(n)!;
    };
    const a = evalInt(e, value);
    const prev = env.get(name);
    env.set(name, (prev ?? value(name)) + 1);
    const b = evalInt(e, value);
    if (a === undefined || b === undefined) return undefined;
    if (seen !== undefined && b - a !== seen) return undefined;
    seen = b - a;
  }
  return seen;
}

function evalInt(e: KExpr, value: (name: string) => number): number | undefined {
  const r = (x: KExpr) => evalInt(x, value);
  switch (e.k) {
    case 'num':
      return e.t === 'i32' ? e.v : undefined;
    case 'var':
    case 'dim':
      return value(`${e.k}:${e.name}`.replace(/^var:/, ''));
    case 'bin': {
      const [a, b] = [r(e.a), r(e.b)];
      if (a === undefined || b === undefined) return undefined;
      if (e.op === '+') return a + b;
      if (e.op === '-') return a - b;
      if (e.op === '*') return a * b;
      return undefined;
    }
    default:
      return undefined;
  }
}

/** The loop as a vector loop of step 4, its accumulators' lane sums and the scalar tail;
 *  undefined when its body is not all vectorizable. `n` numbers the new locals. */
/** `threadLoop`: the loop is the kernel's thread split (a top-level parallel loop), which
 *  must stay a loop. */
function vectorizeLoop(loop: KStmt & { k: 'for' }, scope: Map<string, KType>, buffers: Map<string, ElemType>, n: number, threadLoop: boolean, fns: ReadonlySet<string>, maxReductions: number): KStmt[] | undefined {
  const iv = loop.v;
  const locals = new Set<string>();
  const reductions: string[] = [];
  const local = (name: string) => (locals.has(name) ? v(`${name}_v`) : name !== iv && scope.get(name) === 'f32' ? ('splat' as const) : undefined);
  const vec = (e: KExpr) => vectorExpr(e, iv, buffers, local, undefined, fns);
  const body: KStmt[] = [];
  for (const s of loop.body) {
    if (s.k === 'let') {
      const e = s.t === 'f32' ? vec(s.e) : undefined;
      if (!e) return undefined;
      body.push(let_(`${s.v}_v`, e, 'f32x4'));
      locals.add(s.v);
    } else if (s.k === 'set') {
      const e = s.op === '+' && scope.get(s.v) === 'f32' && !locals.has(s.v) && !reductions.includes(s.v) ? vec(s.e) : undefined;
      if (!e) return undefined;
      body.push(set(`${s.v}_v${n}`, e, '+'));
      reductions.push(s.v);
    } else if (s.k === 'store') {
      const e = buffers.get(s.buf) === 'f32' && stride(s.idx, iv) === 1 && !mentions(s.idx, (x) => locals.has(x)) ? vec(s.e) : undefined;
      if (!e) return undefined;
      body.push({ ...s, e });
    } else if (s.k !== 'comment') return undefined;
  }
  if (loop.body.every((s) => s.k !== 'store' && s.k !== 'set')) return undefined;
  if (reductions.length > maxReductions) return undefined;
  // A parallel loop's iterations may run on different threads (and checkKernel rejects an
  // accumulator shared by them): no reductions.
  if (loop.parallel && reductions.length) return undefined;
  // A body that reads what it stores at another index would change meaning; builders only
  // read back the element they store (out[qo + e] = out[qo + e]·corr + …).
  const stores = loop.body.flatMap((s) => (s.k === 'store' ? [s] : []));
  let readsOther = false;
  walkKernel(loop.body, {
    expr: (x) => {
      if (x.k === 'load' && stores.some((s) => s.buf === x.buf) && !stores.some((s) => s.buf === x.buf && JSON.stringify(s.idx) === JSON.stringify(x.idx))) readsOther = true;
    },
  });
  if (readsOther) return undefined;
  const end = `vend${n}`;
  const count = sub(loop.to, loop.from);
  // A short loop of known length (attention's head_dim loops) runs unrolled: no loop
  // overhead or empty tail, and two accumulators per reduction (even and odd steps) so
  // that consecutive multiply-adds do not wait on each other.
  const from = loop.from.k === 'num' ? loop.from.v : undefined;
  if (from !== undefined && !threadLoop && count.k === 'num' && count.v >= 4 && count.v <= 4 * MAX_UNROLL) {
    const steps = Math.floor(count.v / 4);
    const locals = declared(body);
    // Copy u's locals are `x_u`, or `x_n_u` where an earlier unrolled loop of this block
    // already declared `x_u` (two norm loops over the same row, say).
    const taken = [...locals].some((x) => [...Array(steps).keys()].some((u) => scope.has(`${x}_${u}`)));
    const copyName = (x: string, u: number) => (taken ? `${x}_${n}_${u}` : `${x}_${u}`);
    const acc = (r: string, u: number) => `${r}_v${n}${u % 2 ? 'b' : ''}`;
    // Copy u: the loop variable is a constant, its locals get a suffix, and each reduction's
    // accumulator (`r_vn`, only ever assigned in the body) is the even or the odd one.
    const reduced = new Map(reductions.map((r) => [`${r}_v${n}`, r]));
    const copies = [...Array(steps).keys()].flatMap((u) => substitute(body, { [iv]: i(from + 4 * u) }, (x) => (locals.has(x) ? copyName(x, u) : reduced.has(x) ? acc(reduced.get(x)!, u) : x)));
    const two = steps > 1;
    return [
      ...reductions.flatMap((r) => [let_(acc(r, 0), splat(f(0)), 'f32x4', true), ...(two ? [let_(acc(r, 1), splat(f(0)), 'f32x4', true)] : [])]),
      ...copies,
      ...reductions.flatMap((r) => [...(two ? [set(acc(r, 0), v(acc(r, 1)), '+')] : []), set(r, hsum(v(acc(r, 0))), '+')]),
      ...(count.v % 4 ? [{ ...loop, from: i(from + 4 * steps) }] : []),
    ];
  }
  return [
    let_(end, add(loop.from, sub(count, bin('%', count, i(4)))), 'i32'),
    ...reductions.map((r) => let_(`${r}_v${n}`, splat({ k: 'num', v: 0, t: 'f32' }), 'f32x4', true)),
    { k: 'for', v: iv, from: loop.from, to: v(end), step: 4, body, ...(loop.parallel ? { parallel: true } : {}) },
    ...reductions.map((r) => set(r, hsum(v(`${r}_v${n}`)), '+')),
    { ...loop, from: v(end), parallel: undefined },
  ];
}
