// SIMD register tiling of contraction nests (kir.ts matchContraction), for targets with
// 128-bit vectors (f32x4) and per-thread scratch (kir.ts Kernel.scratch). Two layouts:
//
// - Y contiguous along the columns j (A·B and Aᵀ·B): a 4-row × 8-column tile of C lives in
//   eight f32x4 accumulators; per step of p, two vector loads of Y and four broadcast
//   elements of X make eight vector multiply-adds (each loaded value used 4 or 2 times).
// - X and Y both contiguous along p (A·Bᵀ): a 4 × 2 tile of dot products, each an f32x4
//   accumulator over p in steps of four, summed across lanes at the end.
//
// Rows go in blocks of 64 (the parallel loop, split across threads), and inside a block the
// column tiles are the outer loop: the slice of Y one column tile reads is first packed into
// a contiguous panel in scratch (packPanel), which stays in L1 while all 16 row tiles of the
// block use it. 4 × 8 is the largest tile V8 keeps in registers: 5 × 8, 6 × 8 or p unrolled
// by two (13+ live vectors) measured 2–5× slower. V8's optimizing compiler issues all of a
// step's loads (the broadcasts of X included) before its multiply-adds — its machine code
// (`node --print-wasm-code`) shows it — so each row of the tile costs a register for its
// operand on top of its two accumulators, and 5 × 8 already spills on x64's 16 vector
// registers. With V8's instruction scheduler on (`--turbo-instruction-scheduling`, off by
// default) p unrolled by two stops spilling but runs no faster than 4 × 8.
// Edges (rows past the last whole tile, columns past the last whole tile, p past the last
// whole vector) run as scalar dot products. The epilogue runs per element, as written by
// the builder. Contractions of any other layout keep the scalar 4×4 register tile.
import { WASM_SCRATCH_BYTES } from '../../../common/program.ts';
import { add, bin, call, f, hsum, i, if_, lane, let_, load, loop, matchContraction, mentions, mul, select, set, splat, store, sub, substituteExpr, v, vload, type Contraction, type ElemType, type KExpr, type Kernel, type KStmt } from '../../codegen/kir.ts';

import { contractionParts, registerTile } from './register-tile.ts';
import { stride, vectorExpr } from './vectorize.ts';

type Parts = ReturnType<typeof contractionParts>;

/** Rows of a tile: 4 × 8 columns = 8 vector accumulators (6 × 8 measured slower: 12
 *  accumulators with the operands spill on x64's 16 vector registers). */
const ROWS = 4;
const R = [...Array(ROWS).keys()];

export function simdTile() {
  const scalar = registerTile(4);
  return (k: Kernel): Kernel => {
    const buffers = new Map(k.buffers.map((b) => [b.name, b.t]));
    let scratch = 0;
    const body = k.body.flatMap((s) => {
      const c = matchContraction(s);
      if (!c || c.x.k !== 'load' || c.y.k !== 'load') return [s];
      if (stride(c.y.idx, c.j) === 1) {
        const t = columnTile(c, buffers);
        scratch = Math.max(scratch, t.scratch ?? 0);
        return t.body;
      }
      if (stride(c.x.idx, c.p) === 1 && stride(c.y.idx, c.p) === 1) return dotTile(c);
      return scalar({ ...k, body: [s] }).body;
    });
    return { ...k, body, ...(scratch ? { scratch: [...(k.scratch ?? []), { name: PACK, elems: scratch }] } : {}) };
  };
}

/** The shared frame: blocks of whole row tiles in the parallel loop — per block, each
 *  column tile (`j0`, `nFull`, `step`) over the block's row tiles, then the edge columns of
 *  each row tile — then the leftover rows. */
