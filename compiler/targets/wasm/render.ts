// The WebAssembly renderer: kernel IR → one Wasm module (128-bit SIMD enabled), built and
// optimized with binaryen. Every kernel is an exported function whose arguments are its
// buffers as byte offsets into the one imported, shared memory (`env.memory`), then its
// run-time dims (i32), its scalars (f32) and, when it splits across threads, `part` and
// `parts` (i32). Types are the IR's: f32 is float32 in registers too, i32 is i32.
// exp and tanh — the hot transcendentals of softmax, attention and GELU — are module
// functions in float64 (range reduction and a degree-8 polynomial: relative error below
// 1e-8, far under one f32 ulp), rounded to f32; so are erf and the dropout hash, the same
// formulas as the TypeScript target's prelude and the float64 reference. The rare ones
// (log, sin, cos, pow) are imported from the host's Math.
//
// Two variants of each module: the baseline uses SIMD128 only; the `fma` variant also uses
// relaxed SIMD's f32x4.relaxed_madd for every vector multiply-add (a·b + c in one fused
// instruction where the CPU has FMA: half the arithmetic instructions of a matmul's inner
// loop, which is what bounds it). The runtime loads the fma variant where the engine
// supports relaxed SIMD.
import binaryen from 'binaryen';
import { WASM_LOW_MEMORY as LOW_MEMORY, WASM_SCRATCH_BYTES } from '../../../common/program.ts';
import { parallelSplit, typeOf, type ElemType, type EType, type KExpr, type Kernel, type KStmt, type KType } from '../../codegen/kir.ts';
import { splitBody } from '../../passes/schedule/thread-split.ts';
import type { RenderContext } from '../target.ts';

type Ref = number;

const IMPORTED = ['log', 'sin', 'cos'] as const;


export interface WasmModule {
  binary: Uint8Array;
  text: string;
}

/** The Wasm value type of a kernel-IR type. */
function wasmType(t: EType): binaryen.Type {
  return t === 'f32' ? binaryen.f32 : t === 'f64' ? binaryen.f64 : t === 'f32x4' ? binaryen.v128 : binaryen.i32;
}

export interface WasmOptions {
  /** Also print the module as WebAssembly text. */
  wat?: boolean;
  /** Fuse vector multiply-adds (relaxed SIMD). */
  fma?: boolean;
}

export function renderWasm(kernels: Kernel[], _ctx: RenderContext, { wat = false, fma = false }: WasmOptions = {}): WasmModule {
  const m = new binaryen.Module();
  m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128 | binaryen.Features.NontrappingFPToInt | binaryen.Features.Atomics | binaryen.Features.BulkMemory | binaryen.Features.SignExt | binaryen.Features.MutableGlobals | (fma ? binaryen.Features.RelaxedSIMD : 0));
  // Shared memories need a declared maximum; the host creates the memory with its own size.
  // The memory is declared, then turned into the import `env.memory`.
  m.setMemory(1, 65536, null, [], true, false, '0');
  m.addMemoryImport('0', 'env', 'memory', true);
  // This thread's scratch area (kir.ts Kernel.scratch): each thread's instance gets its own.
  m.addGlobalImport('scratch', 'env', 'scratch', binaryen.i32, false);
  for (const fn of IMPORTED) m.addFunctionImport(`Math.${fn}`, 'Math', fn, binaryen.f64, binaryen.f64);
  m.addFunctionImport('Math.pow', 'Math', 'pow', binaryen.createType([binaryen.f64, binaryen.f64]), binaryen.f64);
  addHelpers(m);
  for (const k of kernels) new KernelEmitter(m, k, fma).emit();
  if (!m.validate()) throw new Error('internal: the Wasm module does not validate');
  binaryen.setOptimizeLevel(2);
  binaryen.setShrinkLevel(0);
  m.optimize();
  const binary = m.emitBinary();
  const text = wat ? m.emitText() : '';
  m.dispose();
  return { binary, text };
}

/** erf (Abramowitz & Stegun 7.1.26) and the counter hash of dropout, in float64 as the
 *  reference computes them. */
