// Register tiling of contraction nests (kir.ts matchContraction) for a GPU: one invocation
// per T×T tile of C, held in T² scalar accumulators, both tile loops parallel (a 2-D index
// space). Each loaded element of X and Y serves T multiply-adds. Tiles at the edges load
// clamped rows and columns (always in bounds) and store only the elements inside C, so that
// no shape needs whole tiles. Measured on lavapipe for a [1024, 128] · [128, 384] matmul:
// one output per invocation 1.0 GFLOP/s, 4×4 scalar tiles 4.7, 4×4 with vec4 accumulators
// 3.4, 32×32 workgroup-memory tiles 1.7 (lavapipe runs a workgroup's barriers as
// coroutines); a GPU with fast workgroup memory wants the last, which comes as its own pass.
// Lavapipe runs every non-uniform load as a loop over its SIMD lanes, so what counts there is
// loads per multiply-add, 2/T: the WebGPU target uses T = 8 (GPT-mini's matmuls 1.4× faster
// than at T = 4; vec4 loads of the tile's rows gained nothing measurable on top, tried in
// scratch shaders).
import { add, bin, call, i, if_, let_, loop, matchContraction, mul, set, sub, v, type Contraction, type KExpr, type Kernel, type KStmt } from '../../codegen/kir.ts';
import { contractionParts } from './register-tile.ts';

export function gpuTile(T = 4) {
  return (k: Kernel): Kernel => ({ ...k, body: k.body.flatMap((s) => {
    const c = matchContraction(s);
    return c ? tile(c, T) : [s];
  }) });
}

function tile(c: Contraction, T: number): KStmt[] {
  const R = [...Array(T).keys()];
  const { X, Y, put } = contractionParts(c);
  const row = (a: number) => add(v('i0'), i(a));
  const col = (b: number) => add(v('j0'), i(b));
  // Clamped to the last row / column: edge tiles compute with duplicates they never store.
  const rowIn = (a: number): KExpr => (a === 0 ? v('i0') : call('min', row(a), sub(c.M, i(1))));
  const colIn = (b: number): KExpr => (b === 0 || c.N % T === 0 ? col(b) : call('min', col(b), i(c.N - 1)));
  const inside = (a: number, b: number): KExpr | undefined => {
    const conds = [...(a > 0 ? [bin('<', row(a), c.M)] : []), ...(c.N % T !== 0 && b > 0 ? [bin('<', col(b), i(c.N))] : [])];
    return conds.reduce<KExpr | undefined>((acc, x) => (acc ? bin('&&', acc, x) : x), undefined);
  };
  const body: KStmt[] = [
    let_('i0', mul(v('it'), i(T)), 'i32'),
    let_('j0', mul(v('jt'), i(T)), 'i32'),
    ...R.flatMap((a) => R.map((b) => let_(`c${a}_${b}`, { k: 'num', v: 0, t: 'f32' }, 'f32', true))),
    loop('p', c.P, [
      ...R.map((a) => let_(`a${a}`, X(rowIn(a), v('p')))),
      ...R.map((b) => let_(`b${b}`, Y(v('p'), colIn(b)))),
      ...R.flatMap((a) => R.map((b) => set(`c${a}_${b}`, mul(v(`a${a}`), v(`b${b}`)), '+'))),
    ]),
    ...R.flatMap((a) =>
      R.flatMap((b) => {
        const stmts = put(v(`c${a}_${b}`), row(a), col(b), `${a}${b}`);
        const cond = inside(a, b);
        return cond ? [if_(cond, stmts)] : stmts;
      }),
    ),
  ];
  const ceil = (n: KExpr) => call('idiv', add(n, i(T - 1)), i(T));
  return [loop('it', ceil(c.M), [loop('jt', i(Math.ceil(c.N / T)), body, true)], true)];
}
