// `npm run baseline:accept`: rewrites every golden file from what the compiler prints now —
// the diagnostic corpus (`.errors.txt`), the fusion cases (`.before.ir`, `.after.ir`) and
// `tfm diff`'s reports (test/diff/*.txt).
// Review the resulting `git diff` before committing it.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderCase } from './diagnostics/render-case.ts';
import { renderPassCase } from './passes/render-case.ts';
import { DIFF_GOLDENS, goldenPath, renderDiffCase } from './diff/render-case.ts';

let changed = 0;
const write = (path: string, text: string) => {
  if (!existsSync(path) || readFileSync(path, 'utf8') !== text) {
    writeFileSync(path, text);
    changed++;
    console.log(`updated ${path}`);
  }
};
const tfmFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.tfm')).sort().map((f) => join(dir, f));

for (const path of tfmFiles('test/diagnostics/cases')) write(path.replace(/\.tfm$/, '.errors.txt'), renderCase(path).text);
for (const path of tfmFiles('test/passes/cases')) {
  const { before, after } = renderPassCase(path);
  write(path.replace(/\.tfm$/, '.before.ir'), before);
  write(path.replace(/\.tfm$/, '.after.ir'), after);
}
for (const [name, format] of DIFF_GOLDENS) write(goldenPath(name, format), renderDiffCase(name, format));
console.log(`${changed} baseline(s) updated`);
