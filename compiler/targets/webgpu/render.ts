// The WGSL renderer: kernel IR → one compute shader per kernel, written into one reviewable
// file, kernels.wgsl. Each kernel section starts with a marker line
//
//     // ==== kernel <name> {"mode": …, "invocations": …, …}
//
// whose JSON says how the runtime dispatches it (runtime/webgpu/); the prelude at the top
// (erf, tanh, the dropout hash) is prepended to every section to make its shader module.
//
// How a kernel maps to invocations (its `mode`):
// - grid: a parallel loop nest (kir.ts parallelNest) becomes one invocation per
//   point of their index space, 64 to a workgroup; the rest of the innermost body, `reduce`s
//   included (as accumulator loops, in index order), is that invocation's work.
// - tree: a kernel without parallel loops whose reductions are at its top level (the global
//   gradient norm, a sum over everything) runs as one workgroup of 256 invocations: each
//   reduction is strided partial sums, combined in a tree in workgroup memory; the kernel's
//   other statements run in invocation 0.
// - single: anything else runs as one invocation (correct, and slow only for kernels that
//   have no parallel loop, which a later schedule will give one).
//
// f32 is IEEE float32 here as on every target. WGSL has no float64: the one f64 accumulator
// (the gradient norm's sum of squares) is f32 here, summed in short chains (runs of 64, then
// a 256-way tree; see treeReduce), which keeps it within a few 1e-7 of the float64 sum for
// millions of elements. (Compensated summation would do better on paper, but GPU shader
// compilers may simplify (a + b) − a to b — Mesa's does — and WGSL cannot forbid it.) WGSL has no infinity literal (and lets implementations assume no infinities), so
// −∞, the identity of max, is written as −FLT_MAX: max(−FLT_MAX, x) = x for every finite x.
import { escapeInvisible } from '../../../common/text.ts';
import { KERNEL_MARKER, PRELUDE_MARKER, TEXTURE_ROWS, TEXTURE_WIDTH, type HostExpr, type WgslDispatch, type WgslPhase } from '../../../common/wgsl.ts';
import { spanAt, type SourceMap } from '../../../common/source.ts';
import type { RenderContext } from '../target.ts';
import { BIN_PRECEDENCE, declared, parallelNest, parallelSplit, typeOf, walkKernel, type ElemType, type KExpr, type Kernel, type KStmt, type KType, type ScalarType, type TypeEnv } from '../../codegen/kir.ts';

/** Invocations per workgroup of a grid kernel, and of the one workgroup of a tree kernel. */
export const GRID_WORKGROUP = 64;
export const TREE_WORKGROUP = 256;
/** Elements a tree kernel's invocation sums apart before adding them to its partial sum. */
export const TREE_CHUNK = 64;

const FLT_MAX = 3.4028234663852886e38;


/** Helpers kernels may call (each section's module gets them). */
const PRELUDE = `${PRELUDE_MARKER}: helpers every kernel module below starts with.

// erf, Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7) in f32; below |x| = 0.5,
// where 1 − (a number near 1) would cancel in f32, erf's Taylor series to x¹¹ instead.
fn tfm_erf(x: f32) -> f32 {
  let a = abs(x);
  let x2 = x * x;
  if (a < 0.5f) {
    return x * ${horner([-1 / 1320, 1 / 216, -1 / 42, 1 / 10, -1 / 3, 1].map((c) => c * (2 / Math.sqrt(Math.PI))), 'x2')};
  }
  let t = 1.0f / (1.0f + 0.3275911f * a);
  let y = 1.0f - ${horner([1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592], 't')} * t * exp(-x2);
  return select(y, -y, x < 0.0f);
}

// tanh, Cephes' tanhf: x + x·x²·P(x²) below |x| = 0.625, else ±(1 − 2 / (e^{2|x|} + 1)) with
// |x| clamped to 10 (tanh is 1 in f32 beyond), so that e^{2|x|} never overflows.
fn tfm_tanh(x: f32) -> f32 {
  let a = abs(x);
  let x2 = x * x;
  if (a < 0.625f) {
    return x + x * x2 * ${horner([-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1], 'x2')};
  }
  let y = 1.0f - 2.0f / (exp(2.0f * min(a, 10.0f)) + 1.0f);
  return select(y, -y, x < 0.0f);
}

// Where texel t of a buffer read through a texture is: x, y, layer (common/wgsl.ts).
fn tfm_texel(t: i32) -> vec3i {
  let row = t >> ${Math.log2(TEXTURE_WIDTH)}u;
  return vec3i(t & ${TEXTURE_WIDTH - 1}, row & ${TEXTURE_ROWS - 1}, row >> ${Math.log2(TEXTURE_ROWS)}u);
}

// Texel t of a buffer read through a texture.
fn tfm_fetch(x: texture_2d_array<f32>, t: i32) -> vec4<f32> {
  let at = tfm_texel(t);
  return textureLoad(x, at.xy, at.z, 0);
}

// The counter hash of dropout: a uniform in [0, 1) from (seed, salt, index), the same
// integer steps as the CPU targets (u32 arithmetic wraps as theirs does).
fn tfm_hash_uniform(seed: i32, salt: i32, index: i32) -> f32 {
  var h = ((u32(seed) ^ 0x9e3779b9u) * 0x85ebca6bu) ^ ((u32(salt) + 0x632be5abu) * 0xc2b2ae35u) ^ ((u32(index) + 0x27d4eb2fu) * 0x165667b1u);
  h = h ^ (h >> 16u);
  h = h * 0x7feb352du;
  h = h ^ (h >> 15u);
  h = h * 0x846ca68bu;
  h = h ^ (h >> 16u);
  return f32(h) * 2.3283064365386963e-10f;
}
`;