function addHelpers(m: binaryen.Module): void {
  const c = (v: number) => m.f64.const(v);
  // exp(x) = 2ⁿ · e^r, n = round(x / ln 2), r = x − n·ln 2 (ln 2 in two parts, so r is exact
  // to f64), |r| ≤ ln2/2, e^r by its Taylor polynomial to r⁸ (remainder < 3e-10 relative).
  // x is clamped to [−200, 200] first: beyond, f32 results are 0 or ∞ anyway. Locals: 0 x,
  // 1 n, 2 r.
  {
    const x = () => m.local.get(0, binaryen.f64);
    const n = () => m.local.get(1, binaryen.f64);
    const r = () => m.local.get(2, binaryen.f64);
    const taylor = [1 / 40320, 1 / 5040, 1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1].reduce<Ref | undefined>((acc, k) => (acc === undefined ? c(k) : m.f64.add(m.f64.mul(acc, r()), c(k))), undefined)!;
    const twoToN = m.f64.reinterpret(m.i64.shl(m.i64.extend_s(m.i32.add(m.i32.trunc_s_sat.f64(n()), m.i32.const(1023))), (m.i64.const as unknown as (v: bigint) => Ref)(52n)));
    m.addFunction('exp64', binaryen.f64, binaryen.f64, [binaryen.f64, binaryen.f64], m.block(null, [
      m.local.set(0, m.f64.min(m.f64.max(x(), c(-200)), c(200))),
      m.local.set(1, m.f64.nearest(m.f64.mul(x(), c(Math.LOG2E)))),
      m.local.set(2, m.f64.sub(m.f64.sub(x(), m.f64.mul(n(), c(0.6931471803691238))), m.f64.mul(n(), c(1.9082149292705877e-10)))),
      m.f64.mul(taylor, twoToN),
    ], binaryen.f64));
  }
  m.addFunction('exp', binaryen.f32, binaryen.f32, [], m.f32.demote(m.call('exp64', [m.f64.promote(m.local.get(0, binaryen.f32))], binaryen.f64)));
  // tanh(x) = sign(x) · (1 − t) / (1 + t), t = e^(−2|x|); below |x| = 0.01, where 1 − t
  // would cancel, x − x³/3 + 2x⁵/15 (error < 1e-13 relative). Locals: 0 x, 1 x (f64), 2 t.
  {
    const x = () => m.local.get(1, binaryen.f64);
    const t = () => m.local.get(2, binaryen.f64);
    const x2 = () => m.f64.mul(x(), x());
    m.addFunction('tanh', binaryen.f32, binaryen.f32, [binaryen.f64, binaryen.f64], m.block(null, [
      m.local.set(1, m.f64.promote(m.local.get(0, binaryen.f32))),
      m.local.set(2, m.call('exp64', [m.f64.mul(c(-2), m.f64.abs(x()))], binaryen.f64)),
      m.f32.demote(m.select(
        m.f64.lt(m.f64.abs(x()), c(0.01)),
        m.f64.mul(x(), m.f64.add(c(1), m.f64.mul(x2(), m.f64.add(c(-1 / 3), m.f64.mul(x2(), c(2 / 15)))))),
        m.f64.copysign(m.f64.div(m.f64.sub(c(1), t()), m.f64.add(c(1), t())), x()),
      )),
    ], binaryen.f32));
  }
  addVectorHelpers(m);
  // erf(x) = sign(x)·(1 − poly(t)·t·exp(−a²)), a = |x|, t = 1 / (1 + 0.3275911 a);
  // locals: 0 x (f32), 1 x (f64), 2 a, 3 t, 4 erf(|x|).
  const t = () => m.local.get(3, binaryen.f64);
  const a = () => m.local.get(2, binaryen.f64);
  const r = () => m.local.get(4, binaryen.f64);
  const poly = [1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592].reduce<Ref | undefined>((acc, k) => (acc === undefined ? c(k) : m.f64.add(m.f64.mul(acc, t()), c(k))), undefined)!;
  m.addFunction('erf', binaryen.f32, binaryen.f32, [binaryen.f64, binaryen.f64, binaryen.f64, binaryen.f64], m.block(null, [
    m.local.set(1, m.f64.promote(m.local.get(0, binaryen.f32))),
    m.local.set(2, m.f64.abs(m.local.get(1, binaryen.f64))),
    m.local.set(3, m.f64.div(c(1), m.f64.add(c(1), m.f64.mul(c(0.3275911), a())))),
    m.local.set(4, m.f64.sub(c(1), m.f64.mul(m.f64.mul(poly, t()), m.call('exp64', [m.f64.neg(m.f64.mul(a(), a()))], binaryen.f64)))),
    // The sign as the prelude and the reference take it: −1 below zero, else +1 (also at −0).
    m.f32.demote(m.select(m.f64.lt(m.local.get(1, binaryen.f64), c(0)), m.f64.neg(r()), r())),
  ], binaryen.f32));
  // hash(seed, salt, index) → [0, 1): murmur-style finalizer of three mixed words; local 3 h.
  const i = (n: number) => m.local.get(n, binaryen.i32);
  const k = (v: number) => m.i32.const(v | 0);
  const h = () => m.local.get(3, binaryen.i32);
  const setH = (e: Ref) => m.local.set(3, e);
  m.addFunction('hash_uniform', binaryen.createType([binaryen.i32, binaryen.i32, binaryen.i32]), binaryen.f32, [binaryen.i32], m.block(null, [
    setH(m.i32.xor(m.i32.xor(m.i32.mul(m.i32.xor(i(0), k(0x9e3779b9)), k(0x85ebca6b)), m.i32.mul(m.i32.add(i(1), k(0x632be5ab)), k(0xc2b2ae35))), m.i32.mul(m.i32.add(i(2), k(0x27d4eb2f)), k(0x165667b1)))),
    setH(m.i32.xor(h(), m.i32.shr_u(h(), k(16)))),
    setH(m.i32.mul(h(), k(0x7feb352d))),
    setH(m.i32.xor(h(), m.i32.shr_u(h(), k(15)))),
    setH(m.i32.mul(h(), k(0x846ca68b))),
    setH(m.i32.xor(h(), m.i32.shr_u(h(), k(16)))),
    m.f32.demote(m.f64.mul(m.f64.convert_u.i32(h()), c(1 / 4294967296))),
  ], binaryen.f32));
}

