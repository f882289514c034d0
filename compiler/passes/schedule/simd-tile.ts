// SIMD register tiling of contraction nests (kir.ts matchContraction), for targets with
// 128-bit vectors (f32x4). Two layouts vectorize without packing:
//
// - Y contiguous along the columns j (A·B and Aᵀ·B): a 4-row × 8-column tile of C lives in
//   eight f32x4 accumulators; per step of p, two vector loads of Y and four broadcast
//   elements of X make eight vector multiply-adds (each loaded value used 4 or 2 times).
// - X and Y both contiguous along p (A·Bᵀ): a 4 × 2 tile of dot products, each an f32x4
//   accumulator over p in steps of four, summed across lanes at the end.
//
// Rows go in blocks of 64 (the parallel loop, split across threads), and inside a block the
// column tiles are the outer loop: the slice of Y one column tile reads stays in cache while
// all 16 row tiles of the block use it, instead of all of Y streaming past every row tile.
// Edges (rows past the last whole tile, columns past the last whole tile, p past the last
// whole vector) run as scalar dot products. The epilogue runs per element, as written by
// the builder. Contractions of any other layout keep the scalar 4×4 register tile.
import { add, bin, call, declared, f, i, lane, let_, loop, matchContraction, mul, select, set, splat, sub, substitute, substituteExpr, v, vload, walkKernel, type Contraction, type KExpr, type Kernel, type KStmt } from '../../codegen/kir.ts';
import { registerTile } from './register-tile.ts';

const ROWS = 4;
/** Rows of a column tile: 4 × 8 columns = 8 vector accumulators (6 × 8 measured slower:
 *  12 accumulators with the operands spill on x64's 16 vector registers). */
const CROWS = 4;

export function simdTile() {
  const scalar = registerTile(4);
  return (k: Kernel): Kernel => ({
    ...k,
    body: k.body.flatMap((s) => {
      const c = matchContraction(s);
      if (!c || c.x.k !== 'load' || c.y.k !== 'load') return [s];
      if (stride(c.y.idx, c.j) === 1) return columnTile(c);
      if (stride(c.x.idx, c.p) === 1 && stride(c.y.idx, c.p) === 1) return dotTile(c);
      return scalar({ ...k, body: [s] }).body;
    }),
  });
}

/** How far an index moves when `name` grows by one, if that is the same at a few random
 *  points of the other names (an affine index); undefined otherwise. */
export function stride(e: KExpr, name: string): number | undefined {
  let seen: number | undefined;
  for (let trial = 0; trial < 4; trial++) {
    const env = new Map<string, number>();
    // Deterministic points: the pass must give the same code on every compile.
    const value = (n: string) => {
      if (!env.has(n)) env.set(n, 3 + ((trial * 7919 + [...n].reduce((a, ch) => a * 31 + ch.charCodeAt(0), 17)) % 29));
      return env.get(n)!;
    };
    const a = evalInt(e, value);
    const prev = env.get(name);
    env.set(name, (prev ?? value(name)) + 1);
    const b = evalInt(e, value);
    if (a === undefined || b === undefined) return undefined;
    if (seen !== undefined && b - a !== seen) return undefined;
    seen = b - a;
  }
  return seen;
}

function evalInt(e: KExpr, value: (name: string) => number): number | undefined {
  const r = (x: KExpr) => evalInt(x, value);
  switch (e.k) {
    case 'num':
      return e.t === 'i32' ? e.v : undefined;
    case 'var':
    case 'dim':
      return value(`${e.k}:${e.name}`.replace(/^var:/, ''));
    case 'bin': {
      const [a, b] = [r(e.a), r(e.b)];
      if (a === undefined || b === undefined) return undefined;
      if (e.op === '+') return a + b;
      if (e.op === '-') return a - b;
      if (e.op === '*') return a * b;
      return undefined;
    }
    default:
      return undefined;
  }
}

/** The shared frame: blocks of whole 4-row tiles in the parallel loop — per block, each
 *  column tile (`j0`, `nFull`, `step`) over the block's row tiles, then the edge columns of
 *  each row tile — then the leftover rows. */
