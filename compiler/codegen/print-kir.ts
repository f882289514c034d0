// The kernel IR as text: one line per statement, C-like, for reading what a target's
// schedule made of each kernel. The WebAssembly target commits it as kernels.kir beside
// kernels.wasm — the module is a one-to-one lowering of this text (each statement and
// expression becomes the same Wasm instructions), and it diffs far better than the
// thousands of lines of WAT the same module prints as.
import { escapeInvisible } from '../../common/text.ts';
import { BIN_PRECEDENCE, type KExpr, type Kernel, type KStmt } from './kir.ts';

/** Text that may come from a user, on one line, with invisible characters made visible. */
const oneLine = (s: string) => escapeInvisible(s, (code) => `\\u{${code}}`);

export function printKernelExpr(e: KExpr, parent = 0): string {
  switch (e.k) {
    case 'num':
      return e.t === 'i32' ? String(e.v) : Number.isInteger(e.v) ? `${e.v}.0` : String(e.v);
    case 'var':
    case 'dim':
    case 'arg':
      return e.name;
    case 'load':
      return `${e.buf}[${printKernelExpr(e.idx)}]`;
    case 'vload':
      return `${e.buf}[${printKernelExpr(e.idx)} .. +4]`;
    case 'splat':
      return `splat(${printKernelExpr(e.a)})`;
    case 'lane':
      return `${printKernelExpr(e.a, 8)}.${'xyzw'[e.lane]}`;
    case 'neg':
      return `-${printKernelExpr(e.a, 7)}`;
    case 'cast':
      return `${e.t}(${printKernelExpr(e.a)})`;
    case 'bin': {
      const p = BIN_PRECEDENCE[e.op];
      const s = `${printKernelExpr(e.a, p)} ${e.op} ${printKernelExpr(e.b, p + 1)}`;
      return p < parent ? `(${s})` : s;
    }
    case 'call':
      return `${e.fn}(${e.args.map((a) => printKernelExpr(a)).join(', ')})`;
    case 'select':
      return `(${printKernelExpr(e.c)} ? ${printKernelExpr(e.a)} : ${printKernelExpr(e.b)})`;
  }
}

function printStmts(stmts: KStmt[], indent: string, out: string[]): void {
  for (const s of stmts) {
    switch (s.k) {
      case 'for':
        out.push(`${indent}for ${s.v} in [${printKernelExpr(s.from)}, ${printKernelExpr(s.to)})${s.step && s.step !== 1 ? ` step ${s.step}` : ''}${s.parallel ? ' parallel' : ''} {`);
        printStmts(s.body, `${indent}  `, out);
        out.push(`${indent}}`);
        break;
      case 'let':
        out.push(`${indent}${s.mutable ? 'var' : 'let'} ${s.v}: ${s.t} = ${printKernelExpr(s.e)}`);
        break;
      case 'set':
        out.push(`${indent}${s.v} ${s.op && s.op !== '=' ? `${s.op}=` : '='} ${printKernelExpr(s.e)}`);
        break;
      case 'store':
        out.push(`${indent}${s.buf}[${printKernelExpr(s.idx)}] ${s.accumulate ? '+=' : '='} ${printKernelExpr(s.e)}`);
        break;
      case 'if':
        out.push(`${indent}if ${printKernelExpr(s.c)} {`);
        printStmts(s.then, `${indent}  `, out);
        if (s.else?.length) {
          out.push(`${indent}} else {`);
          printStmts(s.else, `${indent}  `, out);
        }
        out.push(`${indent}}`);
        break;
      case 'reduce':
        // Only in IR no CPU schedule has lowered yet.
        out.push(`${indent}let ${s.v}: ${s.t} = reduce ${s.op} ${s.idx} in [${printKernelExpr(s.from)}, ${printKernelExpr(s.to)}) {`);
        printStmts(s.body, `${indent}  `, out);
        out.push(`${indent}  ${printKernelExpr(s.e)}`, `${indent}}`);
        break;
      case 'comment':
        out.push(`${indent}// ${oneLine(s.text)}`);
        break;
    }
  }
}

/** One kernel: its signature, its doc line, its body. */
export function printKernel(k: Kernel, where?: string): string {
  const params = [...k.buffers.map((b) => `${b.name}: ${b.access === 'read' ? '' : `${b.access} `}${b.t}[]`), ...k.dims.map((d) => `${d}: i32`), ...(k.scalars ?? []).map((s) => `${s}: f32`)];
  const out = [`// ${oneLine(k.doc.split('\n')[0])}${where ? ` (${oneLine(where)})` : ''}`, `kernel ${k.name}(${params.join(', ')}) {`];
  for (const s of k.scratch ?? []) out.push(`  scratch ${s.name}: f32[${s.elems}]  // per thread`);
  printStmts(k.body, '  ', out);
  out.push('}');
  return out.join('\n');
}
