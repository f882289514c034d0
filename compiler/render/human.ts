// rustc-style rendering: header, `-->` location, the source lines with `^^^` under the
// primary span and `---` under secondary spans, then `= help:`.
import { escapeInvisible } from '../../common/text.ts';
import type { Diagnostic, Label } from '../../common/diagnostics.ts';
import type { SourceMap, SourceFile } from '../../common/source.ts';

export interface HumanOptions {
  color?: boolean;
}

const paint = (on: boolean, code: string, s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);

/** Spec text as a terminal shows it: control, bidirectional and zero-width characters as
 *  `<U+XXXX>`, so that a spec cannot restyle, rewrite or reorder its own diagnostics. */
export const visible = (s: string): string => escapeInvisible(s, (code) => `<U+${code}>`);

/** Source lines wider than this are shown as a window around their labels. */
const MAX_LINE = 160;

/** Diagnostics printed in the human format: a file of garbage can hold thousands. */
export const MAX_SHOWN = 100;

/** Renders a list, the first MAX_SHOWN of it, and says how many more there are. */
export function renderHumanList(diags: Diagnostic[], sources: SourceMap, opts: HumanOptions = {}): string {
  const shown = diags.slice(0, MAX_SHOWN).map((d) => renderHuman(d, sources, opts) + '\n');
  if (diags.length > MAX_SHOWN) shown.push(`… and ${diags.length - MAX_SHOWN} more not shown (--format json lists them all)\n`);
  return shown.join('\n');
}

export function renderHuman(d: Diagnostic, sources: SourceMap, opts: HumanOptions = {}): string {
  const color = opts.color ?? false;
  const sevColor = d.severity === 'error' ? '1;31' : '1;33';
  const out: string[] = [`${paint(color, sevColor, `${d.severity}[${d.code}]`)}${paint(color, '1', `: ${visible(d.message)}`)}`];
  const file = sources.get(d.primary.span.file);
  if (!file) {
    if (d.primary.span.file) out.push(`  --> ${visible(d.primary.span.file)}`);
    if (d.note) out.push(`  = note: ${visible(d.note)}`);
    if (d.help) out.push(`  = help: ${visible(d.help)}`);
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
  out.push(`${gutter}${paint(color, '1;34', '-->')} ${visible(file.path)}:${here.line}:${here.col}`);
  out.push(`${gutter} ${bar}`);
  out.push(...snippet(file, labelled, width, color));
  for (const label of otherFiles) {
    const other = sources.get(label.span.file);
    if (!other) continue;
    const pos = other.position(label.span.start);
    out.push(`${gutter}${paint(color, '1;34', ':::')} ${visible(other.path)}:${pos.line}:${pos.col}`);
    out.push(`${gutter} ${bar}`);
    out.push(...snippet(other, [{ label, primary: false }], width, color));
  }
  if (d.note) out.push(`${gutter} ${paint(color, '1;34', '=')} ${paint(color, '1', 'note')}: ${visible(d.note)}`);
  if (d.help) out.push(`${gutter} ${paint(color, '1;34', '=')} ${paint(color, '1', 'help')}: ${visible(d.help)}`);
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
    const raw = file.lineText(line).replace(/\t/g, ' ');
    // Columns of the shown text: escapes widen it, a long line is cut to a window.
    const col = (c: number) => visible(raw.slice(0, c - 1)).length;
    const shown = visible(raw);
    const rows = byLine.get(line)!.sort((a, b) => Number(b.primary) - Number(a.primary) || a.label.span.start - b.label.span.start);
    const spans = rows.map(({ label }) => {
      const start = file.position(label.span.start);
      const endPos = file.position(label.span.end);
      const from = col(start.col);
      return [from, Math.max(from + 1, endPos.line === start.line ? col(endPos.col) : shown.length)] as const;
    });
    let w0 = 0;
    let w1 = shown.length;
    if (shown.length > MAX_LINE) {
      w0 = Math.max(0, Math.min(...spans.map((x) => x[0])) - 40);
      w1 = Math.min(shown.length, w0 + MAX_LINE);
    }
    const lead = w0 > 0 ? '…' : '';
    const text = lead + shown.slice(w0, w1) + (w1 < shown.length ? '…' : '');
    out.push(`${paint(color, '1;34', String(line).padStart(width))} ${bar} ${text}`);
    // Several labels on one line: one underline row each, primary first, left to right.
    rows.forEach(({ label, primary }, k) => {
      const from = Math.min(Math.max(spans[k][0], w0), w1);
      const to = Math.max(Math.min(spans[k][1], w1), from + 1);
      const marks = (primary ? '^' : '-').repeat(to - from);
      const note = label.message ? ` ${visible(label.message)}` : '';
      const painted = paint(color, primary ? '1;31' : '1;34', marks + note);
      out.push(`${' '.repeat(width)} ${bar} ${' '.repeat(from - w0 + lead.length)}${painted}`);
    });
  }
  return out;
}
