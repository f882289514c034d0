// Loads that do not change inside a loop, read once before it (loop-invariant code motion, for
// loads only). A GPU target needs it where its compiler does not do it: attention's backward
// by keys reads its own key and value rows (k[ko + e], v[ko + e]) at every query, and on
// lavapipe each of those reads is a loop over the SIMD lanes. A load moves out of a
// sequential loop when its buffer is read-only in the kernel (nothing the loop stores can
// change it) and its index names nothing the loop declares or assigns; identical loads become
// one. Loops are treated innermost first, so a load invariant in two nested loops leaves
// both. Parallel loops are left alone: on a GPU they are the invocations themselves.
// Reading before the loop also reads when the loop runs zero times; WebGPU defines every
// access (an out-of-range index is clamped), and the value is then never used.
import { declared, mapStmts, mentions, type ElemType, type KExpr, type Kernel, type KStmt, type KType } from '../../codegen/kir.ts';

export function hoistLoads() {
  return (k: Kernel): Kernel => {
    const readOnly = new Map<string, ElemType>(k.buffers.filter((b) => b.access === 'read').map((b) => [b.name, b.t]));
    const taken = declared(k.body);
    let fresh = 0;
    const name = () => {
      let n: string;
      do n = `ld${fresh++}`;
      while (taken.has(n));
      taken.add(n);
      return n;
    };

    const block = (stmts: KStmt[]): KStmt[] =>
      stmts.flatMap((s): KStmt[] => {
        if (s.k === 'if') return [{ ...s, then: block(s.then), else: s.else && block(s.else) }];
        if (s.k !== 'for') return [s];
        const body = block(s.body);
        if (s.parallel) return [{ ...s, body }];
        // What the loop declares or assigns: an index naming any of it varies.
        const inner = declared(body).add(s.v);
        const assigned = (xs: KStmt[]) =>
          xs.forEach((x) => {
            if (x.k === 'set') inner.add(x.v);
            if (x.k === 'for') assigned(x.body);
            if (x.k === 'if') (assigned(x.then), x.else && assigned(x.else));
            if (x.k === 'reduce') assigned(x.body);
          });
        assigned(body);
        const hoisted = new Map<string, { v: string; e: KExpr; t: KType }>();
        const invariant = (x: KExpr) => (x.k === 'load' || x.k === 'vload') && readOnly.has(x.buf) && !mentions(x.idx, (n) => inner.has(n));
        const newBody = mapStmts(body, (x) => {
          if (!invariant(x)) return x;
          const key = JSON.stringify(x);
          let h = hoisted.get(key);
          if (!h) hoisted.set(key, (h = { v: name(), e: x, t: x.k === 'vload' ? 'f32x4' : readOnly.get((x as KExpr & { k: 'load' }).buf)! }));
          return { k: 'var', name: h.v };
        });
        if (!hoisted.size) return [{ ...s, body }];
        return [...[...hoisted.values()].map((h): KStmt => ({ k: 'let', v: h.v, t: h.t, e: h.e })), { ...s, body: newBody }];
      });
    return { ...k, body: block(k.body) };
  };
}
