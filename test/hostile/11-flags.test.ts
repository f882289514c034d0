// Defect 11: a count, a seed or a token id is a plain decimal integer. `0x10`, `1e3`, `abc`,
// `12abc`, ` 7` and the empty string are refused (TFM5008), never read as 16, 1000 or 0.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { count, decimal } from '../../cli/flags.ts';
import { expectCoded, fresh, TINY_SPEC, tfm } from '../support/cli.ts';

describe('strict numbers in flags and token files', () => {
  it.each(['0x10', '1e3', 'abc', '12abc', ' 7', '', '-1', '1.5', '0b11', 'Infinity'])('count(%j) is refused', (v) => {
    expect(() => count(v, 'steps')).toThrow(expect.objectContaining({ code: 'TFM5008' }));
  });

  it('plain decimals are read as written', () => {
    expect(count('16', 'steps')).toBe(16);
    expect(count('0', 'seed', 0)).toBe(0);
    expect(decimal('3e-3', 'lr')).toBe(0.003);
    expect(decimal('.5', 'lr')).toBe(0.5);
    for (const v of ['0x1', 'NaN', '-1', '1,5', '']) expect(() => decimal(v, 'lr')).toThrow(expect.objectContaining({ code: 'TFM5008' }));
  });

  it('tfm train --steps 0x10, --seed abc and tfm export --seed abc: TFM5008', () => {
    const dir = fresh('flags');
    writeFileSync(join(dir, 'tiny.tfm'), TINY_SPEC);
    expectCoded(tfm(['train', 'tiny.tfm', '--steps', '0x10', '--out', 'run'], { cwd: dir }), 'TFM5008');
    expectCoded(tfm(['train', 'tiny.tfm', '--seed', 'abc', '--out', 'run'], { cwd: dir }), 'TFM5008');
    expectCoded(tfm(['export', 'tiny.tfm', '--seed', 'abc', '-o', 'w.safetensors'], { cwd: dir }), 'TFM5008');
  });

  it('token text `0x10` is refused, not read as 16', () => {
    const dir = fresh('tokens');
    writeFileSync(join(dir, 'tiny.tfm'), TINY_SPEC);
    writeFileSync(join(dir, 'tokens.txt'), '1 0x10 3\n');
    const r = tfm(['forward', 'tiny.tfm', '-c', 'none.safetensors', '--tokens', 'tokens.txt'], { cwd: dir });
    expectCoded(r, 'TFM5008');
    expect(r.stderr).toContain('`0x10` is not a decimal token id');
  });
});
