// Tokens of the .tfm language. Identifiers are a validated character set (ASCII letters,
// digits, `_`): nothing else can name a model, dim or variable, so spec contents can never
// smuggle quotes, backticks, `${}` or comment terminators into generated code.
import { createToken, Lexer, type TokenType } from 'chevrotain';

/** Every token that cannot begin a top-level declaration; lets the parser skip stray input
 *  after an error instead of reporting each following token again. */
export const Stray = createToken({ name: 'Stray', pattern: Lexer.NA });
export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/, categories: [Stray] });
const keyword = (name: string) => createToken({ name, pattern: new RegExp(name.toLowerCase()), longer_alt: Identifier });
export const Model = keyword('Model');
export const Extends = createToken({ name: 'Extends', pattern: /extends/, longer_alt: Identifier, categories: [Stray] });
export const Import = keyword('Import');

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r]+/, group: Lexer.SKIPPED });
export const Comment = createToken({ name: 'Comment', pattern: /#[^\n]*/, group: Lexer.SKIPPED });
export const Newline = createToken({ name: 'Newline', pattern: /\n/, line_breaks: true, label: 'end of line' });
export const StringLiteral = createToken({ name: 'StringLiteral', pattern: /"[^"\n\\`$]*"/, label: 'string', categories: [Stray] });
export const UnterminatedString = createToken({ name: 'UnterminatedString', pattern: /"[^"\n]*/, categories: [Stray] });
export const SpecialToken = createToken({ name: 'SpecialToken', pattern: /<[A-Za-z_][A-Za-z0-9_]*>/, label: 'special token', categories: [Stray] });
export const NumberLiteral = createToken({
  name: 'NumberLiteral',
  pattern: /(?:\d[\d_]*(?:\.\d[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?/,
  label: 'number',
  categories: [Stray],
});
export const Arrow = createToken({ name: 'Arrow', pattern: /->/, label: '`->`', categories: [Stray] });
export const StarStar = createToken({ name: 'StarStar', pattern: /\*\*/, label: '`**`', categories: [Stray] });
export const Star = createToken({ name: 'Star', pattern: /\*/, label: '`*`', categories: [Stray] });
export const Slash = createToken({ name: 'Slash', pattern: /\//, label: '`/`', categories: [Stray] });
export const Plus = createToken({ name: 'Plus', pattern: /\+/, label: '`+`', categories: [Stray] });
export const Minus = createToken({ name: 'Minus', pattern: /-/, label: '`-`', categories: [Stray] });
export const Equals = createToken({ name: 'Equals', pattern: /=/, label: '`=`', categories: [Stray] });
export const LCurly = createToken({ name: 'LCurly', pattern: /\{/, label: '`{`', categories: [Stray] });
export const RCurly = createToken({ name: 'RCurly', pattern: /\}/, label: '`}`', categories: [Stray] });
export const LParen = createToken({ name: 'LParen', pattern: /\(/, label: '`(`', categories: [Stray] });
export const RParen = createToken({ name: 'RParen', pattern: /\)/, label: '`)`', categories: [Stray] });
export const LBracket = createToken({ name: 'LBracket', pattern: /\[/, label: '`[`', categories: [Stray] });
export const RBracket = createToken({ name: 'RBracket', pattern: /\]/, label: '`]`', categories: [Stray] });
export const Comma = createToken({ name: 'Comma', pattern: /,/, label: '`,`' });
export const Semicolon = createToken({ name: 'Semicolon', pattern: /;/, label: '`;`' });

export const allTokens: TokenType[] = [
  Stray,
  WhiteSpace,
  Comment,
  Newline,
  StringLiteral,
  UnterminatedString,
  SpecialToken,
  NumberLiteral,
  Arrow,
  StarStar,
  Star,
  Slash,
  Plus,
  Minus,
  Equals,
  LCurly,
  RCurly,
  LParen,
  RParen,
  LBracket,
  RBracket,
  Comma,
  Semicolon,
  Model,
  Extends,
  Import,
  Identifier,
];

export const tfmLexer = new Lexer(allTokens, { positionTracking: 'full', ensureOptimizations: false });
