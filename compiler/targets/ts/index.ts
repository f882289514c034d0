// The TypeScript target: readable generated code, the reference every other target is
// compared with. Its schedule: 4×4 register tiles for every contraction (matmul), then every
// other reduction as an accumulator loop; the thread split of the parallel loop is rendered
// as `part` / `parts` arguments.
import type { Target } from '../target.ts';
import { lowerReduce } from '../../passes/schedule/lower-reduce.ts';
import { registerTile } from '../../passes/schedule/register-tile.ts';
import { renderTs, reviewTs } from './render.ts';

export const tsTarget: Target = {
  name: 'ts',
  schedule: [registerTile(4), lowerReduce()],
  render: (kernels, ctx) => ({ 'kernels.ts': renderTs(kernels, ctx) }),
  review: reviewTs,
};
