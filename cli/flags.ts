import { TfmError } from '../common/errors.ts';
// Strict flag values: a count or an id is a plain decimal integer (`--steps 0x10`, `1e3`,
// `12abc` or ` 7` are refused, not read as 16, 1000, NaN or 7), a rate a plain decimal
// number. Number() alone would accept hexadecimal, exponents, whitespace and the empty string.

const INTEGER = /^(0|[1-9]\d*)$/;
const DECIMAL = /^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export function count(v: unknown, name: string, min = 1): number {
  const s = String(v);
  const n = INTEGER.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new TfmError('TFM5008', `--${name} must be a decimal integer ≥ ${min}, got \`${s}\``);
  return n;
}

export function decimal(v: unknown, name: string): number {
  const s = String(v);
  const n = DECIMAL.test(s) ? Number(s) : NaN;
  if (!Number.isFinite(n)) throw new TfmError('TFM5008', `--${name} must be a non-negative decimal number, got \`${s}\``);
  return n;
}
