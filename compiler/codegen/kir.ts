// The kernel IR: what one kernel computes, as loops over explicit index spaces, loads and
// stores on named buffers and scalar arithmetic — no target syntax. Renderers (TypeScript,
// WebAssembly, WGSL next) turn it into code.
//
// Two constructs say what may run at once without saying how. A loop marked `parallel` has
// independent iterations (no two write the same element, none assigns a local declared
// outside it; checkKernel rejects the plain violations). Parallel loops nest: the chain of
// them from the top (parallelDomain) is an N-dim index space a GPU target maps to
// invocations, and the CPU targets split the outermost across threads. A `reduce` names a
// reduction (+ or max over an index range) as one statement, so that a GPU target can give
// it to a workgroup and combine in a tree; the CPU targets lower it to an accumulator loop
// in index order (passes/schedule/lower-reduce.ts).
//
// The IR is typed: every expression is `f32`, `i32` or `bool` (a comparison), and nothing
// converts implicitly — an integer used in float arithmetic goes through a `cast` node. The
// checker (checkKernel) rejects mixed arithmetic, untyped locals and float `%`; tests run it
// on every kernel of every spec. `f32` means IEEE float32 wherever a target can say so.
import type { Span } from '../../common/source.ts';

/** What a buffer holds. */
export type ElemType = 'f32' | 'i32';
/** What a local holds: an element, a float64 (only where a kernel deliberately accumulates
 *  wider: the global gradient norm sums millions of squares), or (on targets with SIMD)
 *  four f32 lanes. */
export type ScalarType = ElemType | 'f64';
export type KType = ScalarType | 'f32x4';
/** The type of an expression: a local's type, or the truth value of a comparison (`bool4`:
 *  of a lane-wise comparison of f32x4, for a lane-wise select). */
export type EType = KType | 'bool' | 'bool4';
export type BinOp = '+' | '-' | '*' | '/' | '%' | '<' | '<=' | '>' | '>=' | '==' | '!=' | '&&' | '||';
export type MathFn = 'exp' | 'log' | 'sqrt' | 'tanh' | 'erf' | 'max' | 'min' | 'abs' | 'floor' | 'sin' | 'cos' | 'pow' | 'idiv' | 'hash_uniform';

export type KExpr =
  | { k: 'num'; v: number; t: ScalarType }
  | { k: 'var'; name: string }
  | { k: 'dim'; name: string }
  /** A scalar argument bound per call (learning rate, step), not a run-time dim. */
  | { k: 'arg'; name: string }
  | { k: 'load'; buf: string; idx: KExpr }
  | { k: 'bin'; op: BinOp; a: KExpr; b: KExpr }
  | { k: 'neg'; a: KExpr }
  | { k: 'call'; fn: MathFn; args: KExpr[] }
  | { k: 'select'; c: KExpr; a: KExpr; b: KExpr }
  /** i32 → f32 converts exactly (below 2²⁴); f32 → i32 truncates toward zero. */
  | { k: 'cast'; t: ScalarType; a: KExpr }
  /** Vector forms, introduced only by a target's vectorizing schedule: four contiguous f32
   *  from `idx`, one f32 in four lanes, one lane of a vector. */
  | { k: 'vload'; buf: string; idx: KExpr }
  | { k: 'splat'; a: KExpr }
  | { k: 'lane'; a: KExpr; lane: number };

export type KStmt =
  | { k: 'for'; v: string; from: KExpr; to: KExpr; body: KStmt[]; parallel?: boolean; step?: number }
  | { k: 'let'; v: string; t: KType; e: KExpr; mutable?: boolean }
  | { k: 'set'; v: string; e: KExpr; op?: '+' | '*' | '=' }
  | { k: 'store'; buf: string; idx: KExpr; e: KExpr; accumulate?: boolean }
  | { k: 'if'; c: KExpr; then: KStmt[]; else?: KStmt[] }
  /** `let v: t = op over idx in [from, to) of e` — the body's lets (and reductions) run per
   *  idx before e; v is a constant after it. The body only declares locals (no stores, no
   *  assignments). */
  | { k: 'reduce'; v: string; t: ScalarType; op: ReduceOp; idx: string; from: KExpr; to: KExpr; body: KStmt[]; e: KExpr }
  | { k: 'comment'; text: string };

