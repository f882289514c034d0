#!/usr/bin/env node
// Entry point of the `tfm` command. Runs the compiled bundle dist/tfm.mjs (`npm run build`,
// run by `npm ci`) while it is newer than every TypeScript source; otherwise — a source was
// edited since the last build, or there is no build — the sources themselves through tsx's
// loader (bin/tsx.mjs). Either way the same code runs; the bundle only starts faster.
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bundle = `${root}dist/tfm.mjs`;

function newestSource(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function bundleIsFresh() {
  try {
    const built = statSync(bundle).mtimeMs;
    return ['cli', 'common', 'compiler', 'grammar', 'runtime'].every((d) => newestSource(`${root}${d}`) <= built);
  } catch {
    return false;
  }
}

let main;
if (bundleIsFresh()) ({ main } = await import(bundle));
else {
  await import('./tsx.mjs');
  ({ main } = await import('../cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
