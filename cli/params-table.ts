// The `tfm params` table: one row per component, per-layer counts for repeated blocks,
// then the backbone (what the reference families publish) and the total with the head.
import type { CheckedModel } from '../compiler/check.ts';

const fmt = (n: number) => n.toLocaleString('en-US');

/** A ViT's patch arithmetic, which sets its sequence length: m = (H/p)·(W/p) patch tokens,
 *  plus one for `<cls>`. */
export function patchLine(m: CheckedModel): string | undefined {
  const img = m.model.inputs.image;
  const p = m.model.embed?.patches ?? m.model.stacks.find((s) => s.embed?.patches)?.embed?.patches;
  if (!img?.channels || !img.height || !img.width || !p) return undefined;
  const [c, h, w, size] = [img.channels.value, img.height.value, img.width.value, p.size.value];
  const [rows, cols] = [h / size, w / size];
  return `image ${c}×${h}×${w} in ${size}×${size} patches: ${rows} × ${cols} = ${rows * cols} patch tokens${p.cls ? ` + <cls> = ${rows * cols + 1} positions` : ' = positions'}`;
}

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
  const patches = patchLine(m);
  return [`${m.model.name}  (${m.model.nameSpan.file})`, ...(patches ? [patches] : []), line(header), rule, ...rows.map(line), rule, ...footer.map(line)].join('\n');
}