export type ReduceOp = '+' | 'max';

export interface KBuffer {
  name: string;
  t: ElemType;
  access: 'read' | 'write' | 'readwrite';
}

export interface Kernel {
  name: string;
  /** What it computes, for the generated doc comment. */
  doc: string;
  /** The spec span it came from (printed as file:line:col). */
  span?: Span;
  buffers: KBuffer[];
  /** Run-time dims it takes as arguments (`batch`, `seq`, ...). */
  dims: string[];
  /** Scalar arguments after the dims (optimizer hyper-parameters). */
  scalars?: string[];
  /** Work areas of f32 that a target's schedule adds (a packed panel of a matmul operand):
   *  private to the thread running the kernel, not arguments, contents undefined on entry.
   *  Only targets that provide them (the Wasm target: WASM_SCRATCH_BYTES per thread) run
   *  schedules that add them. */
  scratch?: { name: string; elems: number }[];
  /** Read-only buffers a GPU target reads through a texture (set by gpu-tile.ts for the
   *  operands of a tiled contraction; the WebGPU runtime copies each into a texture before
   *  the call). Other targets ignore it. */
  textures?: string[];
  body: KStmt[];
}

// ---- builders -------------------------------------------------------------------------

export const f = (v: number): KExpr => ({ k: 'num', v, t: 'f32' });
export const i = (v: number): KExpr => ({ k: 'num', v, t: 'i32' });
export const v = (name: string): KExpr => ({ k: 'var', name });
export const dim = (name: string): KExpr => ({ k: 'dim', name });
export const arg = (name: string): KExpr => ({ k: 'arg', name });
export const load = (buf: string, idx: KExpr): KExpr => ({ k: 'load', buf, idx });
export const bin = (op: BinOp, a: KExpr, b: KExpr): KExpr => fold({ k: 'bin', op, a, b });
export const add = (a: KExpr, b: KExpr) => bin('+', a, b);
export const sub = (a: KExpr, b: KExpr) => bin('-', a, b);
export const mul = (a: KExpr, b: KExpr) => bin('*', a, b);
export const div = (a: KExpr, b: KExpr) => bin('/', a, b);
export const call = (fn: MathFn, ...args: KExpr[]): KExpr => ({ k: 'call', fn, args });
export const select = (c: KExpr, a: KExpr, b: KExpr): KExpr => ({ k: 'select', c, a, b });
export const neg = (a: KExpr): KExpr => ({ k: 'neg', a });
export const cast = (t: ScalarType, a: KExpr): KExpr => ({ k: 'cast', t, a });
export const vload = (buf: string, idx: KExpr): KExpr => ({ k: 'vload', buf, idx });
export const splat = (a: KExpr): KExpr => ({ k: 'splat', a });
export const lane = (a: KExpr, n: number): KExpr => ({ k: 'lane', a, lane: n });
/** The sum of a vector's four lanes, pairwise. */
export const hsum = (x: KExpr): KExpr => add(add(lane(x, 0), lane(x, 1)), add(lane(x, 2), lane(x, 3)));
/** An integer (an index, a dim) as a float operand. */
export const toF = (a: KExpr): KExpr => (a.k === 'num' ? f(a.v) : cast('f32', a));

export const loop = (name: string, to: KExpr, body: KStmt[], parallel = false, from: KExpr = i(0)): KStmt => ({ k: 'for', v: name, from, to, body, parallel });
export const let_ = (name: string, e: KExpr, t: KType = 'f32', mutable = false): KStmt => ({ k: 'let', v: name, t, e, mutable });
export const set = (name: string, e: KExpr, op: '+' | '*' | '=' = '='): KStmt => ({ k: 'set', v: name, e, op });
export const store = (buf: string, idx: KExpr, e: KExpr, accumulate = false): KStmt => ({ k: 'store', buf, idx, e, accumulate });
export const if_ = (c: KExpr, then: KStmt[], else_?: KStmt[]): KStmt => ({ k: 'if', c, then, else: else_ });
/** `let name = op over idx in [from, to) of e` (after `body`'s lets). */
export const reduce = (name: string, op: ReduceOp, idx: string, to: KExpr, e: KExpr, body: KStmt[] = [], t: ScalarType = 'f32', from: KExpr = i(0)): KStmt => ({ k: 'reduce', v: name, t, op, idx, from, to, body, e });
/** A reduction as an accumulator: the mutable local it starts as (the operation's identity)
 *  and the statement that takes in one element. The CPU lowering and the tests' reordering
 *  schedule wrap these in their loops. */
