// Lowering of `reduce` statements (kir.ts) for the CPU targets: an accumulator that starts at
// the operation's identity and takes each element in index order —
//
//     let acc = reduce + over p in [0, P) of x·y      →     var acc = 0
//                                                           for p in [0, P) { acc += x·y }
//
// (`max` becomes acc = max(acc, e), from −∞). A sequential sum in index order is what the
// float64 reference computes too. A GPU target keeps the construct and combines partial
// results in a tree instead.
import { accumulator, loop, type Kernel, type KStmt } from '../../codegen/kir.ts';

export function lowerReduce() {
  const lower = (stmts: KStmt[]): KStmt[] =>
    stmts.flatMap((s): KStmt[] => {
      switch (s.k) {
        case 'reduce': {
          const { init, take } = accumulator(s);
          return [init, loop(s.idx, s.to, [...lower(s.body), take], false, s.from)];
        }
        case 'for':
          return [{ ...s, body: lower(s.body) }];
        case 'if':
          return [{ ...s, then: lower(s.then), else: s.else && lower(s.else) }];
        default:
          return [s];
      }
    });
  return (k: Kernel): Kernel => ({ ...k, body: lower(k.body) });
}