function frame(c: Contraction, { dot }: Parts, nFull: number, step: number, tile: KStmt[] | ((rows: (body: KStmt[]) => KStmt) => KStmt[]), tailRow?: (ii: KExpr) => KStmt[]): KStmt[] {
  const BLOCK = ROWS * 16;
  const rows = (body: KStmt[]): KStmt => ({ k: 'for', v: 'i0', from: v('ib'), to: call('min', v('mFull'), add(v('ib'), i(BLOCK))), step: ROWS, body });
  const columnTile = typeof tile === 'function' ? tile(rows) : [rows(tile)];
  return [
    let_('mFull', sub(c.M, bin('%', c.M, i(ROWS))), 'i32'),
    { k: 'for', v: 'ib', from: i(0), to: v('mFull'), step: BLOCK, parallel: true, body: [
      { k: 'for', v: 'j0', from: i(0), to: i(nFull), step, body: columnTile },
      // The edge columns [nFull, N) of each row tile, as scalar dot products.
      ...(nFull < c.N ? [rows([loop('jj', i(c.N), R.flatMap((a) => dot(row(a), v('jj'), String(a))), false, i(nFull))])] : []),
    ] },
    // The rows past the last whole tile: one row at a time, vectorized along the columns
    // where the layout allows (tailRow), else scalar dot products. With one row per sequence
    // (decoding a token) these are all the rows.
    loop('ii', c.M, tailRow ? tailRow(v('ii')) : [loop('jj', i(c.N), dot(v('ii'), v('jj')))], false, v('mFull')),
  ];
}

const idx = (e: KExpr) => (e as KExpr & { k: 'load' }).idx;

/** Addresses of a tile's operands in its inner loop over p. Where X's index moves by a
 *  constant along i and along p, and Y's along p (row-major operands of known width: every
 *  matmul of a model), the loop walks two index locals, `xp` (X at row i0) and `yp` (Y at
 *  column j0), by their strides, and each load is one of them plus a constant (the row or
 *  column offset): one add per load instead of each index's products, which measurably
 *  bounds a loop of fused multiply-adds (the Wasm renderer puts the constant in the load's
 *  offset field). Otherwise the loads keep their index expressions. */
function walk(c: Contraction, { X, Y }: Parts, pStep = 1, pack?: Pack) {
  const [sxi, sxp, syp] = [stride(idx(c.x), c.i), stride(idx(c.x), c.p), stride(idx(c.y), c.p)];
  const syj = stride(idx(c.y), c.j);
  if (sxi === undefined || sxp === undefined || syp === undefined || syj === undefined) {
    return { start: (): KStmt[] => [], step: [] as KStmt[], x: (ii: KExpr, p: KExpr, _a: number) => idx(X(ii, p)), y: (p: KExpr, jj: KExpr, _b: number) => idx(Y(p, jj)) };
  }
  // A packed panel holds the tile's columns of Y row after row, `pack.cols` per p.
  const [yStart, yStep, yCol] = pack ? [i(0), pack.cols, 1] : [undefined, syp, syj];
  return {
    start: (j0: KExpr): KStmt[] => [let_('xp', idx(X(v('i0'), i(0))), 'i32', true), let_('yp', yStart ?? idx(Y(i(0), j0)), 'i32', true)],
    step: [set('xp', i(sxp * pStep), '+'), set('yp', i(yStep * pStep), '+')],
    /** Row `a` of the tile at this p (offset a rows from xp). */
    x: (_ii: KExpr, _p: KExpr, a: number) => add(v('xp'), i(a * sxi)),
    /** Column offset `b` (elements) from yp. */
    y: (_p: KExpr, _jj: KExpr, b: number) => add(v('yp'), i(b * yCol)),
  };
}

/** Packing of Y's column panel: the `cols` columns a column tile reads, for every p, copied
 *  into this thread's scratch (kir.ts Kernel.scratch) row after row, before the block's row
 *  tiles run over it. In Y itself those columns lie one row of Y apart: for a width of 512
 *  floats (2 KB) every row of the panel falls into the same two sets of a 32 KB 8-way L1
 *  cache, so the panel never stays in L1 (measured: a 512 × 512 · 512 × 520 matmul ran 15%
 *  faster per element than 512 × 512 · 512 × 512). Packed, it is one contiguous run that
 *  the row tiles of a block (16 of them) reuse from L1. Costs one copy of Y per block of
 *  rows: 1/64 of the multiply-adds. */
interface Pack {
  cols: number;
}

/** The packing loop of one column tile (at `j0`), where Y's strides are constants and the
 *  panel fits in a thread's scratch: always for a known reduction length that fits, under
 *  `fits` (a run-time test) for a symbolic one (a weight gradient's batch·seq). */