export function accumulator(r: KStmt & { k: 'reduce' }): { init: KStmt; take: KStmt } {
  return {
    init: { k: 'let', v: r.v, t: r.t, e: { k: 'num', v: r.op === '+' ? 0 : -Infinity, t: r.t }, mutable: true },
    take: r.op === '+' ? set(r.v, r.e, '+') : set(r.v, call('max', v(r.v), r.e)),
  };
}

/** Constant folding of integer index arithmetic keeps generated index expressions short. */
function fold(e: KExpr & { k: 'bin' }): KExpr {
  const { a, b, op } = e;
  const num = (x: KExpr) => (x.k === 'num' ? x.v : undefined);
  const [x, y] = [num(a), num(b)];
  if (x !== undefined && y !== undefined && a.k === 'num' && b.k === 'num' && a.t === 'i32' && b.t === 'i32') {
    if (op === '+') return i(x + y);
    if (op === '-') return i(x - y);
    if (op === '*') return i(x * y);
    if (op === '%' && x >= 0 && y > 0) return i(x % y);
  }
  if (op === '*' && ((x === 1 && a.k === 'num' && a.t === 'i32') || (y === 0 && b.k === 'num' && b.t === 'i32'))) return x === 1 ? b : i(0);
  if (op === '*' && ((y === 1 && b.k === 'num' && b.t === 'i32') || (x === 0 && a.k === 'num' && a.t === 'i32'))) return y === 1 ? a : i(0);
  if (op === '+' && x === 0 && a.k === 'num' && a.t === 'i32') return b;
  if ((op === '+' || op === '-') && y === 0 && b.k === 'num' && b.t === 'i32') return a;
  return e;
}

/** The product of a shape's dims as an index expression. */
export function sizeExpr(shape: (number | string)[]): KExpr {
  return shape.reduce<KExpr>((acc, d) => mul(acc, typeof d === 'number' ? i(d) : dim(d)), i(1));
}

/** Visits every expression (subexpressions included) and every store of a statement list. */
export function walkKernel(stmts: KStmt[], visit: { expr?: (e: KExpr) => void; store?: (s: KStmt & { k: 'store' }) => void }): void {
  const e = (x: KExpr): void => {
    visit.expr?.(x);
    if (x.k === 'load' || x.k === 'vload') e(x.idx);
    else if (x.k === 'bin') (e(x.a), e(x.b));
    else if (x.k === 'neg' || x.k === 'cast' || x.k === 'splat' || x.k === 'lane') e(x.a);
    else if (x.k === 'call') x.args.forEach(e);
    else if (x.k === 'select') (e(x.c), e(x.a), e(x.b));
  };
  const s = (x: KStmt): void => {
    if (x.k === 'for') (e(x.from), e(x.to), x.body.forEach(s));
    else if (x.k === 'reduce') (e(x.from), e(x.to), x.body.forEach(s), e(x.e));
    else if (x.k === 'let' || x.k === 'set') e(x.e);
    else if (x.k === 'store') (visit.store?.(x), e(x.idx), e(x.e));
    else if (x.k === 'if') (e(x.c), x.then.forEach(s), x.else?.forEach(s));
  };
  stmts.forEach(s);
}

/** Buffers a statement list stores to and loads from. */
function touched(stmts: KStmt[]): { stores: Set<string>; loads: Set<string> } {
  const stores = new Set<string>();
  const loads = new Set<string>();
  walkKernel(stmts, { expr: (x) => x.k === 'load' && loads.add(x.buf), store: (x) => stores.add(x.buf) });
  return { stores, loads };
}

