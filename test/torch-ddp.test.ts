// Distributed training on PyTorch: `tfm train --torch-data` writes gpt_tiny's run (batches,
// initial weights, settings); the committed generated/gpt_tiny/torch/train.py trains it in two
// processes with DistributedDataParallel over gloo; both end with identical weights, the
// losses are tfm train's own on the same run, the checkpoint is read by `tfm forward` (the
// same logits as the PyTorch module with those weights) and continued by `tfm train --resume`;
// a train.py run stopped after step 2 and resumed ends with the same weights, bit for bit.
// Needs Debian's python3-torch; skipped locally without it, a failure in CI (CI=true).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCheckpoint } from '../runtime/checkpoint.ts';
import { decodeSafetensors, encodeSafetensors } from '../runtime/safetensors.ts';
import { exportTensors } from '../runtime/weights.ts';
import { checkFiles } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { tsTarget } from '../compiler/targets/ts/index.ts';
import { tfm } from './support/cli.ts';
import { relErr } from './support/compare.ts';
import { hasTorch, PYTHON } from './support/torch.ts';

const RUN = ['--steps', '3', '--batch', '4', '--seq', '32', '--seed', String(1 + Math.floor(Math.random() * 1000))];

describe('PyTorch target: DistributedDataParallel training of gpt_tiny', () => {
  it('python3-torch is available in CI', () => {
    if (process.env.CI) expect(hasTorch, `${PYTHON} cannot import torch`).toBe(true);
  });

  it.skipIf(!hasTorch)('2 processes (gloo): identical weights, tfm train\'s losses, a checkpoint tfm forward reads and tfm train --resume continues', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tfm-ddp-'));
    const data = join(dir, 'data');
    const out = join(dir, 'run');
    const made = tfm(['train', 'specs/gpt_tiny.tfm', ...RUN, '--torch-data', data]);
    expect(made.code, made.stderr).toBe(0);
    for (const f of ['batches.safetensors', 'weights.safetensors', 'run.json', 'tokenizer.json']) expect(existsSync(join(data, f)), f).toBe(true);

    const py = spawnSync(PYTHON, ['generated/gpt_tiny/torch/train.py', '--data', data, '--out', out, '--world-size', '2'], { encoding: 'utf8', timeout: 300_000 });
    expect(py.status, `${py.stdout}\n${py.stderr}`).toBe(0);
    const ranks = JSON.parse(readFileSync(join(out, 'ranks.json'), 'utf8'));
    expect(ranks.world).toBe(2);
    expect(ranks.weights_sha256).toHaveLength(2);
    expect(ranks.weights_sha256[1]).toBe(ranks.weights_sha256[0]);

    // Stopped after step 2 and resumed by train.py: the same weights, bit for bit.
    const outB = join(dir, 'runB');
    for (const extra of [['--max-steps', '2'], ['--resume']]) {
      const part = spawnSync(PYTHON, ['generated/gpt_tiny/torch/train.py', '--data', data, '--out', outB, '--world-size', '2', ...extra], { encoding: 'utf8', timeout: 300_000 });
      expect(part.status, `${part.stdout}\n${part.stderr}`).toBe(0);
    }
    expect(JSON.parse(readFileSync(join(outB, 'ranks.json'), 'utf8')).weights_sha256).toEqual(ranks.weights_sha256);

    // The same run trained by tfm train: the same losses step by step.
    const ours = tfm(['train', 'specs/gpt_tiny.tfm', ...RUN, '--eval-every', '3', '--out', join(dir, 'tfm')]);
    expect(ours.code, ours.stderr).toBe(0);
    const theirs = readCheckpoint(join(out, 'ckpt-00000003'), null).state.history.map((h) => h[1]);
    const reference = readCheckpoint(join(dir, 'tfm', 'ckpt-00000003'), null).state.history.map((h) => h[1]);
    expect(theirs).toHaveLength(3);
    theirs.forEach((loss, k) => expect(Math.abs(loss - reference[k]) / reference[k], `loss of step ${k + 1}: PyTorch ${loss}, tfm ${reference[k]}`).toBeLessThan(1e-4));

    // tfm forward on the checkpoint's weights against the PyTorch module with the same weights.
    const n = 2 * 16;
    const tokens = Array.from({ length: 2 }, () => Array.from({ length: 16 }, () => Math.floor(Math.random() * 65)));
    writeFileSync(join(dir, 'tokens.json'), JSON.stringify(tokens));
    const fwd = tfm(['forward', 'specs/gpt_tiny.tfm', '-c', join(out, 'ckpt-00000003', 'model.safetensors'), '--tokens', join(dir, 'tokens.json'), '-o', join(dir, 'logits.json')]);
    expect(fwd.code, fwd.stderr).toBe(0);
    const logits = JSON.parse(readFileSync(join(dir, 'logits.json'), 'utf8')).logits as number[];
    const r = checkFiles(['specs/gpt_tiny.tfm']);
    const { program } = compile(r.models[0], tsTarget, undefined, { render: false });
    const ck = readCheckpoint(join(out, 'ckpt-00000003'), null);
    writeFileSync(join(dir, 'stored.safetensors'), encodeSafetensors(exportTensors(ck.model, program)));
    writeFileSync(join(dir, 'batch.safetensors'), encodeSafetensors(new Map([['tokens', { shape: [2, 16], data: Int32Array.from(tokens.flat()) }], ['targets', { shape: [2, 16], data: new Int32Array(n).fill(1) }]])));
    const mod = spawnSync(PYTHON, ['test/torch/run_module.py', 'generated/gpt_tiny/torch/model.py', join(dir, 'stored.safetensors'), join(dir, 'batch.safetensors'), join(dir, 'torch.safetensors')], { encoding: 'utf8' });
    expect(mod.status, mod.stderr).toBe(0);
    const torch = decodeSafetensors(readFileSync(join(dir, 'torch.safetensors'))).tensors;
    expect(logits).toHaveLength(n * 65);
    expect(relErr(logits, torch.get('logits')!.data)).toBeLessThan(1e-5);

    // tfm train continues train.py's run (its weights, Adam's moments, the data position).
    const resumed = tfm(['train', 'specs/gpt_tiny.tfm', ...RUN.map((x) => (x === '3' ? '4' : x)), '--eval-every', '4', '--out', out, '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resumed from .*ckpt-00000003 at step 3/);
    expect(readCheckpoint(join(out, 'ckpt-00000004'), null).state.step).toBe(4);
  });
});
