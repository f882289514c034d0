// safetensors read/write (https://huggingface.co/docs/safetensors): an 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets}}, then raw little-endian
// data. Written here rather than taken from npm: the registry's `safetensors` package is an
// unmaintained 0.0.1 placeholder, and the format is small enough to validate completely —
// every length and offset is checked against the file before anything is allocated.
import { TfmError } from '../common/errors.ts';
import { closeSync } from 'node:fs';
import { openBounded, readAt, readInto } from '../common/files.ts';

export type TensorData = Float32Array | Int32Array;
export interface NamedTensor {
  shape: number[];
  data: TensorData;
}

const DTYPES: Record<string, { bytes: number; make: (buf: ArrayBuffer, off: number, n: number) => TensorData }> = {
  F32: { bytes: 4, make: (b, o, n) => new Float32Array(b, o, n) },
  I32: { bytes: 4, make: (b, o, n) => new Int32Array(b, o, n) },
};

/** Largest header we accept: far above any real one, far below what could exhaust memory. */
const MAX_HEADER = 100 * 1024 * 1024;

/** The file as a list of chunks — the header, then each tensor's bytes as a view of its data —
 *  so that a large model is written without being joined into one buffer. */
export function encodeChunks(tensors: Map<string, NamedTensor>, metadata: Record<string, string> = {}): Uint8Array[] {
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
  const head = new Uint8Array(8 + headerBytes.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  head.set(headerBytes, 8);
  return [head, ...names.map((name) => {
    const d = tensors.get(name)!.data;
    return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  })];
}

export function encodeSafetensors(tensors: Map<string, NamedTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const chunks = encodeChunks(tensors, metadata);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

export interface TensorEntry {
  name: string;
  dtype: 'F32' | 'I32';
  shape: number[];
  /** Byte range within the data region. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** Bytes before the data region: 8 + the header length. */
  dataStart: number;
  entries: Map<string, TensorEntry>;
  metadata: Record<string, string>;
}

/** Validates the 8-byte length and the JSON header against a file of `fileSize` bytes:
 *  every entry's dtype, shape and offsets, and that no two tensors overlap. */
export function parseHeader(lengthBytes: Uint8Array, readHeader: (n: number) => Uint8Array, fileSize: number): SafetensorsHeader {
  if (fileSize < 8) throw new TfmError('TFM5001', `file is ${fileSize} bytes, shorter than the 8-byte header length`);
  const headerLen = new DataView(lengthBytes.buffer, lengthBytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLen > BigInt(Math.min(MAX_HEADER, fileSize - 8))) throw new TfmError('TFM5002', `header length ${headerLen} exceeds the ${fileSize - 8} bytes that follow it`);
  const n = Number(headerLen);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(readHeader(n)));
  } catch (e) {
    throw new TfmError('TFM5003', `header is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new TfmError('TFM5003', 'header is not a JSON object');
  const dataStart = 8 + n;
  const dataLen = fileSize - dataStart;
  const entries = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (!entry || typeof entry !== 'object' || Array.isArray(entry) || !Object.values(entry).every((v) => typeof v === 'string')) throw new TfmError('TFM5003', '`__metadata__` must map names to strings');
      metadata = entry as Record<string, string>;
      continue;
    }
    if (!entry || typeof entry !== 'object' || Array.isArray(entry)) throw new TfmError('TFM5004', `tensor ${JSON.stringify(name)}: entry is ${JSON.stringify(entry)}, not an object with dtype, shape and data_offsets`);
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dt = typeof e.dtype === 'string' && Object.hasOwn(DTYPES, e.dtype) ? DTYPES[e.dtype] : undefined;
    if (!dt) throw new TfmError('TFM5004', `tensor ${JSON.stringify(name)}: unsupported dtype ${JSON.stringify(e.dtype)} (F32 and I32 are read)`);
    if (!Array.isArray(e.shape) || e.shape.length > 8 || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new TfmError('TFM5004', `tensor ${JSON.stringify(name)}: invalid shape ${JSON.stringify(e.shape)}`);
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0) || offs[0] > offs[1] || offs[1] > dataLen) {
      throw new TfmError('TFM5005', `tensor ${JSON.stringify(name)}: data offsets ${JSON.stringify(offs)} outside the ${dataLen} data bytes`);
    }
    const count = (e.shape as number[]).reduce((a, b) => a * b, 1);
    if (count * dt.bytes !== offs[1] - offs[0]) throw new TfmError('TFM5005', `tensor ${JSON.stringify(name)}: shape [${e.shape}] needs ${count * dt.bytes} bytes, offsets give ${offs[1] - offs[0]}`);
    if (offs[0] % dt.bytes !== 0) throw new TfmError('TFM5005', `tensor ${JSON.stringify(name)}: offset ${offs[0]} is not aligned to ${dt.bytes} bytes`);
    entries.set(name, { name, dtype: e.dtype as 'F32' | 'I32', shape: e.shape as number[], begin: offs[0], end: offs[1] });
  }
  const ranges = [...entries.values()].sort((a, b) => a.begin - b.begin);
  for (let k = 1; k < ranges.length; k++) {
    if (ranges[k].begin < ranges[k - 1].end) throw new TfmError('TFM5005', `tensors ${JSON.stringify(ranges[k - 1].name)} and ${JSON.stringify(ranges[k].name)} overlap`);
  }
  return { dataStart, entries, metadata };
}

/** A tensor's values from its bytes (copied into a fresh, aligned buffer). */
export function tensorOf(entry: TensorEntry, bytes: Uint8Array): NamedTensor {
  return tensorOn(entry, new Uint8Array(bytes).buffer);
}

/** A tensor's values on a buffer that holds exactly its bytes (no copy). */
function tensorOn(entry: TensorEntry, buffer: ArrayBuffer): NamedTensor {
  const dt = DTYPES[entry.dtype];
  return { shape: entry.shape, data: dt.make(buffer, 0, (entry.end - entry.begin) / dt.bytes) };
}

export function decodeSafetensors(bytes: Uint8Array): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  const header = parseHeader(bytes.subarray(0, 8), (n) => bytes.subarray(8, 8 + n), bytes.length);
  const tensors = new Map<string, NamedTensor>();
  for (const [name, e] of header.entries) tensors.set(name, tensorOf(e, bytes.subarray(header.dataStart + e.begin, header.dataStart + e.end)));
  return { tensors, metadata: header.metadata };
}

/** Reads a safetensors file header first: the header is validated against the file's size,
 *  `choose` names the tensors wanted (and may refuse the file on what the header declares,
 *  before any data is read), and only those tensors' bytes are read. A header that lies about
 *  sizes, or tensors nobody asked for, cost no memory. */
export function readSafetensorsFile(
  path: string,
  what: string,
  choose: (header: SafetensorsHeader) => Iterable<string> = (h) => h.entries.keys(),
): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  const { fd, size } = openBounded(path, Number.MAX_SAFE_INTEGER, what);
  try {
    let header: SafetensorsHeader;
    try {
      header = parseHeader(readAt(fd, 0, Math.min(8, size), path), (n) => readAt(fd, 8, n, path), size);
    } catch (e) {
      // The format's errors do not know the file; say which one.
      if (e instanceof TfmError && !e.message.includes(path)) throw new TfmError(e.code, `\`${path}\`: ${e.message}`);
      throw e;
    }
    const tensors = new Map<string, NamedTensor>();
    for (const name of choose(header)) {
      const e = header.entries.get(name);
      if (!e) continue;
      // Read straight into the tensor's own buffer: one copy from disk, none in memory.
      tensors.set(name, tensorOn(e, readInto(fd, header.dataStart + e.begin, new Uint8Array(e.end - e.begin), path).buffer));
    }
    return { tensors, metadata: header.metadata };
  } finally {
    closeSync(fd);
  }
}