/**
 * Whether a kernel can be split across threads, and at which top-level statement: the body
 * must be statements that store nothing, then one loop marked `parallel` (its iterations
 * write disjoint data by construction of the builders), then statements that do not read
 * anything the kernel writes (they run once, in the last part, alongside the others).
 */
export function parallelSplit(k: Kernel): number | undefined {
  const at = k.body.findIndex((s) => s.k === 'for' && s.parallel);
  if (at < 0) return undefined;
  if (touched(k.body.slice(0, at)).stores.size > 0) return undefined;
  const written = new Set(k.buffers.filter((b) => b.access !== 'read').map((b) => b.name));
  const after = touched(k.body.slice(at + 1));
  if ([...after.loads].some((b) => written.has(b))) return undefined;
  return at;
}

// ---- types ------------------------------------------------------------------------------

/** What names mean inside a kernel: buffers by element type, locals by declared type. */
export interface TypeEnv {
  buffers: Map<string, ElemType>;
  vars: { get(name: string): KType | undefined };
}

export class KernelTypeError extends Error {}

const ARITH = new Set(['+', '-', '*', '/', '%']);
/** How tightly each binary operator binds, for printers that parenthesize (C-like order). */
export const BIN_PRECEDENCE: Record<BinOp, number> = { '||': 1, '&&': 2, '==': 3, '!=': 3, '<': 4, '<=': 4, '>': 4, '>=': 4, '+': 5, '-': 5, '*': 6, '/': 6, '%': 6 };
const COMPARE = new Set(['<', '<=', '>', '>=', '==', '!=']);
/** Math functions on floats only; max, min and abs take either type (both operands alike). */
const FLOAT_FN = new Set(['exp', 'log', 'sqrt', 'tanh', 'erf', 'floor', 'sin', 'cos', 'pow']);
/** The functions that also apply lane-wise to f32x4 (a target with vectors implements them). */
export const VECTOR_FN = new Set<MathFn>(['exp', 'tanh', 'erf', 'sqrt', 'max', 'min']);

