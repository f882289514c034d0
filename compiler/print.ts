// The deterministic IR printer: the golden form of a graph. Values are renumbered in order
// of appearance, attributes sorted, spans shown as file:line:col, so two compiles of one
// spec print byte-identical text.
import type { AttrValue, Graph, Value } from './ir.ts';
import { shapeKey } from './ir.ts';
import type { SourceMap } from '../common/source.ts';

export function printGraph(g: Graph, sources?: SourceMap): string {
  const names = new Map<number, string>();
  const name = (v: Value) => {
    let n = names.get(v.id);
    if (!n) names.set(v.id, (n = `%${names.size}`));
    return n;
  };
  const lines = [`graph ${g.name}`];
  for (const p of g.params) {
    const init = p.init.kind === 'normal' ? `normal(std=${p.init.std})` : p.init.kind;
    lines.push(`  param ${name(p.value)} ${p.name}: ${shapeKey(p.value.shape)} ${p.value.dtype} init=${init}${p.decay ? ' decay' : ''}`);
  }
  for (const i of g.inputs) lines.push(`  input ${name(i.value)} ${i.name}: ${shapeKey(i.value.shape)} ${i.value.dtype}`);
  for (const n of g.nodes) {
    const outs = n.outputs.map(name).join(', ');
    const attrs = Object.keys(n.attrs)
      .sort()
      .filter((k) => n.attrs[k] !== undefined)
      .map((k) => `${k}=${attrText(n.attrs[k])}`);
    const types = n.outputs.map((v) => `${shapeKey(v.shape)}${v.dtype === 'i32' ? ' i32' : ''}`).join(', ');
    let where = '';
    if (n.span && sources) {
      const f = sources.get(n.span.file);
      const pos = f?.position(n.span.start);
      if (pos) where = `  # ${n.span.file}:${pos.line}:${pos.col}`;
    }
    lines.push(`  ${outs} = ${n.op}${attrs.length ? `{${attrs.join(', ')}}` : ''}(${n.inputs.map(name).join(', ')}) : ${types}${where}`);
  }
  for (const [k, v] of [...g.outputs].sort(([a], [b]) => a.localeCompare(b))) lines.push(`  output ${k} = ${name(v)}`);
  return lines.join('\n') + '\n';
}

function attrText(v: AttrValue): string {
  if (Array.isArray(v)) return `[${v.join(', ')}]`;
  return String(v);
}
