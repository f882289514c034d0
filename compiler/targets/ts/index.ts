// The TypeScript target: readable generated code, the reference every other target is
// compared with. Its schedule is still inside the kernel builders (4×4 register tiles) and the
// renderer (the thread split); moving them here as passes is the next step.
import type { Target } from '../target.ts';
import { renderTs } from './render.ts';

export const tsTarget: Target = {
  name: 'ts',
  description: 'TypeScript kernels (the readable reference CPU target)',
  schedule: [],
  render: (kernels, ctx) => ({ 'kernels.ts': renderTs(kernels, ctx) }),
};