/** The type of an expression; throws KernelTypeError on mixed or ill-typed operands. */
export function typeOf(e: KExpr, env: TypeEnv): EType {
  const fail = (msg: string): never => {
    throw new KernelTypeError(msg);
  };
  switch (e.k) {
    case 'num':
      if (e.t === 'i32' && !Number.isInteger(e.v)) fail(`i32 literal ${e.v} is not an integer`);
      return e.t;
    case 'var':
      return env.vars.get(e.name) ?? fail(`local \`${e.name}\` is used before it is declared with a type`);
    case 'dim':
      return 'i32';
    case 'arg':
      return 'f32';
    case 'load': {
      const t = env.buffers.get(e.buf) ?? fail(`load from unknown buffer \`${e.buf}\``);
      if (typeOf(e.idx, env) !== 'i32') fail(`index into \`${e.buf}\` is not i32`);
      return t;
    }
    case 'neg': {
      const t = typeOf(e.a, env);
      if (t === 'bool' || t === 'bool4') fail('negation of a comparison');
      return t;
    }
    case 'vload':
      if (env.buffers.get(e.buf) !== 'f32') fail(`vector load from \`${e.buf}\`, not an f32 buffer`);
      if (typeOf(e.idx, env) !== 'i32') fail(`index into \`${e.buf}\` is not i32`);
      return 'f32x4';
    case 'splat':
      if (typeOf(e.a, env) !== 'f32') fail('splat of a non-f32');
      return 'f32x4';
    case 'lane':
      if (typeOf(e.a, env) !== 'f32x4' || !(e.lane >= 0 && e.lane < 4 && Number.isInteger(e.lane))) fail('lane of a non-vector or out of range');
      return 'f32';
    case 'cast': {
      const t = typeOf(e.a, env);
      if (t === 'bool' || t === 'bool4' || t === 'f32x4') fail(`cast of ${t}`);
      if (t === e.t) fail(`cast of ${t} to itself`);
      return e.t;
    }
    case 'select': {
      const c = typeOf(e.c, env);
      if (c !== 'bool' && c !== 'bool4') fail('select condition is not a comparison');
      const [a, b] = [typeOf(e.a, env), typeOf(e.b, env)];
      if (a !== b || a === 'bool' || a === 'bool4') fail(`select between ${a} and ${b}`);
      // Lane-wise: a vector condition picks between vectors, a scalar one between scalars.
      if ((c === 'bool4') !== (a === 'f32x4')) fail(`select between ${a} values on a ${c} condition`);
      return a;
    }
    case 'bin': {
      const [a, b] = [typeOf(e.a, env), typeOf(e.b, env)];
      if (e.op === '&&' || e.op === '||') {
        if (a !== b || (a !== 'bool' && a !== 'bool4')) fail(`\`${e.op}\` of ${a} and ${b}`);
        return a;
      }
      if (a !== b || a === 'bool' || a === 'bool4') fail(`\`${e.op}\` mixes ${a} and ${b}`);
      if (COMPARE.has(e.op)) return a === 'f32x4' ? 'bool4' : 'bool';

      if (!ARITH.has(e.op)) fail(`unknown operator ${e.op}`);
      if (e.op === '%' && a !== 'i32') fail('`%` of floats');
      if (e.op === '/' && a === 'i32') fail('`/` of integers (integer division is the idiv call)');
      return a;
    }
    case 'call': {
      const ts = e.args.map((x) => typeOf(x, env));
      const want = (n: number, t: EType) => (ts.length !== n || ts.some((x) => x !== t) ? fail(`${e.fn}(${ts.join(', ')}) needs ${n} ${t} argument(s)`) : t);
      // Lane-wise on vectors: the functions a vectorizing schedule may leave in vector code.
      if (ts[0] === 'f32x4' && VECTOR_FN.has(e.fn)) return want(e.fn === 'max' || e.fn === 'min' ? 2 : 1, 'f32x4');
      if (FLOAT_FN.has(e.fn)) return want(e.fn === 'pow' ? 2 : 1, e.fn === 'sqrt' && ts[0] === 'f64' ? 'f64' : 'f32');
      if (e.fn === 'idiv') return want(2, 'i32');
      if (e.fn === 'hash_uniform') return (want(3, 'i32'), 'f32');
      if (e.fn === 'abs') return want(1, ts[0] === 'i32' ? 'i32' : 'f32');
      if (e.fn === 'max' || e.fn === 'min') return want(2, ts[0] === 'i32' ? 'i32' : 'f32');
      return fail(`unknown function ${e.fn}`);
    }
  }
}

/** Type-checks a kernel: every local declared before use with a type its value has, every
 *  assignment and store of matching type, loop bounds and indices i32, conditions booleans,
 *  no name declared twice in one scope. Returns the errors (empty when well typed). */