function packPanel(c: Contraction, { Y }: Parts, cols: number): { fill: KStmt[]; elems: number; fits?: KExpr } | undefined {
  const [syp, syj] = [stride(idx(c.y), c.p), stride(idx(c.y), c.j)];
  // The packed tile walks its operands (walk()), which needs X's strides known too.
  if (syp === undefined || syj !== 1 || stride(idx(c.x), c.i) === undefined || stride(idx(c.x), c.p) === undefined) return undefined;
  const cap = WASM_SCRATCH_BYTES / 4;
  if (c.P.k === 'num' && c.P.v * cols > cap) return undefined;
  return {
    elems: c.P.k === 'num' ? c.P.v * cols : cap,
    fits: c.P.k === 'num' ? undefined : bin('<=', c.P, i(Math.floor(cap / cols))),
    fill: [
      let_('ys', idx(Y(i(0), v('j0'))), 'i32', true),
      let_('ps', i(0), 'i32', true),
      loop('p', c.P, [
        ...[...Array(cols / 4).keys()].map((q) => store(PACK, add(v('ps'), i(4 * q)), vload(buf(c.y), add(v('ys'), i(4 * q))))),
        set('ys', i(syp), '+'),
        set('ps', i(cols), '+'),
      ]),
    ],
  };
}

const PACK = 'panel';

const buf = (e: KExpr) => (e as KExpr & { k: 'load' }).buf;
const row = (a: number) => add(v('i0'), i(a));

/** The epilogue of four neighbouring columns from one accumulator vector, as vector code,
 *  when it only does f32 arithmetic on the accumulator and on loads that run along the
 *  columns (stride 1) or stay put (stride 0), and stores along the columns: a matmul's
 *  store, a bias add. Undefined for anything else (an activation's transcendental). */
function vectorEpilogue(c: Contraction, buffers: Map<string, ElemType>, acc: KExpr, ii: KExpr, j0: KExpr, tag: string): KStmt[] | undefined {
  const locals = new Set<string>();
  const at = (e: KExpr) => substituteExpr(e, { [c.i]: ii, [c.j]: j0 });
  const vec = (e: KExpr) => vectorExpr(e, c.j, buffers, (n) => (n === c.acc ? acc : locals.has(n) ? v(`${n}${tag}`) : undefined), at);
  const out: KStmt[] = [];
  for (const s of c.epilogue) {
    if (s.k === 'let' && s.t === 'f32') {
      const e = vec(s.e);
      if (!e) return undefined;
      out.push(let_(`${s.v}${tag}`, e, 'f32x4'));
      locals.add(s.v);
    } else if (s.k === 'store' && !s.accumulate && stride(s.idx, c.j) === 1 && !mentions(s.idx, (n) => locals.has(n))) {
      const e = vec(s.e);
      if (!e) return undefined;
      out.push({ ...s, idx: at(s.idx), e });
    } else return undefined;
  }
  return out;
}

/** The epilogue of four neighbouring columns one lane at a time, in a loop over the lane
 *  (a select picks it: extract_lane needs a constant) so the code is not repeated four times. */
function laneEpilogue({ put }: Parts, acc: KExpr, ii: KExpr, j0: KExpr, tag: string): KStmt[] {
  const l = v(`l${tag}`);
  const pick = select(bin('==', l, i(0)), lane(acc, 0), select(bin('==', l, i(1)), lane(acc, 1), select(bin('==', l, i(2)), lane(acc, 2), lane(acc, 3))));
  return [loop(`l${tag}`, i(4), put(pick, ii, add(j0, l), tag))];
}