/** exp, tanh and erf on f32x4, for vectorized loops and epilogues, in f32 arithmetic (the
 *  scalar functions above work in float64, which on vectors costs several times more: two
 *  f64x2 halves, and V8 expands f64x2 min/max and conversions into instruction sequences).
 *  exp: Cephes' expf — n = round(x·log₂e) by the 1.5·2²³ trick (which also gives n as an
 *  integer), r = x − n·ln 2 in two parts, e^r by a degree-7 polynomial, times 2ⁿ in two
 *  factors so that results near overflow and in the subnormal range scale correctly; x is
 *  clamped to [−104, 89] first (e^x is 0 or ∞ in f32 beyond), NaN passes. tanh: Cephes'
 *  tanhf — x + x·x²·P(x²) below |x| = 0.625, else ±(1 − 2 / (e^{2|x|} + 1)). Both stay
 *  within 2 ulp of the float64 result, rounded (tested in test/kernels.test.ts); being a
 *  different formula, a lane can differ from the scalar function by an ulp or two. */
function addVectorHelpers(m: binaryen.Module): void {
  const V = binaryen.v128;
  const F = (x: number) => m.f32x4.splat(m.f32.const(x));
  const I = (x: number) => m.i32x4.splat(m.i32.const(x));
  const get = (n: number) => m.local.get(n, V);
  const set = (n: number, e: Ref) => m.local.set(n, e);
  const horner = (coeffs: number[], z: () => Ref) => coeffs.reduce<Ref | undefined>((acc, k) => (acc === undefined ? F(k) : m.f32x4.add(m.f32x4.mul(acc, z()), F(k))), undefined)!;
  const MAGIC = 12582912; // 1.5 · 2²³: adding it rounds an f32 of magnitude < 2²² to an integer
  const MAGIC_BITS = 0x4b400000;
  const pow2 = (n: Ref) => m.i32x4.shl(m.i32x4.add(n, I(127)), m.i32.const(23));
  // exp4: locals 0 x, 1 t (x·log₂e + MAGIC), 2 n, 3 r, 4 nᵢ (integer n), 5 y.
  m.addFunction('exp4', V, V, [V, V, V, V, V], m.block(null, [
    set(0, m.f32x4.pmax(m.f32x4.pmin(get(0), F(89)), F(-104))),
    set(1, m.f32x4.add(m.f32x4.mul(get(0), F(Math.LOG2E)), F(MAGIC))),
    set(2, m.f32x4.sub(get(1), F(MAGIC))),
    set(4, m.i32x4.sub(get(1), I(MAGIC_BITS))),
    set(3, m.f32x4.sub(m.f32x4.sub(get(0), m.f32x4.mul(get(2), F(0.693359375))), m.f32x4.mul(get(2), F(-2.12194440e-4)))),
    set(5, m.f32x4.add(m.f32x4.add(m.f32x4.mul(m.f32x4.mul(horner([1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1], () => get(3)), get(3)), get(3)), get(3)), F(1))),
    // 2ⁿ = 2^(n >> 1) · 2^(n − (n >> 1)): each factor a normal f32 for n in [−150, 129].
    m.f32x4.mul(m.f32x4.mul(get(5), pow2(m.i32x4.shr_s(get(4), m.i32.const(1)))), pow2(m.i32x4.sub(get(4), m.i32x4.shr_s(get(4), m.i32.const(1))))),
  ], V));
  // erf4: locals 0 x, 1 |x|, 2 t, 3 x². Abramowitz & Stegun 7.1.26, the scalar erf's formula,
  // in f32: sign(x) · (1 − t·P(t)·e^{−x²}) with t = 1 / (1 + 0.3275911·|x|) — except below
  // |x| = 0.5, where 1 − (a number near 1) would cancel in f32: there erf's Taylor series,
  // x · (2/√π) · (1 − x²/3 + x⁴/10 − x⁶/42 + x⁸/216 − x¹⁰/1320), within 2e-8 of erf.
  const taylor = [-1 / 1320, 1 / 216, -1 / 42, 1 / 10, -1 / 3, 1].map((c) => c * (2 / Math.sqrt(Math.PI)));
  m.addFunction('erf4', V, V, [V, V, V], m.block(null, [
    set(1, m.f32x4.abs(get(0))),
    set(3, m.f32x4.mul(get(0), get(0))),
    set(2, m.f32x4.div(F(1), m.f32x4.add(F(1), m.f32x4.mul(F(0.3275911), get(1))))),
    m.v128.bitselect(
      m.f32x4.mul(get(0), horner(taylor, () => get(3))),
      m.v128.bitselect(
        get(0),
        m.f32x4.sub(F(1), m.f32x4.mul(m.f32x4.mul(horner([1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592], () => get(2)), get(2)), m.call('exp4', [m.f32x4.neg(get(3))], V))),
        I(-0x80000000),
      ),
      m.f32x4.lt(get(1), F(0.5)),
    ),
  ], V));
  // tanh4: locals 0 x, 1 |x|, 2 x².
  m.addFunction('tanh4', V, V, [V, V], m.block(null, [
    set(1, m.f32x4.abs(get(0))),
    set(2, m.f32x4.mul(get(0), get(0))),
    m.v128.bitselect(
      m.f32x4.add(m.f32x4.mul(m.f32x4.mul(horner([-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1], () => get(2)), get(2)), get(0)), get(0)),
      // copysign(1 − 2 / (e^{2|x|} + 1), x) as a bit select of the sign.
      m.v128.bitselect(get(0), m.f32x4.sub(F(1), m.f32x4.div(F(2), m.f32x4.add(m.call('exp4', [m.f32x4.add(get(1), get(1))], V), F(1)))), I(-0x80000000)),
      m.f32x4.lt(get(1), F(0.625)),
    ),
  ], V));
}