function horner(coeffs: number[], z: string): string {
  return coeffs.slice(1).reduce((acc, c) => `(${acc} * ${z} + ${f32Literal(c)})`, f32Literal(coeffs[0]));
}

/** WGSL keywords, reserved words and predeclared names a kernel's identifiers must not take
 *  (the renderer appends `_` to one that would). */
const RESERVED = new Set(
  (
    'alias break case const const_assert continue continuing default diagnostic discard else enable false fn for if let loop override requires return struct switch true var while ' +
    'NULL Self abstract active alignas alignof as asm asm_fragment async attribute auto await become binding_array cast catch class co_await co_return co_yield coherent column_major common compile compile_fragment concept const_cast consteval constexpr constinit crate debugger decltype delete demote demote_to_helper do dynamic_cast enum explicit export extends extern external fallthrough filter final finally friend from fxgroup get goto groupshared highp impl implements import inline instanceof interface layout lowp macro macro_rules match mediump meta mod module move mut mutable namespace new nil noexcept noinline nointerpolation non_coherent noncoherent noperspective null nullptr of operator package packoffset partition pass patch pixelfragment precise precision premerge priv protected pub public readonly ref regardless register reinterpret_cast require resource restrict self set shared sizeof smooth snorm static static_assert static_cast std subroutine super target template this thread_local throw trait try type typedef typeid typename typeof union unless unorm unsafe unsized use using varying virtual volatile wgsl where with writeonly yield ' +
    'bool f16 f32 i32 u32 vec2 vec3 vec4 mat2x2 mat3x3 mat4x4 array atomic ptr sampler read write read_write function private workgroup uniform storage ' +
    'abs max min exp log sqrt floor sin cos pow select main'
  ).split(' '),
);

/** A kernel's name for something, as a WGSL identifier. */
function ident(name: string): string {
  if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) throw new Error(`internal: \`${name}\` is not a kernel identifier`);
  return RESERVED.has(name) || name.startsWith('tfm_') ? `${name}_` : name;
}

/** Text that may come from a user (a spec line, a path) inside a WGSL line comment: every
 *  line terminator and invisible character written as \u{XXXX}, so it cannot end the comment. */
function commentText(s: string): string {
  return escapeInvisible(s, (code) => `\\u{${code}}`);
}

export function renderWgsl(kernels: Kernel[], ctx: RenderContext): string {
  const out = [...ctx.header.map((l) => `// ${commentText(l)}`), '// WGSL compute shaders, one per kernel (the runtime builds each module from the prelude and its section).', '', PRELUDE];
  for (const k of kernels) out.push(renderKernel(k, ctx.sources));
  return out.join('\n');
}

type For = KStmt & { k: 'for' };

/** One dispatch of a kernel: its statements (top-level declarations first) and, for a grid,
 *  the parallel loops its invocations enumerate (the outermost of them is among `stmts`). */
interface Phase extends WgslPhase {
  stmts: KStmt[];
  domain: For[];
  /** A grid phase's statements after its nest, run by invocation 0 alone. */
  after?: KStmt[];
}

/** How a kernel is dispatched: its phases, in order. A top-level parallel loop whose bounds
 *  the host can evaluate is a grid phase; the statements between such loops run as a single
 *  invocation; a kernel with no such loop but with top-level reductions is one tree phase.
 *  Each phase recomputes the top-level declarations before it, so a kernel splits into
 *  several phases only when those are constants of the call (no assignments at the top
 *  level, no loads of what the kernel writes). */
