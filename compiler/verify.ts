// The IR verifier: every value is defined before use, every op is known, and every node's
// outputs have the shapes its op's rule infers. Runs between passes in tests.
import type { Graph } from './ir.ts';
import { sameShape, shapeKey } from './ir.ts';
import { OPS } from './ops.ts';

export function verifyGraph(g: Graph): string[] {
  const problems: string[] = [];
  const defined = new Set<number>([...g.params.map((p) => p.value.id), ...g.inputs.map((i) => i.value.id)]);
  for (const n of g.nodes) {
    const where = `node #${n.id} ${n.op}`;
    for (const v of n.inputs) if (!defined.has(v.id)) problems.push(`${where}: input %${v.id} used before definition`);
    const def = OPS[n.op];
    if (!def) {
      problems.push(`${where}: unknown op`);
      continue;
    }
    try {
      const inferred = def.infer(n.inputs, n.attrs);
      if (inferred.length !== n.outputs.length) problems.push(`${where}: ${n.outputs.length} outputs, rule gives ${inferred.length}`);
      inferred.forEach((o, i) => {
        const v = n.outputs[i];
        if (v && !sameShape(o.shape, v.shape)) problems.push(`${where}: output ${i} is ${shapeKey(v.shape)}, rule gives ${shapeKey(o.shape)}`);
      });
    } catch (e) {
      problems.push(`${where}: ${(e as Error).message}`);
    }
    n.outputs.forEach((v) => defined.add(v.id));
  }
  for (const [name, v] of g.outputs) if (!defined.has(v.id)) problems.push(`output ${name}: %${v.id} is never defined`);
  return problems;
}
