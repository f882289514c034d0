// `tfm diff` on the command line: the two sides, the report in the chosen form, the exit code.
import { diffSides, diffSpecs } from './diff.ts';
import { formatGithub, formatHuman, formatJson } from './diff-format.ts';

/** Exit 0 when the generated code is identical, 1 when it differs. */
export function diffCommand(files: string[], opts: { against?: string; target: string; format: string }, color = false): number {
  const { a, b } = diffSides(files, opts.against);
  const d = diffSpecs({ a, b, target: opts.target });
  const text = opts.format === 'json' ? formatJson(d) : opts.format === 'github' ? formatGithub(d) : formatHuman(d, color);
  process.stdout.write(text);
  return d.identical ? 0 : 1;
}
