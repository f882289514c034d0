// The .tfm grammar. Deliberately small: a model is a list of statements
// `keyword arg* { statement* }?` and assignments `name = expr`. What each statement means is
// data (compiler/schema.ts), which keeps the grammar stable and lets semantic errors say
// "unknown statement `atention`; did you mean `attention`?" instead of a parser error.
//
//   file       := (import | model | sep | STRAY)*   -- stray tokens are reported once, see build-ast
//   import     := 'import' STRING
//   model      := 'model' IDENT ('extends' IDENT)? body
//   body       := '{' (statement | sep)* '}'
//   statement  := IDENT '=' expr | IDENT arg* body?
//   arg        := '->' | '*' expr | expr
//   expr       := term (('+' | '-') term)*
//
// Statement arguments are juxtaposed (`positions learned (h / p) * (w / p)`), so inside an
// argument `name(` is a call only when the `(` touches the name: `local(128)` is a call,
// `learned (h / p)` is the word `learned` followed by a parenthesised size. Everywhere else
// (block bodies, dims, call arguments, parentheses) a space before `(` changes nothing.
//   term       := power (('*' | '/') power)*
//   power      := unary ('**' unary)?
//   unary      := '-' unary | primary
//   primary    := NUMBER | SPECIAL | STRING | IDENT ('(' callArgs? ')')? | '(' expr ')' | '[' list ']'
import { CstParser, type CstNode, type IToken } from 'chevrotain';
import * as T from './lexer.ts';

class TfmParser extends CstParser {
  constructor() {
    super(T.allTokens, { recoveryEnabled: true, maxLookahead: 3, nodeLocationTracking: 'onlyOffset' });
    this.performSelfAnalysis();
  }

  file = this.RULE('file', () => {
    this.MANY(() =>
      this.OR([
        { ALT: () => this.SUBRULE(this.importDecl) },
        { ALT: () => this.SUBRULE(this.modelDecl) },
        { ALT: () => this.SUBRULE(this.sep) },
        { ALT: () => this.CONSUME(T.Stray) },
      ]),
    );
  });

  sep = this.RULE('sep', () => {
    this.OR([{ ALT: () => this.CONSUME(T.Newline) }, { ALT: () => this.CONSUME(T.Semicolon) }, { ALT: () => this.CONSUME(T.Comma) }]);
  });

  importDecl = this.RULE('importDecl', () => {
    this.CONSUME(T.Import);
    this.CONSUME(T.StringLiteral);
  });

  modelDecl = this.RULE('modelDecl', () => {
    this.CONSUME(T.Model);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.OPTION(() => {
      this.CONSUME(T.Extends);
      this.CONSUME2(T.Identifier, { LABEL: 'parent' });
    });
    this.SUBRULE(this.body);
  });

  body = this.RULE('body', () => {
    this.CONSUME(T.LCurly);
    this.MANY(() => this.OR([{ ALT: () => this.SUBRULE(this.statement) }, { ALT: () => this.SUBRULE(this.sep) }]));
    this.CONSUME(T.RCurly);
  });

  statement = this.RULE('statement', () => {
    this.CONSUME(T.Identifier, { LABEL: 'keyword' });
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Equals);
          this.SUBRULE(this.expr, { LABEL: 'value' });
        },
      },
      {
        ALT: () => {
          this.MANY(() => this.SUBRULE(this.arg));
          this.OPTION(() => this.SUBRULE(this.body));
        },
      },
    ]);
  });

  arg = this.RULE('arg', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Arrow) },
      {
        ALT: () => {
          this.CONSUME(T.Star);
          this.SUBRULE(this.expr, { LABEL: 'repeat' });
        },
      },
      { ALT: () => this.SUBRULE2(this.expr, { ARGS: [true] }) },
    ]);
  });

  // `inArg`: this expression is a juxtaposed statement argument (see the header).
  expr = this.RULE('expr', (inArg?: boolean) => {
    this.SUBRULE(this.term, { LABEL: 'operands', ARGS: [inArg] });
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Plus, { LABEL: 'ops' }) }, { ALT: () => this.CONSUME(T.Minus, { LABEL: 'ops' }) }]);
      this.SUBRULE2(this.term, { LABEL: 'operands', ARGS: [inArg] });
    });
  });

  term = this.RULE('term', (inArg?: boolean) => {
    this.SUBRULE(this.power, { LABEL: 'operands', ARGS: [inArg] });
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Star, { LABEL: 'ops' }) }, { ALT: () => this.CONSUME(T.Slash, { LABEL: 'ops' }) }]);
      this.SUBRULE2(this.power, { LABEL: 'operands', ARGS: [inArg] });
    });
  });

  power = this.RULE('power', (inArg?: boolean) => {
    this.SUBRULE(this.unary, { LABEL: 'operands', ARGS: [inArg] });
    this.OPTION(() => {
      this.CONSUME(T.StarStar, { LABEL: 'ops' });
      this.SUBRULE2(this.unary, { LABEL: 'operands', ARGS: [inArg] });
    });
  });

  unary = this.RULE('unary', (inArg?: boolean) => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Minus);
          this.SUBRULE(this.unary, { ARGS: [inArg] });
        },
      },
      { ALT: () => this.SUBRULE(this.primary, { ARGS: [inArg] }) },
    ]);
  });

  primary = this.RULE('primary', (inArg?: boolean) => {
    this.OR([
      { ALT: () => this.CONSUME(T.NumberLiteral) },
      { ALT: () => this.CONSUME(T.SpecialToken) },
      { ALT: () => this.CONSUME(T.StringLiteral) },
      {
        ALT: () => {
          const name = this.CONSUME(T.Identifier);
          this.OPTION({
            GATE: () => !inArg || this.LA(1).startOffset === name.endOffset! + 1,
            DEF: () => {
              this.CONSUME(T.LParen);
              this.MANY(() => this.CONSUME(T.Newline));
              this.OPTION2(() => this.SUBRULE(this.callArgs));
              this.CONSUME(T.RParen);
            },
          });
        },
      },
      {
        ALT: () => {
          this.CONSUME2(T.LParen);
          this.SUBRULE(this.expr);
          this.CONSUME2(T.RParen);
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.LBracket);
          this.MANY3(() => this.CONSUME3(T.Newline));
          this.OPTION3(() => this.SUBRULE(this.list));
          this.CONSUME(T.RBracket);
        },
      },
    ]);
  });

  callArgs = this.RULE('callArgs', () => {
    this.SUBRULE(this.callArg);
    this.MANY(() => {
      this.CONSUME(T.Comma);
      this.MANY2(() => this.CONSUME(T.Newline));
      this.SUBRULE2(this.callArg);
    });
  });

  callArg = this.RULE('callArg', () => {
    this.OPTION(() => {
      this.CONSUME(T.Identifier, { LABEL: 'name' });
      this.CONSUME(T.Equals);
    });
    this.SUBRULE(this.expr);
    this.MANY(() => this.CONSUME(T.Newline));
  });

  list = this.RULE('list', () => {
    this.SUBRULE(this.expr);
    this.MANY(() => this.CONSUME(T.Newline));
    this.MANY2(() => {
      this.CONSUME(T.Comma);
      this.MANY3(() => this.CONSUME2(T.Newline));
      this.SUBRULE2(this.expr);
      this.MANY4(() => this.CONSUME3(T.Newline));
    });
  });
}

export const parser = new TfmParser();

export function parseTokens(tokens: IToken[]): CstNode {
  parser.input = tokens;
  return parser.file();
}
