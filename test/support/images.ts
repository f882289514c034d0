// Hand-made image sets in MNIST's IDX layout, of random bytes from the seeded Math.random.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** An IDX file: big-endian magic (0x0803 images, 0x0801 labels), the dims, the bytes. */
export function idx(kind: 'images' | 'labels', dims: number[], data: Uint8Array): Uint8Array {
  const head = new DataView(new ArrayBuffer(4 + 4 * dims.length));
  head.setUint32(0, kind === 'images' ? 0x0803 : 0x0801);
  dims.forEach((d, k) => head.setUint32(4 + 4 * k, d));
  return new Uint8Array([...new Uint8Array(head.buffer), ...data]);
}

/** A folder of the four IDX files: `n` training and `m` test images of h×w random bytes. */
export function imageFolder(n: number, m: number, h: number, w: number, classes = 10): { dir: string; train: Uint8Array; trainLabels: Uint8Array; test: Uint8Array; testLabels: Uint8Array } {
  const dir = mkdtempSync(join(tmpdir(), 'tfm-idx-'));
  const bytes = (k: number, top = 256) => Uint8Array.from({ length: k }, () => Math.floor(Math.random() * top));
  const [train, trainLabels, test, testLabels] = [bytes(n * h * w), bytes(n, classes), bytes(m * h * w), bytes(m, classes)];
  writeFileSync(join(dir, 'train-images-idx3-ubyte'), idx('images', [n, h, w], train));
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), idx('labels', [n], trainLabels));
  writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idx('images', [m, h, w], test));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idx('labels', [m], testLabels));
  return { dir, train, trainLabels, test, testLabels };
}
