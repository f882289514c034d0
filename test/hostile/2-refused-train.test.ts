// Defect 2: a refused `tfm train` changes nothing on disk; every file of a checkpoint is
// covered by its digests (the tokenizer included); the settings that give a run its meaning
// are recorded, and a --resume with other ones is refused with the differences listed.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectCoded, fresh, snapshot, TINY_SPEC, tfm, trainArgs } from '../support/cli.ts';

describe('a refused tfm train leaves the run it refuses untouched', () => {
  const dir = fresh('refuse');
  const spec = join(dir, 'tiny.tfm');
  const run = join(dir, 'run');
  let before: Record<string, string>;

  beforeAll(() => {
    writeFileSync(spec, TINY_SPEC);
    const r = tfm(trainArgs(spec, run));
    expect(r.code, r.stderr).toBe(0);
    before = snapshot(run);
    expect(Object.keys(before)).toEqual(expect.arrayContaining(['tokenizer.json', 'ckpt-00000002/state.json', 'ckpt-00000002/tokenizer.json']));
  });

  it('records the settings and a digest of the tokenizer in state.json', () => {
    const state = JSON.parse(readFileSync(join(run, 'ckpt-00000002/state.json'), 'utf8'));
    expect(state.run).toMatchObject({ tokenizer: 'char', batch: 2, seq: 16, lr: 0.003, warmup: 30, seed: 1, steps: 2, evalBatches: 1 });
    expect(state.run.data).toMatch(/^[0-9a-f]{64}$/);
    expect(Object.keys(state.files).sort()).toEqual(['model.safetensors', 'optimizer.safetensors', 'tokenizer.json']);
  });

  it('without --resume: TFM5015, and tokenizer.json is not replaced (another tokenizer asked for)', () => {
    expectCoded(tfm(trainArgs(spec, run, ['--tokenizer', 'bpe'])), 'TFM5015');
    expect(snapshot(run)).toEqual(before);
  });

  it('--resume with other settings: TFM5022 listing every difference; nothing written', () => {
    const r = tfm(trainArgs(spec, run, ['--resume', '--batch', '4', '--seed', '7', '--lr', '0.001', '--tokenizer', 'bpe']));
    expectCoded(r, 'TFM5022');
    for (const diff of ['--batch was 2, now 4', '--seed was 1, now 7', '--lr was 0.003, now 0.001', '--tokenizer was char, now bpe']) expect(r.stderr).toContain(diff);
    expect(snapshot(run)).toEqual(before);
  });

  it('--resume on other training text: TFM5022 names the data', () => {
    const text = join(dir, 'other.txt');
    writeFileSync(text, 'Call me Ishmael. '.repeat(400));
    const r = tfm(trainArgs(spec, run, ['--resume', '--data', text]));
    expectCoded(r, 'TFM5022');
    expect(r.stderr).toContain('--data (its contents) was digest ');
    expect(snapshot(run)).toEqual(before);
  });

  it('--resume after tokenizer.json was replaced: TFM5013, nothing written', () => {
    const copy = join(dir, 'run-tampered');
    cpSync(run, copy, { recursive: true });
    const path = join(copy, 'tokenizer.json');
    writeFileSync(path, readFileSync(path, 'utf8').trimEnd() + ' \n');
    const tampered = snapshot(copy);
    expectCoded(tfm(trainArgs(spec, copy, ['--resume', '--steps', '4'])), 'TFM5013');
    expect(snapshot(copy)).toEqual(tampered);
  });

  it('--resume with more --steps is accepted, and says what that changes', () => {
    // On a copy: the other tests compare the run with its first snapshot.
    const copy = join(dir, 'run-copy');
    cpSync(run, copy, { recursive: true });
    const r = tfm(trainArgs(spec, copy, ['--resume', '--steps', '4', '--checkpoint-every', '4']));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('note: --steps changed from 2 to 4');
    expect(JSON.parse(readFileSync(join(copy, 'ckpt-00000004/state.json'), 'utf8')).run.steps).toBe(4);
  });
});
