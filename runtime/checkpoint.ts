// Checkpoints: one folder per step — model.safetensors (Hugging Face names for the GPT family,
// tfm names otherwise), optimizer.safetensors (Adam moments) and state.json (spec hash, step,
// generator state, file digests). Written atomically: into a temporary folder, every file
// fsynced, then one rename and an fsync of the parent, so a killed run never leaves a partial
// checkpoint under a real name. Reading validates everything before it is used.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors, SafetensorsError, type NamedTensor } from './safetensors.ts';

export class CheckpointError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface CheckpointState {
  format: 'tfm-checkpoint';
  version: 1;
  model: string;
  specHash: string;
  step: number;
  /** Optimizer steps taken (AdamW bias correction). */
  optimizerSteps: number;
  /** Data sampler generator state: the data position. */
  rng: [number, number, number, number];
  naming: 'internal' | 'hf-gpt2';
  files: Record<string, string>;
  /** Loss history for the plot: [step, train, val?]. */
  history: [number, number, number | null][];
}

const MAX_STATE_BYTES = 64 * 1024 * 1024;

function writeFileSynced(path: string, data: Uint8Array | string): void {
  const fd = openSync(path, 'w');
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes a whole file under a temporary name, fsyncs it, then renames it into place. */
export function writeAtomically(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSynced(tmp, data);
  renameSync(tmp, path);
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
export const checkpointName = (step: number) => `ckpt-${String(step).padStart(8, '0')}`;

export function writeCheckpoint(outDir: string, state: Omit<CheckpointState, 'files' | 'format' | 'version'>, model: Map<string, NamedTensor>, optimizer: Map<string, NamedTensor>, keep: number): string {
  mkdirSync(outDir, { recursive: true });
  const final = join(outDir, checkpointName(state.step));
  const tmp = `${final}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  const modelBytes = encodeSafetensors(model, { format: 'pt' });
  const optBytes = encodeSafetensors(optimizer);
  writeFileSynced(join(tmp, 'model.safetensors'), modelBytes);
  writeFileSynced(join(tmp, 'optimizer.safetensors'), optBytes);
  const full: CheckpointState = { format: 'tfm-checkpoint', version: 1, ...state, files: { 'model.safetensors': sha256(modelBytes), 'optimizer.safetensors': sha256(optBytes) } };
  writeFileSynced(join(tmp, 'state.json'), JSON.stringify(full, null, 1) + '\n');
  fsyncDir(tmp);
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  fsyncDir(outDir);
  // Keep the newest `keep` checkpoints; older ones go only after the new one is durable.
  const all = listCheckpoints(outDir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) rmSync(join(outDir, old), { recursive: true, force: true });
  return final;
}

/** Checkpoint folders in step order (temporary folders of interrupted writes are ignored). */
export function listCheckpoints(outDir: string): string[] {
  if (!existsSync(outDir)) return [];
  return readdirSync(outDir).filter((d) => /^ckpt-\d{8}$/.test(d)).sort();
}

export interface LoadedCheckpoint {
  state: CheckpointState;
  model: Map<string, NamedTensor>;
  optimizer: Map<string, NamedTensor>;
}

export function readCheckpoint(dir: string, expectedSpecHash: string): LoadedCheckpoint {
  const statePath = join(dir, 'state.json');
  if (!existsSync(statePath)) throw new CheckpointError('TFM5010', `\`${dir}\` has no state.json`);
  if (statSync(statePath).size > MAX_STATE_BYTES) throw new CheckpointError('TFM5011', `\`${statePath}\` is larger than any checkpoint state`);
  let state: CheckpointState;
  try {
    state = JSON.parse(readFileSync(statePath, 'utf8'));
  } catch (e) {
    throw new CheckpointError('TFM5011', `\`${statePath}\` is not valid JSON: ${(e as Error).message}`);
  }
  validateState(state, statePath);
  if (state.specHash !== expectedSpecHash) {
    throw new CheckpointError('TFM5012', `\`${dir}\` was written for a different spec (hash ${state.specHash.slice(0, 12)}…, this spec is ${expectedSpecHash.slice(0, 12)}…): the architecture or its dims changed; start a new run in another --out folder`);
  }
  const read = (name: string) => {
    const path = join(dir, name);
    if (!existsSync(path)) throw new CheckpointError('TFM5010', `\`${path}\` is missing`);
    const bytes = readFileSync(path);
    if (sha256(bytes) !== state.files[name]) throw new CheckpointError('TFM5013', `\`${path}\` does not match the digest recorded in state.json: the file is damaged`);
    try {
      return decodeSafetensors(bytes).tensors;
    } catch (e) {
      if (e instanceof SafetensorsError) throw new CheckpointError(e.code, `\`${path}\`: ${e.message}`);
      throw e;
    }
  };
  return { state, model: read('model.safetensors'), optimizer: read('optimizer.safetensors') };
}

function validateState(s: CheckpointState, path: string): void {
  const bad = (what: string) => new CheckpointError('TFM5011', `\`${path}\`: ${what}`);
  if (!s || typeof s !== 'object' || s.format !== 'tfm-checkpoint' || s.version !== 1) throw bad('not a tfm checkpoint (format/version)');
  if (typeof s.specHash !== 'string' || !/^[0-9a-f]{64}$/.test(s.specHash)) throw bad('invalid spec hash');
  if (!Number.isSafeInteger(s.step) || s.step < 0 || !Number.isSafeInteger(s.optimizerSteps) || s.optimizerSteps < 0) throw bad('invalid step');
  if (!Array.isArray(s.rng) || s.rng.length !== 4 || !s.rng.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32)) throw bad('invalid generator state');
  if (s.naming !== 'internal' && s.naming !== 'hf-gpt2') throw bad('invalid naming');
  if (!s.files || typeof s.files !== 'object' || ['model.safetensors', 'optimizer.safetensors'].some((f) => typeof s.files[f] !== 'string' || !/^[0-9a-f]{64}$/.test(s.files[f]))) throw bad('invalid file digests');
  if (!Array.isArray(s.history) || !s.history.every((h) => Array.isArray(h) && h.length === 3 && Number.isFinite(h[0]) && Number.isFinite(h[1]) && (h[2] === null || Number.isFinite(h[2])))) throw bad('invalid loss history');
}