function frame(c: Contraction, ROWS: number, nFull: number, step: number, tile: KStmt[], edge: KStmt[]): KStmt[] {
  const BLOCK = ROWS * 16;
  const rows = (body: KStmt[]): KStmt => ({ k: 'for', v: 'i0', from: v('ib'), to: call('min', v('mFull'), add(v('ib'), i(BLOCK))), step: ROWS, body });
  return [
    let_('mFull', sub(c.M, bin('%', c.M, i(ROWS))), 'i32'),
    { k: 'for', v: 'ib', from: i(0), to: v('mFull'), step: BLOCK, parallel: true, body: [
      { k: 'for', v: 'j0', from: i(0), to: i(nFull), step, body: [rows(tile)] },
      ...(edge.length ? [rows(edge)] : []),
    ] },
    loop('ii', c.M, [loop('jj', i(c.N), dot(c, v('ii'), v('jj'), ''))], false, v('mFull')),
  ];
}

const X = (c: Contraction, ii: KExpr, p: KExpr) => substituteExpr(c.x, { [c.i]: ii, [c.p]: p });
const Y = (c: Contraction, p: KExpr, jj: KExpr) => substituteExpr(c.y, { [c.j]: jj, [c.p]: p });
const idx = (e: KExpr) => (e as KExpr & { k: 'load' }).idx;
const buf = (e: KExpr) => (e as KExpr & { k: 'load' }).buf;

/** The epilogue of element (ii, jj) with accumulator `acc`; its locals get suffix `tag`. */
function put(c: Contraction, acc: KExpr, ii: KExpr, jj: KExpr, tag: string): KStmt[] {
  const locals = declared(c.epilogue);
  return [let_(`acc${tag}`, acc), ...substitute(c.epilogue, { [c.i]: ii, [c.j]: jj, [c.acc]: v(`acc${tag}`) }, (n) => (locals.has(n) ? `${n}${tag}` : n))];
}

/** The epilogue of four neighbouring columns from one accumulator vector, as vector code,
 *  when it only does f32 arithmetic on the accumulator and on loads that run along the
 *  columns (stride 1) or stay put (stride 0), and stores along the columns: a matmul's
 *  store, a bias add. Undefined for anything else (an activation's transcendental). */
function vectorEpilogue(c: Contraction, acc: KExpr, ii: KExpr, j0: KExpr, tag: string): KStmt[] | undefined {
  const locals = new Set<string>();
  const vec = (e: KExpr): KExpr | undefined => {
    switch (e.k) {
      case 'num':
        return e.t === 'f32' ? splat(e) : undefined;
      case 'var':
        return e.name === c.acc ? acc : locals.has(e.name) ? v(`${e.name}${tag}`) : undefined;
      case 'load': {
        const idx = substituteExpr(e.idx, { [c.i]: ii, [c.j]: j0 });
        const s = stride(e.idx, c.j);
        if (mentionsAny(e.idx, locals) || mentionsAny(e.idx, new Set([c.acc]))) return undefined;
        return s === 1 ? vload(e.buf, idx) : s === 0 ? splat({ ...e, idx }) : undefined;
      }
      case 'bin': {
        if (!['+', '-', '*', '/'].includes(e.op)) return undefined;
        const [a, b] = [vec(e.a), vec(e.b)];
        return a && b ? { ...e, a, b } : undefined;
      }
      default:
        return undefined;
    }
  };
  const out: KStmt[] = [];
  for (const s of c.epilogue) {
    if (s.k === 'let' && s.t === 'f32') {
      const e = vec(s.e);
      if (!e) return undefined;
      out.push(let_(`${s.v}${tag}`, e, 'f32x4'));
      locals.add(s.v);
    } else if (s.k === 'store' && !s.accumulate && stride(s.idx, c.j) === 1 && !mentionsAny(s.idx, locals)) {
      const e = vec(s.e);
      if (!e) return undefined;
      out.push({ ...s, idx: substituteExpr(s.idx, { [c.i]: ii, [c.j]: j0 }), e });
    } else return undefined;
  }
  return out;
}

/** The epilogue of four neighbouring columns one lane at a time, in a loop over the lane
 *  (a select picks it: extract_lane needs a constant) so the code is not repeated four times. */
function laneEpilogue(c: Contraction, acc: KExpr, ii: KExpr, j0: KExpr, tag: string): KStmt[] {
  const l = v(`l${tag}`);
  const pick = select(bin('==', l, i(0)), lane(acc, 0), select(bin('==', l, i(1)), lane(acc, 1), select(bin('==', l, i(2)), lane(acc, 2), lane(acc, 3))));
  return [loop(`l${tag}`, i(4), put(c, pick, ii, add(j0, l), tag))];
}

