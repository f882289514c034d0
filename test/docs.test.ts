// README's code table and the diagnostics table in common/diagnostics.ts stay in agreement.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { CODES } from '../common/diagnostics.ts';

it('README documents every diagnostic code, and only real ones', () => {
  const readme = readFileSync('README.md', 'utf8');
  const documented = [...readme.matchAll(/^\| (TFM\d{4}) \|/gm)].map((m) => m[1]);
  expect(documented.sort()).toEqual(Object.keys(CODES).sort());
});
