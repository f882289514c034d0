// Checkpoints: one folder per step — model.safetensors (Hugging Face names for the GPT family,
// tfm names otherwise), optimizer.safetensors (Adam moments), tokenizer.json (the run's
// tokenizer) and state.json (spec hash, step, generator state, the settings that give the run
// its meaning, and a digest of every other file). Written atomically: into a temporary
// folder, every file fsynced, then one rename and an fsync of the parent, so a killed run
// never leaves a partial checkpoint under a real name. Reading validates everything, with
// bounded reads, before anything is used.
import { TfmError } from '../common/errors.ts';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncFolder, LIMITS, makeFolder, openBounded, readAt, readTextBounded, writeFileSynced } from '../common/files.ts';
import { encodeChunks, readSafetensorsFile, type NamedTensor } from './safetensors.ts';

export interface CheckpointState {
  format: 'tfm-checkpoint';
  version: 1 | 2;
  model: string;
  specHash: string;
  step: number;
  /** Optimizer steps taken (AdamW bias correction). */
  optimizerSteps: number;
  /** Data sampler generator state: the data position. */
  rng: [number, number, number, number];
  naming: 'internal' | 'hf-gpt2' | 'hf-vit';
  /** sha256 of every other file of the checkpoint folder. */
  files: Record<string, string>;
  /** The settings that give the run its meaning (absent in version-1 checkpoints). */
  run?: Record<string, string | number>;
  /** History for the plot: [step, training loss, validation loss or null, and for a
   *  classifier its validation accuracy (0–1) or null]. */
  history: HistoryRow[];
}

export type HistoryRow = [number, number, number | null] | [number, number, number | null, number | null];

export const checkpointName = (step: number) => `ckpt-${String(step).padStart(8, '0')}`;
const CHECKPOINT = /^ckpt-(\d{8,})$/;

export function writeCheckpoint(
  outDir: string,
  state: Omit<CheckpointState, 'files' | 'format' | 'version'>,
  model: Map<string, NamedTensor>,
  optimizer: Map<string, NamedTensor>,
  keep: number,
  extra: Record<string, string> = {},
): string {
  makeFolder(outDir, 'run folder');
  const final = join(outDir, checkpointName(state.step));
  const tmp = `${final}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  const files: Record<string, string> = {};
  // Written in chunks and digested as they are written: no file is ever joined in memory.
  const put = (name: string, data: string | Uint8Array[]) => {
    const digest = createHash('sha256');
    writeFileSynced(join(tmp, name), data, digest);
    files[name] = digest.digest('hex');
  };
  put('model.safetensors', encodeChunks(model, { format: 'pt' }));
  put('optimizer.safetensors', encodeChunks(optimizer));
  for (const [name, text] of Object.entries(extra)) put(name, text);
  const full: CheckpointState = { format: 'tfm-checkpoint', version: 2, ...state, files };
  writeFileSynced(join(tmp, 'state.json'), JSON.stringify(full, null, 1) + '\n');
  fsyncFolder(tmp);
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  fsyncFolder(outDir);
  // Keep the newest `keep` checkpoints; older ones go only after the new one is durable.
  const all = listCheckpoints(outDir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) rmSync(join(outDir, old), { recursive: true, force: true });
  return final;
}

/** Checkpoint folders in step order (temporary folders of interrupted writes are ignored). */
export function listCheckpoints(outDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(outDir);
  } catch {
    return [];
  }
  return names
    .map((d) => [d, CHECKPOINT.exec(d)?.[1]] as const)
    .filter((x): x is readonly [string, string] => x[1] !== undefined)
    .sort((a, b) => (BigInt(a[1]) < BigInt(b[1]) ? -1 : BigInt(a[1]) > BigInt(b[1]) ? 1 : 0))
    .map((x) => x[0]);
}

/** Temporary files and folders (`<name>.tmp-<pid>`) that a killed process left behind in a run
 *  folder; those of a process still running are left alone. Returns what it removed. */
export function removeStaleTemporaries(outDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(outDir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = /\.tmp-(\d+)$/.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    rmSync(join(outDir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** sha256 of a file read in 1 MiB pieces: a file of any size costs no memory to verify. */
function digestFile(path: string, limit: number, what: string): string {
  const { fd, size } = openBounded(path, limit, what);
  try {
    const h = createHash('sha256');
    for (let at = 0; at < size; at += 2 ** 20) h.update(readAt(fd, at, Math.min(2 ** 20, size - at), path));
    return h.digest('hex');
  } finally {
    closeSync(fd);
  }
}

export interface LoadedCheckpoint {
  state: CheckpointState;
  model: Map<string, NamedTensor>;
  optimizer: Map<string, NamedTensor>;
  /** The tokenizer the run was trained with (version-2 checkpoints). */
  tokenizer?: string;
}

/** Reads a checkpoint folder. `limits` bound the tensor files (bytes): a checkpoint of this
 *  model is never larger, so a damaged or hostile one is refused before it is read. */
export function readCheckpoint(dir: string, expectedSpecHash: string | null, limits: { model?: number; optimizer?: number } = {}): LoadedCheckpoint {
  const statePath = join(dir, 'state.json');
  let state: CheckpointState;
  try {
    state = JSON.parse(readTextBounded(statePath, LIMITS.state, 'checkpoint state'));
  } catch (e) {
    if (e instanceof TfmError) throw new TfmError(e.code === 'TFM5006' ? 'TFM5010' : e.code, e.code === 'TFM5006' ? `\`${dir}\` has no readable state.json` : e.message);
    throw new TfmError('TFM5011', `\`${statePath}\` is not valid JSON: ${(e as Error).message}`);
  }
  validateState(state, statePath);
  if (expectedSpecHash !== null && state.specHash !== expectedSpecHash) {
    throw new TfmError('TFM5012', `\`${dir}\` was written for a different spec (hash ${state.specHash.slice(0, 12)}…, this spec is ${expectedSpecHash.slice(0, 12)}…): the architecture or its dims changed; start a new run in another --out folder`);
  }
  const verify = (name: string, limit: number) => {
    const path = join(dir, name);
    let digest: string;
    try {
      digest = digestFile(path, limit, 'checkpoint file');
    } catch (e) {
      if (e instanceof TfmError) throw new TfmError(e.code === 'TFM5006' ? 'TFM5010' : e.code, e.code === 'TFM5006' ? `\`${path}\` is missing` : e.message);
      throw e;
    }
    if (digest !== state.files[name]) throw new TfmError('TFM5013', `\`${path}\` does not match the digest recorded in state.json: the file is damaged`);
    return path;
  };
  const read = (name: string, limit = Number.MAX_SAFE_INTEGER) => {
    return readSafetensorsFile(verify(name, limit), 'checkpoint file').tensors;
  };
  const tokenizer = state.files['tokenizer.json'] ? readTextBounded(verify('tokenizer.json', LIMITS.tokenizer), LIMITS.tokenizer, 'tokenizer') : undefined;
  return { state, model: read('model.safetensors', limits.model), optimizer: read('optimizer.safetensors', limits.optimizer), tokenizer };
}