export function phasesOf(k: Kernel): Phase[] {
  const whole = (mode: 'tree' | 'single'): Phase[] => [{ entry: 'main', mode, invocations: mode === 'tree' ? TREE_WORKGROUP : 1, workgroup: mode === 'tree' ? TREE_WORKGROUP : 1, stmts: k.body, domain: [] }];
  const grids = k.body.filter((s): s is For => s.k === 'for' && !!s.parallel && domainFrom(s).length > 0);
  if (!grids.length) return whole(treeable(k) ? 'tree' : 'single');
  const written = new Set(k.buffers.filter((b) => b.access !== 'read').map((b) => b.name));
  const top = k.body.filter((s) => s.k === 'let' || s.k === 'set' || s.k === 'reduce');
  let unsafe = false;
  walkKernel(top, { expr: (x) => (unsafe ||= x.k === 'load' && written.has(x.buf)) });
  unsafe ||= top.some((s) => s.k === 'set' || (s.k === 'let' && s.mutable));
  const phases: Phase[] = [];
  const declared: KStmt[] = [];
  let pending: KStmt[] = [];
  const flush = () => {
    if (pending.some((s) => s.k !== 'let' && s.k !== 'comment' && s.k !== 'reduce')) phases.push({ entry: '', mode: 'single', invocations: 1, workgroup: 1, stmts: pending, domain: [] });
    pending = [];
  };
  for (const s of k.body) {
    if (grids.includes(s as For)) {
      flush();
      phases.push(gridPhase(s as For, [...declared, s]));
    } else {
      if (!pending.length) pending = [...declared];
      pending.push(s);
      // A top-level reduction declares a constant too: each phase after it recomputes it.
      if (s.k === 'let' || s.k === 'comment' || s.k === 'reduce') declared.push(s);
    }
  }
  flush();
  if (phases.length > 1 && unsafe) {
    // The statements around the first nest cannot run as phases of their own (they assign
    // locals the nest reads): every invocation computes what comes before it, as a thread
    // does on the CPU (parallelSplit: those statements store nothing), and invocation 0
    // runs what comes after (which reads nothing the kernel writes).
    const at = parallelSplit(k);
    if (at === undefined || !domainFrom(k.body[at] as For).length) return whole('single');
    return [{ ...gridPhase(k.body[at] as For, k.body.slice(0, at + 1)), entry: 'main', after: k.body.slice(at + 1) }];
  }
  phases.forEach((ph, n) => (ph.entry = phases.length === 1 ? 'main' : `phase${n}`));
  return phases;
}

/** The buffers of `k` read through textures: those its schedule asks for (Kernel.textures)
 *  that it only ever reads four aligned floats at a time (a texel; a float or an unaligned
 *  four would cost a whole texel's fetch each, slower than a storage load on lavapipe). */
export function texturesOf(k: Kernel, aligned = alignedVectors(k)): Set<string> {
  const wanted = new Set((k.textures ?? []).filter((b) => k.buffers.some((x) => x.name === b && x.access === 'read' && x.t === 'f32')));
  walkKernel(k.body, { expr: (x) => void ((x.k === 'load' || (x.k === 'vload' && !aligned.loads.has(x))) && wanted.delete(x.buf)) });
  return wanted;
}

/** How the runtime binds and dispatches a kernel (the JSON of its marker line). */
export function dispatchOf(k: Kernel, aligned = alignedVectors(k)): WgslDispatch {
  const tex = texturesOf(k, aligned);
  const buffers = k.buffers.map((b) => ({ name: b.name, t: b.t, access: b.access, ...(tex.has(b.name) ? { texture: true as const } : {}) }));
  const phases = phasesOf(k).map(({ entry, mode, invocations, workgroup }) => ({ entry, mode, invocations, workgroup }));
  return { buffers, dims: k.dims, scalars: k.scalars ?? [], phases };
}

/** A grid phase over the parallel nest from `top`: one invocation per point of it. */
function gridPhase(top: For, stmts: KStmt[]): Phase {
  const domain = domainFrom(top);
  const invocations = domain.map((l) => hostExpr(extent(l))!).reduce<HostExpr>((acc, x) => (acc === 1 ? x : ['*', acc, x]), 1);
  return { entry: '', mode: 'grid', invocations, workgroup: GRID_WORKGROUP, stmts, domain };
}

/** The parallel nest from `top` (kir.ts parallelNest) down to the first loop whose extent
 *  the host cannot evaluate (bounds over dims and constants only). */
function domainFrom(top: For): For[] {
  const nest = parallelNest(top);
  const stop = nest.findIndex((l) => hostExpr(extent(l)) === undefined);
  return stop < 0 ? nest : nest.slice(0, stop);
}

/** How many iterations a loop runs: the host evaluates it to size a dispatch, the shader to
 *  bound its invocations. */
function extent(l: For): KExpr {
  const span: KExpr = l.from.k === 'num' && l.from.v === 0 ? l.to : { k: 'bin', op: '-', a: l.to, b: l.from };
  const step = l.step ?? 1;
  return step === 1 ? span : { k: 'call', fn: 'idiv', args: [{ k: 'bin', op: '+', a: span, b: { k: 'num', v: step - 1, t: 'i32' } }, { k: 'num', v: step, t: 'i32' }] };
}

function hostExpr(e: KExpr): HostExpr | undefined {
  if (e.k === 'num' && e.t === 'i32') return e.v;
  if (e.k === 'dim') return e.name;
  if (e.k === 'bin' && (e.op === '+' || e.op === '-' || e.op === '*')) {
    const [a, b] = [hostExpr(e.a), hostExpr(e.b)];
    return a === undefined || b === undefined ? undefined : [e.op, a, b];
  }
  if (e.k === 'call' && (e.fn === 'idiv' || e.fn === 'max' || e.fn === 'min')) {
    const [a, b] = [hostExpr(e.args[0]), hostExpr(e.args[1])];
    return a === undefined || b === undefined ? undefined : [e.fn, a, b];
  }
  return undefined;
}

