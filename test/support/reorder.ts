// A schedule that runs what the kernel IR says may run in any order in another order: every
// parallel loop backwards, every reduction from its last index to its first. A kernel whose
// `parallel` marks are honest (independent iterations) computes the same under it, up to the
// rounding of a reordered sum — which is what a GPU target, running those iterations at once
// and reducing in a tree, relies on. Tests run the TypeScript renderer on its output.
import { accumulator, add, i, let_, loop, sub, v, type Kernel, type KExpr, type KStmt } from '../../compiler/codegen/kir.ts';

const backwards = (name: string, from: KExpr, to: KExpr): KStmt => let_(name, sub(sub(add(from, to), i(1)), v(`${name}_rev`)), 'i32');

export function reorderParallel() {
  const walk = (stmts: KStmt[]): KStmt[] =>
    stmts.flatMap((s): KStmt[] => {
      switch (s.k) {
        case 'for':
          if (s.parallel && (s.step ?? 1) === 1) return [{ ...s, v: `${s.v}_rev`, body: [backwards(s.v, s.from, s.to), ...walk(s.body)] }];
          return [{ ...s, body: walk(s.body) }];
        case 'reduce': {
          const { init, take } = accumulator(s);
          return [init, loop(`${s.idx}_rev`, s.to, [backwards(s.idx, s.from, s.to), ...walk(s.body), take], false, s.from)];
        }
        case 'if':
          return [{ ...s, then: walk(s.then), else: s.else && walk(s.else) }];
        default:
          return [s];
      }
    });
  return (k: Kernel): Kernel => ({ ...k, body: walk(k.body) });
}
