// CST → AST. The parser runs with error recovery, so any child may be missing or a token
// may have been inserted by recovery (offsets NaN); everything here tolerates that and
// simply drops what cannot be built — the parser has already reported why.
import type { CstNode, IToken } from 'chevrotain';
import type { Arg, CallArg, Expr, FileAst, ImportDecl, Item, ModelDecl, Name } from './ast.ts';
import type { DiagnosticBag } from '../common/diagnostics.ts';
import type { Span } from '../common/source.ts';

export const MAX_IDENTIFIER_LENGTH = 64;

type Child = CstNode | IToken;

export function buildAst(cst: CstNode, path: string, diags: DiagnosticBag, parserFailed: boolean): FileAst {
  return new AstBuilder(path, diags).file(cst, parserFailed);
}

function isToken(c: Child | undefined): c is IToken {
  return c !== undefined && 'image' in c;
}

function validToken(t: IToken | undefined): t is IToken {
  return t !== undefined && !t.isInsertedInRecovery && Number.isFinite(t.startOffset);
}

class AstBuilder {
  constructor(
    private readonly path: string,
    private readonly diags: DiagnosticBag,
  ) {}

  private tokens(n: CstNode, key: string): IToken[] {
    return (n.children[key] ?? []).filter(isToken).filter(validToken);
  }
  private token(n: CstNode, key: string): IToken | undefined {
    return this.tokens(n, key)[0];
  }
  private nodes(n: CstNode, key: string): CstNode[] {
    return (n.children[key] ?? []).filter((c): c is CstNode => !isToken(c));
  }
  private node(n: CstNode, key: string): CstNode | undefined {
    return this.nodes(n, key)[0];
  }

  private tokenSpan(t: IToken): Span {
    return { file: this.path, start: t.startOffset, end: (t.endOffset ?? t.startOffset) + 1 };
  }

  private nodeSpan(n: CstNode): Span | undefined {
    const loc = n.location;
    if (loc && Number.isFinite(loc.startOffset) && Number.isFinite(loc.endOffset)) {
      return { file: this.path, start: loc.startOffset, end: (loc.endOffset as number) + 1 };
    }
    return undefined;
  }

  private name(t: IToken): Name {
    const span = this.tokenSpan(t);
    if (t.image.length > MAX_IDENTIFIER_LENGTH) {
      this.diags.error('TFM1005', { length: t.image.length, limit: MAX_IDENTIFIER_LENGTH }, { span, message: 'identifier too long' });
    }
    return { kind: 'name', name: t.image, span };
  }

  file(cst: CstNode, parserFailed: boolean): FileAst {
    // Stray top-level tokens are reported once; after a parser error they are its echo.
    const stray = this.tokens(cst, 'Stray')[0];
    if (stray && !parserFailed) {
      this.diags.error('TFM1002', { expected: '`model` or `import`', found: `\`${stray.image}\`` }, { span: this.tokenSpan(stray), message: 'outside any model' }, { help: 'wrap declarations in `model <name> { ... }`' });
    }
    const imports: ImportDecl[] = [];
    for (const n of this.nodes(cst, 'importDecl')) {
      const s = this.token(n, 'StringLiteral');
      const span = this.nodeSpan(n);
      if (s && span) imports.push({ path: s.image.slice(1, -1), span: this.tokenSpan(s) });
    }
    const models: ModelDecl[] = [];
    for (const n of this.nodes(cst, 'modelDecl')) {
      const m = this.model(n);
      if (m) models.push(m);
    }
    return { path: this.path, imports, models };
  }

  private model(n: CstNode): ModelDecl | undefined {
    const nameTok = this.token(n, 'name');
    const span = this.nodeSpan(n);
    if (!nameTok || !span) return undefined;
    const parentTok = this.token(n, 'parent');
    const body = this.node(n, 'body');
    return {
      name: this.name(nameTok),
      parent: parentTok ? this.name(parentTok) : undefined,
      items: body ? this.body(body) : [],
      span,
    };
  }

  private body(n: CstNode): Item[] {
    const items: Item[] = [];
    for (const s of this.nodes(n, 'statement')) {
      const item = this.statement(s);
      if (item) items.push(item);
    }
    return items;
  }

