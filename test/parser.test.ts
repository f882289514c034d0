// The grammar: every AST node carries a span inside its file, names read back from their
// spans, and syntax errors are all collected (recovery), never thrown.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseTfm } from '../grammar/parse.ts';
import { tfmLexer } from '../grammar/lexer.ts';

function walk(node: unknown, visit: (n: Record<string, unknown>) => void): void {
  if (Array.isArray(node)) node.forEach((n) => walk(n, visit));
  else if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if ('kind' in o || 'span' in o) visit(o);
    for (const [k, v] of Object.entries(o)) if (k !== 'span' && k !== 'opSpan') walk(v, visit);
  }
}

describe('parser', () => {
  const specs = readdirSync('specs').filter((f) => f.endsWith('.tfm'));

  it.each(specs)('%s: every node has a span in the file; names read back from the source', (f) => {
    const text = readFileSync(`specs/${f}`, 'utf8');
    const { ast, diagnostics } = parseTfm(text, f);
    expect(diagnostics.items).toEqual([]);
    let leaves = 0;
    walk(ast.models, (n) => {
      if (n.kind === 'name' || n.kind === 'number') leaves++;
      const span = n.span as { file: string; start: number; end: number };
      expect(span, JSON.stringify(n).slice(0, 200)).toBeDefined();
      expect(span.file).toBe(f);
      expect(span.start).toBeGreaterThanOrEqual(0);
      expect(span.end).toBeLessThanOrEqual(text.length);
      expect(span.end).toBeGreaterThan(span.start);
      if (n.kind === 'name') expect(text.slice(span.start, span.end)).toBe(n.name);
      if (n.kind === 'number') expect(text.slice(span.start, span.end)).toBe(n.text);
    });
    // Every identifier and number token of the file is one name or number node of the AST.
    const tokens = tfmLexer.tokenize(text).tokens.filter((t) => t.tokenType.name === 'Identifier' || t.tokenType.name === 'NumberLiteral');
    expect(leaves).toBe(tokens.length);
  });

  it('folds operator precedence: 2 + 3 * 4 ** 2 is 2 + (3 * (4 ** 2))', () => {
    const { ast } = parseTfm('model m { dims { a = 2 + 3 * 4 ** 2 } }', 'p.tfm');
    const dims = ast.models[0].items[0];
    expect(dims.kind).toBe('statement');
    const assign = (dims as { body: { value: unknown }[] }).body[0].value as { op: string; right: { op: string; right: { op: string } } };
    expect(assign.op).toBe('+');
    expect(assign.right.op).toBe('*');
    expect(assign.right.right.op).toBe('**');
  });

  it('collects several syntax errors in one file and keeps parsing', () => {
    const src = 'model a {\n  dims { x = }\n}\nmodel b {\n  dims { y = (1 + }\n}\nmodel c { layout decoder }\n';
    const { ast, diagnostics, syntaxErrors } = parseTfm(src, 'e.tfm');
    expect(syntaxErrors).toBe(true);
    const errors = diagnostics.items.filter((d) => d.code === 'TFM1002');
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(new Set(errors.map((e) => src.slice(0, e.primary.span.start).split('\n').length))).toEqual(new Set([2, 5]));
    expect(ast.models.map((m) => m.name.name)).toEqual(['a', 'b', 'c']);
  });

  it('never throws on arbitrary bytes', () => {
    for (let i = 0; i < 200; i++) {
      const bytes = Array.from({ length: 1 + Math.floor(Math.random() * 200) }, () => String.fromCharCode(Math.floor(Math.random() * 0x3000))).join('');
      expect(() => parseTfm(bytes, 'r.tfm')).not.toThrow();
    }
  });
});