export function checkKernel(k: Kernel): string[] {
  const errors: string[] = [];
  const buffers = new Map([...k.buffers.map((b) => [b.name, b.t] as [string, ElemType]), ...(k.scratch ?? []).map((s) => [s.name, 'f32'] as [string, ElemType])]);
  const mutable = new Set<string>();
  const guard = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (e) {
      if (!(e instanceof KernelTypeError)) throw e;
      errors.push(`${k.name}: ${what}: ${e.message}`);
    }
  };
  // Races: the parallel loops around a statement, and for every local the parallel loop
  // variables its value depends on and how many parallel loops were around its declaration.
  interface Scope {
    vars: Map<string, KType>;
    par: string[];
    deps: Map<string, Set<string>>;
    depth: Map<string, number>;
  }
  const depsOf = (e: KExpr, sc: Scope): Set<string> => {
    const out = new Set<string>();
    walkKernel([{ k: 'let', v: '_', t: 'f32', e }], {
      expr: (x) => {
        if (x.k === 'var') for (const d of sc.deps.get(x.name) ?? []) out.add(d);
      },
    });
    return out;
  };
  const declare = (sc: Scope, name: string, t: KType, deps: Set<string>) => {
    sc.vars.set(name, t);
    sc.deps.set(name, deps);
    sc.depth.set(name, sc.par.length);
  };
  const nested = (sc: Scope, par = sc.par): Scope => ({ vars: new Map(sc.vars), par, deps: new Map(sc.deps), depth: new Map(sc.depth) });
  // A local named like a buffer or a dim would hide it in the TypeScript target.
  const noShadow = (name: string) => {
    if (buffers.has(name) || k.dims.includes(name)) throw new KernelTypeError(`local \`${name}\` shadows a buffer or dim of that name`);
  };
  const indexBounds = (s: { from: KExpr; to: KExpr }, env: TypeEnv) => {
    if (typeOf(s.from, env) !== 'i32' || typeOf(s.to, env) !== 'i32') throw new KernelTypeError('bounds are not i32');
  };
  const scratch = new Set((k.scratch ?? []).map((s) => s.name));
  const block = (stmts: KStmt[], sc: Scope, inReduce = false) => {
    const env = (): TypeEnv => ({ buffers, vars: sc.vars });
    // Names declared in this block: a second declaration is an error in TypeScript and WGSL.
    const own = new Set<string>();
    const once = (name: string) => {
      if (own.has(name)) throw new KernelTypeError(`\`${name}\` is declared twice in one block`);
      own.add(name);
    };
    for (const s of stmts) {
      if (inReduce && s.k !== 'let' && s.k !== 'reduce' && s.k !== 'comment') {
        errors.push(`${k.name}: reduce ${s.k}: a reduction's body only declares locals`);
        continue;
      }
      switch (s.k) {
        case 'for': {
          guard(`loop ${s.v}`, () => indexBounds(s, env()));
          const inner = nested(sc, s.parallel ? [...sc.par, s.v] : sc.par);
          declare(inner, s.v, 'i32', new Set([...depsOf(s.from, sc), ...depsOf(s.to, sc), ...(s.parallel ? [s.v] : [])]));
          block(s.body, inner);
          break;
        }
        case 'reduce': {
          guard(`reduce ${s.v}`, () => {
            noShadow(s.v);
            once(s.v);
            indexBounds(s, env());
            if (s.t === 'i32' && s.op === 'max') throw new KernelTypeError('max over i32');
          });
          const inner = nested(sc);
          declare(inner, s.idx, 'i32', new Set([...depsOf(s.from, sc), ...depsOf(s.to, sc)]));
          block(s.body, inner, true);
          guard(`reduce ${s.v}`, () => {
            const t = typeOf(s.e, { buffers, vars: inner.vars });
            if (t !== s.t) throw new KernelTypeError(`declared ${s.t}, value is ${t}`);
          });
          declare(sc, s.v, s.t, depsOf(s.e, inner));
          break;
        }
        case 'let':
          guard(`let ${s.v}`, () => {
            noShadow(s.v);
            once(s.v);
            const t = typeOf(s.e, env());
            if (t !== s.t) throw new KernelTypeError(`declared ${s.t}, value is ${t}`);
          });
          if (s.mutable) mutable.add(s.v);
          declare(sc, s.v, s.t, depsOf(s.e, sc));
          break;
        case 'set':
          guard(`set ${s.v}`, () => {
            const want = sc.vars.get(s.v);
            if (!want) throw new KernelTypeError('assignment to an undeclared local');
            if (!mutable.has(s.v)) throw new KernelTypeError('assignment to a constant');
            const t = typeOf(s.e, env());
            if (t !== want) throw new KernelTypeError(`local is ${want}, value is ${t}`);
            const at = sc.depth.get(s.v) ?? 0;
            if (at < sc.par.length) throw new KernelTypeError(`assigns a local declared outside parallel loop \`${sc.par[at]}\`, which its iterations share`);
          });
          // A value assigned under a condition or in a loop depends on what the new value does.
          sc.deps.set(s.v, new Set([...(sc.deps.get(s.v) ?? []), ...depsOf(s.e, sc)]));
          break;
        case 'store':
          guard(`store ${s.buf}`, () => {
            const want = buffers.get(s.buf);
            if (!want) throw new KernelTypeError('store to an unknown buffer');
            if (typeOf(s.idx, env()) !== 'i32') throw new KernelTypeError('index is not i32');
            const t = typeOf(s.e, env());
            // An f32x4 value stores four contiguous lanes (a vector store).
            if (t !== want && !(t === 'f32x4' && want === 'f32')) throw new KernelTypeError(`buffer is ${want}, value is ${t}`);
            const deps = depsOf(s.idx, sc);
            const free = sc.par.find((p) => !deps.has(p));
            if (free !== undefined && !scratch.has(s.buf)) throw new KernelTypeError(`index does not depend on parallel loop \`${free}\`: its iterations would write the same element`);
          });
          break;
        case 'if':
          guard('if', () => {
            if (typeOf(s.c, env()) !== 'bool') throw new KernelTypeError('condition is not a comparison');
          });
          block(s.then, nested(sc));
          if (s.else) block(s.else, nested(sc));
          break;
        case 'comment':
          break;
      }
    }
  };
  block(k.body, { vars: new Map(), par: [], deps: new Map(), depth: new Map() });
  return errors;
}

