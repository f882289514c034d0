// Property test: 10,000 cases of the fuzzing engine (scripts/fuzz/engine.ts, the same as
// `npm run fuzz`): each a randomly mutated spec (token deletions, swaps, duplications,
// truncations, random bytes, nasty strings, extreme numbers) through parse + check + the
// renderers, and every fifth a mutated safetensors header and a mutated token file through
// their readers. No exception escapes but coded errors, every run finishes under a second,
// every rejected spec carries a coded diagnostic whose spans lie inside its file.
// The seed is fresh each run and printed; set TFM_FUZZ_SEED to replay a failure.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkFiles } from '../compiler/check.ts';
import { parseTfm } from '../grammar/parse.ts';
import type { Item } from '../grammar/ast.ts';
import { context, rng, runCase } from '../scripts/fuzz/engine.ts';

const RUNS = 10_000;
const seed = Number(process.env.TFM_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

describe(`fuzz: ${RUNS} cases of the fuzzing engine (seed ${seed})`, () => {
  it('never throws, stays under a second, and answers every mutant with coded, valid diagnostics', () => {
    const ctx = context();
    let rejected = 0;
    let slowest = 0;
    for (let i = 0; i < RUNS; i++) {
      const start = performance.now();
      const result = runCase(ctx, seed, i);
      const ms = performance.now() - start;
      slowest = Math.max(slowest, ms);
      const replay = `case ${i} (replay: npm run fuzz -- --seed ${seed} --replay ${i})`;
      expect(result.findings, replay).toEqual([]);
      expect(ms, replay).toBeLessThan(1000);
      if (result.rejected) rejected++;
    }
    console.log(`fuzz seed ${seed}: ${rejected}/${RUNS} spec mutants rejected, slowest case ${slowest.toFixed(1)} ms`);
    expect(rejected).toBeGreaterThan(RUNS / 2);
  });

  it('npm run fuzz finds nothing in a short run and says so in one summary line', () => {
    const r = spawnSync(process.execPath, ['node_modules/tsx/dist/cli.mjs', 'scripts/fuzz.ts', '--count', '400', '--seed', String(seed), '--workers', '2'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stdout + r.stderr).toMatch(new RegExp(`fuzz seed ${seed}: 400 spec mutants \\(\\d+ rejected\\), 80 safetensors headers, 80 token files in \\d+ s on 2 workers: 0 crashes, 0 invalid answers, 0 hangs over 1000 ms, 0 over 512 MiB`));
    expect(r.status, r.stderr).toBe(0);
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
