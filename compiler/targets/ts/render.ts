// The TypeScript renderer: kernel IR → one module of exported functions, emitted through
// ts-morph. Everything target-specific is here as data: the type map, the math-function
// table and the prelude of helpers (erf, the dropout hash) that kernels may call.
//
// f32 is float32 here too, as on every target: JavaScript computes in float64, so every f32
// operation that can round — + − × ÷, a cast, a transcendental, a literal, a scalar
// argument — is written inside `f32(…)` (Math.fround), which rounds the float64 result to
// the nearest float32. For + − × ÷ and sqrt of float32 operands that is exactly the float32
// operation (float64 has more than twice float32's precision plus two bits); exp, tanh and
// the rest are the float64 function rounded once, as the Wasm target computes them. A value
// stored into a Float32Array rounds on the store, so a store's outermost operation is not
// wrapped. f64 locals (the gradient norm's sum of squares) stay float64.
import { IndentationText, Project, QuoteKind, type SourceFile, type WriterFunction } from 'ts-morph';
import { escapeInvisible } from '../../../common/text.ts';
import { spanAt, type SourceMap } from '../../../common/source.ts';
import type { RenderContext } from '../target.ts';
import { BIN_PRECEDENCE, parallelSplit, typeOf, type ElemType, type KExpr, type Kernel, type KStmt, type KType, type TypeEnv } from '../../codegen/kir.ts';
import { splitBody } from '../../passes/schedule/thread-split.ts';

const ARRAY: Record<string, string> = { f32: 'Float32Array', i32: 'Int32Array' };

const MATH: Record<string, (args: string[]) => string> = {
  exp: (a) => `Math.exp(${a[0]})`,
  log: (a) => `Math.log(${a[0]})`,
  sqrt: (a) => `Math.sqrt(${a[0]})`,
  tanh: (a) => `Math.tanh(${a[0]})`,
  erf: (a) => `erf(${a[0]})`,
  max: (a) => `Math.max(${a.join(', ')})`,
  min: (a) => `Math.min(${a.join(', ')})`,
  abs: (a) => `Math.abs(${a[0]})`,
  floor: (a) => `Math.floor(${a[0]})`,
  sin: (a) => `Math.sin(${a[0]})`,
  cos: (a) => `Math.cos(${a[0]})`,
  pow: (a) => `Math.pow(${a[0]}, ${a[1]})`,
  idiv: (a) => `(((${a[0]}) / (${a[1]})) | 0)`,
  hash_uniform: (a) => `hashUniform(${a.join(', ')})`,
};

/** Helpers the kernels call; the same definitions the reference interpreter uses. */
const PRELUDE = `
/** Rounds a float64 to float32: every f32 operation's result passes through it. */
const f32 = Math.fround;

/** erf, Abramowitz & Stegun 7.1.26: absolute error below 1.5e-7, about one f32 ulp near 1. */
function erf(x: number): number {
  const s = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}

/** Counter-based uniform in [0, 1) from (seed, salt, index); identical to the reference's dropoutUniform. */
function hashUniform(seed: number, salt: number, index: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(salt + 0x632be5ab, 0xc2b2ae35) ^ Math.imul(index + 0x27d4eb2f, 0x165667b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}
`;

/** The one way text that may come from a user — a path, an import string, a spec line, a
 *  name — enters the generated TypeScript: inside a comment, with the comment end (star,
 *  slash) broken and every line terminator, control, bidirectional or zero-width character
 *  written as `\u{XXXX}`, so that it can neither end the comment nor start code, nor make
 *  the code read differently from what runs. */
