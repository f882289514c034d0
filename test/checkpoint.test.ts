// Checkpoints: corrupt or truncated files are refused with coded errors and without
// allocating what an unvalidated length asks for; a checkpoint of another spec is refused;
// `kill -9` at random moments then `--resume` ends bit-identical to an uninterrupted run; NaN
// stops training with the step and the tensor named, keeping the last good checkpoint.
import { TfmError } from '../common/errors.ts';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkpointName, readCheckpoint, writeCheckpoint } from '../runtime/checkpoint.ts';
import { decodeSafetensors, encodeSafetensors } from '../runtime/safetensors.ts';
import { checkFiles } from '../compiler/check.ts';
import { specHash } from '../cli/driver.ts';
import { imageFolder } from './support/images.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'tfm-ckpt-'));
const tensors = () => new Map([['w', { shape: [3, 4], data: Float32Array.from({ length: 12 }, () => Math.random()) }]]);
const HASH = 'a'.repeat(64);

function writeOne(dir: string, hash = HASH) {
  return writeCheckpoint(dir, { model: 'm', specHash: hash, step: 7, optimizerSteps: 7, rng: [1, 2, 3, 4], naming: 'internal', history: [[7, 2.5, null]] }, tensors(), new Map([['m', { shape: [2], data: Float32Array.of(1, 2) }], ['v', { shape: [2], data: Float32Array.of(3, 4) }]]), 3);
}

function expectCode(f: () => unknown, code: string) {
  try {
    f();
  } catch (e) {
    expect((e as TfmError | TfmError).code).toBe(code);
    return;
  }
  throw new Error(`expected error ${code}`);
}

describe('safetensors validation', () => {
  it('refuses cut headers, lying lengths and offsets, without allocating what they claim', () => {
    const good = encodeSafetensors(tensors());
    expect(decodeSafetensors(good).tensors.get('w')!.shape).toEqual([3, 4]);
    const before = process.memoryUsage().arrayBuffers;
    expectCode(() => decodeSafetensors(good.subarray(0, 5)), 'TFM5001'); // cut inside the length
    expectCode(() => decodeSafetensors(good.subarray(0, 20)), 'TFM5002'); // cut inside the header
    const huge = Uint8Array.from(good);
    new DataView(huge.buffer).setBigUint64(0, 1n << 50n, true); // a petabyte header
    expectCode(() => decodeSafetensors(huge), 'TFM5002');
    const lie = (header: object) => {
      const h = new TextEncoder().encode(JSON.stringify(header));
      const out = new Uint8Array(8 + h.length + 48);
      new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
      out.set(h, 8);
      return out;
    };
    expectCode(() => decodeSafetensors(lie({ w: { dtype: 'F32', shape: [100000, 100000], data_offsets: [0, 48] } })), 'TFM5005');
    expectCode(() => decodeSafetensors(lie({ w: { dtype: 'F32', shape: [12], data_offsets: [0, 4e12] } })), 'TFM5005');
    expectCode(() => decodeSafetensors(lie({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } })), 'TFM5004');
    expectCode(() => decodeSafetensors(lie({ a: { dtype: 'F32', shape: [8], data_offsets: [0, 32] }, b: { dtype: 'F32', shape: [8], data_offsets: [16, 48] } })), 'TFM5005');
    expectCode(() => decodeSafetensors(lie({ w: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } })), 'TFM5004');
    const flipped = Uint8Array.from(good);
    flipped[9] ^= 0x20; // the header JSON's first byte
    expectCode(() => decodeSafetensors(flipped), 'TFM5003');
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 2 ** 20);
  });
});

