// The typed syntax tree. Every node carries the span of the source it came from.
import type { Span } from '../compiler/source.ts';

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
      return `-${exprText(e.operand)}`;
    case 'binary':
      return `${exprText(e.left)} ${e.op} ${exprText(e.right)}`;
    case 'call':
      return `${e.callee.name}(${e.args.map((a) => (a.name ? `${a.name.name} = ` : '') + exprText(a.value)).join(', ')})`;
    case 'list':
      return `[${e.items.map(exprText).join(', ')}]`;
  }
}
