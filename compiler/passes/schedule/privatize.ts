// Private accumulators for a GPU: an invocation that builds a short row of an output in place
// — attention's `out[qo + e]` rescaled at every key, `dk[ko + e] += …` at every query — reads
// and writes device memory at every step. When every access of a write-only buffer in the
// innermost body of a parallel nest is `buf[base + e]` with the same `base` (a local of that
// body, or a loop variable of the nest) and `e` a loop variable of a loop of at most MAX
// iterations (so `e` stays in [0, E)), the row lives in a private array (Kernel.scratch; the
// WGSL renderer declares it per invocation) and is written to the buffer once, at the end.
// What is computed is unchanged: the same operations in the same order, on a copy.
import { add, i, load, loop, mapStmts, parallelNest, store, v, walkKernel, type KExpr, type Kernel, type KStmt } from '../../codegen/kir.ts';

/** The longest row kept private (a head dim; 64 f32 per array per invocation). */
const MAX = 64;

type For = KStmt & { k: 'for' };

export function privatize() {
  return (k: Kernel): Kernel => {
    const scratch = [...(k.scratch ?? [])];
    const write = new Set(k.buffers.filter((b) => b.access === 'write').map((b) => b.name));
    const body = k.body.map((s) => {
      if (s.k !== 'for' || !s.parallel) return s;
      const chain = parallelNest(s);
      const inner = chain[chain.length - 1];
      let stmts = inner.body;
      for (const buf of write) {
        const row = privateRow(stmts, buf, new Set(chain.map((l) => l.v)));
        if (!row) continue;
        const name = `${buf}_row`;
        scratch.push({ name, elems: row.elems });
        stmts = [...rewrite(stmts, buf, name, row.base), loop('e_w', i(row.elems), [store(buf, add(row.base, v('e_w')), load(name, v('e_w')))])];
      }
      if (stmts === inner.body) return s;
      const rebuild = (l: For, depth: number): For => (depth === chain.length - 1 ? { ...l, body: stmts } : { ...l, body: l.body.map((x) => (x === chain[depth + 1] ? rebuild(chain[depth + 1], depth + 1) : x)) });
      return rebuild(s, 0);
    });
    return scratch.length === (k.scratch ?? []).length ? k : { ...k, body, scratch };
  };
}

/** The common base and row length of every access to `buf` in `stmts`, when all of them are
 *  `buf[base + e]` with `e` a loop variable of a loop [0, E), E ≤ MAX, and `base` the same
 *  local (declared once, at the top of `stmts`, or a loop variable of the nest). */
function privateRow(stmts: KStmt[], buf: string, nestVars: Set<string>): { base: KExpr & { k: 'var' }; elems: number } | undefined {
  const topLets = new Set(stmts.filter((s) => s.k === 'let').map((s) => (s as KStmt & { k: 'let' }).v));
  const declaredCount = new Map<string, number>();
  const count = (n: string) => declaredCount.set(n, (declaredCount.get(n) ?? 0) + 1);
  const loops = new Map<string, number>();
  let base: string | undefined;
  let elems = 0;
  let ok = true;
  let seen = false;
  const access = (idx: KExpr) => {
    seen = true;
    if (idx.k !== 'bin' || idx.op !== '+' || idx.a.k !== 'var' || idx.b.k !== 'var') return void (ok = false);
    const bound = loops.get(idx.b.name);
    if (bound === undefined || bound > MAX) return void (ok = false);
    if (base !== undefined && base !== idx.a.name) return void (ok = false);
    base = idx.a.name;
    elems = Math.max(elems, bound);
  };
  const visit = (s: KStmt): void => {
    if (s.k === 'let') count(s.v);
    if (s.k === 'reduce') (count(s.v), count(s.idx));
    if (s.k === 'for') {
      count(s.v);
      const constant = s.from.k === 'num' && s.from.v === 0 && s.to.k === 'num' && (s.step ?? 1) === 1;
      if (constant) loops.set(s.v, (s.to as KExpr & { k: 'num' }).v);
      s.body.forEach(visit);
      if (constant) loops.delete(s.v);
      walkKernel([{ ...s, body: [] }], { expr: (x) => x.k === 'load' && x.buf === buf && access(x.idx) });
      return;
    }
    if (s.k === 'if') {
      walkKernel([{ ...s, then: [], else: undefined }], { expr: (x) => x.k === 'load' && x.buf === buf && access(x.idx) });
      s.then.forEach(visit);
      s.else?.forEach(visit);
      return;
    }
    if (s.k === 'reduce') {
      const constant = s.from.k === 'num' && s.from.v === 0 && s.to.k === 'num';
      if (constant) loops.set(s.idx, (s.to as KExpr & { k: 'num' }).v);
      walkKernel([s], { expr: (x) => (x.k === 'load' || x.k === 'vload') && x.buf === buf && (x.k === 'vload' ? (ok = false) : access(x.idx)) });
      if (constant) loops.delete(s.idx);
      return;
    }
    walkKernel([s], { expr: (x) => (x.k === 'load' || x.k === 'vload') && x.buf === buf && (x.k === 'vload' ? (ok = false) : access(x.idx)), store: (x) => x.buf === buf && access(x.idx) });
  };
  stmts.forEach(visit);
  if (!ok || !seen || base === undefined) return undefined;
  const once = nestVars.has(base) ? !declaredCount.has(base) : topLets.has(base) && declaredCount.get(base) === 1;
  return once ? { base: v(base) as KExpr & { k: 'var' }, elems } : undefined;
}

/** `buf[base + e]` → `row[e]` in loads and stores. */
function rewrite(stmts: KStmt[], buf: string, row: string, base: KExpr & { k: 'var' }): KStmt[] {
  const idx = (x: KExpr): KExpr => (x.k === 'bin' && x.op === '+' && x.a.k === 'var' && x.a.name === base.name ? x.b : x);
  const exprs = (s: KStmt[]) => mapStmts(s, (x) => (x.k === 'load' && x.buf === buf ? load(row, idx(x.idx)) : x));
  const stores = (s: KStmt[]): KStmt[] =>
    s.map((x): KStmt => {
      switch (x.k) {
        case 'store':
          return x.buf === buf ? { ...x, buf: row, idx: idx(x.idx) } : x;
        case 'for':
          return { ...x, body: stores(x.body) };
        case 'if':
          return { ...x, then: stores(x.then), else: x.else && stores(x.else) };
        default:
          return x;
      }
    });
  return stores(exprs(stmts));
}
