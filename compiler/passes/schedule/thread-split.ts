// The thread split, shared by the CPU targets: a kernel that parallelSplit accepts takes two
// more arguments, `part` and `parts`, and runs its share of the parallel loop.
import { add, bin, call, i, mul, sub, v, type KExpr, type KStmt } from '../../codegen/kir.ts';

/** The parallel loop runs iterations [count·part/parts, count·(part+1)/parts); statements
 *  after it run in the last part only. */
export function splitBody(stmts: KStmt[], at: number): KStmt[] {
  const loop = stmts[at] as KStmt & { k: 'for' };
  const step = loop.step ?? 1;
  const count = step === 1 ? sub(loop.to, loop.from) : call('idiv', add(sub(loop.to, loop.from), i(step - 1)), i(step));
  const bound = (part: KExpr) => add(loop.from, mul(call('idiv', mul(v('__count'), part), v('parts')), i(step)));
  const rest = stmts.slice(at + 1);
  return [
    ...stmts.slice(0, at),
    { k: 'let', v: '__count', t: 'i32', e: count },
    { ...loop, from: bound(v('part')), to: call('min', loop.to, bound(add(v('part'), i(1)))) },
    ...(rest.length ? [{ k: 'if' as const, c: bin('==', v('part'), sub(v('parts'), i(1))), then: rest }] : []),
  ];
}

