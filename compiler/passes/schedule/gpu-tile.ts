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
// than at T = 4), and reads operands four contiguous floats at a time where it can (below).
// With `textures` (the WebGPU target) it also names the operands it reads that way in
// Kernel.textures, for the renderer to read through textures: lavapipe fetches a texel for
// all lanes without branches instead of looping over them (render.ts texturesOf says which).
import { add, bin, call, i, if_, lane, let_, loop, matchContraction, mul, set, sub, v, vload, type Contraction, type KExpr, type Kernel, type KStmt } from '../../codegen/kir.ts';
import { stride } from './vectorize.ts';
import { contractionParts } from './register-tile.ts';

/** With `textures`, the operands are read through textures (Kernel.textures), both four
 *  floats at a time wherever they are contiguous (see tile). */
export function gpuTile(T = 4, opts: { textures?: boolean } = {}) {
  return (k: Kernel): Kernel => {
    const textures = new Set(k.textures);
    const body = k.body.flatMap((s) => {
      const c = matchContraction(s);
      if (!c) return [s];
      const t = tile(c, T, !!opts.textures);
      for (const b of t.textures) textures.add(b);
      return t.body;
    });
    const read = new Set(k.buffers.filter((b) => b.access === 'read' && b.t === 'f32').map((b) => b.name));
    const tex = [...textures].filter((b) => read.has(b));
    return { ...k, body, ...(tex.length ? { textures: tex } : {}) };
  };
}

/** How a tile reads an operand: four floats along the contraction (p), four along the
 *  tile's rows or columns, or one at a time. */
type Way = 'p' | 'lines' | 'scalar';