describe('checkpoint files', () => {
  it('reads back what it wrote', () => {
    const dir = tmp();
    const path = writeOne(dir);
    const ck = readCheckpoint(path, HASH);
    expect(ck.state.step).toBe(7);
    expect(ck.optimizer.get('v')!.data[1]).toBe(4);
  });

  it('refuses flipped bytes in state.json, damaged or truncated tensor files, and another spec', () => {
    const cases: [string, (path: string) => void, string][] = [
      ['flipped JSON byte', (p) => {
        const s = readFileSync(join(p, 'state.json'));
        s[0] ^= 0x01;
        writeFileSync(join(p, 'state.json'), s);
      }, 'TFM5011'],
      ['edited step', (p) => writeFileSync(join(p, 'state.json'), readFileSync(join(p, 'state.json'), 'utf8').replace('"step": 7', '"step": -7')), 'TFM5011'],
      ['flipped tensor byte', (p) => {
        const s = readFileSync(join(p, 'model.safetensors'));
        s[s.length - 1] ^= 0xff;
        writeFileSync(join(p, 'model.safetensors'), s);
      }, 'TFM5013'],
      ['truncated safetensors header', (p) => writeFileSync(join(p, 'optimizer.safetensors'), readFileSync(join(p, 'optimizer.safetensors')).subarray(0, 12)), 'TFM5013'],
      ['missing file', (p) => writeFileSync(join(p, 'state.json'), readFileSync(join(p, 'state.json'), 'utf8').replace('model.safetensors', 'other.safetensors')), 'TFM5011'],
    ];
    for (const [what, damage, code] of cases) {
      const path = writeOne(tmp());
      damage(path);
      try {
        readCheckpoint(path, HASH);
        throw new Error(`${what}: was loaded`);
      } catch (e) {
        expect((e as TfmError).code, what).toBe(code);
      }
    }
    expectCode(() => readCheckpoint(writeOne(tmp()), 'b'.repeat(64)), 'TFM5012');
  });

  it('keeps only the newest K and never leaves a partial checkpoint under a real name', () => {
    const dir = tmp();
    for (let s = 1; s <= 5; s++) writeCheckpoint(dir, { model: 'm', specHash: HASH, step: s, optimizerSteps: s, rng: [0, 0, 0, 0], naming: 'internal', history: [] }, tensors(), new Map(), 2);
    expect(readdirSync(dir).sort()).toEqual(['ckpt-00000004', 'ckpt-00000005']);
  });

  it('spec hash: a changed dim changes it, a comment does not', () => {
    const base = readFileSync('specs/gpt_tiny.tfm', 'utf8');
    const dir = tmp();
    const hashOf = (text: string) => {
      writeFileSync(join(dir, 'g.tfm'), text);
      return specHash(checkFiles([join(dir, 'g.tfm')]).models[0]);
    };
    const h = hashOf(base);
    expect(hashOf(`# a comment\n${base}`)).toBe(h);
    expect(hashOf(base.replace('layers = 4', 'layers = 3'))).not.toBe(h);
  });
});

const TRAIN = ['bin/tfm.js', 'train', 'specs/gpt_tiny.tfm', '--steps', '120', '--batch', '2', '--seq', '16', '--checkpoint-every', '1', '--eval-every', '1000', '--eval-batches', '1', '--threads', '1', '--keep', '2', '--seed', '3'];
/** Masked-LM pretraining on a small text (its WordPiece vocabulary trained at the start), validating every 25 steps. */
const mlmRun = () => {
  const dir = tmp();
  const words = ['the', 'whale', 'ship', 'sea', 'captain', 'white', 'rope', 'deck', 'storm', 'harpoon', 'ahab', 'ishmael'];
  writeFileSync(join(dir, 'text.txt'), Array.from({ length: 3000 }, (_, k) => words[Math.floor(Math.random() * words.length)] + (k % 11 === 10 ? '.' : '')).join(' '));
  return ['bin/tfm.js', 'train', 'specs/bert_tiny.tfm', '--data', join(dir, 'text.txt'), '--steps', '120', '--batch', '2', '--seq', '24', '--checkpoint-every', '1', '--eval-every', '25', '--eval-batches', '1', '--threads', '1', '--keep', '2', '--seed', '3'];
};
/** Span-corruption pretraining of an encoder-decoder (its unigram vocabulary trained at the
 *  start) on the same kind of text, validating every 25 steps. */
const spanRun = () => mlmRun().map((a) => (a === 'specs/bert_tiny.tfm' ? 'specs/t5_tiny.tfm' : a === '24' ? '40' : a));
/** An image classifier on a small hand-made image set, validating every 25 steps. */
const imageRun = () => ['bin/tfm.js', 'train', 'specs/vit_mnist.tfm', '--data', imageFolder(96, 24, 28, 28).dir, '--steps', '120', '--batch', '4', '--checkpoint-every', '1', '--eval-every', '25', '--eval-batches', '2', '--threads', '1', '--keep', '2', '--seed', '3'];