/** A kernel whose top level is declarations, reductions and statements that assign no local
 *  declared outside them (those run in invocation 0 alone, so no other invocation may need
 *  what they assign). */
function treeable(k: Kernel): boolean {
  if (!k.body.some((s) => s.k === 'reduce')) return false;
  return k.body.every((s) => {
    if (s.k === 'let' || s.k === 'reduce' || s.k === 'comment' || s.k === 'store') return !(s.k === 'let' && s.mutable);
    if (s.k === 'set') return false;
    const own = declared([s]);
    let ok = true;
    const visit = (x: KStmt) => {
      if (x.k === 'set' && !own.has(x.v)) ok = false;
      if (x.k === 'for') x.body.forEach(visit);
      if (x.k === 'if') (x.then.forEach(visit), x.else?.forEach(visit));
    };
    visit(s);
    return ok;
  });
}

/** The vector loads and stores of `k` whose index is a multiple of 4 for every value of the
 *  names in it, and the buffers they access: a sum of such terms, where a product is one when
 *  a factor is, a constant when 4 divides it, the min or max of such terms, a local when its
 *  value is one, and a loop variable when it starts at one and steps by a multiple of 4.
 *  (Every buffer starts at a multiple of 16 bytes: the runtime binds them at the device's
 *  storage-offset alignment.) */
export function alignedVectors(k: Kernel): { loads: Set<KExpr>; stores: Set<KStmt>; buffers: Set<string> } {
  const loads = new Set<KExpr>();
  const stores = new Set<KStmt>();
  const buffers = new Set<string>();
  const mult4 = (e: KExpr, facts: Map<string, boolean>): boolean => {
    switch (e.k) {
      case 'num':
        return e.t === 'i32' && e.v % 4 === 0;
      case 'var':
        return facts.get(e.name) === true;
      case 'bin':
        if (e.op === '+' || e.op === '-') return mult4(e.a, facts) && mult4(e.b, facts);
        if (e.op === '*') return mult4(e.a, facts) || mult4(e.b, facts);
        return false;
      case 'call':
        return (e.fn === 'min' || e.fn === 'max') && e.args.every((x) => mult4(x, facts));
      default:
        return false;
    }
  };
  const visitExpr = (e: KExpr, facts: Map<string, boolean>) =>
    walkKernel([{ k: 'let', v: '', t: 'f32', e }], {
      expr: (x) => {
        if (x.k === 'vload' && mult4(x.idx, facts)) (loads.add(x), buffers.add(x.buf));
      },
    });
  const block = (stmts: KStmt[], outer: Map<string, boolean>, vectors: Set<string>) => {
    const facts = new Map(outer);
    const vecs = new Set(vectors);
    const isVector = (e: KExpr): boolean => {
      let found = false;
      walkKernel([{ k: 'let', v: '', t: 'f32', e }], { expr: (x) => (found ||= x.k === 'vload' || x.k === 'splat' || (x.k === 'var' && vecs.has(x.name))) });
      // A lane of a vector is a scalar: only a whole-vector expression counts.
      return found && e.k !== 'lane';
    };
    for (const s of stmts) {
      switch (s.k) {
        case 'let':
          visitExpr(s.e, facts);
          facts.set(s.v, !s.mutable && s.t === 'i32' && mult4(s.e, facts));
          if (s.t === 'f32x4') vecs.add(s.v);
          else vecs.delete(s.v);
          break;
        case 'set':
          visitExpr(s.e, facts);
          facts.set(s.v, false);
          break;
        case 'store':
          visitExpr(s.e, facts);
          if (isVector(s.e) && mult4(s.idx, facts)) (stores.add(s), buffers.add(s.buf));
          break;
        case 'for':
          block(s.body, new Map(facts).set(s.v, mult4(s.from, facts) && (s.step ?? 1) % 4 === 0), vecs);
          break;
        case 'if':
          visitExpr(s.c, facts);
          block(s.then, facts, vecs);
          if (s.else) block(s.else, facts, vecs);
          break;
        case 'reduce':
          block(s.body, new Map(facts).set(s.idx, false), vecs);
          visitExpr(s.e, new Map(facts).set(s.idx, false));
          facts.set(s.v, false);
          break;
        default:
          break;
      }
    }
  };
  block(k.body, new Map(), new Set());
  return { loads, stores, buffers };
}

/** The vec4 index of an aligned element index. */
function quarter(text: string, idx: KExpr): string {
  return idx.k === 'num' ? String(idx.v / 4) : `(${text}) / 4`;
}

/** idx + c, folded when idx is a number or ends in one. */
function offset(idx: KExpr, c: number): KExpr {
  if (c === 0) return idx;
  if (idx.k === 'num') return { ...idx, v: idx.v + c };
  if (idx.k === 'bin' && idx.op === '+' && idx.b.k === 'num') return { ...idx, b: { ...idx.b, v: idx.b.v + c } };
  return { k: 'bin', op: '+', a: idx, b: { k: 'num', v: c, t: 'i32' } };
}

