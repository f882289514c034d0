// The golden outputs of `tfm diff` (test/diff/<case>.<format>.txt): each case's spec against
// test/diff/base.tfm, for the TypeScript target. Shared by diff.test.ts and `npm run baseline:accept`.
import { diffSides, diffSpecs } from '../../cli/diff.ts';
import { formatGithub, formatHuman, formatJson } from '../../cli/diff-format.ts';

export const DIFF_GOLDENS: [string, 'human' | 'json' | 'github'][] = [
  ['heads', 'human'],
  ['heads', 'json'],
  ['layer', 'human'],
  ['layer', 'json'],
  ['two', 'github'],
];

export const goldenPath = (name: string, format: string) => `test/diff/${name}.${format}.txt`;

export function renderDiffCase(name: string, format: 'human' | 'json' | 'github'): string {
  const d = diffSpecs({ ...diffSides(['test/diff/base.tfm', `test/diff/${name}.tfm`]), target: 'ts' });
  return format === 'json' ? formatJson(d) : format === 'github' ? formatGithub(d) : formatHuman(d);
}
