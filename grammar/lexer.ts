// Tokens of the .tfm language. Identifiers are a validated character set (ASCII letters,
// digits, `_`): nothing else can name a model, dim or variable, so spec contents can never
// smuggle quotes, backticks, `${}` or comment terminators into generated code.
import { createToken, Lexer, type TokenType } from 'chevrotain';

export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/ });
const keyword = (name: string) => createToken({ name, pattern: new RegExp(name.toLowerCase()), longer_alt: Identifier });
export const Model = keyword('Model');
export const Extends = keyword('Extends');
export const Import = keyword('Import');

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r]+/, group: Lexer.SKIPPED });
export const Comment = createToken({ name: 'Comment', pattern: /#[^\n]*/, group: Lexer.SKIPPED });
export const Newline = createToken({ name: 'Newline', pattern: /\n/, line_breaks: true, label: 'end of line' });
export const StringLiteral = createToken({ name: 'StringLiteral', pattern: /"[^"\n\\`$]*"/, label: 'string' });
export const UnterminatedString = createToken({ name: 'UnterminatedString', pattern: /"[^"\n]*/ });
export const SpecialToken = createToken({ name: 'SpecialToken', pattern: /<[A-Za-z_][A-Za-z0-9_]*>/, label: 'special token' });
export const NumberLiteral = createToken({
  name: 'NumberLiteral',
  pattern: /(?:\d[\d_]*(?:\.\d[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?/,
  label: 'number',
});
export const Arrow = createToken({ name: 'Arrow', pattern: /->/, label: '`->`' });
export const StarStar = createToken({ name: 'StarStar', pattern: /\*\*/, label: '`**`' });
export const Star = createToken({ name: 'Star', pattern: /\*/, label: '`*`' });
export const Slash = createToken({ name: 'Slash', pattern: /\//, label: '`/`' });
export const Plus = createToken({ name: 'Plus', pattern: /\+/, label: '`+`' });
export const Minus = createToken({ name: 'Minus', pattern: /-/, label: '`-`' });
export const Equals = createToken({ name: 'Equals', pattern: /=/, label: '`=`' });
export const LCurly = createToken({ name: 'LCurly', pattern: /\{/, label: '`{`' });
export const RCurly = createToken({ name: 'RCurly', pattern: /\}/, label: '`}`' });
export const LParen = createToken({ name: 'LParen', pattern: /\(/, label: '`(`' });
export const RParen = createToken({ name: 'RParen', pattern: /\)/, label: '`)`' });
export const LBracket = createToken({ name: 'LBracket', pattern: /\[/, label: '`[`' });
export const RBracket = createToken({ name: 'RBracket', pattern: /\]/, label: '`]`' });
export const Comma = createToken({ name: 'Comma', pattern: /,/, label: '`,`' });
export const Semicolon = createToken({ name: 'Semicolon', pattern: /;/, label: '`;`' });

export const allTokens: TokenType[] = [
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