const WGSL_TYPE: Record<KType, string> = { f32: 'f32', f64: 'f32', i32: 'i32', f32x4: 'vec4<f32>' };

/** One kernel's section of kernels.wgsl: its marker, comments, bindings and entry points. */
export function renderKernel(k: Kernel, sources?: SourceMap): string {
  const phases = phasesOf(k);
  const aligned = alignedVectors(k);
  const lines: string[] = [`${KERNEL_MARKER}${k.name} ${JSON.stringify(dispatchOf(k, aligned))}`];
  for (const l of k.doc.split('\n')) lines.push(`// ${commentText(l)}`);
  const at = spanAt(k.span, sources);
  if (at) lines.push(`// From ${commentText(at)}.`);
  if (phases.length > 1) lines.push(`// ${phases.length} dispatches in order: ${phases.map((p) => `${p.entry} (${p.mode === 'grid' ? `one invocation per point of ${p.domain.map((l) => l.v).join(' × ')}` : 'one invocation'})`).join(', then ')}.`);
  const uniforms = [...k.dims.map((d) => `${ident(d)}: i32`), ...(k.scalars ?? []).map((s) => `${ident(s)}: f32`)];
  if (uniforms.length) lines.push(`struct Args { ${uniforms.join(', ')} }`);
  // A read-only buffer with aligned vector loads, and a private row with aligned vector loads
  // or stores, is an array of vec4<f32> (one load or store for four floats); its scalar
  // accesses pick a component.
  const vec4 = new Set([...k.buffers.filter((b) => b.access === 'read' && b.t === 'f32').map((b) => b.name), ...(k.scratch ?? []).map((x) => x.name)].filter((n) => aligned.buffers.has(n)));
  // An operand of a tiled contraction is read through a texture (Kernel.textures): a GPU's
  // texture path, and on lavapipe one branch-free 16-byte load per lane instead of a loop over
  // the lanes with two branches per float.
  const textures = texturesOf(k, aligned);
  k.buffers.forEach((b, n) => lines.push(textures.has(b.name) ? `@group(0) @binding(${n}) var ${ident(b.name)}: texture_2d_array<f32>;` : `@group(0) @binding(${n}) var<storage, ${b.access === 'read' ? 'read' : 'read_write'}> ${ident(b.name)}: array<${vec4.has(b.name) ? 'vec4<f32>' : b.t}>;`));
  if (uniforms.length) lines.push(`@group(0) @binding(${k.buffers.length}) var<uniform> tfm_args: Args;`);
  // Scratch (kir.ts Kernel.scratch) is private to each invocation here: a function-scope array.
  const buffers = new Map([...k.buffers.map((b) => [b.name, b.t] as [string, ElemType]), ...(k.scratch ?? []).map((x) => [x.name, 'f32'] as [string, ElemType])]);
  const privateArrays = (k.scratch ?? []).map((x) => (vec4.has(x.name) ? `var ${ident(x.name)}: array<vec4<f32>, ${Math.ceil(x.elems / 4)}>;` : `var ${ident(x.name)}: array<f32, ${x.elems}>;`));
  for (const ph of phases) {
    const r = new Renderer({ buffers, vars: new Map<string, KType>() }, privateArrays, { loads: aligned.loads, stores: aligned.stores, vec4, textures });
    if (ph.mode === 'grid') renderGrid(r, ph, lines);
    else if (ph.mode === 'tree') renderTree(r, ph, lines);
    else {
      lines.push('@compute @workgroup_size(1)');
      lines.push(`fn ${ph.entry}() {`);
      r.depth = 1;
      r.prologue.forEach((l) => r.line(l));
      ph.stmts.forEach((s) => r.stmt(s));
    }
    lines.push(...r.out, '}');
  }
  lines.push('');
  return lines.join('\n');
}

/** A grid phase: the invocation's point of the index space, then the innermost body. */
function renderGrid(r: Renderer, ph: Phase, lines: string[]): void {
  const domain = ph.domain;
  lines.push(`@compute @workgroup_size(${GRID_WORKGROUP})`);
  lines.push(`fn ${ph.entry}(@builtin(global_invocation_id) tfm_id: vec3u, @builtin(num_workgroups) tfm_groups: vec3u) {`);
  r.depth = 1;
  r.prologue.forEach((l) => r.line(l));
  r.line(`let tfm_gid = i32(tfm_id.x + tfm_id.y * tfm_groups.x * ${GRID_WORKGROUP}u);`);
  ph.stmts.filter((s) => s !== domain[0]).forEach((s) => r.stmt(s));
  const extents = domain.map((l) => r.expr(extent(l)));
  r.line(`if (tfm_gid < ${extents.map((e) => `(${e})`).join(' * ')}) {`);
  r.depth++;
  // The point of the index space: the innermost loop varies fastest.
  if (domain.length > 1) r.line('var tfm_rest = tfm_gid;');
  for (let d = domain.length - 1; d >= 0; d--) {
    const l = domain[d];
    const pos = d === 0 ? (domain.length > 1 ? 'tfm_rest' : 'tfm_gid') : `tfm_rest % (${extents[d]})`;
    const step = l.step && l.step !== 1 ? ` * ${l.step}` : '';
    const from = l.from.k === 'num' && l.from.v === 0 ? '' : `${r.expr(l.from)} + `;
    r.line(`let ${ident(l.v)}: i32 = ${from}${pos}${step};`);
    r.declare(l.v, 'i32');
    if (d > 0) r.line(`tfm_rest = tfm_rest / (${extents[d]});`);
  }
  domain.forEach((l, d) => {
    const inner = d + 1 < domain.length ? domain[d + 1] : undefined;
    l.body.filter((s) => s !== inner).forEach((s) => r.stmt(s));
  });
  r.depth--;
  r.line('}');
  if (ph.after?.length) {
    r.line('if (tfm_gid == 0) {');
    r.depth++;
    ph.after.forEach((s) => r.stmt(s));
    r.depth--;
    r.line('}');
  }
}