/**
 * The N-dim parallel index space of a kernel: the top-level parallel loop and the parallel
 * loops nested in it one inside the other, each the only loop of its parent's body after
 * local declarations (`let`s, which every invocation recomputes). A GPU target maps these
 * loops to invocations; the rest of the innermost body is one invocation's work.
 */
export function parallelDomain(k: Kernel): (KStmt & { k: 'for' })[] {
  const top = k.body.find((s): s is KStmt & { k: 'for' } => s.k === 'for' && !!s.parallel);
  return top ? parallelNest(top) : [];
}

/** The parallel loops nested from `top` (itself first), each the only loop of its parent's
 *  body after local declarations: parallelDomain from a given loop. */
export function parallelNest(top: KStmt & { k: 'for' }): (KStmt & { k: 'for' })[] {
  const chain: (KStmt & { k: 'for' })[] = [];
  for (let l: (KStmt & { k: 'for' }) | undefined = top; l; ) {
    chain.push(l);
    const rest = l.body.filter((s) => s.k !== 'let' && s.k !== 'comment');
    l = rest.length === 1 && rest[0].k === 'for' && rest[0].parallel ? rest[0] : undefined;
  }
  return chain;
}

// ---- rewriting ----------------------------------------------------------------------------

/** Rebuilds an expression bottom-up through `fn` (which sees children already rewritten). */
export function mapExpr(e: KExpr, fn: (x: KExpr) => KExpr): KExpr {
  switch (e.k) {
    case 'load':
    case 'vload':
      return fn({ ...e, idx: mapExpr(e.idx, fn) });
    case 'bin':
      return fn({ ...e, a: mapExpr(e.a, fn), b: mapExpr(e.b, fn) });
    case 'neg':
    case 'cast':
    case 'splat':
    case 'lane':
      return fn({ ...e, a: mapExpr(e.a, fn) });
    case 'call':
      return fn({ ...e, args: e.args.map((x) => mapExpr(x, fn)) });
    case 'select':
      return fn({ ...e, c: mapExpr(e.c, fn), a: mapExpr(e.a, fn), b: mapExpr(e.b, fn) });
    default:
      return fn(e);
  }
}

/** Rewrites every expression of a statement list (and, through `rename`, the locals it
 *  declares or assigns). */
export function mapStmts(stmts: KStmt[], fn: (x: KExpr) => KExpr, rename: (name: string) => string = (n) => n): KStmt[] {
  const e = (x: KExpr) => mapExpr(x, fn);
  return stmts.map((s): KStmt => {
    switch (s.k) {
      case 'for':
        return { ...s, v: rename(s.v), from: e(s.from), to: e(s.to), body: mapStmts(s.body, fn, rename) };
      case 'let':
        return { ...s, v: rename(s.v), e: e(s.e) };
      case 'set':
        return { ...s, v: rename(s.v), e: e(s.e) };
      case 'store':
        return { ...s, idx: e(s.idx), e: e(s.e) };
      case 'if':
        return { ...s, c: e(s.c), then: mapStmts(s.then, fn, rename), else: s.else && mapStmts(s.else, fn, rename) };
      case 'reduce':
        return { ...s, v: rename(s.v), idx: rename(s.idx), from: e(s.from), to: e(s.to), body: mapStmts(s.body, fn, rename), e: e(s.e) };
      case 'comment':
        return s;
    }
  });
}

