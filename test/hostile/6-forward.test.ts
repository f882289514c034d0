// Defect 6: `tfm forward` never answers with a silent wrong result. Empty input, targets
// outside the vocabulary, negative targets, non-finite weights, tensors of another rank and
// integer weights are coded errors; a rotary spec with an odd head dim fails the checker.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkFiles } from '../../compiler/check.ts';
import { compile } from '../../compiler/codegen/compile.ts';
import { tsTarget } from '../../compiler/targets/ts/index.ts';
import { encodeSafetensors, type NamedTensor } from '../../runtime/safetensors.ts';
import { expectCoded, fresh, TINY_SPEC, tfm } from '../support/cli.ts';

const dir = fresh('forward');
const seed = Number(process.env.TEST_SEED ?? 8);

/** Internal-name weights of the tiny spec, seeded; `change` edits one tensor. */
function weights(file: string, change?: (name: string, t: NamedTensor) => NamedTensor): void {
  const program = compile(checkFiles(['tiny.tfm'], () => TINY_SPEC).models[0], tsTarget, undefined, { train: false }).program;
  let s = seed;
  const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32 - 0.5) * 0.1;
  const tensors = new Map<string, NamedTensor>();
  for (const p of program.params) {
    const shape = p.shape.map(Number);
    let t: NamedTensor = { shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, rand) };
    if (change) t = change(p.name, t);
    tensors.set(p.name, t);
  }
  writeFileSync(join(dir, file), encodeSafetensors(tensors));
}

const forward = (tokens: string, extra: string[] = [], weightsFile = 'ok.safetensors') => {
  writeFileSync(join(dir, 'tokens.txt'), tokens);
  return tfm(['forward', 'tiny.tfm', '-c', weightsFile, '--tokens', 'tokens.txt', ...extra], { cwd: dir });
};

describe(`tfm forward refuses what it would answer wrongly (seed ${seed})`, () => {
  beforeAll(() => {
    writeFileSync(join(dir, 'tiny.tfm'), TINY_SPEC);
    weights('ok.safetensors');
  });

  it('a correct call answers (the baseline the refusals are measured against)', () => {
    const r = forward('1 2 3 4\n');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).shape).toEqual([1, 4, 65]);
  });

  it('empty token input: TFM5008 (it ran token 0 before)', () => {
    const r = forward('\n  \n');
    expectCoded(r, 'TFM5008');
    expect(r.stderr).toContain('holds no token ids');
  });

  it('targets outside the vocabulary, and negative targets other than -100: TFM5008', () => {
    writeFileSync(join(dir, 'high.json'), '[1, 2, 65, 3]');
    expectCoded(forward('1 2 3 4\n', ['--targets', 'high.json']), 'TFM5008');
    writeFileSync(join(dir, 'neg.json'), '[1, -5, 2, 3]');
    const r = forward('1 2 3 4\n', ['--targets', 'neg.json']);
    expectCoded(r, 'TFM5008');
    expect(r.stderr).toContain('target id -5 is outside the vocabulary');
    writeFileSync(join(dir, 'ignored.json'), '[1, -100, 2, 3]');
    const ok = forward('1 2 3 4\n', ['--targets', 'ignored.json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(Number.isFinite(JSON.parse(ok.stdout).loss)).toBe(true);
  });

  it('NaN in the weights: TFM5021 naming the tensor', () => {
    weights('nan.safetensors', (name, t) => (name === 'final_norm.weight' ? { ...t, data: t.data.map((x, i) => (i === 3 ? NaN : x)) } : t));
    const r = forward('1 2 3 4\n', [], 'nan.safetensors');
    expectCoded(r, 'TFM5021');
    expect(r.stderr).toContain('`final_norm.weight` holds a non-finite value (NaN) at index 3');
  });

  it('a tensor with an extra dimension, and integer weights: TFM5007', () => {
    weights('rank.safetensors', (name, t) => (name === 'final_norm.bias' ? { ...t, shape: [...t.shape, 1] } : t));
    expectCoded(forward('1 2 3 4\n', [], 'rank.safetensors'), 'TFM5007');
    weights('int.safetensors', (name, t) => (name === 'final_norm.bias' ? { ...t, data: Int32Array.from(t.data, () => 1) } : t));
    const r = forward('1 2 3 4\n', [], 'int.safetensors');
    expectCoded(r, 'TFM5007');
    expect(r.stderr).toContain('is I32; weights must be F32');
  });

  it('a rotary spec with an odd head dim fails the checker (TFM3010), so forward never runs it', () => {
    const odd = TINY_SPEC.replace('positions learned ctx', 'positions rotary').replace('heads = 4', 'heads = 32');
    const r = checkFiles(['odd.tfm'], () => odd);
    expect(r.diagnostics.filter((d) => d.severity === 'error').map((d) => d.code)).toEqual(['TFM3010']);
  });
});
