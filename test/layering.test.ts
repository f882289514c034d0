// The layers of the code base, enforced: common/ is imported by everything and imports only
// itself; grammar/ (the language) imports common/; compiler/ imports grammar/ and common/;
// runtime/ runs generated programs and imports only common/ — the command line (cli/) is the
// driver that compiles and hands the program over. A test reads every import of every file.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const ALLOWED: Record<string, string[]> = {
  common: ['common'],
  grammar: ['grammar', 'common'],
  compiler: ['compiler', 'grammar', 'common'],
  runtime: ['runtime', 'common'],
};

function files(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : /\.(ts|mjs)$/.test(e.name) ? [join(dir, e.name)] : []));
}

/** Relative import specifiers: static imports and exports, dynamic import(), new URL(…). */
function imports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const found = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+|new URL\(\s*)(['"])(\.{1,2}\/[^'"]+)\1/g)].map((m) => m[2]);
  return found.map((spec) => relative(ROOT, resolve(ROOT, dirname(file), spec)));
}

describe('layering', () => {
  it.each(Object.keys(ALLOWED))('%s/ imports only from %s', (layer) => {
    const bad: string[] = [];
    for (const file of files(layer)) {
      for (const target of imports(file)) {
        const top = target.split('/')[0];
        if (!ALLOWED[layer].includes(top)) bad.push(`${file} → ${target}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('the scanner sees imports (it finds the runtime’s own and the CLI’s of the compiler)', () => {
    expect(imports('runtime/train.ts')).toContain('runtime/checkpoint.ts');
    expect(imports('cli/driver.ts')).toContain('compiler/codegen/compile.ts');
    expect(imports('runtime/worker.mjs')).toContain('runtime/executor.ts');
  });
});
