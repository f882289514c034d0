// .npy arrays (common/npy.ts): what `tfm forward` reads (--image) and writes (-o logits.npy).
import { describe, expect, it } from 'vitest';
import { TfmError } from '../common/errors.ts';
import { decodeNpy, encodeNpy } from '../common/npy.ts';

/** An .npy file as NumPy writes it (version 1.0), of any dtype. */
function npy(descr: string, shape: number[], bytes: Uint8Array, fortran = false): Uint8Array {
  let header = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const out = new Uint8Array(10 + header.length + bytes.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(bytes, 10 + header.length);
  return out;
}

const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof TfmError) return `${e.code}: ${e.message}`;
    throw e;
  }
  return 'no error';
};

describe('.npy arrays', () => {
  it('float32 round-trips; the header is padded to a multiple of 64 bytes', () => {
    const data = Float32Array.from({ length: 24 }, () => Math.random() - 0.5);
    const bytes = encodeNpy(data, [2, 3, 4]);
    expect((10 + new DataView(bytes.buffer).getUint16(8, true)) % 64).toBe(0);
    const back = decodeNpy(bytes, 'x.npy');
    expect(back.shape).toEqual([2, 3, 4]);
    expect(Array.from(back.data)).toEqual(Array.from(data));
  });

  it('reads float64 and uint8 arrays as float32 values', () => {
    const f64 = Float64Array.from([0.25, -1.5, 3]);
    expect(Array.from(decodeNpy(npy('<f8', [3], new Uint8Array(f64.buffer)), 'a').data)).toEqual([0.25, -1.5, 3]);
    expect(decodeNpy(npy('|u1', [2, 2], Uint8Array.of(0, 7, 128, 255)), 'b')).toEqual({ shape: [2, 2], data: Float32Array.of(0, 7, 128, 255) });
  });

  it('refuses what it cannot read exactly, naming the file', () => {
    expect(code(() => decodeNpy(Uint8Array.of(1, 2, 3), 'a.npy'))).toMatch(/^TFM5008: `a.npy` is not a usable .npy array: no .npy magic string/);
    expect(code(() => decodeNpy(npy('<i8', [1], new Uint8Array(8)), 'b.npy'))).toMatch(/dtype <i8 \(float32, float64 or uint8 are read\)/);
    expect(code(() => decodeNpy(npy('<f4', [2, 2], new Uint8Array(16), true), 'c.npy'))).toMatch(/Fortran order/);
    expect(code(() => decodeNpy(npy('<f4', [2, 2], new Uint8Array(12)), 'd.npy'))).toMatch(/needs 16 bytes, the file holds 12/);
  });
});
