// generated/ is the compiler's output for specs/, committed: it must be byte-identical to
// what the compiler emits now (run `npm run generate` after changing the compiler or a spec),
// and two compiles of one spec must agree byte for byte.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { programJson } from '../common/program.ts';
import { checkFiles } from '../compiler/check.ts';
import { compile, type CompileOptions } from '../compiler/codegen/compile.ts';
import { TARGETS } from '../compiler/targets/index.ts';
import { torchFiles } from '../cli/torch.ts';

const same = (a: string | Uint8Array, b: string | Uint8Array) => (typeof a === 'string' ? a === b : typeof b !== 'string' && Buffer.from(a).equals(Buffer.from(b)));

const specs = readdirSync('specs').filter((f) => f.endsWith('.tfm')).sort();

describe('generated/', () => {
  it.each(specs.flatMap((s) => Object.keys(TARGETS).map((t) => [s, t] as const)))('%s: committed %s output is up to date', (file, target) => {
    const r = checkFiles([`specs/${file}`]);
    for (const m of r.models) {
      // The training program; for a decoder the inference program with a key/value cache; for
      // an encoder-decoder that and the encoder program of cached inference.
      const layout = m.model.layout?.value;
      const variants: [string, CompileOptions][] = [['', {}], ...(layout === 'encoder_decoder' ? [['-encode', { encode: true }] as [string, CompileOptions]] : []), ...(layout === 'decoder' || layout === 'encoder_decoder' ? [['-cache', { cache: true }] as [string, CompileOptions]] : [])];
      for (const [suffix, options] of variants) {
        const c = compile(m, TARGETS[target], r.program.sources, options);
        const dir = `generated/${m.model.name}/${target}${suffix}`;
        for (const [name, data] of Object.entries(c.files)) {
          expect(existsSync(`${dir}/${name}`), `${dir}/${name} is missing: run npm run generate`).toBe(true);
          expect(same(typeof data === 'string' ? readFileSync(`${dir}/${name}`, 'utf8') : readFileSync(`${dir}/${name}`), data), `${dir}/${name} is stale: run npm run generate`).toBe(true);
        }
        expect(readFileSync(`${dir}/program.json`, 'utf8') === programJson(c.program), `${dir}/program.json is stale: run npm run generate`).toBe(true);
        expect(readdirSync(dir).sort()).toEqual([...Object.keys(c.files), 'program.json'].sort());
      }
      expect(readdirSync(`generated/${m.model.name}`).sort()).toEqual([...Object.keys(TARGETS).flatMap((t) => variants.map(([suffix]) => `${t}${suffix}`)), 'torch'].sort());
    }
  });

  it.each(specs)('%s: committed torch output (the PyTorch module) is up to date', (file) => {
    const r = checkFiles([`specs/${file}`]);
    for (const m of r.models) {
      const files = torchFiles(m, r.program.sources);
      const dir = `generated/${m.model.name}/torch`;
      for (const [name, text] of Object.entries(files)) expect(existsSync(`${dir}/${name}`) && readFileSync(`${dir}/${name}`, 'utf8') === text, `${dir}/${name} is stale: run npm run generate`).toBe(true);
      expect(readdirSync(dir).sort()).toEqual(Object.keys(files).sort());
    }
  });

  it('holds nothing that specs/ does not produce', () => {
    const models = specs.flatMap((f) => checkFiles([`specs/${f}`]).models.map((m) => m.model.name));
    const dirs = readdirSync('generated', { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    expect(dirs.sort()).toEqual([...new Set(models)].sort());
  });

  it.each(Object.keys(TARGETS))('compiles byte-identically twice for %s', (target) => {
    const r = checkFiles(['specs/gpt3_small.tfm']);
    const a = compile(r.models[0], TARGETS[target], r.program.sources);
    const b = compile(checkFiles(['specs/gpt3_small.tfm']).models[0], TARGETS[target], r.program.sources);
    for (const name of Object.keys(a.files)) expect(same(a.files[name], b.files[name]), name).toBe(true);
    expect(JSON.stringify(b.program)).toBe(JSON.stringify(a.program));
    for (const text of Object.values(a.files)) if (typeof text === 'string') expect(text).not.toMatch(/\/work\/|\d{4}-\d\d-\d\dT/); // no absolute paths, no timestamps
  });
});
