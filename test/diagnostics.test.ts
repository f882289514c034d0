// The wrong-spec corpus: each case is named after the code it must produce, and its rendered
// diagnostics must equal the golden `.errors.txt` beside it (`npm run baseline:accept` rewrites them).
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CODES } from '../common/diagnostics.ts';
import { renderCase } from './diagnostics/render-case.ts';

const dir = 'test/diagnostics/cases';
const cases = readdirSync(dir).filter((f) => f.endsWith('.tfm')).sort();

describe('diagnostic corpus', () => {
  it('has at least 40 wrong specs', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  it('covers every diagnostic code of the checker (TFM1001–TFM3999) with at least one case', () => {
    const covered = new Set(cases.map((c) => c.slice(0, 7)));
    // TFM1000 and TFM4xxx–TFM9xxx are errors of the run commands, tested in test/hostile/ and beside them.
    const missing = Object.keys(CODES).filter((code) => /^TFM[123]\d{3}$/.test(code) && code !== 'TFM1000' && !covered.has(code));
    expect(missing).toEqual([]);
  });

  it.each(cases)('%s', (file) => {
    const path = join(dir, file);
    const expectedCode = file.slice(0, 7);
    const { text, codes } = renderCase(path);
    expect(codes).toContain(expectedCode);
    const baseline = path.replace(/\.tfm$/, '.errors.txt');
    expect(existsSync(baseline), `missing baseline ${baseline}: run npm run baseline:accept`).toBe(true);
    expect(text).toBe(readFileSync(baseline, 'utf8'));
  });
});
