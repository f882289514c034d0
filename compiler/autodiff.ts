// differentiate: reverse-mode differentiation of the tensor graph at compile time. The
// backward pass is appended to the same graph as ordinary nodes (each op's rule in ops.ts
// writes its gradient as more graph), so it is fused, planned and generated like the
// forward pass — there is no run-time tape.
import type { Graph, Node, Value } from './ir.ts';
import { sameShape } from './ir.ts';
import { OPS } from './ops.ts';

export function differentiate(g: Graph, loss: Value): Map<string, Value> {
  if (loss.shape.length !== 0) throw new Error('differentiate: the loss must be a scalar');
  const paramIds = new Set(g.params.map((p) => p.value.id));
  // Values that depend on a parameter: only they carry gradients.
  const live = new Set(paramIds);
  for (const n of g.nodes) if (n.inputs.some((v) => live.has(v.id))) n.outputs.forEach((v) => live.add(v.id));
  if (!live.has(loss.id)) throw new Error('differentiate: the loss does not depend on any parameter');

  const grads = new Map<number, Value>();
  const accumulate = (v: Value, d: Value) => {
    if (!sameShape(v.shape, d.shape)) throw new Error(`internal: gradient ${d.shape} for value of shape ${v.shape}`);
    const prior = grads.get(v.id);
    grads.set(v.id, prior ? g.add('add', [prior, d], [{ shape: v.shape }])[0] : d);
  };
  // d loss / d loss = 1, from the line that defines the loss.
  grads.set(loss.id, g.add('fill', [], [{ shape: [] }], { value: 1, shape: [] }, loss.node?.span)[0]);

  const forward: Node[] = g.nodes.slice();
  for (let i = forward.length - 1; i >= 0; i--) {
    const node = forward[i];
    const dOut = node.outputs.map((v) => grads.get(v.id));
    if (dOut.every((d) => d === undefined)) continue;
    if (!node.inputs.some((v) => live.has(v.id))) continue;
    const rule = OPS[node.op]?.backward;
    if (!rule) throw new Error(`internal: op ${node.op} has no gradient rule`);
    const first = g.nodes.length;
    const dIn = rule(g, node, dOut);
    node.inputs.forEach((v, k) => {
      const d = dIn[k];
      if (d && live.has(v.id) && v.dtype === 'f32') accumulate(v, d);
    });
    // The backward of a node comes from the same spec line as the node itself.
    for (let j = first; j < g.nodes.length; j++) g.nodes[j].span ??= node.span;
  }

  const out = new Map<string, Value>();
  for (const p of g.params) {
    const d = grads.get(p.value.id) ?? g.add('fill', [], [{ shape: p.value.shape }], { value: 0, shape: p.value.shape })[0];
    out.set(p.name, d);
    g.outputs.set(`grad:${p.name}`, d);
  }
  return out;
}
