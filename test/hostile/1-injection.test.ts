// Defect 1: text from a user — the spec's file name, an import string, spec lines — reaches
// generated code only inside comments, escaped; loading the generated module runs nothing
// of it. The attack: a file name holding a newline followed by code, and an import string
// holding `*/`, a U+2028 line separator and code.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fresh, TINY_SPEC, tfm } from '../support/cli.ts';

describe('code injection through paths and import strings', () => {
  it('a file name with a newline and an import string with */ and U+2028 stay inside comments', async () => {
    const dir = fresh('inject');
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    // The imported file: its name holds `*/`, a line separator and code; its model is the parent,
    // so kernels built from its lines carry its path in their comments.
    const importName = `x*/ globalThis.__pwnedImport = 1; /*\u2028globalThis.__pwnedSep = 1;.tfm`;
    mkdirSync(dirname(join(dir, importName)), { recursive: true });
    writeFileSync(join(dir, importName), TINY_SPEC.replace('model tiny', 'model base'));
    const specName = 'evil\nglobalThis.__pwnedName = 1;\n.tfm';
    writeFileSync(join(dir, specName), `import "${importName}"\nmodel child extends base {\n  dims {\n    layers = 1\n  }\n}\n`);

    const r = tfm(['compile', specName, '--target', 'ts', '-o', 'out'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const source = readFileSync(join(dir, 'out/child/ts/kernels.ts'), 'utf8');
    // Every line that mentions the attack is a comment line; the escapes are visible.
    for (const line of source.split(/\r\n|[\n\r\u2028\u2029]/)) {
      if (line.includes('__pwned')) expect(line.trim(), line).toMatch(/^(\/\/|\*)/);
    }
    expect(source).toContain('evil\\u{000A}globalThis.__pwnedName');
    expect(source).toContain('*\\/ globalThis.__pwnedImport');
    expect(source).toContain('\\u{2028}globalThis.__pwnedSep');
    expect(source).not.toMatch(/[\u2028\u2029]/);

    // Loading the module (as forward, export and train do) runs none of it.
    const g = globalThis as Record<string, unknown>;
    const kernels = await import(pathToFileURL(join(dir, 'out/child/ts/kernels.ts')).href);
    expect(Object.keys(kernels).length).toBeGreaterThan(5);
    expect([g.__pwnedName, g.__pwnedImport, g.__pwnedSep]).toEqual([undefined, undefined, undefined]);
  });

  it('generated code names a spec outside the working folder by its file name, never an absolute path', () => {
    const dir = fresh('abs');
    const spec = join(dir, 'tiny.tfm');
    writeFileSync(spec, TINY_SPEC);
    const r = tfm(['compile', spec, '--target', 'ts', '--emit', 'ts']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('from tiny.tfm (model `tiny`)');
    expect(r.stdout).not.toContain(dir);
  });
});