interface Local {
  index: number;
  t: KType;
}

class KernelEmitter {
  private readonly params = new Map<string, Local>();
  private readonly vars: binaryen.Type[] = [];
  private readonly names: string[] = [];
  private readonly taken = new Set<string>();
  private nParams = 0;
  private labels = 0;
  private readonly buffers: Map<string, ElemType>;
  /** Scratch areas by name: byte offset in this thread's scratch. */
  private readonly scratch = new Map<string, number>();

  constructor(
    private readonly m: binaryen.Module,
    private readonly k: Kernel,
    private readonly fma: boolean,
  ) {
    this.buffers = new Map(k.buffers.map((b) => [b.name, b.t]));
    let at = 0;
    for (const sc of k.scratch ?? []) {
      this.buffers.set(sc.name, 'f32');
      this.scratch.set(sc.name, at);
      at += Math.ceil(sc.elems / 4) * 16;
    }
    if (at > WASM_SCRATCH_BYTES) throw new Error(`internal: ${k.name} needs ${at} bytes of scratch, more than the ${WASM_SCRATCH_BYTES} a thread has`);
  }

  emit(): void {
    const { m, k } = this;
    const split = parallelSplit(k);
    const params: [string, KType][] = [...k.buffers.map((b) => [b.name, 'i32'] as [string, KType]), ...k.dims.map((d) => [d, 'i32'] as [string, KType]), ...(k.scalars ?? []).map((s) => [s, 'f32'] as [string, KType]), ...(split !== undefined ? ([['part', 'i32'], ['parts', 'i32']] as [string, KType][]) : [])];
    params.forEach(([name, t], index) => {
      this.params.set(name, { index, t });
      this.names.push(name);
      this.taken.add(name);
    });
    this.nParams = params.length;
    const body = this.block(split === undefined ? k.body : splitBody(k.body, split), new Map(split !== undefined ? [['part', this.params.get('part')!], ['parts', this.params.get('parts')!]] : []));
    const fn = m.addFunction(k.name, binaryen.createType(params.map(([, t]) => wasmType(t))), binaryen.none, this.vars, body);
    // binaryen.Function exists at run time; its typings place it inside Module.
    const names = (binaryen as unknown as { Function: { setLocalName(f: number, i: number, n: string): void } }).Function;
    this.names.forEach((name, index) => names.setLocalName(fn, index, name));
    m.addFunctionExport(k.name, k.name);
  }

