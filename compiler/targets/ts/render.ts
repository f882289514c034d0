// The TypeScript renderer: kernel IR → one module of exported functions, emitted through
// ts-morph. Everything target-specific is here as data: the type map, the math-function
// table and the prelude of helpers (erf, the dropout hash) that kernels may call.
import { IndentationText, Project, QuoteKind, type WriterFunction } from 'ts-morph';
import { escapeInvisible } from '../../../common/text.ts';
import { spanAt, type SourceMap } from '../../../common/source.ts';
import type { RenderContext } from '../target.ts';
import { BIN_PRECEDENCE, parallelSplit, type KExpr, type Kernel, type KStmt } from '../../codegen/kir.ts';
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
        statements: body(split === undefined ? k.body : splitBody(k.body, split)),
      };
    }),
  );
  return file.getFullText();
}

function location(k: Kernel, sources: SourceMap): string | undefined {
  const at = spanAt(k.span, sources);
  if (!at) return undefined;
  const f = sources.get(k.span!.file)!;
  const p = f.position(k.span!.start);
  const text = f.text.slice(k.span!.start, Math.min(k.span!.end, f.lineStarts[p.line] ?? f.text.length)).trim();
  return commentText(`${at} \`${text}\``);
}

function body(stmts: KStmt[]): WriterFunction {
  return (w) => {
    const emit = (s: KStmt) => {
      switch (s.k) {
        case 'for':
          w.write(`for (let ${s.v} = ${expr(s.from)}; ${s.v} < ${expr(s.to)}; ${s.v}${s.step && s.step !== 1 ? ` += ${s.step}` : '++'}) `).block(() => s.body.forEach(emit));
          break;
        case 'let':
          w.writeLine(`${s.mutable ? 'let' : 'const'} ${s.v} = ${expr(s.e)};`);
          break;
        case 'set':
          w.writeLine(`${s.v} ${s.op === '+' ? '+=' : s.op === '*' ? '*=' : '='} ${expr(s.e)};`);
          break;
        case 'store':
          w.writeLine(`${s.buf}[${expr(s.idx)}] ${s.accumulate ? '+=' : '='} ${expr(s.e)};`);
          break;
        case 'if':
          w.write(`if (${expr(s.c)}) `).block(() => s.then.forEach(emit));
          if (s.else?.length) w.write(' else ').block(() => s.else!.forEach(emit));
          break;
        case 'comment':
          w.writeLine(`// ${commentText(s.text)}`);
          break;
        case 'reduce':
          throw new Error('internal: a reduce reached the TypeScript renderer (its schedule lowers every one)');
      }
    };
    stmts.forEach(emit);
  };
}


function expr(e: KExpr, parent = 0): string {
  switch (e.k) {
    case 'num':
      return numberLiteral(e.v, e.t);
    case 'var':
    case 'dim':
    case 'arg':
      return e.name;
    case 'load':
      return `${e.buf}[${expr(e.idx)}]`;
    case 'neg':
      return `-${expr(e.a, 7)}`;
    case 'vload':
    case 'splat':
    case 'lane':
      throw new Error(`internal: the TypeScript target has no vector types (${e.k})`);
    case 'cast':
      // JavaScript numbers hold every scalar type: a cast to a float is the value itself (a
      // stored f32 rounds on store), to i32 it truncates.
      return e.t !== 'i32' ? expr(e.a, parent) : `(${expr(e.a)} | 0)`;
    case 'bin': {
      const p = BIN_PRECEDENCE[e.op];
      const js = e.op === '==' ? '===' : e.op === '!=' ? '!==' : e.op;
      // Integer division of indices is written with idiv; `/` on numbers is float division.
      const s = `${expr(e.a, p)} ${js} ${expr(e.b, p + 1)}`;
      return p < parent ? `(${s})` : s;
    }
    case 'call':
      return MATH[e.fn](e.args.map((a) => expr(a)));
    case 'select':
      return `(${expr(e.c)} ? ${expr(e.a)} : ${expr(e.b)})`;
  }
}

function numberLiteral(v: number, t: string): string {
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  if (t === 'i32') return String(v);
  const s = String(v);
  return v < 0 ? `(${s})` : s;
}
