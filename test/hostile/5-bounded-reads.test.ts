// Defect 5: nothing is read whole before it is checked. Links to devices and FIFOs are
// refused without blocking (TFM5016, TFM2008 for specs), sizes are checked before reading
// (TFM5017), and a safetensors header is read and checked before any of its data: a sparse
// 1.5 GB file whose header lies costs no memory.
import { TfmError } from '../../common/errors.ts';
import { spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdirSync, openSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkFiles } from '../../compiler/check.ts';
import type { Program } from '../../common/program.ts';
import { compile } from '../../compiler/codegen/compile.ts';
import { tsTarget } from '../../compiler/targets/ts/index.ts';
import { readCheckpoint } from '../../runtime/checkpoint.ts';
import { readWeights } from '../../runtime/weights.ts';
import { expectCoded, fresh, TINY_SPEC, tfm } from '../support/cli.ts';

const dir = fresh('bounded');
const fifo = (path: string) => expect(spawnSync('mkfifo', [path]).status).toBe(0);

/** A file of `size` bytes that holds a safetensors header and then nothing (a hole). */
function sparseSafetensors(path: string, header: object, size: number): void {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const fd = openSync(path, 'w');
  writeSync(fd, len);
  writeSync(fd, json);
  ftruncateSync(fd, size);
  closeSync(fd);
}

/** Growth of memory held in array buffers and of the resident set while `f` runs. */
function growth(f: () => void): number {
  const before = process.memoryUsage();
  f();
  const after = process.memoryUsage();
  return Math.max(after.arrayBuffers - before.arrayBuffers, after.rss - before.rss);
}

const expectThrowsCode = (f: () => unknown, code: string) => {
  try {
    f();
  } catch (e) {
    expect((e as { code?: string }).code, (e as Error).message).toBe(code);
    return e as Error;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
};

describe('specs and imports', () => {
  beforeAll(() => {
    symlinkSync('/dev/zero', join(dir, 'zero.tfm'));
    fifo(join(dir, 'pipe.tfm'));
    writeFileSync(join(dir, 'huge.tfm'), '#'.repeat(2 * 2 ** 20));
    writeFileSync(join(dir, 'imports-zero.tfm'), 'import "zero.tfm"\n' + TINY_SPEC);
  });

  it.each([
    ['a link to /dev/zero', 'zero.tfm', 'is not a regular file (a device)'],
    ['a FIFO nobody writes to', 'pipe.tfm', 'is not a regular file (a pipe)'],
    ['a 2 MiB spec', 'huge.tfm', 'more than the 1.0 MiB a spec may be'],
    ['an import of /dev/zero', 'imports-zero.tfm', 'is not a regular file (a device)'],
  ])('%s: TFM2008 at once', (_, file, message) => {
    const r = tfm(['check', file], { cwd: dir, timeout: 30_000 });
    expectCoded(r, 'TFM2008');
    expect(r.stderr).toContain(message);
  });
});

describe('checkpoints, state, tokens and data', () => {
  let program: Program;
  beforeAll(() => {
    const r = checkFiles(['tiny.tfm'], () => TINY_SPEC);
    program = compile(r.models[0], tsTarget, undefined, { train: false }).program;
  });

  it('a sparse 1.5 GB safetensors file whose header declares a wrong shape: refused from the header, memory bounded', () => {
    const path = join(dir, 'lying.safetensors');
    const n = 1.5e9;
    sparseSafetensors(path, { 'wte.weight': { dtype: 'F32', shape: [n / 4 / 32, 32], data_offsets: [0, n] } }, n + 4096);
    const used = growth(() => expectThrowsCode(() => readWeights(path, program), 'TFM5007'));
    expect(used).toBeLessThan(64 * 2 ** 20);
  });

  it('a sparse file holding every tensor the model needs plus a 1.5 GB one it does not: only the needed bytes are read', () => {
    const path = join(dir, 'extra.safetensors');
    const header: Record<string, object> = {};
    let at = 0;
    for (const p of program.params) {
      const shape = p.shape.map(Number);
      const bytes = 4 * shape.reduce((a, b) => a * b, 1);
      header[p.name] = { dtype: 'F32', shape, data_offsets: [at, at + bytes] };
      at += bytes;
    }
    header.junk = { dtype: 'F32', shape: [375_000_000], data_offsets: [at, at + 1.5e9] };
    sparseSafetensors(path, header, 8 + JSON.stringify(header).length + at + 1.5e9);
    // The hole reads as zeros: finite weights, so the read succeeds.
    const used = growth(() => expect(readWeights(path, program).params.size).toBe(program.params.length));
    expect(used).toBeLessThan(64 * 2 ** 20);
  });

  it('a checkpoint whose model file is larger than the model: TFM5017 before reading it', () => {
    const ck = join(dir, 'ckpt-00000001');
    mkdirSync(ck);
    sparseSafetensors(join(ck, 'model.safetensors'), {}, 1.5e9);
    sparseSafetensors(join(ck, 'optimizer.safetensors'), {}, 64);
    const digest = 'a'.repeat(64);
    writeFileSync(join(ck, 'state.json'), JSON.stringify({ format: 'tfm-checkpoint', version: 2, model: 'tiny', specHash: digest, step: 1, optimizerSteps: 1, rng: [1, 2, 3, 4], naming: 'internal', files: { 'model.safetensors': digest, 'optimizer.safetensors': digest }, history: [] }));
    const used = growth(() => expectThrowsCode(() => readCheckpoint(ck, digest, { model: 2 ** 20, optimizer: 2 ** 20 }), 'TFM5017'));
    expect(used).toBeLessThan(64 * 2 ** 20);
  });

  it('state.json linked to /dev/zero: TFM5016', () => {
    const ck = join(dir, 'ckpt-00000002');
    mkdirSync(ck);
    symlinkSync('/dev/zero', join(ck, 'state.json'));
    const e = expectThrowsCode(() => readCheckpoint(ck, 'a'.repeat(64)), 'TFM5016');
    expect(e).toBeInstanceOf(TfmError);
  });

  it('weights linked to /dev/zero or a FIFO: TFM5016 without blocking', () => {
    symlinkSync('/dev/zero', join(dir, 'zero.safetensors'));
    fifo(join(dir, 'pipe.safetensors'));
    for (const f of ['zero.safetensors', 'pipe.safetensors']) expect(expectThrowsCode(() => readWeights(join(dir, f), program), 'TFM5016')).toBeInstanceOf(TfmError);
  });

  it('tfm forward with token ids from a FIFO, tfm train with --data linked to /dev/zero: TFM5016', () => {
    writeFileSync(join(dir, 'tiny.tfm'), TINY_SPEC);
    fifo(join(dir, 'tokens.txt'));
    expectCoded(tfm(['forward', 'tiny.tfm', '-c', 'none.safetensors', '--tokens', 'tokens.txt'], { cwd: dir, timeout: 60_000 }), 'TFM5016');
    symlinkSync('/dev/zero', join(dir, 'zero.txt'));
    expectCoded(tfm(['train', 'tiny.tfm', '--data', 'zero.txt', '--out', 'run'], { cwd: dir, timeout: 60_000 }), 'TFM5016');
  });
});
