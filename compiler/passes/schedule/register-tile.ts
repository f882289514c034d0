// Register tiling of contraction nests (kir.ts matchContraction): C is computed in T×T tiles
// held in T² scalar accumulators, so that each loaded element of X and Y is used T times
// (loads per multiply-add fall from 2 to 2/T). Rows and columns that do not fill a tile run
// as plain dot products. The rows loop stays the parallel loop (the thread split), stepping
// by T. A kernel-IR → kernel-IR pass: the builders never see it.
import { add, bin, declared, i, let_, loop, matchContraction, set, mul, sub, substitute, substituteExpr, v, type Contraction, type KExpr, type Kernel, type KStmt } from '../../codegen/kir.ts';

export function registerTile(T = 4) {
  return (k: Kernel): Kernel => ({ ...k, body: k.body.flatMap((s) => {
    const c = matchContraction(s);
    return c ? tile(c, T) : [s];
  }) });
}

/** The pieces every schedule of a contraction is made of: X and Y at given indices, the
 *  epilogue of one element, and a scalar dot product with its epilogue (for edges). */
export function contractionParts(c: Contraction) {
  const locals = declared(c.epilogue);
  const X = (ii: KExpr, p: KExpr) => substituteExpr(c.x, { [c.i]: ii, [c.p]: p });
  const Y = (p: KExpr, jj: KExpr) => substituteExpr(c.y, { [c.j]: jj, [c.p]: p });
  /** The epilogue of element (ii, jj), its locals suffixed by `tag`. The accumulator is a
   *  local, or an expression (a vector lane) that a local `acc<tag>` then holds. */
  const put = (acc: KExpr, ii: KExpr, jj: KExpr, tag: string): KStmt[] => {
    const held = acc.k === 'var' ? acc : v(`acc${tag}`);
    return [...(acc.k === 'var' ? [] : [let_(`acc${tag}`, acc)]), ...substitute(c.epilogue, { [c.i]: ii, [c.j]: jj, [c.acc]: held }, (n) => (locals.has(n) ? `${n}${tag}` : n))];
  };
  const dot = (ii: KExpr, jj: KExpr, tag = ''): KStmt[] => [
    let_(`acc${tag}`, { k: 'num', v: 0, t: 'f32' }, 'f32', true),
    loop('p', c.P, [set(`acc${tag}`, mul(X(ii, v('p')), Y(v('p'), jj)), '+')]),
    ...put(v(`acc${tag}`), ii, jj, `e${tag}`),
  ];
  return { X, Y, put, dot };
}

function tile(c: Contraction, T: number): KStmt[] {
  const R = [...Array(T).keys()];
  const nFull = c.N - (c.N % T);
  const { X, Y, put, dot } = contractionParts(c);
  const row = (a: number) => add(v('i0'), i(a));
  const col = (b: number) => add(v('j0'), i(b));
  const body: KStmt[] = [
    ...R.flatMap((a) => R.map((b) => let_(`c${a}${b}`, { k: 'num', v: 0, t: 'f32' }, 'f32', true))),
    loop('p', c.P, [
      ...R.map((a) => let_(`a${a}`, X(row(a), v('p')))),
      ...R.map((b) => let_(`b${b}`, Y(v('p'), col(b)))),
      ...R.flatMap((a) => R.map((b) => set(`c${a}${b}`, mul(v(`a${a}`), v(`b${b}`)), '+'))),
    ]),
    ...R.flatMap((a) => R.flatMap((b) => put(v(`c${a}${b}`), row(a), col(b), `${a}${b}`))),
  ];
  return [
    let_('mFull', sub(c.M, bin('%', c.M, i(T))), 'i32'),
    { k: 'for', v: 'i0', from: i(0), to: v('mFull'), step: T, parallel: true, body: [
      { k: 'for', v: 'j0', from: i(0), to: i(nFull), step: T, body },
      ...(nFull < c.N ? [loop('jj', i(c.N), R.flatMap((a) => dot(row(a), v('jj'), String(a))), false, i(nFull))] : []),
    ] },
    loop('ii', c.M, [loop('jj', i(c.N), dot(v('ii'), v('jj')))], false, v('mFull')),
  ];
}
