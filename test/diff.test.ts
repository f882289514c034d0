// `tfm diff` on hand-made spec pairs (test/diff/): a comment-only change is no change; more
// heads change the attention kernels alone, each hunk labelled with the `heads` line; another
// layer adds steps and parameters but no kernel; two changes at once are told apart; a spec
// against a git revision; golden reports for the human, JSON and GitHub formats.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diffSides, diffSpecs, type SpecDiff } from '../cli/diff.ts';
import { formatGithub, formatHuman } from '../cli/diff-format.ts';
import { tfm } from './support/cli.ts';
import { checkFiles } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { TARGETS } from '../compiler/targets/index.ts';
import { nominalDims } from '../cli/compile.ts';
import { DIFF_GOLDENS, goldenPath, renderDiffCase } from './diff/render-case.ts';

const diff = (b: string, target = 'ts'): SpecDiff => diffSpecs({ ...diffSides(['test/diff/base.tfm', `test/diff/${b}.tfm`]), target });
const changeAt = (d: SpecDiff, text: string) => d.specChanges.find((c) => c.lines.some((l) => l.includes(text)))!;

describe('tfm diff', () => {
  it('a comment-only change (edited, added and trailing comments) leaves the generated code identical: exit 0, no output', () => {
    const d = diff('comment');
    expect(d.specChanges.length).toBeGreaterThan(0);
    expect(d.identical).toBe(true);
    expect(d.models.map((m) => m.status)).toEqual(['identical']);
    expect(formatHuman(d)).toBe('');
    expect(formatGithub(d)).toBe('');
    for (const format of ['human', 'github']) {
      const r = tfm(['diff', 'test/diff/base.tfm', 'test/diff/comment.tfm', '--format', format]);
      expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: '' });
    }
  });

  it.each(['ts', 'wasm', 'webgpu'])('heads 12 → 16 changes only the attention kernels (%s), each hunk labelled with the heads line; the parameter table keeps its shapes', (target) => {
    const d = diff('heads', target);
    const heads = changeAt(d, 'heads = 16');
    expect(d.specChanges).toEqual([heads]);
    const [m] = d.models;
    expect(m.status).toBe('changed');
    expect(m.kernels.changes.map((k) => [k.change, k.op]).sort()).toEqual([
      ['changed', 'attention'],
      ['changed', 'attention_grad'],
    ]);
    for (const k of m.kernels.changes) {
      expect(k.causes).toEqual([heads.id]);
      expect(k.lines).toEqual(['attention self heads heads mask causal']);
      expect(k.hunks.length).toBeGreaterThan(0);
    }
    // 48 dims in 16 heads of 3: q, k, v and o keep their [48, 48] shapes.
    expect(m.params.changes).toEqual([]);
    expect(m.params.count[0]).toBe(m.params.count[1]);
    expect(m.steps.added).toEqual([]);
    expect(m.steps.removed).toEqual([]);
    const human = formatHuman(d);
    const hunkHeaders = human.split('\n').filter((l) => l.startsWith('@@'));
    expect(hunkHeaders.length).toBe(m.kernels.changes.reduce((n, k) => n + k.hunks.length, 0));
    for (const h of hunkHeaders) expect(h).toMatch(/ test\/diff\/heads\.tfm:8 `heads = 16`$/);
  });

  it('another layer adds steps and parameters, renames no kernel', () => {
    const d = diff('layer');
    const layers = changeAt(d, 'layers = 3');
    const [m] = d.models;
    expect(m.kernels.changes).toEqual([]);
    expect(m.kernelCount[0]).toBe(m.kernelCount[1]);
    expect(m.steps.count[1]).toBeGreaterThan(m.steps.count[0]);
    expect(m.steps.added.reduce((n, g) => n + g.steps, 0)).toBe(m.steps.count[1] - m.steps.count[0]);
    expect(m.steps.removed).toEqual([]);
    expect(m.steps.causes).toEqual([layers.id]);
    const added = m.params.changes.filter((p) => p.change === 'added');
    expect(added.length).toBeGreaterThan(0);
    expect(added.every((p) => p.name.startsWith('blocks.2.'))).toBe(true);
    // The residual projections' init std is 0.02/√(2·layers): it changes in the old layers.
    expect(m.params.changes.filter((p) => p.change === 'init').map((p) => p.name).sort()).toEqual(['blocks.0.attention.o.weight', 'blocks.0.mlp.down.weight', 'blocks.1.attention.o.weight', 'blocks.1.mlp.down.weight']);
    for (const p of m.params.changes) expect(p.causes).toEqual([layers.id]);
    expect(m.flopsPerToken[1]).toBeGreaterThan(m.flopsPerToken[0]);
    expect(m.peakBytes[1]).toBeGreaterThan(m.peakBytes[0]);
  });

  it('on the WebGPU target the program section counts the textures beside the peak, as tfm compile does; other targets have none', () => {
    const d = diff('layer', 'webgpu');
    const [m] = d.models;
    const own = (file: string) => {
      const r = checkFiles([file]);
      const c = compile(r.models[0], TARGETS.webgpu, r.program.sources);
      return TARGETS.webgpu.textureBytes!(c.program, c.kernels, nominalDims(r.models[0]));
    };
    expect(m.textureBytes).toEqual([own('test/diff/base.tfm'), own('test/diff/layer.tfm')]);
    // A third layer's weights are read through textures of their own.
    expect(m.textureBytes![1]).toBeGreaterThan(m.textureBytes![0]);
    expect(formatHuman(d)).toMatch(/^ {2}textures {6}\d/m);
    expect(diff('layer', 'wasm').models[0].textureBytes).toBeUndefined();
  });

  it('two changes at once: each kernel is labelled with the one that changes it', () => {
    const d = diff('two');
    const heads = changeAt(d, 'heads = 16');
    const ff = changeAt(d, 'd_ff = 2 * d_model');
    const [m] = d.models;
    const byCause = (id: number) => m.kernels.changes.filter((k) => k.causes.includes(id)).map((k) => k.op);
    expect(byCause(heads.id).sort()).toEqual(['attention', 'attention_grad']);
    expect(byCause(ff.id).length).toBeGreaterThan(4);
    expect(byCause(ff.id)).not.toContain('attention');
    expect(m.kernels.changes.every((k) => k.causes.length === 1)).toBe(true);
    // The MLP's matrices change shape because of d_ff alone.
    expect(m.params.changes.length).toBeGreaterThan(0);
    for (const p of m.params.changes) {
      expect(p.change).toBe('shape');
      expect(p.causes).toEqual([ff.id]);
    }
  });

  it.each(DIFF_GOLDENS)('golden report: %s as %s (npm run baseline:accept rewrites it)', (name, format) => {
    expect(renderDiffCase(name, format)).toBe(readFileSync(goldenPath(name, format), 'utf8'));
  });

  it('one spec against a git revision: changed, unchanged, absent at the revision, unknown revision', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tfm-diff-'));
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', '-c', 'commit.gpgsign=false', ...args], { cwd: dir, stdio: 'pipe' });
    git('init', '-q');
    const spec = join(dir, 'm.tfm');
    writeFileSync(spec, readFileSync('test/diff/base.tfm', 'utf8'));
    writeFileSync(join(dir, 'other.tfm'), '# not yet\n');
    git('add', '.');
    git('commit', '-qm', 'base');
    expect(diffSpecs({ ...diffSides([spec], 'HEAD'), target: 'ts' }).identical).toBe(true);
    writeFileSync(spec, readFileSync('test/diff/heads.tfm', 'utf8'));
    const d = diffSpecs({ ...diffSides([spec], 'HEAD'), target: 'ts' });
    expect(d.identical).toBe(false);
    expect(d.a).toMatch(/m\.tfm at HEAD$/);
    expect(d.models[0].kernels.changes.map((k) => k.op).sort()).toEqual(['attention', 'attention_grad']);
    const r = tfm(['diff', spec, '--against', 'HEAD', '--format', 'json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).models[0].kernels.changes).toHaveLength(2);
    // A spec the revision does not have: its model is new.
    const fresh = join(dir, 'fresh.tfm');
    writeFileSync(fresh, readFileSync('test/diff/base.tfm', 'utf8'));
    const added = diffSpecs({ ...diffSides([fresh], 'HEAD'), target: 'ts' });
    expect(added.models.map((m) => [m.model, m.status])).toEqual([['diffnet', 'added']]);
    const bad = tfm(['diff', spec, '--against', 'no-such-rev']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/TFM5006.*no-such-rev/s);
  });

  it('usage and spec errors: exit 2 for the wrong number of specs, 1 with diagnostics for a spec with errors', () => {
    expect(tfm(['diff', 'test/diff/base.tfm']).code).toBe(2);
    expect(tfm(['diff', 'test/diff/base.tfm', 'test/diff/heads.tfm', 'test/diff/layer.tfm']).code).toBe(2);
    const dir = mkdtempSync(join(tmpdir(), 'tfm-diff-'));
    const broken = join(dir, 'broken.tfm');
    writeFileSync(broken, readFileSync('test/diff/base.tfm', 'utf8').replace('heads = 12', 'heads = 7'));
    const r = tfm(['diff', 'test/diff/base.tfm', broken]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error\[TFM\d{4}\]/);
    expect(r.stderr).toMatch(/broken\.tfm:20:/);
  });
});