function tile(c: Contraction, T: number, textures: boolean): { body: KStmt[]; textures: string[] } {
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
  // Each operand is read four contiguous floats at a time where it can be: along the tile's
  // rows (X) or columns (Y) when their count is a multiple of 4 (a group of four is then all
  // inside or all outside, and one outside starts at the last four instead); otherwise along
  // the contraction, p then stepping by 4 (the rest of P in a scalar loop) — but only when the
  // other operand cannot go along its rows or columns: unrolling p holds four steps' operands
  // at once, which cost more than they saved on lavapipe for a·b (measured per kernel on
  // GPT-mini: a·b with Y in vec4 columns and X scalar 58–72 ms, with X also in vec4s along p
  // 69–81, all scalar 69–72; a·bᵀ, both along p, 96 → 69; aᵀ·b, rows and columns, 52 → 45).
  const probeX = X(v('tfm_r'), v('tfm_p'));
  const probeY = Y(v('tfm_p'), v('tfm_c'));
  const xLines = probeX.k === 'load' && T % 4 === 0 && c.M.k === 'num' && c.M.v % 4 === 0 && stride(probeX.idx, 'tfm_r') === 1;
  const yLines = probeY.k === 'load' && T % 4 === 0 && c.N % 4 === 0 && stride(probeY.idx, 'tfm_c') === 1;
  // Through a texture (textures), a texel is four floats: both operands go four at a time
  // wherever they can, p unrolled or not (on lavapipe, whose texel fetch has no branches,
  // a 512³ a·b runs 8.3 → 11–13 GFLOP/s, copies into the textures included).
  // Only where p steps from texel to texel: a P that is a multiple of 4.
  const texP = textures && c.P.k === 'num' && c.P.v % 4 === 0;
  const xWay: Way = xLines ? 'lines' : probeX.k === 'load' && (texP || !yLines) && stride(probeX.idx, 'tfm_p') === 1 ? 'p' : 'scalar';
  const yWay: Way = yLines ? 'lines' : probeY.k === 'load' && (texP || !xLines) && stride(probeY.idx, 'tfm_p') === 1 ? 'p' : 'scalar';
  // Only where p goes four at a time: aᵀ·b, both operands along the tile's rows and columns,
  // was slower through textures on lavapipe (GPT-mini's three: 159 → 195 ms a step), a·b and
  // a·bᵀ faster (369 → 289).
  const viaTexture = textures && (xWay === 'p' || yWay === 'p') ? [...(xWay !== 'scalar' && probeX.k === 'load' ? [probeX.buf] : []), ...(yWay !== 'scalar' && probeY.k === 'load' ? [probeY.buf] : [])] : [];
  const vec = (e: KExpr): KExpr => (e.k === 'load' ? vload(e.buf, e.idx) : e);
  const rowGroup = (g: number): KExpr => (g === 0 ? v('i0') : call('min', row(4 * g), sub(c.M, i(4))));
  const colGroup = (g: number): KExpr => (g === 0 || c.N % T === 0 ? col(4 * g) : call('min', col(4 * g), i(c.N - 4)));
  const at = (q: number) => (q ? add(v('p'), i(q)) : v('p'));
  const G = [...Array(T / 4).keys()];
  /** One step of the p loop (U = 4 steps of p when an operand goes along it): the loads,
   *  then every multiply-add of the tile. */
  const step = (xw: Way, yw: Way): KStmt[] => {
    const Q = [...Array(xw === 'p' || yw === 'p' ? 4 : 1).keys()];
    const xLoads = xw === 'p' ? R.map((a) => let_(`a${a}`, vec(X(rowIn(a), v('p'))), 'f32x4')) : xw === 'lines' ? Q.flatMap((q) => G.map((g) => let_(`a${q}_${g}`, vec(X(rowGroup(g), at(q))), 'f32x4'))) : Q.flatMap((q) => R.map((a) => let_(`a${q}_${a}`, X(rowIn(a), at(q)))));
    const yLoads = yw === 'p' ? R.map((b) => let_(`b${b}`, vec(Y(v('p'), colIn(b))), 'f32x4')) : yw === 'lines' ? Q.flatMap((q) => G.map((g) => let_(`b${q}_${g}`, vec(Y(at(q), colGroup(g))), 'f32x4'))) : Q.flatMap((q) => R.map((b) => let_(`b${q}_${b}`, Y(at(q), colIn(b)))));
    const xv = (a: number, q: number): KExpr => (xw === 'p' ? lane(v(`a${a}`), q) : xw === 'lines' ? lane(v(`a${q}_${a >> 2}`), a & 3) : v(`a${q}_${a}`));
    const yv = (q: number, b: number): KExpr => (yw === 'p' ? lane(v(`b${b}`), q) : yw === 'lines' ? lane(v(`b${q}_${b >> 2}`), b & 3) : v(`b${q}_${b}`));
    return [...xLoads, ...yLoads, ...Q.flatMap((q) => R.flatMap((a) => R.map((b) => set(`c${a}_${b}`, mul(xv(a, q), yv(q, b)), '+'))))];
  };
  const steps: KStmt[] =
    xWay !== 'p' && yWay !== 'p'
      ? [loop('p', c.P, step(xWay, yWay))]
      : c.P.k === 'num' && c.P.v % 4 === 0
        ? [{ k: 'for', v: 'p', from: i(0), to: c.P, step: 4, body: step(xWay, yWay) }]
        : [let_('pEnd', c.P.k === 'num' ? i(c.P.v - (c.P.v % 4)) : sub(c.P, bin('%', c.P, i(4))), 'i32'), { k: 'for', v: 'p', from: i(0), to: v('pEnd'), step: 4, body: step(xWay, yWay) }, loop('p', c.P, step('scalar', 'scalar'), false, v('pEnd'))];
  const body: KStmt[] = [
    let_('i0', mul(v('it'), i(T)), 'i32'),
    let_('j0', mul(v('jt'), i(T)), 'i32'),
    ...R.flatMap((a) => R.map((b) => let_(`c${a}_${b}`, { k: 'num', v: 0, t: 'f32' }, 'f32', true))),
    ...steps,
    ...R.flatMap((a) =>
      R.flatMap((b) => {
        const stmts = put(v(`c${a}_${b}`), row(a), col(b), `${a}${b}`);
        const cond = inside(a, b);
        return cond ? [if_(cond, stmts)] : stmts;
      }),
    ),
  ];
  const ceil = (n: KExpr) => call('idiv', add(n, i(T - 1)), i(T));
  return { body: [loop('it', ceil(c.M), [loop('jt', i(Math.ceil(c.N / T)), body, true)], true)], textures: viaTexture };
}
