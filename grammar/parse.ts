// parseTfm: source text → AST + syntax diagnostics. Never throws.
import { tfmLexer, UnterminatedString } from './lexer.ts';
import { parser, parseTokens } from './parser.ts';
import { buildAst } from './build-ast.ts';
import type { FileAst } from './ast.ts';
import { DiagnosticBag } from '../compiler/diagnostics.ts';
import type { Span } from '../compiler/source.ts';

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
  const cst = parseTokens(tokens);
  for (const e of parser.errors) {
    const tok = e.token;
    const atEnd = tok.tokenType.name === 'EOF' || !Number.isFinite(tok.startOffset);
    const start = atEnd ? text.length : tok.startOffset;
    const span: Span = { file: path, start, end: atEnd ? text.length : tok.endOffset! + 1 };
    diags.error('TFM1002', { expected: expectedFrom(e.message), found: atEnd ? 'end of file' : describeToken(tok.image, tok.tokenType.name) }, { span, message: 'unexpected here' });
  }
  const ast = buildAst(cst, path, diags, parser.errors.length > 0);
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
