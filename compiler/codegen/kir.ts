// The kernel IR: what one kernel computes, as loops over explicit index spaces, loads and
// stores on named buffers and scalar arithmetic — no target syntax. Renderers (TypeScript
// now, WGSL next) turn it into code; a loop marked `parallel` is the one a renderer may
// split across workers or GPU invocations.
import type { Span } from '../../common/source.ts';

export type KType = 'f32' | 'i32';
export type BinOp = '+' | '-' | '*' | '/' | '%' | '<' | '<=' | '>' | '>=' | '==' | '!=' | '&&' | '||';
export type MathFn = 'exp' | 'log' | 'sqrt' | 'tanh' | 'erf' | 'max' | 'min' | 'abs' | 'floor' | 'sin' | 'cos' | 'pow' | 'idiv' | 'hash_uniform';

export type KExpr =
  | { k: 'num'; v: number; t: KType }
  | { k: 'var'; name: string }
  | { k: 'dim'; name: string }
  /** A scalar argument bound per call (learning rate, step), not a run-time dim. */
  | { k: 'arg'; name: string }
  | { k: 'load'; buf: string; idx: KExpr }
  | { k: 'bin'; op: BinOp; a: KExpr; b: KExpr }
  | { k: 'neg'; a: KExpr }
  | { k: 'call'; fn: MathFn; args: KExpr[] }
  | { k: 'select'; c: KExpr; a: KExpr; b: KExpr };

export type KStmt =
  | { k: 'for'; v: string; from: KExpr; to: KExpr; body: KStmt[]; parallel?: boolean; step?: number }
  | { k: 'let'; v: string; t: KType; e: KExpr; mutable?: boolean }
  | { k: 'set'; v: string; e: KExpr; op?: '+' | '*' | '=' }
  | { k: 'store'; buf: string; idx: KExpr; e: KExpr; accumulate?: boolean }
  | { k: 'if'; c: KExpr; then: KStmt[]; else?: KStmt[] }
  | { k: 'comment'; text: string };

export interface KBuffer {
  name: string;
  t: KType;
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

export const loop = (name: string, to: KExpr, body: KStmt[], parallel = false, from: KExpr = i(0)): KStmt => ({ k: 'for', v: name, from, to, body, parallel });
export const let_ = (name: string, e: KExpr, t: KType = 'f32', mutable = false): KStmt => ({ k: 'let', v: name, t, e, mutable });
export const set = (name: string, e: KExpr, op: '+' | '*' | '=' = '='): KStmt => ({ k: 'set', v: name, e, op });
export const store = (buf: string, idx: KExpr, e: KExpr, accumulate = false): KStmt => ({ k: 'store', buf, idx, e, accumulate });
export const if_ = (c: KExpr, then: KStmt[], else_?: KStmt[]): KStmt => ({ k: 'if', c, then, else: else_ });

/** Constant folding of integer index arithmetic keeps generated index expressions short. */
function fold(e: KExpr & { k: 'bin' }): KExpr {
  const { a, b, op } = e;
  const num = (x: KExpr) => (x.k === 'num' ? x.v : undefined);
  const [x, y] = [num(a), num(b)];
  if (x !== undefined && y !== undefined && a.k === 'num' && b.k === 'num' && a.t === 'i32' && b.t === 'i32') {
    if (op === '+') return i(x + y);
    if (op === '-') return i(x - y);
    if (op === '*') return i(x * y);
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
    if (x.k === 'load') e(x.idx);
    else if (x.k === 'bin') (e(x.a), e(x.b));
    else if (x.k === 'neg') e(x.a);
    else if (x.k === 'call') x.args.forEach(e);
    else if (x.k === 'select') (e(x.c), e(x.a), e(x.b));
  };
  const s = (x: KStmt): void => {
    if (x.k === 'for') (e(x.from), e(x.to), x.body.forEach(s));
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
