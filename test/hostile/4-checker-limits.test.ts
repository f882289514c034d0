// Defect 4: the checker answers every input with diagnostics, never a RangeError. Nesting
// past the limits is a coded error (TFM1007); long chains of imports, `extends` and dims are
// followed without recursion.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkFiles } from '../../compiler/check.ts';
import { MAX_EXPR_DEPTH, MAX_NESTING } from '../../grammar/parse.ts';
import { ROOT } from '../support/cli.ts';

const BASE = readFileSync(join(ROOT, 'specs/gpt_tiny.tfm'), 'utf8');
const withDff = (expr: string) => BASE.replace('d_ff = 4 * d_model', `d_ff = ${expr}`);
const check = (files: Record<string, string>, root = Object.keys(files)[0]) => checkFiles([root], (p) => {
  const text = files[p];
  if (text === undefined) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
  return text;
});
const codes = (r: ReturnType<typeof check>) => [...new Set(r.diagnostics.filter((d) => d.severity === 'error').map((d) => d.code))];

describe('the checker never throws on deep or long input', () => {
  it.each([
    ['300 nested parentheses', withDff('('.repeat(300) + '512' + ')'.repeat(300)), 'TFM1007'],
    ['3000 prefix minus signs', withDff('-'.repeat(3000) + '512'), 'TFM1007'],
    ['a 5000-term sum', withDff(Array(5000).fill('1').join(' + ')), 'TFM1007'],
    ['calls nested 1000 deep', withDff('max('.repeat(1000) + '1' + ')'.repeat(1000)), 'TFM1007'],
    ['lists nested 1000 deep', BASE.replace('mask causal', `mask ${'['.repeat(1000)}causal${']'.repeat(1000)}`), 'TFM1007'],
    ['blocks nested 1000 deep', BASE.replace('  final_norm', `${'  block {\n'.repeat(1000)}${'  }\n'.repeat(1000)}  final_norm`), 'TFM1007'],
  ])('%s: TFM1007', (_, text, code) => {
    expect(codes(check({ 'x.tfm': text }))).toEqual([code]);
  });

  it(`the limits (${MAX_NESTING} levels of brackets, ${MAX_EXPR_DEPTH} of expression) still check what reaches them`, () => {
    // `model {` and `dims {` are two levels already.
    const atLimit = withDff('('.repeat(MAX_NESTING - 2) + '512' + ')'.repeat(MAX_NESTING - 2));
    expect(codes(check({ 'x.tfm': atLimit }))).toEqual([]);
    const overLimit = withDff('('.repeat(MAX_NESTING - 1) + '512' + ')'.repeat(MAX_NESTING - 1));
    expect(codes(check({ 'x.tfm': overLimit }))).toEqual(['TFM1007']);
    const longSum = withDff(Array(MAX_EXPR_DEPTH).fill('2').join(' + '));
    expect(codes(check({ 'x.tfm': longSum }))).toEqual([]);
  });

  it('a chain of 5,000 imports: one coded error at the limit of files, no stack overflow', () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 5000; i++) files[`c${i}.tfm`] = i + 1 < 5000 ? `import "c${i + 1}.tfm"\n` : BASE;
    const r = check(files, 'c0.tfm');
    expect(codes(r)).toEqual(['TFM2008']);
    expect(r.diagnostics[0].message).toContain('the limit is 1000 files');
  });

  it('a chain of 900 imports checks clean', () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 900; i++) files[`c${i}.tfm`] = i + 1 < 900 ? `import "c${i + 1}.tfm"\n` : BASE.replace('model gpt_tiny', 'model far');
    files['c0.tfm'] += 'model near extends far {\n}\n';
    const r = check(files, 'c0.tfm');
    expect(codes(r)).toEqual([]);
    expect(r.models.map((m) => m.model.name)).toEqual(['near']);
  });

  it('an extends chain of 3,000 models and 100,000 dims referring forward check without overflow', () => {
    const chain = [BASE, ...Array.from({ length: 3000 }, (_, i) => `model m${i} extends ${i ? `m${i - 1}` : 'gpt_tiny'} {\n}\n`)].join('\n');
    const r = check({ 'x.tfm': chain });
    expect(codes(r)).toEqual([]);
    expect(r.models).toHaveLength(3001);
    const n = 100_000;
    const dims = Array.from({ length: n }, (_, i) => (i === n - 1 ? `    _d${i} = 1` : `    _d${i} = _d${i + 1} + 1`)).join('\n');
    const r2 = check({ 'y.tfm': BASE.replace('    p_drop = 0.0', `    p_drop = 0.0\n${dims}`) });
    expect(codes(r2)).toEqual([]);
    expect(r2.models[0].model.dims.get('_d0')?.value).toBe(n);
  });

  it('a cycle through 5,000 dims is a coded error, not an overflow', () => {
    const n = 5000;
    const dims = Array.from({ length: n }, (_, i) => `    _d${i} = _d${(i + 1) % n} + 1`).join('\n');
    const r = check({ 'y.tfm': BASE.replace('    p_drop = 0.0', `    p_drop = 0.0\n${dims}`) });
    expect(codes(r).sort()).toEqual(expect.arrayContaining(['TFM1007']));
  });
});
