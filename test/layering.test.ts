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

  it('tsx\'s loader is registered through bin/tsx.mjs wherever the compiler may load, so that binaryen is never imported through it', () => {
    // Through tsx's loader binaryen's 15 MB index.js took ~30 s to import (1.4 s natively);
    // bin/tsx.mjs imports it natively first. The worker threads register tsx themselves: they
    // run generated kernels with the runtime, which imports nothing from compiler/ (above).
    const everything = ['bin', 'cli', 'common', 'compiler', 'grammar', 'runtime', 'scripts', 'bench', 'test'].flatMap((d) => files(d));
    const registering = everything.filter((f) => /['"]tsx\/esm\/api['"]/.test(readFileSync(join(ROOT, f), 'utf8')));
    expect(registering.sort()).toEqual(['bin/tsx.mjs', 'runtime/worker.mjs', 'scripts/fuzz/worker.mjs']);
    // The TypeScript that imports binaryen (plain .mjs files such as bench/peak.mjs run natively).
    const importsBinaryen = everything.filter((f) => f.endsWith('.ts') && /(from\s+|import\s*\(\s*)['"]binaryen['"]/.test(readFileSync(join(ROOT, f), 'utf8')));
    expect(importsBinaryen).toEqual(['compiler/targets/wasm/render.ts']);
    expect(readFileSync(join(ROOT, 'bin/tsx.mjs'), 'utf8')).toMatch(/^await import\('binaryen'\);\n(.*\n)?.*register\(\);/m);
    const scripts = Object.values((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts);
    expect(scripts.filter((c) => /(^|&&\s*)(npx\s+)?tsx\s/.test(c))).toEqual([]);
  });
});
