// Every command on a set of hostile inputs: each answer is a coded error or a usage error
// (exit 1 or 2), never a JavaScript stack trace and never an internal error.
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fresh, STACK, TINY_SPEC, tfm } from '../support/cli.ts';

const dir = fresh('sweep');
const seed = Number(process.env.TEST_SEED ?? 11);

beforeAll(() => {
  let s = seed;
  const byte = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24);
  writeFileSync(join(dir, 'tiny.tfm'), TINY_SPEC);
  writeFileSync(join(dir, 'empty.tfm'), '');
  writeFileSync(join(dir, 'binary.tfm'), Buffer.from(Array.from({ length: 4096 }, byte)));
  writeFileSync(join(dir, 'numbers.tfm'), TINY_SPEC.replace('d_model = 32', 'd_model = 1e308 * 10').replace('vocab = 65', 'vocab = 99999999999'));
  writeFileSync(join(dir, 'deep.tfm'), TINY_SPEC.replace('ctx = 16', `ctx = ${'('.repeat(500)}16${')'.repeat(500)}`));
  writeFileSync(join(dir, 'garbage.safetensors'), Buffer.from(Array.from({ length: 512 }, byte)));
  writeFileSync(join(dir, 'lying.safetensors'), Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), Buffer.from('{}')]));
  writeFileSync(join(dir, 'tokens.txt'), '1 2 3\n');
  writeFileSync(join(dir, 'garbage-tokens.json'), '[[1, 2], [3]]');
  writeFileSync(join(dir, 'float-tokens.json'), '[1.5, 2]');
  writeFileSync(join(dir, 'huge-tokens.txt'), '99999999999999999999999 1\n');
  mkdirSync(join(dir, 'folder.tfm'));
  symlinkSync('/dev/zero', join(dir, 'zero.tfm'));
  expect(spawnSync('mkfifo', [join(dir, 'pipe.tfm')]).status).toBe(0);
  writeFileSync(join(dir, 'afile'), 'x');
});

const specs = ['binary.tfm', 'numbers.tfm', 'deep.tfm', 'folder.tfm', 'zero.tfm', 'pipe.tfm', 'missing.tfm'];
const runs: [string, string[]][] = [
  ...specs.flatMap((f): [string, string[]][] => [
    [`check ${f}`, ['check', f]],
    [`params ${f}`, ['params', f]],
  ]),
  ...['binary.tfm', 'zero.tfm', 'folder.tfm'].flatMap((f): [string, string[]][] => [
    [`compile ${f}`, ['compile', f, '-o', 'out']],
    [`train ${f}`, ['train', f, '--steps', '1']],
  ]),
  ['forward with a garbage checkpoint', ['forward', 'tiny.tfm', '-c', 'garbage.safetensors', '--tokens', 'tokens.txt']],
  ['forward with a lying header length', ['forward', 'tiny.tfm', '-c', 'lying.safetensors', '--tokens', 'tokens.txt']],
  ['forward with a folder as checkpoint', ['forward', 'tiny.tfm', '-c', 'folder.tfm', '--tokens', 'tokens.txt']],
  ['forward with ragged token rows', ['forward', 'tiny.tfm', '-c', 'garbage.safetensors', '--tokens', 'garbage-tokens.json']],
  ['forward with fractional token ids', ['forward', 'tiny.tfm', '-c', 'garbage.safetensors', '--tokens', 'float-tokens.json']],
  ['forward with a huge token id', ['forward', 'tiny.tfm', '-c', 'garbage.safetensors', '--tokens', 'huge-tokens.txt']],
  ['import of a garbage file', ['import', 'tiny.tfm', '-c', 'garbage.safetensors', '-o', 'x.safetensors']],
  ['export into a file-as-folder', ['export', 'tiny.tfm', '--seed', '1', '-o', 'afile/w.safetensors']],
  ['train into a file', ['train', 'tiny.tfm', '--out', 'afile', '--steps', '1']],
  ['compile into a file', ['compile', 'tiny.tfm', '-o', 'afile']],
  // Node's recursive mkdir spins forever under /proc; tfm makes folders one level at a time.
  ['compile into /proc', ['compile', 'tiny.tfm', '-o', '/proc/tfm-nope']],
  ['train into /proc', ['train', 'tiny.tfm', '--out', '/proc/tfm-nope', '--steps', '1']],
  ['forward writing logits into a missing folder', ['forward', 'tiny.tfm', '-c', 'garbage.safetensors', '--tokens', 'tokens.txt', '-o', 'missing/logits.json']],
  ['train on a FIFO', ['train', 'tiny.tfm', '--data', 'pipe.tfm', '--steps', '1']],
  ['train with --batch 0', ['train', 'tiny.tfm', '--batch', '0']],
  ['train with --seq beyond the context', ['train', 'tiny.tfm', '--seq', '99', '--steps', '1', '--out', 'run-seq']],
  ['train with --lr NaN', ['train', 'tiny.tfm', '--lr', 'NaN']],
];

describe(`no command prints a stack trace (seed ${seed})`, () => {
  it.each(runs)('%s', (_, args) => {
    const r = tfm(args, { cwd: dir, timeout: 60_000 });
    const out = r.stdout + r.stderr;
    expect(out).not.toMatch(STACK);
    expect(out).not.toContain('internal error');
    expect([1, 2], out).toContain(r.code);
    expect(out, out).toMatch(/error(\[TFM\d{4}\])?:/);
  });

  it('an empty spec declares nothing and checks clean', () => {
    const r = tfm(['check', 'empty.tfm'], { cwd: dir });
    expect(r.stderr).toContain('ok: 1 file, 0 models, 0 errors');
    expect(r.code).toBe(0);
  });
});
