// Defect 8: inputs that used to end in a stack trace get a coded error: a `null` safetensors
// entry, a fused QKV weight that does not split in three, `--out` naming a file, a data
// folder holding folders, `-o` into a missing folder, a vocabulary too small for the
// tokenizer; large weights are written in pieces and atomically (no 0-byte file on failure).
import { TfmError } from '../../common/errors.ts';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeAtomically } from '../../common/files.ts';
import { decodeSafetensors, encodeChunks, encodeSafetensors, type NamedTensor } from '../../runtime/safetensors.ts';
import { expectCoded, fresh, TINY_SPEC, tfm, trainArgs } from '../support/cli.ts';

const dir = fresh('coded');
writeFileSync(join(dir, 'tiny.tfm'), TINY_SPEC);

function header(h: object): Uint8Array {
  const json = Buffer.from(JSON.stringify(h));
  const out = Buffer.alloc(8 + json.length);
  out.writeBigUInt64LE(BigInt(json.length));
  json.copy(out, 8);
  return out;
}

describe('coded errors, not stack traces', () => {
  it('a null safetensors entry: TFM5004 (decoder and tfm forward)', () => {
    expect(() => decodeSafetensors(header({ 'wte.weight': null }))).toThrow(expect.objectContaining({ code: 'TFM5004' }));
    writeFileSync(join(dir, 'null.safetensors'), header({ 'wte.weight': null }));
    writeFileSync(join(dir, 'tokens.txt'), '1 2 3\n');
    expectCoded(tfm(['forward', 'tiny.tfm', '-c', 'null.safetensors', '--tokens', 'tokens.txt'], { cwd: dir }), 'TFM5004');
  });

  it('a fused QKV weight whose last dim does not split in three: TFM5007', () => {
    const r = tfm(['export', 'tiny.tfm', '--seed', '3', '-o', 'hf.safetensors'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const { tensors } = decodeSafetensors(readFileSync(join(dir, 'hf.safetensors')));
    const qkv = tensors.get('h.0.attn.c_attn.weight')!;
    const [rows, cols] = qkv.shape;
    tensors.set('h.0.attn.c_attn.weight', { shape: [rows, cols + 1], data: new Float32Array(rows * (cols + 1)) });
    writeFileSync(join(dir, 'qkv.safetensors'), encodeSafetensors(tensors));
    writeFileSync(join(dir, 'tokens.txt'), '1 2 3\n');
    const f = tfm(['forward', 'tiny.tfm', '-c', 'qkv.safetensors', '--tokens', 'tokens.txt'], { cwd: dir });
    expectCoded(f, 'TFM5007');
    expect(f.stderr).toContain(`has shape [${rows},${cols + 1}], the model expects [${rows},${cols}]`);
  });

  it('--out naming a regular file: TFM5020, the file untouched', () => {
    writeFileSync(join(dir, 'afile'), 'keep me\n');
    expectCoded(tfm(trainArgs('tiny.tfm', 'afile'), { cwd: dir }), 'TFM5020');
    expect(readFileSync(join(dir, 'afile'), 'utf8')).toBe('keep me\n');
  });

  it('a --data folder holding subfolders (one named like a text file) trains on its .txt files', () => {
    const data = join(dir, 'data');
    mkdirSync(join(data, 'sub'), { recursive: true });
    mkdirSync(join(data, 'folder.txt'));
    writeFileSync(join(data, 'a.txt'), 'It is a way I have of driving off the spleen. '.repeat(200));
    writeFileSync(join(data, 'b.txt'), 'Whenever I find myself growing grim about the mouth. '.repeat(200));
    const r = tfm(trainArgs('tiny.tfm', 'run-data', ['--data', 'data']), { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
  });

  it('-o into a missing folder: TFM5020 before any work', () => {
    const r = tfm(['export', 'tiny.tfm', '--seed', '1', '-o', 'missing/dir/w.safetensors'], { cwd: dir });
    expectCoded(r, 'TFM5020');
    expect(existsSync(join(dir, 'missing'))).toBe(false);
  });

  it('a vocabulary too small for the character tokenizer: TFM5014, nothing written', () => {
    writeFileSync(join(dir, 'small.tfm'), TINY_SPEC.replace('vocab = 65', 'vocab = 3'));
    const r = tfm(trainArgs('small.tfm', 'run-small'), { cwd: dir });
    expectCoded(r, 'TFM5014');
    expect(existsSync(join(dir, 'run-small'))).toBe(false);
  });

  it('weights are written in pieces (never one buffer) and atomically: a failing write leaves no file', () => {
    const tensors = new Map<string, NamedTensor>([
      ['a', { shape: [3, 2], data: Float32Array.of(1, 2, 3, 4, 5, 6) }],
      ['b', { shape: [2], data: Int32Array.of(7, 8) }],
    ]);
    const chunks = encodeChunks(tensors, { format: 'pt' });
    expect(chunks).toHaveLength(3);
    expect(Buffer.concat(chunks)).toEqual(Buffer.from(encodeSafetensors(tensors, { format: 'pt' })));
    const path = join(dir, 'w.safetensors');
    writeFileSync(path, 'old weights');
    function* failing() {
      yield chunks[0];
      throw new Error('disk full');
    }
    expect(() => writeAtomically(path, failing(), 'weights')).toThrow(TfmError);
    expect(readFileSync(path, 'utf8')).toBe('old weights');
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});
