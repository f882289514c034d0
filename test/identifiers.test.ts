// Spec contents never become executable code: a model name or identifier that tries to
// smuggle quotes, backticks, `${}`, newlines or comment terminators is rejected with a
// diagnostic, and accepted names are always a validated character set.
import { describe, expect, it } from 'vitest';
import { checkFiles } from '../compiler/check.ts';

const body = `{
  layout decoder
  dims { vocab = 64, d_model = 32, heads = 2, layers = 1 }
  input tokens context 16
  embed { tokens vocab -> d_model; positions learned 16 }
  block * layers { norm pre layernorm; attention self heads heads mask causal; mlp 4 * d_model act gelu }
  final_norm layernorm
  head lm tied
  objective clm
}`;

function check(text: string) {
  return checkFiles(['smuggle.tfm'], () => text);
}

describe('identifiers are validated', () => {
  it('accepts a plain name', () => {
    const r = check(`model plain_name_1 ${body}`);
    expect(r.diagnostics).toEqual([]);
    expect(r.models[0].model.name).toBe('plain_name_1');
  });

  it.each([
    ['double quote', 'model "gpt" '],
    ['single quote', "model 'gpt' "],
    ['backtick', 'model gpt`${process.exit(1)}` '],
    ['template literal', 'model ${gpt} '],
    ['comment terminator', 'model gpt*/ '],
    ['comment opener', 'model gpt/* '],
    ['newline in name', 'model gpt\nevil '],
    ['line separator', 'model gpt\u2028evil '],
    ['backslash escape', 'model gpt\\u0022 '],
    ['unicode letter', 'model gpté '],
    ['leading digit', 'model 1gpt '],
    ['hyphen', 'model gpt-2 '],
    ['dot', 'model gpt.small '],
    ['reserved prefix', 'model __proto__ '],
    ['NUL byte', 'model gpt\0 '],
  ])('rejects a model name with a %s', (_what, prefix) => {
    const r = check(prefix + body);
    const errors = r.diagnostics.filter((d) => d.severity === 'error');
    expect(errors.length).toBeGreaterThan(0);
    for (const d of errors) expect(d.code).toMatch(/^TFM\d{4}$/);
    // Whatever got through is a plain identifier.
    for (const m of r.models) expect(m.model.name).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
  });

  it.each([
    ['dim name with a backtick', body.replace('vocab = 64', 'voc`ab = 64')],
    ['dim name with ${}', body.replace('vocab = 64', '${vocab} = 64')],
    ['dim name with */', body.replace('vocab = 64', 'vocab*/ = 64')],
    ['variable with a quote', body.replace('mlp 4 * d_model act gelu }', 'mlp 4 * d_model act gelu\n x = x + mlp(norm("x")) }')],
    ['over-long identifier', body.replace('vocab = 64', `${'v'.repeat(65)} = 64`)],
  ])('rejects a %s', (_what, text) => {
    const r = check(`model m ${text}`);
    expect(r.diagnostics.filter((d) => d.severity === 'error').length).toBeGreaterThan(0);
  });
});
