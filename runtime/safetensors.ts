// safetensors read/write (https://huggingface.co/docs/safetensors): an 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets}}, then raw little-endian
// data. Written here rather than taken from npm: the registry's `safetensors` package is an
// unmaintained 0.0.1 placeholder, and the format is small enough to validate completely —
// every length and offset is checked against the file before anything is allocated.

export type TensorData = Float32Array | Int32Array;
export interface NamedTensor {
  shape: number[];
  data: TensorData;
}

export class SafetensorsError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const DTYPES: Record<string, { bytes: number; make: (buf: ArrayBuffer, off: number, n: number) => TensorData }> = {
  F32: { bytes: 4, make: (b, o, n) => new Float32Array(b, o, n) },
  I32: { bytes: 4, make: (b, o, n) => new Int32Array(b, o, n) },
};

/** Largest header we accept: far above any real one, far below what could exhaust memory. */
const MAX_HEADER = 100 * 1024 * 1024;

export function encodeSafetensors(tensors: Map<string, NamedTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new Error(`tensor ${name}: shape [${t.shape}] holds ${n} values, data has ${t.data.length}`);
    header[name] = { dtype: t.data instanceof Int32Array ? 'I32' : 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so that the data starts 8-byte aligned.
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const t = tensors.get(name)!;
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

export function decodeSafetensors(bytes: Uint8Array): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new SafetensorsError('TFM5001', `file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const headerLen = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLen > BigInt(Math.min(MAX_HEADER, bytes.length - 8))) throw new SafetensorsError('TFM5002', `header length ${headerLen} exceeds the ${bytes.length - 8} bytes that follow it`);
  const n = Number(headerLen);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new SafetensorsError('TFM5003', `header is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new SafetensorsError('TFM5003', 'header is not a JSON object');
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  // Copy the data region once into a fresh, aligned ArrayBuffer so typed-array views are valid
  // (a Node Buffer's .slice() is a view into a shared pool, hence the explicit copy).
  const data = new Uint8Array(bytes.subarray(dataStart)).buffer;
  const tensors = new Map<string, NamedTensor>();
  const ranges: [number, number, string][] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dt = typeof e.dtype === 'string' ? DTYPES[e.dtype] : undefined;
    if (!dt) throw new SafetensorsError('TFM5004', `tensor ${name}: unsupported dtype ${JSON.stringify(e.dtype)} (F32 and I32 are read)`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new SafetensorsError('TFM5004', `tensor ${name}: invalid shape ${JSON.stringify(e.shape)}`);
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0) || offs[0] > offs[1] || offs[1] > dataLen) {
      throw new SafetensorsError('TFM5005', `tensor ${name}: data offsets ${JSON.stringify(offs)} outside the ${dataLen} data bytes`);
    }
    const count = (e.shape as number[]).reduce((a, b) => a * b, 1);
    if (count * dt.bytes !== offs[1] - offs[0]) throw new SafetensorsError('TFM5005', `tensor ${name}: shape [${e.shape}] needs ${count * dt.bytes} bytes, offsets give ${offs[1] - offs[0]}`);
    if (offs[0] % dt.bytes !== 0) throw new SafetensorsError('TFM5005', `tensor ${name}: offset ${offs[0]} is not aligned to ${dt.bytes} bytes`);
    ranges.push([offs[0], offs[1], name]);
    tensors.set(name, { shape: e.shape as number[], data: dt.make(data, offs[0], count) });
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let k = 1; k < ranges.length; k++) {
    if (ranges[k][0] < ranges[k - 1][1]) throw new SafetensorsError('TFM5005', `tensors ${ranges[k - 1][2]} and ${ranges[k][2]} overlap`);
  }
  return { tensors, metadata };
}
