// Fusion as data-driven rewrites of the tensor graph (run after autodiff, on forward and
// backward together). Each rule matches a small pattern of nodes and replaces it with one
// fused op that writes every value the rest of the graph still reads, so later uses —
// including the backward pass — are rewired, never recomputed.
//
//   matmul_epilogue   act?(matmul(x, W) + b)            → one kernel: bias and activation in
//                                                          the matmul's store (writes pre & post)
//   add_norm          norm(x + y)                       → one kernel: residual add + layernorm /
//                                                          rmsnorm (writes the sum & the normed)
// Attention (scale + mask + softmax + dropout) and softmax + cross-entropy are single ops
// from lowering on, and the AdamW update is one kernel over all parameters.
import type { Graph, Node, Value } from '../ir.ts';
import { sameShape } from '../ir.ts';

export interface FusionRule {
  name: string;
  /** Tries to fuse at `node`; returns the replaced nodes and the new one, or undefined. */
  apply(g: Graph, node: Node, uses: Map<number, Node[]>): { removed: Node[]; added: Node } | undefined;
}

const onlyUse = (uses: Map<number, Node[]>, v: Value): Node | undefined => {
  const u = uses.get(v.id) ?? [];
  return u.length === 1 ? u[0] : undefined;
};

export const FUSION_RULES: FusionRule[] = [
  {
    name: 'matmul_epilogue',
    apply(g, mm, uses) {
      if (mm.op !== 'matmul' || mm.attrs.ta || isOutput(g, mm.outputs[0])) return undefined;
      const addNode = onlyUse(uses, mm.outputs[0]);
      if (!addNode || addNode.op !== 'add' || addNode.inputs[0] !== mm.outputs[0]) return undefined;
      const bias = addNode.inputs[1];
      const n = mm.outputs[0].shape[mm.outputs[0].shape.length - 1];
      if (bias.shape.length !== 1 || bias.shape[0] !== n) return undefined;
      const actNode = (uses.get(addNode.outputs[0].id) ?? []).find((u) => u.op === 'act');
      const outs = [addNode.outputs[0], ...(actNode ? [actNode.outputs[0]] : [])];
      const fused: Node = { id: mm.id, op: 'matmul_epilogue', inputs: [mm.inputs[0], mm.inputs[1], bias], outputs: [], attrs: { tb: !!mm.attrs.tb, act: actNode ? (actNode.attrs.kind as string) : null }, span: mm.span };
      fused.outputs = outs.map((v) => ({ ...v, node: fused }));
      rewire(g, outs, fused.outputs);
      return { removed: [mm, addNode, ...(actNode ? [actNode] : [])], added: fused };
    },
  },
  {
    name: 'add_norm',
    apply(g, addNode, uses) {
      if (addNode.op !== 'add' || !sameShape(addNode.inputs[0].shape, addNode.inputs[1].shape)) return undefined;
      const norm = (uses.get(addNode.outputs[0].id) ?? []).find((u) => (u.op === 'layernorm' || u.op === 'rmsnorm') && u.inputs[0] === addNode.outputs[0]);
      if (!norm) return undefined;
      const outs = [addNode.outputs[0], norm.outputs[0]];
      const fused: Node = { id: addNode.id, op: 'add_norm', inputs: [addNode.inputs[0], addNode.inputs[1], ...norm.inputs.slice(1)], outputs: [], attrs: { kind: norm.op, eps: norm.attrs.eps }, span: norm.span };
      fused.outputs = outs.map((v) => ({ ...v, node: fused }));
      rewire(g, outs, fused.outputs);
      return { removed: [addNode, norm], added: fused };
    },
  },
];

function isOutput(g: Graph, v: Value): boolean {
  return [...g.outputs.values()].some((o) => o.id === v.id);
}

/** Points every reader of `from[k]` (nodes and graph outputs) at `to[k]`. */
function rewire(g: Graph, from: Value[], to: Value[]): void {
  const map = new Map(from.map((v, k) => [v.id, to[k]]));
  for (const n of g.nodes) n.inputs = n.inputs.map((v) => map.get(v.id) ?? v);
  for (const [name, v] of g.outputs) if (map.has(v.id)) g.outputs.set(name, map.get(v.id)!);
}

/** Applies the rules until none matches; returns how often each fired. */
export function fuseKernels(g: Graph, rules: FusionRule[] = FUSION_RULES): Record<string, number> {
  const fired: Record<string, number> = Object.fromEntries(rules.map((r) => [r.name, 0]));
  for (const rule of rules) {
    for (let k = 0; k < g.nodes.length; k++) {
      const uses = usesOf(g);
      const r = rule.apply(g, g.nodes[k], uses);
      if (!r) continue;
      // The fused node takes the place of the first node it replaces, so every reader of its
      // outputs still comes after it; it is only valid if all its inputs are defined by then.
      const removed = new Set(r.removed);
      const first = Math.min(...r.removed.map((n) => g.nodes.indexOf(n)));
      const before = new Set<number>([...g.params.map((p) => p.value.id), ...g.inputs.map((i) => i.value.id)]);
      g.nodes.slice(0, first).forEach((n) => n.outputs.forEach((o) => before.add(o.id)));
      if (!r.added.inputs.every((v) => before.has(v.id))) throw new Error(`internal: fusion ${rule.name} would read a value before it is defined`);
      const next = g.nodes.flatMap((n, idx) => (idx === first ? [r.added] : removed.has(n) ? [] : [n]));
      g.nodes.splice(0, g.nodes.length, ...next);
      fired[rule.name]++;
    }
  }
  return fired;
}

function usesOf(g: Graph): Map<number, Node[]> {
  const uses = new Map<number, Node[]>();
  for (const n of g.nodes) for (const v of n.inputs) uses.set(v.id, [...(uses.get(v.id) ?? []), n]);
  return uses;
}
