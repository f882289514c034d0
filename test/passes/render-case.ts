// The golden form of a fusion case: the IR after autodiff, before and after fusion.
import { differentiate } from '../../compiler/autodiff.ts';
import { checkFiles } from '../../compiler/check.ts';
import { lowerModel } from '../../compiler/lower.ts';
import { fuseKernels } from '../../compiler/passes/fuse.ts';
import { printGraph } from '../../compiler/print.ts';
import { verifyGraph } from '../../compiler/verify.ts';

export function renderPassCase(path: string): { before: string; after: string; fired: Record<string, number>; problems: string[] } {
  const r = checkFiles([path]);
  if (r.diagnostics.some((d) => d.severity === 'error')) throw new Error(`${path} does not check: ${r.diagnostics.map((d) => d.message).join('; ')}`);
  const { graph, loss } = lowerModel(r.models[0]);
  differentiate(graph, loss);
  const before = printGraph(graph, r.program.sources);
  const fired = fuseKernels(graph);
  return { before, after: printGraph(graph, r.program.sources), fired, problems: verifyGraph(graph) };
}
