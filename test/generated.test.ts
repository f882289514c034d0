// generated/ is the compiler's output for specs/, committed: it must be byte-identical to
// what the compiler emits now (run `npm run generate` after changing the compiler or a spec),
// and two compiles of one spec must agree byte for byte.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { programJson } from '../common/program.ts';
import { checkFiles } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { tsTarget } from '../compiler/targets/ts/index.ts';

const specs = readdirSync('specs').filter((f) => f.endsWith('.tfm')).sort();

describe('generated/', () => {
  it.each(specs)('%s: committed CPU output is up to date', (file) => {
    const r = checkFiles([`specs/${file}`]);
    for (const m of r.models) {
      const c = compile(m, tsTarget, r.program.sources);
      const dir = `generated/${m.model.name}/ts`;
      expect(existsSync(`${dir}/kernels.ts`), `${dir} is missing: run npm run generate`).toBe(true);
      expect(readFileSync(`${dir}/kernels.ts`, 'utf8') === c.files['kernels.ts'], `${dir}/kernels.ts is stale: run npm run generate`).toBe(true);
      expect(readFileSync(`${dir}/program.json`, 'utf8') === programJson(c.program), `${dir}/program.json is stale: run npm run generate`).toBe(true);
    }
  });

  it('holds nothing that specs/ does not produce', () => {
    const models = specs.flatMap((f) => checkFiles([`specs/${f}`]).models.map((m) => m.model.name));
    const dirs = readdirSync('generated', { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    expect(dirs.sort()).toEqual([...new Set(models)].sort());
  });

  it('compiles byte-identically twice', () => {
    const r = checkFiles(['specs/gpt3_small.tfm']);
    const a = compile(r.models[0], tsTarget, r.program.sources);
    const b = compile(checkFiles(['specs/gpt3_small.tfm']).models[0], tsTarget, r.program.sources);
    expect(b.files['kernels.ts'] === a.files['kernels.ts']).toBe(true);
    expect(JSON.stringify(b.program)).toBe(JSON.stringify(a.program));
    expect(a.files['kernels.ts']).not.toMatch(/\/work\/|\d{4}-\d\d-\d\dT/); // no absolute paths, no timestamps
  });
});