/** A tree phase: one workgroup; top-level reductions cooperative, other statements in
 *  invocation 0. */
function renderTree(r: Renderer, ph: Phase, lines: string[]): void {
  const types = new Set<string>();
  for (const s of ph.stmts) if (s.k === 'reduce') types.add(WGSL_TYPE[s.t]);
  for (const t of types) lines.push(`var<workgroup> tfm_tree_${t}: array<${t}, ${TREE_WORKGROUP}>;`);
  lines.push(`@compute @workgroup_size(${TREE_WORKGROUP})`);
  lines.push(`fn ${ph.entry}(@builtin(local_invocation_index) tfm_lid_u: u32) {`);
  r.depth = 1;
  r.prologue.forEach((l) => r.line(l));
  r.line('let tfm_lid = i32(tfm_lid_u);');
  let stored = false;
  for (const s of ph.stmts) {
    if (s.k === 'let' || s.k === 'comment') r.stmt(s);
    else if (s.k === 'reduce') {
      // Invocation 0's stores before it must be visible to every invocation's loads.
      if (stored) r.line('storageBarrier();');
      r.treeReduce(s);
    } else {
      stored = true;
      r.line('if (tfm_lid == 0) {');
      r.depth++;
      r.stmt(s);
      r.depth--;
      r.line('}');
    }
  }
}

class Renderer {
  out: string[] = [];
  depth = 0;
  constructor(
    private readonly env: TypeEnv & { vars: Map<string, KType> },
    /** Declarations every entry point starts with (its private arrays). */
    readonly prologue: string[] = [],
    /** Vector loads and stores whose index is a multiple of 4, and the buffers declared as
     *  vec4 arrays. */
    private readonly vectors: { loads: Set<KExpr>; stores: Set<KStmt>; vec4: Set<string>; textures: Set<string> },
  ) {}

  private fresh = 0;

  line(s: string): void {
    this.out.push(`${'  '.repeat(this.depth)}${s}`);
  }

  block(head: string, body: () => void): void {
    this.line(`${head} {`);
    this.depth++;
    body();
    this.depth--;
    this.line('}');
  }

  /** Runs `fn` with locals declared inside it forgotten afterwards (WGSL block scope). */
  declare(name: string, t: KType): void {
    this.env.vars.set(name, t);
  }

  scoped(fn: () => void): void {
    const saved = new Map(this.env.vars);
    fn();
    this.env.vars.clear();
    for (const [n, t] of saved) this.env.vars.set(n, t);
  }

  stmt(s: KStmt): void {
    switch (s.k) {
      case 'for': {
        const step = s.step && s.step !== 1 ? s.step : 1;
        this.scoped(() => {
          this.env.vars.set(s.v, 'i32');
          const x = ident(s.v);
          this.block(`for (var ${x}: i32 = ${this.expr(s.from)}; ${x} < ${this.expr(s.to)}; ${x} += ${step})`, () => s.body.forEach((b) => this.stmt(b)));
        });
        break;
      }
      case 'let':
        this.line(`${s.mutable ? 'var' : 'let'} ${ident(s.v)}: ${WGSL_TYPE[s.t]} = ${this.expr(s.e)};`);
        this.env.vars.set(s.v, s.t);
        break;
      case 'set': {
        const op = s.op ?? '=';
        this.line(`${ident(s.v)} ${op === '=' ? '=' : `${op}=`} ${this.expr(s.e)};`);
        break;
      }
      case 'store':
        if (this.vectors.stores.has(s) && this.vectors.vec4.has(s.buf)) this.line(`${ident(s.buf)}[${quarter(this.expr(s.idx), s.idx)}] ${s.accumulate ? '+=' : '='} ${this.expr(s.e)};`);
        else if (typeOf(s.e, this.env) === 'f32x4') {
          // Four contiguous elements, one component each.
          const t = `tfm_v${this.fresh++}`;
          const put = [0, 1, 2, 3].map((c) => `${this.expr({ k: 'load', buf: s.buf, idx: offset(s.idx, c) })} ${s.accumulate ? '+=' : '='} ${t}[${c}];`);
          this.line(`{ let ${t} = ${this.expr(s.e)}; ${put.join(' ')} }`);
        } else this.line(`${this.expr({ k: 'load', buf: s.buf, idx: s.idx })} ${s.accumulate ? '+=' : '='} ${this.expr(s.e)};`);
        break;
      case 'if':
        this.scoped(() => this.block(`if (${this.expr(s.c)})`, () => s.then.forEach((b) => this.stmt(b))));
        if (s.else?.length) {
          this.out[this.out.length - 1] += ' else {';
          this.depth++;
          this.scoped(() => s.else!.forEach((b) => this.stmt(b)));
          this.depth--;
          this.line('}');
        }
        break;
      case 'comment':
        this.line(`// ${commentText(s.text)}`);
        break;
      case 'reduce': {
        // One invocation's reduction: an accumulator over the range, in index order.
        const t = WGSL_TYPE[s.t];
        this.line(`var ${ident(s.v)}: ${t} = ${identity(s)};`);
        this.accumulate(s, ident(s.v), this.expr(s.from), '1');
        this.env.vars.set(s.v, s.t);
        break;
      }
    }
  }

