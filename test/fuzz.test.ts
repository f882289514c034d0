// Property test: 10,000 randomly mutated specs (token deletions, swaps, duplications,
// truncations, random bytes, random numbers) through parse + check. No exception escapes,
// every run finishes under a second, every rejected input carries at least one coded
// diagnostic, and every span (primary and secondary) lies inside its file.
// The seed is fresh each run and printed; set TFM_FUZZ_SEED to replay a failure.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkFiles } from '../compiler/check.ts';
import { renderHuman } from '../compiler/render/human.ts';
import { tfmLexer } from '../grammar/lexer.ts';
import { parseTfm } from '../grammar/parse.ts';
import type { Item } from '../grammar/ast.ts';

const RUNS = 10_000;
const seed = Number(process.env.TFM_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

function rng(s: number): () => number {
  // mulberry32
  return () => {
    s |= 0;
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const corpus = new Map<string, string>();
for (const f of readdirSync('specs')) if (f.endsWith('.tfm')) corpus.set(`specs/${f}`, readFileSync(`specs/${f}`, 'utf8'));
for (const f of readdirSync('test/diagnostics/cases')) if (f.endsWith('.tfm')) corpus.set(`test/diagnostics/cases/${f}`, readFileSync(`test/diagnostics/cases/${f}`, 'utf8'));
const sources = [...corpus.entries()];

const NASTY = ['`', '${', '}', '*/', '/*', '"', "'", '\\', '\n', '\r', '\t', '\0', 'é', '😀', '\u2028', '<', '>', '<<', '->', '**', '(', ')', '[', ']', '{', '=', ',', ';', '#', '1e308', '1e999', '-0', '0', '-1', '0.5', '99999999999999999999', 'model', 'extends', 'import', 'x', 'memory', 'block', 'alternate(', 'local(', 'seq'];

function mutate(text: string, r: () => number): string {
  const toks = tfmLexer.tokenize(text).tokens;
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const n = 1 + Math.floor(r() * 4);
  let out = text;
  for (let k = 0; k < n; k++) {
    const kind = Math.floor(r() * 7);
    const tk = toks.length ? pick(toks) : undefined;
    if (kind === 0 && tk) out = out.slice(0, tk.startOffset) + out.slice(tk.endOffset! + 1); // delete a token
    else if (kind === 1 && toks.length > 1) {
      // swap two tokens
      const [a, b] = [pick(toks), pick(toks)].sort((x, y) => x.startOffset - y.startOffset);
      if (a.endOffset! < b.startOffset && b.endOffset! < out.length) out = out.slice(0, a.startOffset) + b.image + out.slice(a.endOffset! + 1, b.startOffset) + a.image + out.slice(b.endOffset! + 1);
    } else if (kind === 2) out = out.slice(0, Math.floor(r() * out.length)); // truncate
    else if (kind === 3) {
      // random bytes
      const at = Math.floor(r() * out.length);
      const bytes = Array.from({ length: 1 + Math.floor(r() * 6) }, () => String.fromCharCode(Math.floor(r() * 256))).join('');
      out = out.slice(0, at) + bytes + out.slice(at);
    } else if (kind === 4) {
      const at = Math.floor(r() * out.length);
      out = out.slice(0, at) + pick(NASTY) + out.slice(at);
    } else if (kind === 5 && tk && tk.endOffset! < out.length) out = out.slice(0, tk.startOffset) + tk.image + ' ' + out.slice(tk.startOffset); // duplicate
    else if (kind === 6) out = out.replace(/\b\d+(\.\d+)?\b/, pick(['0', '-3', '7', '1e9', '0.25', '2048', '13']));
  }
  return out;
}

describe(`fuzz: ${RUNS} mutated specs (seed ${seed})`, () => {
  it('never throws, stays under a second, and reports every rejection with a coded, valid span', () => {
    const r = rng(seed);
    let rejected = 0;
    let slowest = 0;
    for (let i = 0; i < RUNS; i++) {
      const [path, original] = sources[Math.floor(r() * sources.length)];
      const text = mutate(original, r);
      const files = new Map(corpus);
      files.set(path, text);
      const read = (p: string) => {
        const t = files.get(p);
        if (t === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
        return t;
      };
      const context = `run ${i}, seed ${seed}, mutating ${path}:\n${text}`;
      const start = performance.now();
      let result;
      try {
        result = checkFiles([path], read);
      } catch (e) {
        throw new Error(`checker threw (${(e as Error).stack}) on ${context}`);
      }
      const ms = performance.now() - start;
      slowest = Math.max(slowest, ms);
      expect(ms, context).toBeLessThan(1000);
      const errors = result.diagnostics.filter((d) => d.severity === 'error');
      if (errors.length) rejected++;
      for (const d of result.diagnostics) {
        expect(d.code, context).toMatch(/^TFM[1-4]\d{3}$/);
        expect(d.message.length, context).toBeGreaterThan(0);
        for (const label of [d.primary, ...d.secondary]) {
          const src = result.program.sources.get(label.span.file);
          expect(src, `span in unknown file ${label.span.file}; ${context}`).toBeDefined();
          expect(label.span.start, context).toBeGreaterThanOrEqual(0);
          expect(label.span.end, context).toBeGreaterThanOrEqual(label.span.start);
          expect(label.span.end, context).toBeLessThanOrEqual(src!.text.length);
        }
        expect(() => renderHuman(d, result.program.sources), context).not.toThrow();
      }
      // Accepted models only ever carry validated identifiers as names.
      for (const m of result.models) expect(m.model.name, context).toMatch(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/);
    }
    console.log(`fuzz seed ${seed}: ${rejected}/${RUNS} mutants rejected, slowest ${slowest.toFixed(1)} ms`);
    expect(rejected).toBeGreaterThan(RUNS / 2);
  });
});

// Mutants that insert one statement or assignment into a block of a valid spec: a setting
// written as an assignment, a second sub-layer, a stray body line, ... None may leave the
// model with fewer parameters and no diagnostic (the defect where `dropout = 0.1` turned a
// block into the identity, silently). The one legitimate way to lose parameters by adding a
// line, `bias off`, may remove exactly the biases: the floor is the count with `bias off`.
const INSERTS = ['dropout 0.1', 'dropout = 0.1', 'dropout 0.0', 'bias off', 'bias on', 'bias = off', 'norm pre layernorm', 'norm post rmsnorm', 'norm = rmsnorm', 'mlp 16 act relu', 'mlp = 16', 'attention self heads 2 mask causal', 'attention cross heads 2', 'heads = 2', 'd_model = 8', 'layers = 1', 'h = x', 'x = x', 'y = norm(x)', 'x = norm(x)', 'x = dropout(x)', 'x = x * 0.5', 'z = 0.5', 'x = x + mlp(norm(x))', 'x = x + attention(norm(x))', 'x = x + attention(norm(x)) + mlp(norm(x))', 'n = norm(x)', 'dropuot = 0.1', 'mpl = 16', 'x = linear(x, 8)', 'memory = x'];

const validSources = [...readdirSync('specs').map((f) => `specs/${f}`), ...readdirSync('test/valid').map((f) => `test/valid/${f}`)].filter((p) => p.endsWith('.tfm'));

function blockBodies(items: Item[]): Item[][] {
  return items.flatMap((i) => (i.kind !== 'statement' ? [] : i.keyword.name === 'block' && i.body ? [i.body] : blockBodies(i.body ?? [])));
}

function totals(path: string, read: (p: string) => string): Map<string, number> | undefined {
  const r = checkFiles([path], read);
  if (r.diagnostics.length > 0) return undefined;
  return new Map(r.models.map((m) => [m.model.name, m.params.total]));
}

describe(`fuzz: statements inserted into valid blocks (seed ${seed})`, () => {
  it('never lose parameters without a diagnostic', () => {
    const r = rng(seed ^ 0x5bd1e995);
    const disk = (p: string) => readFileSync(p, 'utf8');
    let diagnosed = 0;
    const RUNS_INSERT = 600;
    for (let i = 0; i < RUNS_INSERT; i++) {
      const path = validSources[Math.floor(r() * validSources.length)];
      const text = disk(path);
      const bodies = parseTfm(text, path).ast.models.flatMap((m) => blockBodies(m.items));
      if (bodies.length === 0) continue;
      const body = bodies[Math.floor(r() * bodies.length)];
      const after = body[Math.floor(r() * body.length)];
      const insert = INSERTS[Math.floor(r() * INSERTS.length)];
      const at = after.span.end;
      const withLine = (line: string) => text.slice(0, at) + `\n    ${line}` + text.slice(at);
      const mutated = withLine(insert);
      const read = (p: string) => (p === path ? mutated : disk(p));
      const context = `run ${i}, seed ${seed}: inserted \`${insert}\` into ${path} at offset ${at}`;
      const before = totals(path, disk);
      expect(before, `${path} must check clean`).toBeDefined();
      const result = checkFiles([path], read);
      if (result.diagnostics.length > 0) {
        diagnosed++;
        continue;
      }
      const floor = totals(path, (p) => (p === path ? withLine('bias off') : disk(p)));
      for (const m of result.models) {
        const least = Math.min(before!.get(m.model.name)!, floor?.get(m.model.name) ?? Infinity);
        expect(m.params.total, `${context}: model \`${m.model.name}\` lost parameters without a diagnostic`).toBeGreaterThanOrEqual(least);
      }
    }
    console.log(`insertion fuzz seed ${seed}: ${diagnosed}/${RUNS_INSERT} insertions diagnosed`);
  });
});
