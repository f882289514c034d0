// `tfm scale`: the FLOP count of a compiled training graph, the power-law fit, and a sweep
// that writes its table, plot and results and continues where it stopped.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkFiles } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { graphFlops } from '../compiler/flops.ts';
import { TARGETS } from '../compiler/targets/index.ts';
import { fitPowerLaw } from '../cli/scale.ts';
import { Rng } from '../runtime/init.ts';
import { tfm } from './support/cli.ts';

describe('tfm scale', () => {
  it('counts a training step of gpt_tiny as 6 × tokens × matmul weights plus causal attention', () => {
    const m = checkFiles(['specs/gpt_tiny.tfm']).models[0];
    const { graph } = compile(m, TARGETS.wasm);
    const [B, T, d, L, V] = [2, 16, 128, 4, 65];
    // Every weight matrix is used once forward (2 FLOPs a multiply-add) and twice backward.
    const weights = L * 12 * d * d + d * V;
    // Causal pairs per row; forward 4 FLOPs per pair and feature, backward 10.
    const pairs = (T * (T + 1)) / 2;
    expect(graphFlops(graph, { batch: B, seq: T })).toBe(6 * B * T * weights + (4 + 10) * B * L * d * pairs);
  });

  it('fits L = a·x^(−α) exactly on a power law and within its error on noisy points', () => {
    const x = [1e6, 3e6, 1e7, 3e7, 1e8];
    const exact = fitPowerLaw(x, x.map((v) => 5 * v ** -0.08));
    expect(exact.alpha).toBeCloseTo(0.08, 12);
    expect(exact.a).toBeCloseTo(5, 9);
    expect(exact.alphaError).toBeLessThan(1e-9);
    const seed = 17;
    const rng = new Rng(seed);
    const noisy = fitPowerLaw(x, x.map((v) => 5 * v ** -0.08 * Math.exp(0.01 * rng.normal())));
    expect(noisy.alphaError, `seed ${seed}`).toBeGreaterThan(0);
    expect(Math.abs(noisy.alpha - 0.08), `seed ${seed}`).toBeLessThan(4 * noisy.alphaError + 1e-3);
    expect(() => fitPowerLaw([1, 2], [1, 2])).toThrow(/3 points/);
  });

  it('trains each size, prints the table and both fits, draws the plot, and on a rerun skips what is done and resumes what was cut', () => {
    const out = mkdtempSync(join(tmpdir(), 'tfm-scale-'));
    const args = ['scale', 'specs/gpt_tiny.tfm', '--set', 'd_model=32,48,64', '--steps', '4', '--batch', '2', '--seq', '16', '--eval-batches', '1', '--warmup', '1', '-o', out];
    const first = tfm(args);
    expect(first.code, first.stderr).toBe(0);
    for (const v of [32, 48, 64]) expect(first.stdout).toMatch(new RegExp(`^\\s+${v}\\s+[\\d,]+\\s+\\d\\.\\d\\de\\+\\d+\\s+128\\s+\\d\\.\\d{4}$`, 'm'));
    expect(first.stdout).toMatch(/L = [\d.e+-]+ · C\^\(−-?\d\.\d{4} ± \d\.\d{4}\)/);
    expect(first.stdout).toMatch(/L = [\d.e+-]+ · N\^\(−-?\d\.\d{4} ± \d\.\d{4}\)/);
    expect(readFileSync(join(out, 'scale.svg'), 'utf8')).toContain('<svg');
    const sweep = JSON.parse(readFileSync(join(out, 'scale.json'), 'utf8')) as { points: { params: number; flops: number; valLoss: number }[] };
    expect(sweep.points.map((p) => p.params)).toEqual([...sweep.points.map((p) => p.params)].sort((a, b) => a - b));
    expect(sweep.points[0].flops).toBeLessThan(sweep.points[2].flops);
    expect(readFileSync(join(out, 'd_model-48.tfm'), 'utf8')).toMatch(/model gpt_tiny_d_model_48 extends gpt_tiny \{\n {2}dims \{ d_model = 48 \}/);

    // All done: nothing trains again, the same table.
    const again = tfm(args);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr.match(/done before/g)?.length).toBe(3);
    expect(again.stdout).toBe(first.stdout);
    // A size whose result was never written (killed after its last checkpoint) resumes from it.
    rmSync(join(out, 'd_model-48', 'result.json'));
    const resumed = tfm(args);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resumed from .*d_model-48/);
    expect(resumed.stdout).toBe(first.stdout);
  }, 300_000);
});