  private newLocal(name: string, t: KType): Local {
    const index = this.nParams + this.vars.length;
    this.vars.push(wasmType(t));
    // Wasm local names must be unique in a function; an IR name declared in several scopes
    // gets a numeric suffix from its second declaration on.
    let unique = name;
    for (let n = 2; this.taken.has(unique); n++) unique = `${name}_${n}`;
    this.taken.add(unique);
    this.names.push(unique);
    return { index, t };
  }

  private block(stmts: KStmt[], outer: Map<string, Local>): Ref {
    const scope = new Map(outer);
    const out: Ref[] = [];
    for (const s of stmts) out.push(...this.stmt(s, scope));
    return this.m.block(null, out, binaryen.none);
  }

  private stmt(s: KStmt, scope: Map<string, Local>): Ref[] {
    const { m } = this;
    switch (s.k) {
      case 'for': {
        const iv = this.newLocal(s.v, 'i32');
        const end = this.newLocal(`${s.v}_end`, 'i32');
        const label = `${s.v}_${this.labels++}`;
        const get = () => m.local.get(iv.index, binaryen.i32);
        const inner = new Map(scope).set(s.v, iv);
        return [
          m.local.set(iv.index, this.expr(s.from, scope)),
          m.local.set(end.index, this.expr(s.to, scope)),
          m.block(`${label}_done`, [
            m.loop(`${label}_next`, m.block(null, [
              m.br(`${label}_done`, m.i32.ge_s(get(), m.local.get(end.index, binaryen.i32))),
              this.block(s.body, inner),
              m.local.set(iv.index, m.i32.add(get(), m.i32.const(s.step ?? 1))),
              m.br(`${label}_next`),
            ])),
          ]),
        ];
      }
      case 'let': {
        const l = this.newLocal(s.v, s.t);
        const value = this.expr(s.e, scope);
        scope.set(s.v, l);
        return [m.local.set(l.index, value)];
      }
      case 'set': {
        const l = scope.get(s.v)!;
        const cur = m.local.get(l.index, wasmType(l.t));
        const op = s.op ?? '=';
        if (op === '=') return [m.local.set(l.index, this.expr(s.e, scope))];
        return [m.local.set(l.index, op === '+' ? this.plus(l.t, cur, s.e, scope) : this.arith(op, l.t, cur, this.expr(s.e, scope)))];
      }
      case 'store': {
        const t = this.buffers.get(s.buf)!;
        const vt = this.typeOf(s.e, scope);
        const [off, at] = this.address(s.buf, s.idx, scope);
        let value = this.expr(s.e, scope);
        if (vt === 'f32x4') {
          if (s.accumulate) {
            const ptr = this.newLocal('ptr', 'i32');
            return [m.local.set(ptr.index, at), m.v128.store(off, 4, m.local.get(ptr.index, binaryen.i32), m.f32x4.add(m.v128.load(off, 4, m.local.get(ptr.index, binaryen.i32)), value))];
          }
          return [m.v128.store(off, 4, at, value)];
        }
        if (s.accumulate) {
          const ptr = this.newLocal('ptr', 'i32');
          const get = () => m.local.get(ptr.index, binaryen.i32);
          value = this.arith('+', t, t === 'f32' ? m.f32.load(off, 4, get()) : m.i32.load(off, 4, get()), value);
          return [m.local.set(ptr.index, at), t === 'f32' ? m.f32.store(off, 4, get(), value) : m.i32.store(off, 4, get(), value)];
        }
        return [t === 'f32' ? m.f32.store(off, 4, at, value) : m.i32.store(off, 4, at, value)];
      }
      case 'if':
        return [m.if(this.expr(s.c, scope), this.block(s.then, scope), s.else?.length ? this.block(s.else, scope) : undefined)];
      case 'comment':
        return [];
      case 'reduce':
        throw new Error(`internal: ${this.k.name}: a reduce reached the renderer (the wasm schedule lowers every one)`);
    }
  }

