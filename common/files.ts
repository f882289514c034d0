// Reading and writing files that come from users, bounded and atomic. Every file tfm reads —
// specs, imports, checkpoints, state, tokenizers, token ids, training text — goes through
// readBounded: it refuses anything that is not a regular file (a FIFO would hang, a link to
// /dev/zero would never end) and anything larger than the limit for its kind, before a
// byte is read. Every file tfm writes goes through writeAtomically: a temporary name beside
// the target, fsynced, then renamed, so a killed or failing write never leaves a partial file.
import { TfmError } from './errors.ts';
import { closeSync, constants, fstatSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import type { Hash } from 'node:crypto';
import { dirname, join, resolve, sep } from 'node:path';

const MiB = 2 ** 20;

/** Size limits per kind of file: far above any real one, far below what would exhaust memory. */
export const LIMITS = {
  spec: 1 * MiB,
  /** All spec text of one compilation (a file and everything it imports). */
  specTotal: 16 * MiB,
  state: 16 * MiB,
  tokenizer: 256 * MiB,
  tokens: 256 * MiB,
  /** One training text file; a folder of them is capped by `textTotal`. */
  text: 1024 * MiB,
  textTotal: 2048 * MiB,
  program: 256 * MiB,
} as const;

export const formatBytes = (n: number): string => (n >= MiB ? `${(n / MiB).toFixed(n >= 10 * MiB ? 0 : 1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(0)} KiB` : `${n} bytes`);

const reason = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message ?? 'read error';

/** Opens a file for reading without blocking (a FIFO opens at once) and checks that it is a
 *  regular file no larger than `limit`; returns the descriptor and the size. */
export function openBounded(path: string, limit: number, what: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new TfmError('TFM5006', `cannot read ${what} \`${path}\`: ${reason(e)}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new TfmError('TFM5016', `${what} \`${path}\` is not a regular file (${kindOf(st)}): give a file`);
    if (st.size > limit) throw new TfmError('TFM5017', `${what} \`${path}\` is ${formatBytes(st.size)}, more than the ${formatBytes(limit)} a ${what} may be`);
    return { fd, size: st.size };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

function kindOf(st: ReturnType<typeof fstatSync>): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a pipe';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a file';
}

/** Reads `length` bytes at `position` into a fresh buffer; fewer bytes than that is an error
 *  (the file shrank while being read). */
export function readAt(fd: number, position: number, length: number, path: string): Buffer {
  return readInto(fd, position, Buffer.allocUnsafe(length), path);
}

/** Fills `out` from `position` on; fewer bytes than that is an error (as readAt). */
export function readInto<T extends Uint8Array>(fd: number, position: number, out: T, path: string): T {
  let off = 0;
  while (off < out.length) {
    const n = readSync(fd, out, off, out.length - off, position + off);
    if (n === 0) throw new TfmError('TFM5018', `\`${path}\` ended after ${position + off} bytes while being read: it changed on disk`);
    off += n;
  }
  return out;
}

/** The whole of a regular file no larger than `limit`. */
export function readBounded(path: string, limit: number, what: string): Buffer {
  const { fd, size } = openBounded(path, limit, what);
  try {
    return readAt(fd, 0, size, path);
  } finally {
    closeSync(fd);
  }
}

export function readTextBounded(path: string, limit: number, what: string): string {
  const bytes = readBounded(path, limit, what);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new TfmError('TFM5019', `${what} \`${path}\` is not UTF-8 text`);
  }
}

/** True when `path` exists (a symlink counts when its target does). */
export function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** fsync of a folder, so that a rename inside it is durable. Some file systems refuse fsync on
 *  a folder; the rename itself is atomic either way, so that refusal is ignored. */
export function fsyncFolder(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // see above
  }
}

/** Creates (or truncates) `path`, writes `data` in full — a string, bytes, or chunks, so that
 *  large outputs are never joined in memory — and fsyncs it. `digest`, when given, sees every
 *  byte written. */
export function writeFileSynced(path: string, data: Uint8Array | string | Iterable<Uint8Array>, digest?: Hash): void {
  const fd = openSync(path, 'w');
  try {
    const chunks = typeof data === 'string' ? [Buffer.from(data)] : data instanceof Uint8Array ? [data] : data;
    for (const bytes of chunks) {
      digest?.update(bytes);
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Refuses an output path before any work is done: its folder must exist and be a folder, and
 *  the path itself must not be a folder (TFM5020). */
export function checkWritable(path: string, what = 'output'): void {
  const dir = dirname(path);
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new TfmError('TFM5020', `cannot write ${what} \`${path}\`: the folder \`${dir}\` does not exist`);
  }
  if (!st.isDirectory()) throw new TfmError('TFM5020', `cannot write ${what} \`${path}\`: \`${dir}\` is not a folder`);
  if (exists(path) && statSync(path).isDirectory()) throw new TfmError('TFM5020', `cannot write ${what} \`${path}\`: it is a folder`);
}

/** Writes a file under a temporary name beside it, fsyncs it, then renames it into place;
 *  on any failure the temporary file is removed and the old file (if any) is untouched. */
export function writeAtomically(path: string, data: Uint8Array | string | Iterable<Uint8Array>, what = 'output'): void {
  checkWritable(path, what);
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSynced(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    if (e instanceof TfmError) throw e;
    throw new TfmError('TFM5020', `cannot write ${what} \`${path}\`: ${reason(e)}`);
  }
  fsyncFolder(dirname(path));
}

/** Creates `dir` and its missing parents, one level at a time; a part that exists and is not
 *  a folder, or a folder that cannot be made, is TFM5020. (Node's `mkdirSync(…, { recursive:
 *  true })` spins forever under /proc, and its errors carry no code of ours.) */
export function makeFolder(dir: string, what = 'output folder'): void {
  const parts = resolve(dir).split(sep).filter(Boolean);
  let at: string = sep;
  for (const part of parts) {
    at = join(at, part);
    let st;
    try {
      st = statSync(at);
    } catch {
      try {
        mkdirSync(at);
        continue;
      } catch (e) {
        throw new TfmError('TFM5020', `cannot create the ${what} \`${dir}\`: ${reason(e)} at \`${at}\``);
      }
    }
    if (!st.isDirectory()) throw new TfmError('TFM5020', `cannot create the ${what} \`${dir}\`: \`${at}\` is a file`);
  }
}
