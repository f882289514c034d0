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

/** What rules read and keep up to date: each value's readers, and which values are graph
 *  outputs. Both are maintained as the pass goes, so fusing costs the size of the pattern,
 *  not of the graph: the pass is linear in the number of nodes. */
export interface FusionContext {
  uses: Map<number, Node[]>;
  /** Graph output names by value id. */
  outputs: Map<number, string[]>;
}

export interface FusionRule {
  name: string;
  /** Tries to fuse at `node`; returns the replaced nodes and the new one, or undefined. */
  apply(g: Graph, node: Node, ctx: FusionContext): { removed: Node[]; added: Node } | undefined;
}

const onlyUse = (uses: Map<number, Node[]>, v: Value): Node | undefined => {
  const u = uses.get(v.id) ?? [];
  return u.length === 1 ? u[0] : undefined;
};

export const FUSION_RULES: FusionRule[] = [
  {
    name: 'matmul_epilogue',
    apply(g, mm, ctx) {
      if (mm.op !== 'matmul' || mm.attrs.ta || ctx.outputs.has(mm.outputs[0].id)) return undefined;
      const addNode = onlyUse(ctx.uses, mm.outputs[0]);
      if (!addNode || addNode.op !== 'add' || addNode.inputs[0] !== mm.outputs[0]) return undefined;
      const bias = addNode.inputs[1];
      const n = mm.outputs[0].shape[mm.outputs[0].shape.length - 1];
      if (bias.shape.length !== 1 || bias.shape[0] !== n) return undefined;
      const actNode = (ctx.uses.get(addNode.outputs[0].id) ?? []).find((u) => u.op === 'act');
      const outs = [addNode.outputs[0], ...(actNode ? [actNode.outputs[0]] : [])];
      const fused: Node = { id: mm.id, op: 'matmul_epilogue', inputs: [mm.inputs[0], mm.inputs[1], bias], outputs: [], attrs: { tb: !!mm.attrs.tb, act: actNode ? (actNode.attrs.kind as string) : null }, span: mm.span };
      fused.outputs = outs.map((v) => ({ ...v, node: fused }));
      rewire(g, ctx, outs, fused.outputs);
      return { removed: [mm, addNode, ...(actNode ? [actNode] : [])], added: fused };
    },
  },
  {
    name: 'add_norm',
    apply(g, addNode, ctx) {
      if (addNode.op !== 'add' || !sameShape(addNode.inputs[0].shape, addNode.inputs[1].shape)) return undefined;
      const norm = (ctx.uses.get(addNode.outputs[0].id) ?? []).find((u) => (u.op === 'layernorm' || u.op === 'rmsnorm') && u.inputs[0] === addNode.outputs[0]);
      if (!norm) return undefined;
      const outs = [addNode.outputs[0], norm.outputs[0]];
      const fused: Node = { id: addNode.id, op: 'add_norm', inputs: [addNode.inputs[0], addNode.inputs[1], ...norm.inputs.slice(1)], outputs: [], attrs: { kind: norm.op, eps: norm.attrs.eps }, span: norm.span };
      fused.outputs = outs.map((v) => ({ ...v, node: fused }));
      rewire(g, ctx, outs, fused.outputs);
      return { removed: [addNode, norm], added: fused };
    },
  },
];

/** Points every reader of `from[k]` (nodes and graph outputs) at `to[k]`: the readers are
 *  known from the context, so no other node is visited. */
function rewire(g: Graph, ctx: FusionContext, from: Value[], to: Value[]): void {
  from.forEach((v, k) => {
    for (const n of ctx.uses.get(v.id) ?? []) n.inputs = n.inputs.map((x) => (x.id === v.id ? to[k] : x));
    for (const name of ctx.outputs.get(v.id) ?? []) g.outputs.set(name, to[k]);
  });
}

/** Work done by the last fuseKernels call (node visits and use-list updates): a measure of the
 *  pass's complexity that does not depend on the machine, for the test that keeps it linear. */
export let fusionWork = 0;

/** Applies the rules until none matches; returns how often each fired. One sweep per rule
 *  over the nodes in order; a fused node takes the place of the first node it replaces (the
 *  node the rule matched at), so every reader of its outputs still comes after it. */
export function fuseKernels(g: Graph, rules: FusionRule[] = FUSION_RULES): Record<string, number> {
  const fired: Record<string, number> = Object.fromEntries(rules.map((r) => [r.name, 0]));
  fusionWork = 0;
  for (const rule of rules) {
    const ctx: FusionContext = { uses: usesOf(g), outputs: new Map() };
    for (const [name, v] of g.outputs) ctx.outputs.set(v.id, [...(ctx.outputs.get(v.id) ?? []), name]);
    const defined = new Set<number>([...g.params.map((p) => p.value.id), ...g.inputs.map((i) => i.value.id)]);
    const removed = new Set<Node>();
    for (let k = 0; k < g.nodes.length; k++) {
      fusionWork++;
      const node = g.nodes[k];
      if (removed.has(node)) continue;
      const r = rule.apply(g, node, ctx);
      if (r) {
        if (r.removed[0] !== node) throw new Error(`internal: fusion ${rule.name} must replace the node it matched first`);
        if (!r.added.inputs.every((v) => defined.has(v.id))) throw new Error(`internal: fusion ${rule.name} would read a value before it is defined`);
        for (const n of r.removed) {
          removed.add(n);
          for (const v of n.inputs) {
            const list = ctx.uses.get(v.id);
            if (list) ctx.uses.set(v.id, list.filter((u) => u !== n));
            fusionWork += list?.length ?? 0;
          }
        }
        for (const v of r.added.inputs) ctx.uses.set(v.id, [...(ctx.uses.get(v.id) ?? []), r.added]);
        g.nodes[k] = r.added;
        fired[rule.name]++;
      }
      g.nodes[k].outputs.forEach((o) => defined.add(o.id));
    }
    if (removed.size) g.nodes.splice(0, g.nodes.length, ...g.nodes.filter((n) => !removed.has(n)));
  }
  return fired;
}

function usesOf(g: Graph): Map<number, Node[]> {
  const uses = new Map<number, Node[]>();
  for (const n of g.nodes) {
    for (const v of n.inputs) {
      const list = uses.get(v.id);
      if (list) list.push(n);
      else uses.set(v.id, [n]);
    }
  }
  return uses;
}
