// Arithmetic of a compiled graph, for `tfm scale`: the multiply-adds of its matmuls and of
// attention, two FLOPs each, forward and backward, at given run-time dims. Elementwise ops,
// norms and the softmax are left out (about 1–2% at these sizes), as scaling-law papers do.
import { numel, resolveShape } from '../common/program.ts';
import type { Graph, Node } from './ir.ts';

/** Query–key pairs attention visits for queries 0…Tq−1 over keys 0…Tk−1 under its mask. */
function pairs(n: Node, Tq: number, Tk: number): number {
  const mask = n.attrs.mask;
  let total = 0;
  for (let i = 0; i < Tq; i++) {
    if (mask === 'causal') total += Math.min(Tk, i + 1);
    else if (mask === 'local') total += Math.min(Tk, i + 1) - Math.max(0, i - (n.attrs.window as number) + 1);
    else total += Tk;
  }
  return total;
}

/** FLOPs of one run of `graph` (one training step, for a training graph) at `dims`. */
export function graphFlops(graph: Graph, dims: Record<string, number>): number {
  let flops = 0;
  for (const n of graph.nodes) {
    if (n.op === 'matmul' || n.op === 'matmul_epilogue') {
      // C = A·B in any transposition: numel(A)·numel(B)/numel(C) is the contraction length squared.
      const [a, b] = n.inputs.map((v) => numel(v.shape, dims));
      const c = numel(n.outputs[0].shape, dims);
      flops += 2 * c * Math.sqrt((a * b) / c);
    } else if (n.op === 'attention' || n.op === 'attention_grad') {
      const [B, Tq, width] = resolveShape(n.inputs[0].shape, dims);
      const Tk = resolveShape(n.inputs[1].shape, dims)[1];
      // Forward: q·k and p·v per pair and head dim. Backward: the scores again, dv, dp, dq, dk.
      flops += (n.op === 'attention' ? 4 : 10) * B * width * pairs(n, Tq, Tk);
    }
  }
  return flops;
}