function columnTile(c: Contraction, buffers: Map<string, ElemType>): { body: KStmt[]; scratch?: number } {
  const COLS = 8;
  const Q = [0, 1];
  const nFull = c.N - (c.N % COLS);
  const parts = contractionParts(c);
  const col = (q: number) => add(v('j0'), i(4 * q));
  const pack = buffers.has(PACK) ? undefined : packPanel(c, parts, COLS);
  const tile = (packed: boolean): KStmt[] => {
    const at = walk(c, parts, 1, packed ? { cols: COLS } : undefined);
    const yBuf = packed ? PACK : buf(c.y);
    return [
      ...R.flatMap((a) => Q.map((q) => let_(`c${a}${q}`, splat(f(0)), 'f32x4', true))),
      ...at.start(v('j0')),
      loop('p', c.P, [
        ...Q.map((q) => let_(`b${q}`, vload(yBuf, at.y(v('p'), col(q), 4 * q)), 'f32x4')),
        ...R.flatMap((a) => [let_(`a${a}`, splat(load(buf(c.x), at.x(row(a), v('p'), a))), 'f32x4'), ...Q.map((q) => set(`c${a}${q}`, mul(v(`a${a}`), v(`b${q}`)), '+'))]),
        ...at.step,
      ]),
      ...R.flatMap((a) => Q.flatMap((q) => vectorEpilogue(c, buffers, v(`c${a}${q}`), row(a), col(q), `${a}${q}`) ?? laneEpilogue(parts, v(`c${a}${q}`), row(a), col(q), `${a}${q}`))),
    ];
  };
  // A row past the last whole row tile: 1 × 8 tiles (two vector accumulators, Y read as it
  // lies), then its edge columns as scalar dot products.
  const tailRow = (ii: KExpr): KStmt[] => [
    { k: 'for', v: 'j0', from: i(0), to: i(nFull), step: COLS, body: [
      ...Q.map((q) => let_(`t${q}`, splat(f(0)), 'f32x4', true)),
      loop('p', c.P, [
        let_('ta', splat(load(buf(c.x), idx(parts.X(ii, v('p'))))), 'f32x4'),
        ...Q.map((q) => set(`t${q}`, mul(v('ta'), vload(buf(c.y), idx(parts.Y(v('p'), col(q))))), '+')),
      ]),
      ...Q.flatMap((q) => vectorEpilogue(c, buffers, v(`t${q}`), ii, col(q), `t${q}`) ?? laneEpilogue(parts, v(`t${q}`), ii, col(q), `t${q}`)),
    ] },
    loop('jj', i(c.N), parts.dot(ii, v('jj')), false, i(nFull)),
  ];
  if (!pack) return { body: frame(c, parts, nFull, COLS, tile(false), tailRow) };
  const packed = (rows: (body: KStmt[]) => KStmt) => [...pack.fill, rows(tile(true))];
  return {
    body: frame(c, parts, nFull, COLS, pack.fits ? (rows) => [if_(pack.fits!, packed(rows), [rows(tile(false))])] : packed, tailRow),
    scratch: pack.elems,
  };
}

function dotTile(c: Contraction): KStmt[] {
  const COLS = 2;
  const B = [...Array(COLS).keys()];
  const nFull = c.N - (c.N % COLS);
  const parts = contractionParts(c);
  const { X, Y, put } = parts;
  const col = (b: number) => add(v('j0'), i(b));
  const at = walk(c, parts, 4);
  const tile: KStmt[] = [
    ...R.flatMap((a) => B.map((b) => let_(`c${a}${b}`, splat(f(0)), 'f32x4', true))),
    ...at.start(v('j0')),
    { k: 'for', v: 'p', from: i(0), to: v('pVec'), step: 4, body: [
      ...B.map((b) => let_(`b${b}`, vload(buf(c.y), at.y(v('p'), col(b), b)), 'f32x4')),
      ...R.flatMap((a) => [let_(`a${a}`, vload(buf(c.x), at.x(row(a), v('p'), a)), 'f32x4'), ...B.map((b) => set(`c${a}${b}`, mul(v(`a${a}`), v(`b${b}`)), '+'))]),
      ...at.step,
    ] },
    ...R.flatMap((a) => B.flatMap((b) => [
      let_(`s${a}${b}`, hsum(v(`c${a}${b}`)), 'f32', true),
      loop('p', c.P, [set(`s${a}${b}`, mul(X(row(a), v('p')), Y(v('p'), col(b))), '+')], false, v('pVec')),
      ...put(v(`s${a}${b}`), row(a), col(b), `${a}${b}`),
    ])),
  ];
  return [let_('pVec', sub(c.P, bin('%', c.P, i(4))), 'i32'), ...frame(c, parts, nFull, COLS, tile)];
}