describe('training runs', () => {
  // Sized by steps, not seconds: each trial kills the run once it has written a random
  // checkpoint (then a few random milliseconds later, to land inside the next step or write),
  // so a loaded machine only makes it slower, never different; the timeout is headroom.
  it.each([
    ['next-token prediction (gpt_tiny)', () => TRAIN],
    ['image classification (vit_mnist)', imageRun],
    ['masked-LM pretraining (bert_tiny)', mlmRun],
    ['span corruption (t5_tiny)', spanRun],
  ])('kill -9 at random moments, then --resume: the same weights and optimizer state, bit for bit — %s', async (_, args) => {
    const TRAIN = args();
    const reference = tmp();
    const ref = spawnSync(process.execPath, [...TRAIN, '--out', reference], { encoding: 'utf8' });
    expect(ref.status, ref.stderr).toBe(0);
    const final = join(reference, 'ckpt-00000120');
    for (let trial = 0; trial < 3; trial++) {
      const out = tmp();
      const step = 30 + Math.floor(Math.random() * 80);
      const extraMs = Math.floor(Math.random() * 40);
      const child = spawn(process.execPath, [...TRAIN, '--out', out], { stdio: 'ignore' });
      const exited = new Promise((r) => child.once('exit', r));
      let running = true;
      void exited.then(() => (running = false));
      while (running && !existsSync(join(out, checkpointName(step)))) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, extraMs));
      child.kill('SIGKILL');
      await exited;
      const when = `killed ${extraMs} ms after checkpoint ${step}`;
      const resumed = spawnSync(process.execPath, [...TRAIN, '--out', out, '--resume'], { encoding: 'utf8' });
      expect(resumed.status, `trial ${trial} (${when}): ${resumed.stderr}`).toBe(0);
      for (const f of ['model.safetensors', 'optimizer.safetensors', 'state.json']) {
        expect(readFileSync(join(out, 'ckpt-00000120', f)).equals(readFileSync(join(final, f))), `${f} after a kill ${when}`).toBe(true);
      }
    }
  }, 900_000);

  it('denoising (bart_tiny): trains, validates against the copy baseline, and saves its unigram tokenizer', () => {
    const out = tmp();
    const args = mlmRun().map((a) => (a === 'specs/bert_tiny.tfm' ? 'specs/bart_tiny.tfm' : a === '120' ? '4' : a === '25' ? '4' : a));
    const run = spawnSync(process.execPath, [...args, '--out', out], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/validation loss \d+\.\d+ nats\/token \(unigram model of targets \d+\.\d+\), accuracy \d+\.\d+%/);
    expect(run.stderr).toMatch(/copying the noised input: \d+\.\d+%/);
    expect(JSON.parse(readFileSync(join(out, 'tokenizer.json'), 'utf8')).kind).toBe('unigram');
  }, 300_000);

  it.each([
    ['bpe', 'gpt_tiny_bpe'],
    ['gpt2', 'gpt_tiny_r50k'],
  ])('trains with the %s tokenizer (%s) and saves it beside the checkpoints', (tokenizer, spec) => {
    const out = tmp();
    const run = spawnSync(process.execPath, ['bin/tfm.js', 'train', `specs/${spec}.tfm`, '--tokenizer', tokenizer, '--steps', '3', '--batch', '2', '--seq', '16', '--eval-every', '3', '--eval-batches', '1', '--threads', '1', '--out', out], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/validation loss \d+\.\d+ nats\/token/);
    expect(JSON.parse(readFileSync(join(out, 'tokenizer.json'), 'utf8')).kind).toBe(tokenizer);
    expect(existsSync(join(out, 'ckpt-00000003', 'model.safetensors'))).toBe(true);
  });

  it('refuses a tokenizer larger than the spec vocabulary', () => {
    const run = spawnSync(process.execPath, ['bin/tfm.js', 'train', 'specs/gpt_tiny.tfm', '--tokenizer', 'gpt2', '--steps', '1', '--out', tmp()], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/error\[TFM5014\]: the gpt2 tokenizer has 50257 tokens but the spec's vocabulary is 65/);
  });

  it('NaN in the weights stops training with a coded error naming the step and the tensor; the checkpoint stays', async () => {
    const out = tmp();
    const threeSteps = TRAIN.map((a, k) => (TRAIN[k - 1] === '--steps' ? '3' : a));
    const first = spawnSync(process.execPath, [...threeSteps, '--out', out], { encoding: 'utf8' });
    expect(first.status, first.stderr).toBe(0);
    const ckpt = join(out, 'ckpt-00000003');
    // Poison one weight, keeping the file valid (a digest that matches): NaN in training, not corruption.
    const { readCheckpoint: read } = await import('../runtime/checkpoint.ts');
    const hash = JSON.parse(readFileSync(join(ckpt, 'state.json'), 'utf8')).specHash;
    const ck = read(ckpt, hash);
    ck.model.get('h.1.mlp.c_fc.weight')!.data[5] = NaN;
    writeCheckpoint(out, { ...ck.state }, ck.model, ck.optimizer, 5);
    const run = spawnSync(process.execPath, [...TRAIN, '--out', out, '--resume'], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/error\[TFM6001\]: NaN\/Inf in parameter `blocks\.1\.mlp\.up\.weight` at step 4; no update was applied and nothing was saved; the last good checkpoint is .*ckpt-00000003/);
    expect(existsSync(join(out, 'ckpt-00000004'))).toBe(false);
  });
});
