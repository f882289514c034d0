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