  private statement(n: CstNode): Item | undefined {
    const kw = this.token(n, 'keyword');
    const span = this.nodeSpan(n);
    if (!kw || !span) return undefined;
    const keyword = this.name(kw);
    const valueNode = this.node(n, 'value');
    if ((n.children['Equals'] ?? []).length > 0) {
      const value = valueNode ? this.expr(valueNode) : undefined;
      return value ? { kind: 'assign', target: keyword, value, span } : undefined;
    }
    const args: Arg[] = [];
    for (const a of this.nodes(n, 'arg')) {
      const arg = this.arg(a);
      if (arg) args.push(arg);
    }
    const bodyNode = this.node(n, 'body');
    return { kind: 'statement', keyword, args, body: bodyNode ? this.body(bodyNode) : undefined, span };
  }

  private arg(n: CstNode): Arg | undefined {
    const span = this.nodeSpan(n);
    if (!span) return undefined;
    if (this.token(n, 'Arrow')) return { kind: 'arrow', span };
    const repeat = this.node(n, 'repeat');
    if (repeat) {
      const count = this.expr(repeat);
      return count ? { kind: 'repeat', count, span } : undefined;
    }
    const e = this.node(n, 'expr');
    const expr = e ? this.expr(e) : undefined;
    return expr ? { kind: 'expr', expr, span } : undefined;
  }

  /** expr, term and power share one shape: operands separated by operator tokens. */
  private expr(n: CstNode): Expr | undefined {
    if (n.name === 'unary') return this.unary(n);
    if (n.name === 'primary') return this.primary(n);
    const operands = this.nodes(n, 'operands').map((o) => this.expr(o));
    const ops = this.tokens(n, 'ops');
    if (operands.length === 0 || operands.some((o) => o === undefined) || ops.length !== operands.length - 1) return undefined;
    let acc = operands[0] as Expr;
    for (let i = 0; i < ops.length; i++) {
      const right = operands[i + 1] as Expr;
      const op = ops[i].image as '+' | '-' | '*' | '/' | '**';
      acc = { kind: 'binary', op, left: acc, right, opSpan: this.tokenSpan(ops[i]), span: { file: this.path, start: acc.span.start, end: right.span.end } };
    }
    return acc;
  }

  private unary(n: CstNode): Expr | undefined {
    const minus = this.token(n, 'Minus');
    const span = this.nodeSpan(n);
    if (minus) {
      const inner = this.node(n, 'unary');
      const operand = inner ? this.unary(inner) : undefined;
      return operand && span ? { kind: 'unary', op: '-', operand, span } : undefined;
    }
    const p = this.node(n, 'primary');
    return p ? this.primary(p) : undefined;
  }

  private primary(n: CstNode): Expr | undefined {
    const span = this.nodeSpan(n);
    if (!span) return undefined;
    const num = this.token(n, 'NumberLiteral');
    if (num) {
      const value = Number(num.image.replace(/_/g, ''));
      if (!Number.isFinite(value)) this.diags.error('TFM1006', { text: num.image }, { span, message: 'not representable as a finite float64' });
      return { kind: 'number', value: Number.isFinite(value) ? value : 0, text: num.image, span };
    }
    const special = this.token(n, 'SpecialToken');
    if (special) {
      if (special.image.length > MAX_IDENTIFIER_LENGTH + 2) this.name(special);
      return { kind: 'special', name: special.image, span };
    }
    const str = this.token(n, 'StringLiteral');
    if (str) return { kind: 'string', value: str.image.slice(1, -1), span };
    const id = this.token(n, 'Identifier');
    if (id) {
      const callee = this.name(id);
      if (!this.token(n, 'LParen')) return callee;
      const argsNode = this.node(n, 'callArgs');
      const args: CallArg[] = [];
      for (const c of argsNode ? this.nodes(argsNode, 'callArg') : []) {
        const cspan = this.nodeSpan(c);
        const e = this.node(c, 'expr');
        const value = e ? this.expr(e) : undefined;
        const nameTok = this.token(c, 'name');
        if (value && cspan) args.push({ name: nameTok ? this.name(nameTok) : undefined, value, span: cspan });
      }
      return { kind: 'call', callee, args, span };
    }
    const inner = this.node(n, 'expr');
    if (inner) return this.expr(inner);
    if (this.token(n, 'LBracket')) {
      const listNode = this.node(n, 'list');
      const items = listNode ? this.nodes(listNode, 'expr').map((e) => this.expr(e)) : [];
      if (items.some((i) => i === undefined)) return undefined;
      return { kind: 'list', items: items as Expr[], span };
    }
    return undefined;
  }
}