function validateState(s: CheckpointState, path: string): void {
  const bad = (what: string) => new TfmError('TFM5011', `\`${path}\`: ${what}`);
  if (!s || typeof s !== 'object' || s.format !== 'tfm-checkpoint' || (s.version !== 1 && s.version !== 2)) throw bad('not a tfm checkpoint (format/version)');
  if (typeof s.specHash !== 'string' || !/^[0-9a-f]{64}$/.test(s.specHash)) throw bad('invalid spec hash');
  if (!Number.isSafeInteger(s.step) || s.step < 0 || !Number.isSafeInteger(s.optimizerSteps) || s.optimizerSteps < 0) throw bad('invalid step');
  if (!Array.isArray(s.rng) || s.rng.length !== 4 || !s.rng.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32)) throw bad('invalid generator state');
  if (s.naming !== 'internal' && s.naming !== 'hf-gpt2' && s.naming !== 'hf-vit') throw bad('invalid naming');
  const digests = ['model.safetensors', 'optimizer.safetensors', 'tokenizer.json'];
  if (!s.files || typeof s.files !== 'object' || Array.isArray(s.files) || Object.keys(s.files).some((f) => !digests.includes(f)) || digests.slice(0, 2).some((f) => typeof s.files[f] !== 'string') || Object.values(s.files).some((d) => typeof d !== 'string' || !/^[0-9a-f]{64}$/.test(d))) throw bad('invalid file digests');
  if (s.run !== undefined && (!s.run || typeof s.run !== 'object' || Array.isArray(s.run) || !Object.values(s.run).every((v) => typeof v === 'string' || Number.isFinite(v)))) throw bad('invalid run settings');
  if (!Array.isArray(s.history) || !s.history.every((h) => Array.isArray(h) && (h.length === 3 || h.length === 4) && Number.isFinite(h[0]) && Number.isFinite(h[1]) && (h[2] === null || Number.isFinite(h[2])) && (h[3] === undefined || h[3] === null || (Number.isFinite(h[3]) && h[3] >= 0 && h[3] <= 1)))) throw bad('invalid loss history');
}
