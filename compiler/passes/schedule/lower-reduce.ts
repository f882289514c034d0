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

// `nested`: only reductions inside a loop or a condition, for a GPU target that runs each
// invocation's reductions as such loops anyway (as its renderer did) and keeps the kernel's
// top-level ones for a workgroup tree.
export function lowerReduce({ nested = false } = {}) {
  const lower = (stmts: KStmt[], top: boolean): KStmt[] =>
    stmts.flatMap((s): KStmt[] => {
      switch (s.k) {
        case 'reduce': {
          if (top && nested) return [s];
          const { init, take } = accumulator(s);
          return [init, loop(s.idx, s.to, [...lower(s.body, false), take], false, s.from)];
        }
        case 'for':
          return [{ ...s, body: lower(s.body, false) }];
        case 'if':
          return [{ ...s, then: lower(s.then, false), else: s.else && lower(s.else, false) }];
        default:
          return [s];
      }
    });
  return (k: Kernel): Kernel => ({ ...k, body: lower(k.body, true) });
}
