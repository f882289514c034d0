// Column sums in parallel, for a GPU. The CPU targets add rows into an output one row at a
// time (a bias gradient: `y[c] += x[r·W + c]` for every row r, after zeroing y) — cache
// friendly, but with no parallel loop a GPU would run it as one invocation. This pass turns
//
//     for o in [0, W): y[o] = 0
//     for r in [0, R): for c in [0, W): y[c] += e(r, c)
//
// (e not reading y) into one invocation per column, each summing its column over the rows:
//
//     for c in [0, W) parallel: y[c] = reduce + over r in [0, R) of e(r, c)
//
// The same additions in the same order for each element (row by row, from zero).
import { loop, reduce, store, v, walkKernel, type KExpr, type Kernel, type KStmt } from '../../codegen/kir.ts';

export function columnSums() {
  return (k: Kernel): Kernel => {
    const [zero, rows, ...rest] = k.body;
    if (rest.length || !zero || !rows || zero.k !== 'for' || rows.k !== 'for' || rows.parallel || (rows.step ?? 1) !== 1) return k;
    const [z] = zero.body;
    if (zero.body.length !== 1 || z.k !== 'store' || z.accumulate || z.idx.k !== 'var' || z.idx.name !== zero.v || !(z.e.k === 'num' && z.e.v === 0)) return k;
    const [cols] = rows.body;
    if (rows.body.length !== 1 || cols.k !== 'for' || (cols.step ?? 1) !== 1 || !same(cols.from, zero.from) || !same(cols.to, zero.to)) return k;
    const [acc] = cols.body;
    if (cols.body.length !== 1 || acc.k !== 'store' || !acc.accumulate || acc.buf !== z.buf || acc.idx.k !== 'var' || acc.idx.name !== cols.v) return k;
    let readsOut = false;
    walkKernel([acc], { expr: (x) => (readsOut ||= x.k === 'load' && x.buf === acc.buf) });
    if (readsOut) return k;
    const body: KStmt[] = [loop(cols.v, cols.to, [reduce('colSum', '+', rows.v, rows.to, acc.e, [], 'f32', rows.from), store(acc.buf, v(cols.v), v('colSum'))], true, cols.from)];
    return { ...k, body };
  };
}

const same = (a: KExpr, b: KExpr) => JSON.stringify(a) === JSON.stringify(b);
