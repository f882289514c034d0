// rustc-style rendering: header, `-->` location, the source lines with `^^^` under the
// primary span and `---` under secondary spans, then `= help:`.
import type { Diagnostic, Label } from '../diagnostics.ts';
import type { SourceMap, SourceFile } from '../source.ts';

export interface HumanOptions {
  color?: boolean;
}

const paint = (on: boolean, code: string, s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);

export function renderHuman(d: Diagnostic, sources: SourceMap, opts: HumanOptions = {}): string {
  const color = opts.color ?? false;
  const sevColor = d.severity === 'error' ? '1;31' : '1;33';
  const out: string[] = [`${paint(color, sevColor, `${d.severity}[${d.code}]`)}${paint(color, '1', `: ${d.message}`)}`];
  const file = sources.get(d.primary.span.file);
  if (!file) {
    out.push(`  --> ${d.primary.span.file}`);
    if (d.note) out.push(`  = note: ${d.note}`);
    if (d.help) out.push(`  = help: ${d.help}`);
    return out.join('\n');
  }
  const here = file.position(d.primary.span.start);
  const sameFile = d.secondary.filter((l) => l.span.file === file.path);
  const otherFiles = d.secondary.filter((l) => l.span.file !== file.path);
  const labelled = [{ label: d.primary, primary: true }, ...sameFile.map((label) => ({ label, primary: false }))];
  const lineNumbers = labelled.map((l) => file.position(l.label.span.start).line);
  const otherLines = otherFiles.map((l) => sources.get(l.span.file)?.position(l.span.start).line ?? 1);
  const width = String(Math.max(...lineNumbers, ...otherLines, 1)).length;
  const gutter = ' '.repeat(width);
  const bar = paint(color, '1;34', '|');
  out.push(`${gutter}${paint(color, '1;34', '-->')} ${file.path}:${here.line}:${here.col}`);
  out.push(`${gutter} ${bar}`);
  out.push(...snippet(file, labelled, width, color));
  for (const label of otherFiles) {
    const other = sources.get(label.span.file);
    if (!other) continue;
    const pos = other.position(label.span.start);
    out.push(`${gutter}${paint(color, '1;34', ':::')} ${other.path}:${pos.line}:${pos.col}`);
    out.push(`${gutter} ${bar}`);
    out.push(...snippet(other, [{ label, primary: false }], width, color));
  }
  if (d.note) out.push(`${gutter} ${paint(color, '1;34', '=')} ${paint(color, '1', 'note')}: ${d.note}`);
  if (d.help) out.push(`${gutter} ${paint(color, '1;34', '=')} ${paint(color, '1', 'help')}: ${d.help}`);
  return out.join('\n');
}

function snippet(file: SourceFile, labels: { label: Label; primary: boolean }[], width: number, color: boolean): string[] {
  const byLine = new Map<number, { label: Label; primary: boolean }[]>();
  for (const l of labels) {
    const line = file.position(l.label.span.start).line;
    byLine.set(line, [...(byLine.get(line) ?? []), l]);
  }
  const bar = paint(color, '1;34', '|');
  const out: string[] = [];
  let previous: number | undefined;
  for (const line of [...byLine.keys()].sort((a, b) => a - b)) {
    if (previous !== undefined && line > previous + 1) out.push(paint(color, '1;34', '...'));
    previous = line;
    const text = file.lineText(line).replace(/\t/g, ' ');
    out.push(`${paint(color, '1;34', String(line).padStart(width))} ${bar} ${text}`);
    // Several labels on one line: one underline row each, primary first, left to right.
    const rows = byLine.get(line)!.sort((a, b) => Number(b.primary) - Number(a.primary) || a.label.span.start - b.label.span.start);
    for (const { label, primary } of rows) {
      const start = file.position(label.span.start);
      const endPos = file.position(label.span.end);
      const lastCol = endPos.line === start.line ? endPos.col : text.length + 1;
      const len = Math.max(1, lastCol - start.col);
      const marks = (primary ? '^' : '-').repeat(len);
      const note = label.message ? ` ${label.message}` : '';
      const painted = paint(color, primary ? '1;31' : '1;34', marks + note);
      out.push(`${' '.repeat(width)} ${bar} ${' '.repeat(start.col - 1)}${painted}`);
    }
  }
  return out;
}
