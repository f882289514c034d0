// Renders the diagnostics of one corpus case exactly as `tfm check` prints them (no color),
// which is the golden `.errors.txt` form.
import { checkFiles } from '../../compiler/check.ts';
import { renderHuman } from '../../compiler/render/human.ts';

export function renderCase(path: string): { text: string; codes: string[] } {
  const result = checkFiles([path]);
  const text = result.diagnostics.map((d) => renderHuman(d, result.program.sources)).join('\n\n') + '\n';
  return { text, codes: result.diagnostics.map((d) => d.code) };
}
