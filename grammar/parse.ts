// parseTfm: source text → AST + syntax diagnostics. Never throws.
import { tfmLexer, UnterminatedString } from './lexer.ts';
import { parser, parseTokens } from './parser.ts';
import { buildAst } from './build-ast.ts';
import type { Expr, FileAst, Item } from './ast.ts';
import type { IToken } from 'chevrotain';
import { DiagnosticBag } from '../common/diagnostics.ts';
import type { Span } from '../common/source.ts';

export interface ParseResult {
  ast: FileAst;
  diagnostics: DiagnosticBag;
  /** True when the file has lexical or syntax errors (its models are then not checked further). */
  syntaxErrors: boolean;
}

export function parseTfm(text: string, path: string, diags = new DiagnosticBag()): ParseResult {
  const before = diags.items.length;
  const lexed = tfmLexer.tokenize(text);
  for (const e of lexed.errors) {
    const span: Span = { file: path, start: e.offset, end: e.offset + Math.max(1, e.length) };
    const ch = text.slice(e.offset, e.offset + 1);
    diags.error(
      'TFM1001',
      { char: describeChar(ch) },
      { span, message: 'not part of the .tfm language' },
      { help: /[`$'\\]/.test(ch) ? 'names use only ASCII letters, digits and `_`; strings (import paths) use double quotes' : undefined },
    );
  }
  const tokens = lexed.tokens.filter((t) => {
    if (t.tokenType !== UnterminatedString) return true;
    diags.error('TFM1003', {}, { span: { file: path, start: t.startOffset, end: t.endOffset! + 1 }, message: 'string starts here' }, { help: 'close the string with `"` on the same line' });
    return false;
  });
  // Parsing and checking recurse on nesting: a nesting deeper than MAX_NESTING is refused here,
  // before the parser sees it, so that no input can exhaust the stack.
  const deep = tooDeep(tokens);
  if (deep) {
    diags.error('TFM1007', { what: `brackets, braces and signs nest more than ${MAX_NESTING} levels deep`, limit: MAX_NESTING }, { span: { file: path, start: deep.startOffset, end: deep.endOffset! + 1 }, message: 'nested too deeply here' }, { help: 'brackets, braces and signs (`-`) nest; write the value with fewer levels' });
    return { ast: { path, imports: [], models: [] }, diagnostics: diags, syntaxErrors: true };
  }
  const cst = parseTokens(tokens);
  for (const e of parser.errors) {
    const tok = e.token;
    const atEnd = tok.tokenType.name === 'EOF' || !Number.isFinite(tok.startOffset);
    const start = atEnd ? text.length : tok.startOffset;
    const span: Span = { file: path, start, end: atEnd ? text.length : tok.endOffset! + 1 };
    diags.error('TFM1002', { expected: expectedFrom(e.message), found: atEnd ? 'end of file' : describeToken(tok.image, tok.tokenType.name) }, { span, message: 'unexpected here' });
  }
  const ast = buildAst(cst, path, diags, parser.errors.length > 0);
  for (const e of expressions(ast)) {
    const depth = exprDepth(e);
    if (depth > MAX_EXPR_DEPTH) diags.error('TFM1007', { what: `expression is ${depth} levels deep`, limit: MAX_EXPR_DEPTH }, { span: e.span, message: 'this expression' }, { help: 'an expression of that many operators is not a size; compute it once as a number' });
  }
  const syntaxErrors = diags.items.slice(before).some((d) => d.code.startsWith('TFM1'));
  return { ast, diagnostics: diags, syntaxErrors };
}

function describeChar(ch: string): string {
  const code = ch.codePointAt(0) ?? 0;
  if (code < 32 || code === 127) return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  return ch === '`' ? '``` ` ```' : `\`${ch}\``;
}

function describeToken(image: string, type: string): string {
  if (type === 'Newline') return 'end of line';
  return `\`${image.length > 24 ? image.slice(0, 24) + '…' : image}\``;
}

/** Chevrotain's messages look like "Expecting token of type --> RCurly <-- but found --> ..."
 *  or "Expecting: one of these possible Token sequences: ..."; reduce them to a short phrase. */
function expectedFrom(message: string): string {
  const single = /Expecting --> (.+?) <--/.exec(message);
  if (single) return word(single[1]);
  const alts = [...message.matchAll(/^\s*\d+\. \[(.+?)\]$/gm)].map((m) => m[1].split(',')[0].trim());
  if (alts.includes('number') && alts.includes('Identifier')) return 'an expression';
  const words = [...new Set(alts.map(word))];
  if (words.length > 0) return words.length === 1 ? words[0] : `one of ${words.slice(0, 6).join(', ')}`;
  if (/Redundant input/.test(message)) return 'a declaration';
  return 'a statement';
}

/** Token labels (lexer.ts) are already phrased for people; only bare type names need words. */
function word(label: string): string {
  return ({ Identifier: 'a name', Model: '`model`', Extends: '`extends`', Import: '`import`', number: 'a number', string: 'a string' } as Record<string, string>)[label] ?? label;
}

/** Deepest nesting of brackets, braces and prefix signs the parser accepts. */
export const MAX_NESTING = 64;
/** Deepest expression tree the checker evaluates (a sum of n terms is n levels deep). */
export const MAX_EXPR_DEPTH = 256;

const OPEN = new Set(['LParen', 'LBracket', 'LCurly']);
const CLOSE = new Set(['RParen', 'RBracket', 'RCurly']);
const OPERAND_END = new Set(['Identifier', 'NumberLiteral', 'SpecialToken', 'StringLiteral', 'RParen', 'RBracket']);

/** The first token at which brackets, braces and prefix `-` signs nest deeper than MAX_NESTING. */
function tooDeep(tokens: IToken[]): IToken | undefined {
  let depth = 0;
  let signs = 0;
  let prev: string | undefined;
  for (const t of tokens) {
    const name = t.tokenType.name;
    if (OPEN.has(name)) depth++;
    else if (CLOSE.has(name)) depth = Math.max(0, depth - 1);
    if (name === 'Minus' && !(prev && OPERAND_END.has(prev))) signs++;
    else if (name !== 'Minus') signs = 0;
    if (depth + signs > MAX_NESTING) return t;
    prev = name;
  }
  return undefined;
}

/** Every top-level expression of a file (statement arguments, assignment values, call and
 *  list items are reached through them). */
function* expressions(ast: FileAst): Generator<Expr> {
  const items: Item[] = ast.models.flatMap((m) => m.items);
  while (items.length) {
    const item = items.pop()!;
    if (item.kind === 'assign') yield item.value;
    else {
      for (const a of item.args) if (a.kind === 'expr') yield a.expr;
      else if (a.kind === 'repeat') yield a.count;
      if (item.body) items.push(...item.body);
    }
  }
}

/** Depth of an expression tree, without recursion. */
function exprDepth(root: Expr): number {
  let max = 0;
  const stack: [Expr, number][] = [[root, 1]];
  while (stack.length) {
    const [e, d] = stack.pop()!;
    if (d > max) max = d;
    if (e.kind === 'unary') stack.push([e.operand, d + 1]);
    else if (e.kind === 'binary') stack.push([e.left, d + 1], [e.right, d + 1]);
    else if (e.kind === 'call') for (const a of e.args) stack.push([a.value, d + 1]);
    else if (e.kind === 'list') for (const i of e.items) stack.push([i, d + 1]);
  }
  return max;
}
