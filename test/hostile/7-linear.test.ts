// Defect 7: compile and check grow linearly with the model. Measured by counts that do not
// depend on the machine: the fusion pass's work, the merges of an `extends` chain, and the
// number of times the renderer inserts code into its ts-morph file (each insertion re-parses
// the file, so one per kernel was quadratic). The wall-clock numbers are in the issue's note
// (`tfm compile` of 12–96 layers), never asserted here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SourceFile } from 'ts-morph';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkFiles } from '../../compiler/check.ts';
import { compile } from '../../compiler/codegen/compile.ts';
import { tsTarget } from '../../compiler/targets/ts/index.ts';
import { fusionWork } from '../../compiler/passes/fuse.ts';
import * as program from '../../compiler/program.ts';
import { ROOT } from '../support/cli.ts';

const GPT2 = readFileSync(join(ROOT, 'specs/gpt2_small.tfm'), 'utf8').replace('d_model = 768', 'd_model = 64').replace('heads = 12', 'heads = 4').replace('vocab = 50257', 'vocab = 256');
const withLayers = (n: number) => GPT2.replace('layers = 12', `layers = ${n}`);
const compileLayers = (n: number) => {
  const r = checkFiles(['g.tfm'], () => withLayers(n));
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return compile(r.models[0], tsTarget, r.program.sources);
};

afterEach(() => vi.restoreAllMocks());

describe('compile and check are linear in the size of the model', () => {
  it('fusion does work proportional to the nodes: 96 layers cost 8× (±25%) what 12 do', () => {
    compileLayers(12);
    const w12 = fusionWork;
    const c96 = compileLayers(96);
    const w96 = fusionWork;
    expect(c96.fusions.matmul_epilogue).toBe(96 * 6);
    expect(w96 / w12).toBeLessThan(8 * 1.25);
  });

  it('the renderer inserts all kernels at once (ts-morph re-parses the file per insertion)', () => {
    const one = vi.spyOn(SourceFile.prototype, 'addFunction');
    const all = vi.spyOn(SourceFile.prototype, 'addFunctions');
    const compiled = compileLayers(24);
    expect(compiled.kernels.length).toBeGreaterThan(50);
    expect(one).not.toHaveBeenCalled();
    expect(all).toHaveBeenCalledTimes(1);
  });

  it('an extends chain of n models is merged n times, not n²/2', () => {
    const n = 2000;
    const chain = [withLayers(1), ...Array.from({ length: n }, (_, i) => `model m${i} extends ${i ? `m${i - 1}` : 'gpt2_small'} {\n}\n`)].join('\n');
    const before = program.mergeCount;
    const r = checkFiles(['chain.tfm'], () => chain);
    expect(r.models).toHaveLength(n + 1);
    expect(program.mergeCount - before).toBe(n + 1);
  });
});
