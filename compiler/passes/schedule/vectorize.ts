// Vectorization of innermost loops, for targets with 128-bit vectors (f32x4): a loop whose
// body only loads, does + − × ÷ on f32, stores along the loop (stride 1) and accumulates
// into outer f32 locals runs four iterations at a time — loads along the loop become vector
// loads, loads that do not move become broadcasts, each accumulator gets a vector partner
// summed across lanes after the loop — and the iterations left over (trip count not a
// multiple of four) run as the original scalar loop. Loops with anything else (calls,
// selects, conditions, integer locals, gathers, stores that do not move along the loop)
// stay scalar. The attention, norm and softmax loops over head_dim / d_model are the ones
// this reaches.
import { add, bin, i, lane, let_, set, splat, sub, v, vload, type KExpr, type Kernel, type KStmt, type KType } from '../../codegen/kir.ts';
import { stride } from './simd-tile.ts';

export function vectorize() {
  return (k: Kernel): Kernel => {
    let fresh = 0;
    const bufferType = new Map(k.buffers.map((b) => [b.name, b.t]));
    const block = (stmts: KStmt[], outer: Map<string, KType>): KStmt[] => {
      const scope = new Map(outer);
      const out: KStmt[] = [];
      for (const s of stmts) {
        if (s.k === 'let') scope.set(s.v, s.t);
        if (s.k === 'for') {
          const inner = new Map(scope).set(s.v, 'i32' as KType);
          const plan = (s.step ?? 1) === 1 && s.body.every((b) => b.k !== 'for' && b.k !== 'if') ? vectorizable(s, scope, bufferType) : undefined;
          if (plan) out.push(...rewrite(s, plan, fresh++));
          else out.push({ ...s, body: block(s.body, inner) });
        } else if (s.k === 'if') out.push({ ...s, then: block(s.then, scope), else: s.else && block(s.else, scope) });
        else out.push(s);
      }
      return out;
    };
    return { ...k, body: block(k.body, new Map()) };
  };
}

interface Plan {
  /** Outer f32 locals the loop accumulates into (`set acc += …`). */
  reductions: string[];
  /** f32 locals declared in the body (they become vectors). */
  locals: Set<string>;
}

function vectorizable(loop: KStmt & { k: 'for' }, scope: Map<string, KType>, buffers: Map<string, string>): Plan | undefined {
  const locals = new Set<string>();
  const reductions: string[] = [];
  const iv = loop.v;
  const index = (e: KExpr, want: (s: number) => boolean) => {
    const s = stride(e, iv);
    return s !== undefined && want(s) && ![...locals].some((l) => mentionsVar(e, l));
  };
  const ok = (e: KExpr): boolean => {
    switch (e.k) {
      case 'num':
        return e.t === 'f32';
      case 'var':
        return locals.has(e.name) || (e.name !== iv && scope.get(e.name) === 'f32');
      case 'arg':
        return true;
      case 'load':
        return buffers.get(e.buf) === 'f32' && index(e.idx, (s) => s === 0 || s === 1);
      case 'neg':
        return ok(e.a);
      case 'bin':
        return ['+', '-', '*', '/'].includes(e.op) && ok(e.a) && ok(e.b);
      default:
        return false;
    }
  };
  for (const s of loop.body) {
    if (s.k === 'let') {
      if (s.t !== 'f32' || !ok(s.e)) return undefined;
      locals.add(s.v);
    } else if (s.k === 'set') {
      if (s.op !== '+' || scope.get(s.v) !== 'f32' || locals.has(s.v) || reductions.includes(s.v) || !ok(s.e)) return undefined;
      reductions.push(s.v);
    } else if (s.k === 'store') {
      if (buffers.get(s.buf) !== 'f32' || !index(s.idx, (x) => x === 1) || !ok(s.e)) return undefined;
    } else if (s.k !== 'comment') return undefined;
  }
  // A body that reads what it stores at another index would change meaning; builders only
  // read back the element they store (out[qo + e] = out[qo + e]·corr + …).
  const stored = new Set(loop.body.flatMap((s) => (s.k === 'store' ? [s.buf] : [])));
  for (const s of loop.body) {
    const loads: KExpr[] = [];
    collectLoads(s, loads);
    for (const l of loads) {
      if (l.k !== 'load' || !stored.has(l.buf)) continue;
      const same = loop.body.some((x) => x.k === 'store' && x.buf === l.buf && JSON.stringify(x.idx) === JSON.stringify(l.idx));
      if (!same) return undefined;
    }
  }
  if (loop.body.every((s) => s.k !== 'store' && s.k !== 'set')) return undefined;
  // A parallel loop's iterations may run on different threads: no shared accumulator.
  if (loop.parallel && reductions.length) return undefined;
  return { reductions, locals };
}