  /** left + right, where right is an IR expression: on f32x4 in the fma module, a product
   *  on the right becomes one fused multiply-add (relaxed SIMD: one rounding where the CPU
   *  has FMA). */
  private plus(t: EType, left: Ref, right: KExpr, scope: Map<string, Local>): Ref {
    if (!(this.fma && t === 'f32x4' && right.k === 'bin' && right.op === '*')) return this.arith('+', t, left, this.expr(right, scope));
    // binaryen.js has the op but no typed wrapper for it.
    const api = binaryen as unknown as { _BinaryenSIMDTernary(m: number, op: number, a: Ref, b: Ref, c: Ref): Ref; RelaxedMaddVecF32x4: number };
    return api._BinaryenSIMDTernary((this.m as unknown as { ptr: number }).ptr, api.RelaxedMaddVecF32x4, this.expr(right.a, scope), this.expr(right.b, scope), left);
  }

  /** Byte address of element `idx` of a buffer, as a dynamic part and a constant offset for
   *  the access's offset field (folded into the x64 addressing mode; as an i32 add, V8 spends
   *  an instruction per access on it). An index `e + c` (c a constant, 0 < 4c ≤ LOW_MEMORY)
   *  becomes `base + 4e` with offset 4c: every in-bounds access has base + 4(e + c) ≥
   *  LOW_MEMORY (the runtime places no buffer below it), so base + 4e cannot wrap below zero
   *  and the sum is the same address. */
  private address(buf: string, idx: KExpr, scope: Map<string, Local>): [number, Ref] {
    const { m } = this;
    const inScratch = this.scratch.get(buf);
    const base = inScratch === undefined ? m.local.get(this.params.get(buf)!.index, binaryen.i32) : m.i32.add(m.global.get('scratch', binaryen.i32), m.i32.const(inScratch));
    let offset = 0;
    if (idx.k === 'bin' && idx.op === '+' && idx.b.k === 'num' && idx.b.t === 'i32' && idx.b.v > 0 && 4 * idx.b.v <= LOW_MEMORY) {
      offset = 4 * idx.b.v;
      idx = idx.a;
    }
    return [offset, m.i32.add(base, m.i32.shl(this.expr(idx, scope), m.i32.const(2)))];
  }

  /** The IR's own typing (kir.ts typeOf), over this function's locals and parameters. */
  private typeOf(e: KExpr, scope: Map<string, Local>): EType {
    return typeOf(e, { buffers: this.buffers, vars: { get: (name) => (scope.get(name) ?? this.params.get(name))?.t } });
  }