  /** The loop of a reduction into `acc`, over [from, to) by `stride` (the reduction's own
   *  range by default). */
  accumulate(s: KStmt & { k: 'reduce' }, acc: string, from: string, stride: string, to = this.expr(s.to)): void {
    this.scoped(() => {
      this.env.vars.set(s.idx, 'i32');
      const x = ident(s.idx);
      this.block(`for (var ${x}: i32 = ${from}; ${x} < ${to}; ${x} += ${stride})`, () => {
        s.body.forEach((b) => this.stmt(b));
        this.line(`${acc} = ${combine(s, acc, this.expr(s.e))};`);
      });
    });
  }

  /** A top-level reduction over the whole workgroup: strided partials, then a tree. */
  treeReduce(s: KStmt & { k: 'reduce' }): void {
    const t = WGSL_TYPE[s.t];
    const tree = `tfm_tree_${t}`;
    const part = `${ident(s.v)}_part`;
    this.line(`var ${part}: ${t} = ${identity(s)};`);
    if (s.op === '+') {
      // Runs of TREE_CHUNK elements (strided by the workgroup, so that neighbours read
      // neighbours) are summed apart, then added up: each invocation's chain of f32
      // additions is TREE_CHUNK + n / (TREE_WORKGROUP · TREE_CHUNK) long instead of
      // n / TREE_WORKGROUP, and the tree adds log₂ 256 more (a million elements: 125 + 8).
      const run = `${part}_run`;
      const at = `${part}_at`;
      const span = TREE_WORKGROUP * TREE_CHUNK;
      this.block(`for (var ${at}: i32 = ${this.expr(s.from)}; ${at} < ${this.expr(s.to)}; ${at} += ${span})`, () => {
        this.line(`var ${run}: ${t} = ${identity(s)};`);
        this.accumulate(s, run, `${at} + tfm_lid`, String(TREE_WORKGROUP), `min(${this.expr(s.to)}, ${at} + ${span})`);
        this.line(`${part} = ${part} + ${run};`);
      });
    } else this.accumulate(s, part, `${this.expr(s.from)} + tfm_lid`, String(TREE_WORKGROUP));
    this.line(`${tree}[tfm_lid] = ${part};`);
    this.line('workgroupBarrier();');
    this.block(`for (var tfm_half = ${TREE_WORKGROUP / 2}; tfm_half > 0; tfm_half /= 2)`, () => {
      this.line(`if (tfm_lid < tfm_half) { ${tree}[tfm_lid] = ${combine(s, `${tree}[tfm_lid]`, `${tree}[tfm_lid + tfm_half]`)}; }`);
      this.line('workgroupBarrier();');
    });
    this.line(`let ${ident(s.v)}: ${t} = ${tree}[0];`);
    // The tree is free for the next reduction only once every invocation has read it.
    this.line('workgroupBarrier();');
    this.env.vars.set(s.v, s.t);
  }

  expr(e: KExpr, parent?: KExpr, left = true): string {
    const s = this.bare(e);
    return parent && needsParens(e, parent, left) ? `(${s})` : s;
  }