function mentionsAny(e: KExpr, names: Set<string>): boolean {
  let found = false;
  walkKernel([{ k: 'let', v: '_', t: 'f32', e }], { expr: (x) => (found ||= x.k === 'var' && names.has(x.name)) });
  return found;
}

/** A scalar dot product and its epilogue (the edges). */
function dot(c: Contraction, ii: KExpr, jj: KExpr, tag: string): KStmt[] {
  return [let_(`s${tag}`, f(0), 'f32', true), loop('p', c.P, [set(`s${tag}`, mul(X(c, ii, v('p')), Y(c, v('p'), jj)), '+')]), ...put(c, v(`s${tag}`), ii, jj, `e${tag}`)];
}

const R = [...Array(ROWS).keys()];

function columnTile(c: Contraction): KStmt[] {
  const COLS = 8;
  const R = [...Array(CROWS).keys()];
  const Q = [0, 1];
  const nFull = c.N - (c.N % COLS);
  const row = (a: number) => add(v('i0'), i(a));
  const col = (q: number) => add(v('j0'), i(4 * q));
  const tile: KStmt[] = [
    ...R.flatMap((a) => Q.map((q) => let_(`c${a}${q}`, splat(f(0)), 'f32x4', true))),
    loop('p', c.P, [
      ...Q.map((q) => let_(`b${q}`, vload(buf(c.y), idx(Y(c, v('p'), col(q)))), 'f32x4')),
      ...R.flatMap((a) => [let_(`a${a}`, splat(X(c, row(a), v('p'))), 'f32x4'), ...Q.map((q) => set(`c${a}${q}`, mul(v(`a${a}`), v(`b${q}`)), '+'))]),
    ]),
    ...R.flatMap((a) => Q.flatMap((q) => vectorEpilogue(c, v(`c${a}${q}`), row(a), col(q), `${a}${q}`) ?? laneEpilogue(c, v(`c${a}${q}`), row(a), col(q), `${a}${q}`))),
  ];
  const edge = nFull < c.N ? [loop('jj', i(c.N), R.flatMap((a) => dot(c, row(a), v('jj'), String(a))), false, i(nFull))] : [];
  return frame(c, CROWS, nFull, COLS, tile, edge);
}

function dotTile(c: Contraction): KStmt[] {
  const COLS = 2;
  const B = [...Array(COLS).keys()];
  const nFull = c.N - (c.N % COLS);
  const row = (a: number) => add(v('i0'), i(a));
  const col = (b: number) => add(v('j0'), i(b));
  const pVec = sub(c.P, bin('%', c.P, i(4)));
  const hsum = (x: KExpr) => add(add(lane(x, 0), lane(x, 1)), add(lane(x, 2), lane(x, 3)));
  const tile: KStmt[] = [
    ...R.flatMap((a) => B.map((b) => let_(`c${a}${b}`, splat(f(0)), 'f32x4', true))),
    { k: 'for', v: 'p', from: i(0), to: v('pVec'), step: 4, body: [
      ...B.map((b) => let_(`b${b}`, vload(buf(c.y), idx(Y(c, v('p'), col(b)))), 'f32x4')),
      ...R.flatMap((a) => [let_(`a${a}`, vload(buf(c.x), idx(X(c, row(a), v('p')))), 'f32x4'), ...B.map((b) => set(`c${a}${b}`, mul(v(`a${a}`), v(`b${b}`)), '+'))]),
    ] },
    ...R.flatMap((a) => B.flatMap((b) => [
      let_(`s${a}${b}`, hsum(v(`c${a}${b}`)), 'f32', true),
      loop('p', c.P, [set(`s${a}${b}`, mul(X(c, row(a), v('p')), Y(c, v('p'), col(b))), '+')], false, v('pVec')),
      ...put(c, v(`s${a}${b}`), row(a), col(b), `${a}${b}`),
    ])),
  ];
  const edge = nFull < c.N ? [loop('jj', i(c.N), R.flatMap((a) => dot(c, row(a), v('jj'), String(a))), false, i(nFull))] : [];
  return [let_('pVec', pVec, 'i32'), ...frame(c, ROWS, nFull, COLS, tile, edge)];
}