  private arith(op: string, t: EType, a: Ref, b: Ref): Ref {
    const { m } = this;
    if (t === 'f32x4') {
      // Comparisons give a lane mask (all ones where true), which && and || combine bitwise.
      const f = { '+': m.f32x4.add, '-': m.f32x4.sub, '*': m.f32x4.mul, '/': m.f32x4.div, '<': m.f32x4.lt, '<=': m.f32x4.le, '>': m.f32x4.gt, '>=': m.f32x4.ge, '==': m.f32x4.eq, '!=': m.f32x4.ne }[op];
      if (!f) throw new Error(`internal: ${op} on f32x4`);
      return f(a, b);
    }
    if (t === 'bool4') {
      const f = { '&&': m.v128.and, '||': m.v128.or }[op];
      if (!f) throw new Error(`internal: ${op} on bool4`);
      return f(a, b);
    }
    if (t === 'f64') {
      const f = { '+': m.f64.add, '-': m.f64.sub, '*': m.f64.mul, '/': m.f64.div, '<': m.f64.lt, '<=': m.f64.le, '>': m.f64.gt, '>=': m.f64.ge, '==': m.f64.eq, '!=': m.f64.ne }[op];
      if (!f) throw new Error(`internal: ${op} on f64`);
      return f(a, b);
    }
    if (t === 'f32') {
      const f = { '+': m.f32.add, '-': m.f32.sub, '*': m.f32.mul, '/': m.f32.div, '<': m.f32.lt, '<=': m.f32.le, '>': m.f32.gt, '>=': m.f32.ge, '==': m.f32.eq, '!=': m.f32.ne }[op];
      if (!f) throw new Error(`internal: ${op} on f32`);
      return f(a, b);
    }
    const f = { '+': m.i32.add, '-': m.i32.sub, '*': m.i32.mul, '%': m.i32.rem_s, '<': m.i32.lt_s, '<=': m.i32.le_s, '>': m.i32.gt_s, '>=': m.i32.ge_s, '==': m.i32.eq, '!=': m.i32.ne, '&&': m.i32.and, '||': m.i32.or }[op];
    if (!f) throw new Error(`internal: ${op} on ${t}`);
    return f(a, b);
  }