  private bare(e: KExpr): string {
    const ex = (x: KExpr, left = true) => this.expr(x, e, left);
    switch (e.k) {
      case 'num':
        if (e.t === 'i32') return e.v < 0 ? `(${e.v})` : String(e.v);
        return e.v < 0 || Object.is(e.v, -0) ? `(-${f32Literal(-e.v)})` : f32Literal(e.v);
      case 'var':
        return ident(e.name);
      case 'dim':
      case 'arg':
        return `tfm_args.${ident(e.name)}`;
      case 'load':
        if (this.vectors.textures.has(e.buf)) return `tfm_fetch(${ident(e.buf)}, (${this.expr(e.idx)}) / 4)[(${this.expr(e.idx)}) % 4]`;
        return this.vectors.vec4.has(e.buf) ? `${ident(e.buf)}[(${this.expr(e.idx)}) / 4][(${this.expr(e.idx)}) % 4]` : `${ident(e.buf)}[${this.expr(e.idx)}]`;
      case 'neg':
        return `-${e.a.k === 'var' || e.a.k === 'load' || e.a.k === 'call' || e.a.k === 'dim' || e.a.k === 'arg' ? this.expr(e.a) : `(${this.expr(e.a)})`}`;
      case 'cast': {
        const from = WGSL_TYPE[typeOf(e.a, this.env) as ScalarType];
        const to = WGSL_TYPE[e.t];
        return from === to ? this.expr(e.a) : `${to}(${this.expr(e.a)})`;
      }
      case 'bin': {
        // Lane-wise && and || of vector comparisons are & and | in WGSL.
        const op = (e.op === '&&' || e.op === '||') && typeOf(e, this.env) === 'bool4' ? (e.op === '&&' ? '&' : '|') : e.op;
        return `${ex(e.a)} ${op} ${ex(e.b, false)}`;
      }
      case 'call': {
        const a = e.args.map((x) => this.expr(x));
        switch (e.fn) {
          case 'idiv':
            return `${ex(e.args[0])} / ${ex(e.args[1], false)}`;
          case 'tanh':
          case 'erf':
          case 'hash_uniform':
            return `tfm_${e.fn}(${a.join(', ')})`;
          default:
            return `${e.fn}(${a.join(', ')})`;
        }
      }
      case 'select':
        return `select(${this.expr(e.b)}, ${this.expr(e.a)}, ${this.expr(e.c)})`;
      case 'vload': {
        if (this.vectors.loads.has(e) && this.vectors.textures.has(e.buf)) return `tfm_fetch(${ident(e.buf)}, ${quarter(this.expr(e.idx), e.idx)})`;
        if (this.vectors.loads.has(e) && this.vectors.vec4.has(e.buf)) return `${ident(e.buf)}[${quarter(this.expr(e.idx), e.idx)}]`;
        return `vec4<f32>(${[0, 1, 2, 3].map((c) => this.expr({ k: 'load', buf: e.buf, idx: offset(e.idx, c) })).join(', ')})`;
      }
      case 'splat':
        return `vec4<f32>(${this.expr(e.a)})`;
      case 'lane':
        return `${e.a.k === 'var' || e.a.k === 'vload' ? this.expr(e.a) : `(${this.expr(e.a)})`}[${e.lane}]`;
    }
  }
}

const ARITH = new Set(['+', '-', '*', '/', '%']);
const COMPARE = new Set(['<', '<=', '>', '>=', '==', '!=']);

/** Whether `e` needs parentheses as an operand of `parent`. WGSL is stricter than C: it does
 *  not mix `&&` with `||`, nor chain comparisons, without them. */
function needsParens(e: KExpr, parent: KExpr, left: boolean): boolean {
  const isIdiv = (x: KExpr) => x.k === 'call' && x.fn === 'idiv';
  if (e.k !== 'bin' && !isIdiv(e)) return false;
  const op = e.k === 'bin' ? e.op : '/';
  const pop = parent.k === 'bin' ? parent.op : isIdiv(parent) ? '/' : undefined;
  if (pop === undefined) return false;
  if (ARITH.has(pop)) return !(ARITH.has(op) && (BIN_PRECEDENCE[op as '+'] > BIN_PRECEDENCE[pop as '+'] || (left && BIN_PRECEDENCE[op as '+'] === BIN_PRECEDENCE[pop as '+'])));
  if (COMPARE.has(pop)) return !ARITH.has(op);
  // && and ||: comparisons bind tighter; the same operator chains from the left.
  return !(COMPARE.has(op) || (left && op === pop));
}

function identity(s: KStmt & { k: 'reduce' }): string {
  if (s.op === '+') return s.t === 'i32' ? '0' : '0.0f';
  return `(-${f32Literal(FLT_MAX)})`;
}

function combine(s: KStmt & { k: 'reduce' }, acc: string, x: string): string {
  return s.op === '+' ? `${acc} + ${x}` : `max(${acc}, ${x})`;
}

/** An f32 literal: the shortest decimal that rounds to the same float32, with the `f` suffix
 *  (−∞ and +∞ as ∓FLT_MAX, see the header). */
export function f32Literal(v: number): string {
  if (Number.isNaN(v)) throw new Error('internal: NaN literal in a kernel');
  const x = Math.fround(v);
  // FLT_MAX exactly (a shorter decimal that rounds to it would lie above it).
  if (Math.abs(x) >= FLT_MAX) return `${x < 0 ? '-' : ''}3.4028234663852886e38f`;
  let s = String(x);
  for (let p = 1; p <= 9; p++) {
    const t = x.toPrecision(p);
    if (Math.fround(Number(t)) === x) {
      s = String(Number(t));
      break;
    }
  }
  return `${s}f`;
}
