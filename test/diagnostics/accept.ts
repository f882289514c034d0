// `npm run baseline:accept`: rewrites every `.errors.txt` beside the corpus cases from what
// the checker prints now. Review the resulting `git diff` before committing it.
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { renderCase } from './render-case.ts';

const dir = 'test/diagnostics/cases';
let changed = 0;
for (const f of readdirSync(dir).filter((f) => f.endsWith('.tfm')).sort()) {
  const path = join(dir, f);
  const out = path.replace(/\.tfm$/, '.errors.txt');
  const { text } = renderCase(path);
  if (!existsSync(out) || readFileSync(out, 'utf8') !== text) {
    writeFileSync(out, text);
    changed++;
    console.log(`updated ${out}`);
  }
}
console.log(`${changed} baseline(s) updated`);