function rewrite(loop: KStmt & { k: 'for' }, plan: Plan, n: number): KStmt[] {
  const iv = loop.v;
  const vec = (e: KExpr): KExpr => {
    switch (e.k) {
      case 'num':
      case 'arg':
        return splat(e);
      case 'var':
        return plan.locals.has(e.name) ? v(`${e.name}_v`) : splat(e);
      case 'load':
        return stride(e.idx, iv) === 1 ? vload(e.buf, e.idx) : splat(e);
      case 'neg':
        return bin('-', splat({ k: 'num', v: 0, t: 'f32' }), vec(e.a));
      case 'bin':
        return { ...e, a: vec(e.a), b: vec(e.b) };
      default:
        throw new Error(`internal: cannot vectorize ${e.k}`);
    }
  };
  const end = `vend${n}`;
  const body: KStmt[] = loop.body.flatMap((s): KStmt[] => {
    if (s.k === 'let') return [let_(`${s.v}_v`, vec(s.e), 'f32x4')];
    if (s.k === 'set') return [set(`${s.v}_v${n}`, vec(s.e), '+')];
    if (s.k === 'store') return [{ ...s, e: vec(s.e) }];
    return [];
  });
  const hsum = (x: KExpr) => add(add(lane(x, 0), lane(x, 1)), add(lane(x, 2), lane(x, 3)));
  const count = sub(loop.to, loop.from);
  return [
    let_(end, add(loop.from, sub(count, bin('%', count, i(4)))), 'i32'),
    ...plan.reductions.map((r) => let_(`${r}_v${n}`, splat({ k: 'num', v: 0, t: 'f32' }), 'f32x4', true)),
    { k: 'for', v: iv, from: loop.from, to: v(end), step: 4, body, ...(loop.parallel ? { parallel: true } : {}) },
    ...plan.reductions.map((r) => set(r, hsum(v(`${r}_v${n}`)), '+')),
    { ...loop, from: v(end), parallel: undefined },
  ];
}

function mentionsVar(e: KExpr, name: string): boolean {
  switch (e.k) {
    case 'var':
      return e.name === name;
    case 'load':
    case 'vload':
      return mentionsVar(e.idx, name);
    case 'bin':
      return mentionsVar(e.a, name) || mentionsVar(e.b, name);
    case 'neg':
    case 'cast':
    case 'splat':
    case 'lane':
      return mentionsVar(e.a, name);
    case 'call':
      return e.args.some((a) => mentionsVar(a, name));
    case 'select':
      return mentionsVar(e.c, name) || mentionsVar(e.a, name) || mentionsVar(e.b, name);
    default:
      return false;
  }
}

function collectLoads(s: KStmt, out: KExpr[]): void {
  const e = (x: KExpr): void => {
    if (x.k === 'load') out.push(x);
    if (x.k === 'load' || x.k === 'vload') e(x.idx);
    else if (x.k === 'bin') (e(x.a), e(x.b));
    else if (x.k === 'neg' || x.k === 'cast' || x.k === 'splat' || x.k === 'lane') e(x.a);
    else if (x.k === 'call') x.args.forEach(e);
    else if (x.k === 'select') (e(x.c), e(x.a), e(x.b));
  };
  if (s.k === 'let' || s.k === 'set') e(s.e);
  else if (s.k === 'store') (e(s.idx), e(s.e));
}
