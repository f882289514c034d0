// NumPy .npy files (format versions 1–3): a magic string, a header dict giving dtype, order
// and shape, then the array's bytes. Written here rather than taken from a package: the
// format is a page long, and the npm readers fetch over HTTP or pull in a browser build.
import { TfmError } from './errors.ts';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

/** A little-endian float32 array as .npy v1.0 (header padded to a multiple of 64 bytes). */
export function encodeNpy(data: Float32Array, shape: number[]): Uint8Array {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([...MAGIC, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

/** Reads a C-order array of float32, float64 or unsigned bytes as float32 values; anything
 *  else is refused with TFM5008 naming `path`. */
export function decodeNpy(bytes: Uint8Array, path: string): { shape: number[]; data: Float32Array } {
  const bad = (why: string) => new TfmError('TFM5008', `\`${path}\` is not a usable .npy array: ${why}`);
  if (bytes.length < 10 || MAGIC.some((b, k) => bytes[k] !== b)) throw bad('no .npy magic string');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  if (major < 1 || major > 3) throw bad(`format version ${major}`);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > bytes.length) throw bad('its header runs past the end of the file');
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw bad('its header lacks descr, fortran_order or shape');
  if (fortran === 'True') throw bad('Fortran order (save it C-ordered: np.ascontiguousarray)');
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw bad(`shape (${shapeText})`);
  const count = shape.reduce((a, b) => a * b, 1);
  const size = { '<f4': 4, '<f8': 8, '|u1': 1 }[descr];
  if (!size) throw bad(`dtype ${descr} (float32, float64 or uint8 are read)`);
  const offset = start + headerLen;
  if (bytes.length - offset !== count * size) throw bad(`shape (${shapeText}) of ${descr} needs ${count * size} bytes, the file holds ${bytes.length - offset}`);
  const data = new Float32Array(count);
  for (let k = 0; k < count; k++) data[k] = size === 4 ? view.getFloat32(offset + 4 * k, true) : size === 8 ? view.getFloat64(offset + 8 * k, true) : bytes[offset + k];
  return { shape, data };
}
