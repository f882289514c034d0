// The typed syntax tree. Every node carries the span of the source it came from.
import type { Span } from '../common/source.ts';

export interface Name {
  kind: 'name';
  name: string;
  span: Span;
}

export type Expr =
  | { kind: 'number'; value: number; text: string; span: Span }
  | Name
  | { kind: 'special'; name: string; span: Span }
  | { kind: 'string'; value: string; span: Span }
  | { kind: 'unary'; op: '-'; operand: Expr; span: Span }
  | { kind: 'binary'; op: '+' | '-' | '*' | '/' | '**'; left: Expr; right: Expr; opSpan: Span; span: Span }
  | { kind: 'call'; callee: Name; args: CallArg[]; span: Span }
  | { kind: 'list'; items: Expr[]; span: Span };

export interface CallArg {
  name?: Name;
  value: Expr;
  span: Span;
}

export type Arg = { kind: 'arrow'; span: Span } | { kind: 'repeat'; count: Expr; span: Span } | { kind: 'expr'; expr: Expr; span: Span };

export interface Statement {
  kind: 'statement';
  keyword: Name;
  args: Arg[];
  body?: Item[];
  span: Span;
}

export interface Assignment {
  kind: 'assign';
  target: Name;
  value: Expr;
  span: Span;
}

export type Item = Statement | Assignment;

export interface ModelDecl {
  name: Name;
  parent?: Name;
  items: Item[];
  span: Span;
}

export interface ImportDecl {
  path: string;
  span: Span;
}

export interface FileAst {
  path: string;
  imports: ImportDecl[];
  models: ModelDecl[];
}

/** The variable names an expression reads and the functions it calls (callee names are not
 *  reads; named call arguments' names are neither). */
export function exprRefs(e: Expr, out = { names: new Set<string>(), calls: new Set<string>() }): { names: Set<string>; calls: Set<string> } {
  switch (e.kind) {
    case 'name':
      out.names.add(e.name);
      break;
    case 'unary':
      exprRefs(e.operand, out);
      break;
    case 'binary':
      exprRefs(e.left, out);
      exprRefs(e.right, out);
      break;
    case 'call':
      out.calls.add(e.callee.name);
      for (const a of e.args) exprRefs(a.value, out);
      break;
    case 'list':
      for (const i of e.items) exprRefs(i, out);
      break;
  }
  return out;
}

const PRECEDENCE = { '+': 1, '-': 1, '*': 2, '/': 2, '**': 3 } as const;

/** Source-like text of an expression, parenthesised wherever the tree needs it to keep its
 *  meaning: `(h / p) * (w / p)` and `(image / patch) ** 2` print as written. */
export function exprText(e: Expr): string {
  switch (e.kind) {
    case 'number':
      return e.text;
    case 'name':
      return e.name;
    case 'special':
      return e.name;
    case 'string':
      return JSON.stringify(e.value);
    case 'unary':
      return `-${e.operand.kind === 'binary' ? `(${exprText(e.operand)})` : exprText(e.operand)}`;
    case 'binary': {
      const p = PRECEDENCE[e.op];
      // Left-associative operators need parentheses on the right at equal precedence
      // (`a - (b - c)`); `**` takes one operand each side (`(a ** b) ** c`), so both.
      const side = (x: Expr, right: boolean) => {
        const q = x.kind === 'binary' ? PRECEDENCE[x.op] : x.kind === 'unary' && e.op === '**' && !right ? 0 : 4;
        const wrap = q < p || (q === p && (right || e.op === '**'));
        return wrap ? `(${exprText(x)})` : exprText(x);
      };
      return `${side(e.left, false)} ${e.op} ${side(e.right, true)}`;
    }
    case 'call':
      return `${e.callee.name}(${e.args.map((a) => (a.name ? `${a.name.name} = ` : '') + exprText(a.value)).join(', ')})`;
    case 'list':
      return `[${e.items.map(exprText).join(', ')}]`;
  }
}
