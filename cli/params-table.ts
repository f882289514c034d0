// The `tfm params` table: one row per component, per-layer counts for repeated blocks,
// then the backbone (what the reference families publish) and the total with the head.
import type { CheckedModel } from '../compiler/check.ts';

const fmt = (n: number) => n.toLocaleString('en-US');

export function formatParams(m: CheckedModel): string {
  const rows = m.params.rows.map((r) => [r.component, r.repeat ? fmt(r.params) : '', fmt(r.params * (r.repeat ?? 1))]);
  const header = ['component', 'per layer', 'params'];
  const footer = [
    ['backbone', '', fmt(m.params.backbone)],
    ['total', '', fmt(m.params.total)],
  ];
  const all = [header, ...rows, ...footer];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r: string[]) => `${r[0].padEnd(widths[0])}  ${r[1].padStart(widths[1])}  ${r[2].padStart(widths[2])}`;
  const rule = '─'.repeat(widths[0] + widths[1] + widths[2] + 4);
  return [`${m.model.name}  (${m.model.nameSpan.file})`, line(header), rule, ...rows.map(line), rule, ...footer.map(line)].join('\n');
}