  private expr(e: KExpr, scope: Map<string, Local>): Ref {
    const { m } = this;
    const f64 = (x: KExpr) => m.f64.promote(this.expr(x, scope));
    switch (e.k) {
      case 'num':
        return e.t === 'f32' ? m.f32.const(e.v) : e.t === 'f64' ? m.f64.const(e.v) : m.i32.const(e.v);
      case 'var':
      case 'dim':
      case 'arg': {
        const l = (e.k === 'var' ? scope.get(e.name) : undefined) ?? this.params.get(e.name);
        if (!l) throw new Error(`internal: ${this.k.name} uses unknown ${e.k} ${e.name}`);
        return m.local.get(l.index, wasmType(l.t));
      }
      case 'load': {
        const [off, at] = this.address(e.buf, e.idx, scope);
        return this.buffers.get(e.buf) === 'f32' ? m.f32.load(off, 4, at) : m.i32.load(off, 4, at);
      }
      case 'vload': {
        const [off, at] = this.address(e.buf, e.idx, scope);
        return m.v128.load(off, 4, at);
      }
      case 'splat':
        // A broadcast load is one instruction (vbroadcastss from memory), not a load and a shuffle.
        if (e.a.k === 'load' && this.buffers.get(e.a.buf) === 'f32') {
          const [off, at] = this.address(e.a.buf, e.a.idx, scope);
          return m.v128.load32_splat(off, 4, at);
        }
        return m.f32x4.splat(this.expr(e.a, scope));
      case 'lane':
        return m.f32x4.extract_lane(this.expr(e.a, scope), e.lane);
      case 'neg': {
        const t = this.typeOf(e.a, scope);
        if (t === 'f64') return m.f64.neg(this.expr(e.a, scope));
        return t === 'f32' ? m.f32.neg(this.expr(e.a, scope)) : t === 'f32x4' ? m.f32x4.neg(this.expr(e.a, scope)) : m.i32.sub(m.i32.const(0), this.expr(e.a, scope));
      }
      case 'cast': {
        const from = this.typeOf(e.a, scope);
        const a = this.expr(e.a, scope);
        if (e.t === 'f32') return from === 'i32' ? m.f32.convert_s.i32(a) : m.f32.demote(a);
        if (e.t === 'f64') return from === 'i32' ? m.f64.convert_s.i32(a) : m.f64.promote(a);
        return from === 'f64' ? m.i32.trunc_s_sat.f64(a) : m.i32.trunc_s_sat.f32(a);
      }
      case 'select':
        // On vectors, a lane mask picks lane by lane (bitselect takes a's bits where the mask is set).
        if (this.typeOf(e.c, scope) === 'bool4') return m.v128.bitselect(this.expr(e.a, scope), this.expr(e.b, scope), this.expr(e.c, scope));
        return m.select(this.expr(e.c, scope), this.expr(e.a, scope), this.expr(e.b, scope));
      case 'bin':
        if (e.op === '+') {
          const t = this.typeOf(e, scope);
          // A product on the left goes right, where plus() fuses it (only then: the order of
          // the operands stays as written otherwise).
          const swap = this.fma && t === 'f32x4' && e.a.k === 'bin' && e.a.op === '*';
          return swap ? this.plus(t, this.expr(e.b, scope), e.a, scope) : this.plus(t, this.expr(e.a, scope), e.b, scope);
        }
        return this.arith(e.op, this.typeOf(e.a, scope), this.expr(e.a, scope), this.expr(e.b, scope));
      case 'call': {
        const t = this.typeOf(e.args[0], scope);
        const args = e.args.map((x) => this.expr(x, scope));
        if (t === 'f32x4') {
          if (e.fn === 'exp' || e.fn === 'tanh' || e.fn === 'erf') return m.call(`${e.fn}4`, args, binaryen.v128);
          if (e.fn === 'sqrt') return m.f32x4.sqrt(args[0]);
          if (e.fn === 'max') return m.f32x4.max(args[0], args[1]);
          if (e.fn === 'min') return m.f32x4.min(args[0], args[1]);
          throw new Error(`internal: ${e.fn} on f32x4`);
        }
        switch (e.fn) {
          case 'exp':
          case 'tanh':
            return m.call(e.fn, args, binaryen.f32);
          case 'log':
          case 'sin':
          case 'cos':
            return m.f32.demote(m.call(`Math.${e.fn}`, [f64(e.args[0])], binaryen.f64));
          case 'pow':
            return m.f32.demote(m.call('Math.pow', [f64(e.args[0]), f64(e.args[1])], binaryen.f64));
          case 'sqrt':
            return t === 'f64' ? m.f64.sqrt(args[0]) : m.f32.sqrt(args[0]);
          case 'floor':
            return m.f32.floor(args[0]);
          case 'erf':
            return m.call('erf', args, binaryen.f32);
          case 'hash_uniform':
            return m.call('hash_uniform', args, binaryen.f32);
          case 'idiv':
            return m.i32.div_s(args[0], args[1]);
          case 'abs':
            return t === 'f32' ? m.f32.abs(args[0]) : this.intSelect(args[0], (x) => m.i32.ge_s(x, m.i32.const(0)), (x) => m.i32.sub(m.i32.const(0), x));
          case 'max':
          case 'min':
            if (t === 'f32') return e.fn === 'max' ? m.f32.max(args[0], args[1]) : m.f32.min(args[0], args[1]);
            return this.minmax(e.fn, args[0], args[1]);
        }
      }
    }
  }

  /** |x| of an i32 through a temporary (x is evaluated once). */
  private intSelect(x: Ref, keep: (x: Ref) => Ref, other: (x: Ref) => Ref): Ref {
    const { m } = this;
    const tmp = this.newLocal('tmp', 'i32');
    const get = () => m.local.get(tmp.index, binaryen.i32);
    return m.block(null, [m.local.set(tmp.index, x), m.select(keep(get()), get(), other(get()))], binaryen.i32);
  }

  private minmax(fn: 'max' | 'min', a: Ref, b: Ref): Ref {
    const { m } = this;
    const x = this.newLocal('tmp', 'i32');
    const y = this.newLocal('tmp', 'i32');
    const gx = () => m.local.get(x.index, binaryen.i32);
    const gy = () => m.local.get(y.index, binaryen.i32);
    return m.block(null, [m.local.set(x.index, a), m.local.set(y.index, b), m.select(fn === 'max' ? m.i32.gt_s(gx(), gy()) : m.i32.lt_s(gx(), gy()), gx(), gy())], binaryen.i32);
  }
}
