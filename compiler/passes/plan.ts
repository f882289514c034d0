// planMemory: liveness-based reuse of intermediate buffers. In execution order, each
// intermediate takes a free slot of the same dtype and symbolic size, and gives it back
// after the last step that reads it. Parameters, gradients, inputs and graph outputs keep
// buffers of their own. Sizes stay symbolic (`batch * seq * 128`) so one plan serves any
// run-time dims; peakBytes evaluates it for given dims.
import { resolveShape, type IrShape, type MemoryPlan, type Program } from '../../common/program.ts';

export type { MemoryPlan };

const key = (dtype: string, shape: IrShape) => `${dtype}:${shape.join('*')}`;

export function planMemory(p: Pick<Program, 'buffers' | 'steps' | 'outputs' | 'params' | 'inputs'>): MemoryPlan {
  const pinned = new Set<number>([...Object.values(p.outputs), ...p.params.flatMap((x) => [x.buffer, x.grad]), ...p.inputs.map((x) => x.buffer)]);
  const lastUse = new Map<number, number>();
  p.steps.forEach((s, k) => s.args.forEach((id) => lastUse.set(id, k)));
  const slots: MemoryPlan['slots'] = [];
  const free = new Map<string, number[]>();
  const assignment: Record<number, number> = {};
  const release = (id: number) => {
    const slot = assignment[id];
    const b = p.buffers[id];
    const k = key(b.dtype, b.shape);
    free.set(k, [...(free.get(k) ?? []), slot]);
  };
  p.steps.forEach((s, k) => {
    const nIn = s.args.length - s.outputs;
    const outs = s.args.slice(nIn);
    for (const id of outs) {
      if (pinned.has(id) || id in assignment) continue;
      const b = p.buffers[id];
      const list = free.get(key(b.dtype, b.shape)) ?? [];
      const slot = list.length ? list.shift()! : slots.push({ dtype: b.dtype, shape: b.shape }) - 1;
      free.set(key(b.dtype, b.shape), list);
      assignment[id] = slot;
    }
    // Buffers whose last reader (or writer, when nothing reads them) is this step go back.
    for (const id of new Set(s.args)) if (id in assignment && lastUse.get(id) === k) release(id);
  });
  return { assignment, slots };
}

export function peakBytes(p: Program, plan: MemoryPlan | undefined, dims: Record<string, number>): number {
  const bytes = (shape: IrShape) => resolveShape(shape, dims).reduce((a, b) => a * b, 1) * 4;
  const planned = plan ? new Set(Object.keys(plan.assignment).map(Number)) : new Set<number>();
  let total = 0;
  for (const b of p.buffers) if (!planned.has(b.id)) total += bytes(b.shape);
  if (plan) for (const s of plan.slots) total += bytes(s.shape);
  // Adam moments and the decay mask: three more parameter-sized arenas (none for inference).
  if (!p.inference) total += 3 * p.params.reduce((s, x) => s + bytes(x.shape), 0);
  return total;
}