/** Replaces locals by expressions (`i` ↦ `i0 + 2`), renaming the rest through `rename`. */
export function substitute(stmts: KStmt[], values: Record<string, KExpr>, rename: (name: string) => string = (n) => n): KStmt[] {
  return mapStmts(stmts, (x) => (x.k === 'var' ? (values[x.name] ?? v(rename(x.name))) : x.k === 'bin' ? bin(x.op, x.a, x.b) : x), rename);
}

export function substituteExpr(e: KExpr, values: Record<string, KExpr>): KExpr {
  return mapExpr(e, (x) => (x.k === 'var' ? (values[x.name] ?? x) : x.k === 'bin' ? bin(x.op, x.a, x.b) : x));
}

/** Whether an expression mentions a local (by name, or any the predicate accepts). */
export function mentions(e: KExpr, name: string | ((name: string) => boolean)): boolean {
  const hit = typeof name === 'string' ? (n: string) => n === name : name;
  let found = false;
  walkKernel([{ k: 'let', v: '_', t: 'f32', e }], { expr: (x) => (found ||= x.k === 'var' && hit(x.name)) });
  return found;
}

/** Locals a statement list declares (lets and loop variables), at any depth. */
export function declared(stmts: KStmt[]): Set<string> {
  const names = new Set<string>();
  const s = (x: KStmt) => {
    if (x.k === 'let') names.add(x.v);
    else if (x.k === 'for') (names.add(x.v), x.body.forEach(s));
    else if (x.k === 'reduce') (names.add(x.v), names.add(x.idx), x.body.forEach(s));
    else if (x.k === 'if') (x.then.forEach(s), x.else?.forEach(s));
  };
  stmts.forEach(s);
  return names;
}

/**
 * A contraction nest, the form in which builders write every matmul (what it computes, no
 * schedule):
 *
 *     for i in [0, M) parallel:          // rows
 *       for j in [0, N) parallel:        // columns, N a compile-time constant
 *         acc = reduce + over p in [0, P) of X · Y   // X mentions i and p, Y mentions p and j
 *         epilogue                       // uses acc, i, j
 *
 * Schedules (register tiling, vectorization) recognise it with matchContraction.
 */
export interface Contraction {
  i: string;
  j: string;
  p: string;
  acc: string;
  M: KExpr;
  N: number;
  P: KExpr;
  x: KExpr;
  y: KExpr;
  epilogue: KStmt[];
}

export function matchContraction(s: KStmt): Contraction | undefined {
  if (s.k !== 'for' || !s.parallel || (s.step ?? 1) !== 1 || !isZero(s.from) || s.body.length !== 1) return undefined;
  const jl = s.body[0];
  if (jl.k !== 'for' || (jl.step ?? 1) !== 1 || !isZero(jl.from) || jl.to.k !== 'num' || jl.body.length < 1) return undefined;
  const [r, ...epilogue] = jl.body;
  if (r.k !== 'reduce' || r.op !== '+' || r.t !== 'f32' || !isZero(r.from) || r.body.length !== 0 || r.e.k !== 'bin' || r.e.op !== '*') return undefined;
  const [x, y] = [r.e.a, r.e.b];
  if (mentions(x, jl.v) || mentions(y, s.v)) return undefined;
  return { i: s.v, j: jl.v, p: r.idx, acc: r.v, M: s.to, N: jl.to.v, P: r.to, x, y, epilogue };
}

const isZero = (e: KExpr) => e.k === 'num' && e.v === 0;

/** The naive nest of a contraction (what builders emit). */
export function contraction(c: Contraction): KStmt {
  return loop(c.i, c.M, [loop(c.j, i(c.N), [reduce(c.acc, '+', c.p, c.P, mul(c.x, c.y)), ...c.epilogue], true)], true);
}