export function commentText(s: string): string {
  return escapeInvisible(s.replace(/\*\//g, '*\\/'), (code) => `\\u{${code}}`);
}


export function renderTs(kernels: Kernel[], opts: RenderContext): string {
  return tsFile(kernels, opts).getFullText();
}

/** Each kernel's function with its doc comment, as kernels.ts has it. */
export function reviewTs(kernels: Kernel[], opts: RenderContext): Map<string, string> {
  return new Map(tsFile(kernels, opts).getFunctions().filter((f) => f.isExported()).map((f) => [f.getName()!, f.getText(true)]));
}

function tsFile(kernels: Kernel[], opts: RenderContext): SourceFile {
  const project = new Project({ useInMemoryFileSystem: true, manipulationSettings: { indentationText: IndentationText.TwoSpaces, quoteKind: QuoteKind.Single } });
  const file = project.createSourceFile('kernels.ts', '', { overwrite: true });
  file.insertText(0, `${opts.header.map((l) => `// ${commentText(l)}`).join('\n')}\n/* eslint-disable */\n${PRELUDE}`);
  // One insertion of every function: ts-morph re-parses the file after each insertion, so
  // adding kernels one at a time costs O(kernels²) (96 layers took 21 s, most of it here).
  file.addFunctions(
    kernels.map((k) => {
      const where = k.span && opts.sources ? location(k, opts.sources) : undefined;
      const split = parallelSplit(k);
      return {
        isExported: true,
        name: k.name,
        docs: [`${k.doc.split('\n').map(commentText).join('\n')}${where ? `\n\nFrom ${where}.` : ''}${split !== undefined ? '\n\nSplits across threads: part `part` of `parts` runs its share of the parallel loop.' : ''}`],
        parameters: [
          ...k.buffers.map((b) => ({ name: b.name, type: ARRAY[b.t] })),
          ...[...k.dims, ...(k.scalars ?? [])].map((d) => ({ name: d, type: 'number' })),
          ...(split !== undefined ? [{ name: 'part', type: 'number', initializer: '0' }, { name: 'parts', type: 'number', initializer: '1' }] : []),
        ],
        returnType: 'void',
        statements: body(split === undefined ? k.body : splitBody(k.body, split), k, split !== undefined),
      };
    }),
  );
  return file;
}

function location(k: Kernel, sources: SourceMap): string | undefined {
  const at = spanAt(k.span, sources);
  if (!at) return undefined;
  const f = sources.get(k.span!.file)!;
  const p = f.position(k.span!.start);
  const text = f.text.slice(k.span!.start, Math.min(k.span!.end, f.lineStarts[p.line] ?? f.text.length)).trim();
  return commentText(`${at} \`${text}\``);
}

function body(stmts: KStmt[], k: Kernel, split: boolean): WriterFunction {
  const buffers = new Map(k.buffers.map((b) => [b.name, b.t] as [string, ElemType]));
  const params = new Map<string, KType>([...k.dims.map((d) => [d, 'i32'] as [string, KType]), ...(split ? (['part', 'parts'] as const).map((n) => [n, 'i32'] as [string, KType]) : [])]);
  return (w) => {
    const emit = (s: KStmt, scope: Map<string, KType>) => {
      const env: TypeEnv = { buffers, vars: scope };
      const ex = (e: KExpr, parent = 0) => expr(e, env, parent);
      switch (s.k) {
        case 'for': {
          const inner = new Map(scope).set(s.v, 'i32');
          w.write(`for (let ${s.v} = ${ex(s.from)}; ${s.v} < ${ex(s.to)}; ${s.v}${s.step && s.step !== 1 ? ` += ${s.step}` : '++'}) `).block(() => s.body.forEach((b) => emit(b, inner)));
          break;
        }
        case 'let':
          w.writeLine(`${s.mutable ? 'let' : 'const'} ${s.v} = ${ex(s.e)};`);
          scope.set(s.v, s.t);
          break;
        case 'set': {
          const op = s.op ?? '=';
          const t = scope.get(s.v);
          if (op !== '=' && t === 'f32') w.writeLine(`${s.v} = f32(${s.v} ${op} ${ex(s.e, BIN_PRECEDENCE[op] + 1)});`);
          else w.writeLine(`${s.v} ${op === '+' ? '+=' : op === '*' ? '*=' : '='} ${ex(s.e)};`);
          break;
        }
        case 'store':
          // The store rounds to the buffer's type: its value's outermost f32() would repeat it.
          w.writeLine(`${s.buf}[${ex(s.idx)}] ${s.accumulate ? '+=' : '='} ${s.accumulate ? ex(s.e) : expr(s.e, env, 0, true)};`);
          break;
        case 'if': {
          const then = new Map(scope);
          const otherwise = new Map(scope);
          w.write(`if (${ex(s.c)}) `).block(() => s.then.forEach((b) => emit(b, then)));
          if (s.else?.length) w.write(' else ').block(() => s.else!.forEach((b) => emit(b, otherwise)));
          break;
        }
        case 'comment':
          w.writeLine(`// ${commentText(s.text)}`);
          break;
        case 'reduce':
          throw new Error('internal: a reduce reached the TypeScript renderer (its schedule lowers every one)');
      }
    };
    const scope = new Map(params);
    stmts.forEach((s) => emit(s, scope));
  };
}

/** Functions whose float64 result is not a float32 for float32 arguments. */
const ROUNDED_FN = new Set(['exp', 'log', 'sqrt', 'tanh', 'erf', 'sin', 'cos', 'pow']);

/** `e` as TypeScript; `stored`: its value goes straight into a typed array, which rounds. */
function expr(e: KExpr, env: TypeEnv, parent = 0, stored = false): string {
  const ex = (x: KExpr, p = 0) => expr(x, env, p);
  const round = (code: string, precedence: number) => (stored ? (precedence < parent ? `(${code})` : code) : `f32(${code})`);
  switch (e.k) {
    case 'num':
      // An f32 literal is the float32 nearest to it: f32(1e-5) where that is not the number.
      return e.t === 'f32' && Math.fround(e.v) !== e.v && Number.isFinite(e.v) ? `f32(${e.v})` : numberLiteral(e.v, e.t);
    case 'arg':
      return stored ? e.name : `f32(${e.name})`;
    case 'var':
    case 'dim':
      return e.name;
    case 'load':
      return `${e.buf}[${ex(e.idx)}]`;
    case 'neg':
      return `-${expr(e.a, env, 7)}`;
    case 'vload':
    case 'splat':
    case 'lane':
      throw new Error(`internal: the TypeScript target has no vector types (${e.k})`);
    case 'cast':
      // To i32 truncates; to f32 rounds; to f64 is the value itself (every f32 and i32 is one).
      if (e.t === 'i32') return `(${ex(e.a)} | 0)`;
      return e.t === 'f32' ? (stored ? ex(e.a) : `f32(${ex(e.a)})`) : expr(e.a, env, parent);
    case 'bin': {
      const p = BIN_PRECEDENCE[e.op];
      const js = e.op === '==' ? '===' : e.op === '!=' ? '!==' : e.op;
      // Integer division of indices is written with idiv; `/` on numbers is float division.
      const arith = '+-*/'.includes(e.op) && typeOf(e, env) === 'f32';
      if (arith) return round(`${ex(e.a, p)} ${js} ${ex(e.b, p + 1)}`, p);
      const s = `${ex(e.a, p)} ${js} ${ex(e.b, p + 1)}`;
      return p < parent ? `(${s})` : s;
    }
    case 'call': {
      const code = MATH[e.fn](e.args.map((a) => ex(a)));
      return ROUNDED_FN.has(e.fn) && typeOf(e, env) === 'f32' && !stored ? `f32(${code})` : code;
    }
    case 'select':
      return `(${ex(e.c)} ? ${ex(e.a)} : ${ex(e.b)})`;
  }
}

function numberLiteral(v: number, t: string): string {
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  if (t === 'i32') return String(v);
  const s = String(v);
  return v < 0 ? `(${s})` : s;
}
