// Diagnostics are data: a code, a severity, a message built from the code's template,
// one primary span, optional secondary spans, and an optional concrete `help` fix.
// Renderers (human, JSON, GitHub, SARIF) live in compiler/render/.
import type { Span } from './source.ts';

export type Severity = 'error' | 'warning';

interface CodeInfo {
  severity: Severity;
  /** Short title used by SARIF rule metadata and documentation. */
  title: string;
  /** Message template; `{name}` is replaced by the argument of that name. */
  template: string;
}

export const CODES = {
  // TFM1xxx — syntax
  TFM1001: { severity: 'error', title: 'unexpected character', template: 'unexpected character {char}' },
  TFM1002: { severity: 'error', title: 'syntax error', template: 'expected {expected}, found {found}' },
  TFM1003: { severity: 'error', title: 'unterminated string', template: 'unterminated string literal' },
  TFM1005: { severity: 'error', title: 'identifier too long', template: 'identifier is {length} characters long; the limit is {limit}' },
  TFM1006: { severity: 'error', title: 'invalid number', template: 'number `{text}` is not a finite value' },
  TFM1007: { severity: 'error', title: 'nested too deeply', template: '{what}; the limit is {limit} levels' },
  // TFM2xxx — names and semantics
  TFM2001: { severity: 'error', title: 'unknown name', template: 'cannot find {what} `{name}`' },
  TFM2002: { severity: 'error', title: 'duplicate name', template: 'duplicate {what} `{name}`' },
  TFM2003: { severity: 'error', title: 'unknown statement', template: 'unknown statement `{name}` in {context}' },
  TFM2004: { severity: 'error', title: 'invalid value', template: 'invalid {what} `{value}`' },
  TFM2005: { severity: 'error', title: 'missing declaration', template: '{what} is missing' },
  TFM2006: { severity: 'error', title: 'extends cycle', template: '`extends` cycle: {cycle}' },
  TFM2008: { severity: 'error', title: 'import failed', template: '{reason}' },
  TFM2009: { severity: 'error', title: 'cross attention outside encoder-decoder', template: 'cross attention is only allowed in the decoder of an `encoder_decoder` model' },
  TFM2010: { severity: 'warning', title: 'causal mask under mlm', template: 'causal mask under an `mlm` objective: tokens cannot see the right context they must predict from' },
  TFM2011: { severity: 'error', title: 'bidirectional decoder under a generative objective', template: 'decoder attention with `{mask}` mask under `{objective}`: each position would see the token it must predict' },
  TFM2012: { severity: 'error', title: 'classify without class count', template: '`classify` head needs a class count' },
  TFM2013: { severity: 'error', title: 'classify from cls without cls source', template: '`classify ... from cls` needs a `<cls>` token' },
  TFM2014: { severity: 'error', title: 'span corruption without sentinels', template: '`span_corruption` needs sentinel tokens in the vocabulary' },
  TFM2015: { severity: 'error', title: 'patch embedding without image', template: 'patch embedding needs {what}' },
  TFM2016: { severity: 'error', title: 'unexpected argument', template: '{message}' },
  TFM2017: { severity: 'error', title: 'division by zero', template: 'division by zero in dim expression' },
  TFM2018: { severity: 'error', title: 'non-integer dim', template: '{what} must be a whole number, found {value}' },
  TFM2019: { severity: 'error', title: 'non-positive dim', template: '{what} must be positive, found {value}' },
  TFM2020: { severity: 'error', title: 'missing special token', template: '`{objective}` needs the special token `{token}` in the vocabulary' },
  TFM2021: { severity: 'error', title: 'head does not fit objective', template: 'objective `{objective}` needs {needs}, found {found}' },
  TFM2022: { severity: 'error', title: 'probability out of range', template: '{what} must {rule}, found {value}' },
  TFM2023: { severity: 'error', title: 'reserved name', template: '`{name}` is reserved: {reason}' },
  TFM2024: { severity: 'error', title: 'dim cycle', template: 'dim `{name}` depends on itself: {cycle}' },
  TFM2025: { severity: 'error', title: 'layout mismatch', template: '{message}' },
  TFM2026: { severity: 'warning', title: 'unused dim', template: 'dim `{name}` is declared but never used' },
  TFM2027: { severity: 'error', title: 'unknown function', template: 'unknown function `{name}` in {context}' },
  TFM2028: { severity: 'error', title: 'wrong kind of value', template: '{what} must be {expected}, found {found}' },
  TFM2029: { severity: 'error', title: 'vocabulary too small', template: 'vocabulary of {vocab} cannot hold {needed} special and sentinel tokens' },
  TFM2030: { severity: 'error', title: 'layer undeclared in body', template: '`{name}(...)` is used in the block body but no `{name}` is declared in this block' },
  TFM2031: { severity: 'error', title: 'dim too large', template: '{what} is {value}; sizes are limited to {max}' },
  TFM2032: { severity: 'error', title: 'declared layer never called', template: '{message}' },
  TFM2033: { severity: 'error', title: 'assignment instead of a setting', template: '{message}' },
  TFM2034: { severity: 'warning', title: 'unused body variable', template: 'variable `{name}` is assigned but never read' },
  TFM2035: { severity: 'error', title: 'block body never writes x', template: 'the block body never assigns `x`: the block is the identity' },
  // TFM3xxx — shapes
  TFM3001: { severity: 'error', title: 'heads do not divide model dim', template: '`heads` ({heads}) must divide the model dim ({dim})' },
  TFM3002: { severity: 'error', title: 'kv heads do not divide heads', template: '`kv_heads` ({kv}) must divide `heads` ({heads})' },
  TFM3003: { severity: 'error', title: 'patch size does not divide image', template: 'patch size ({patch}) must divide the image {side} ({size})' },
  TFM3004: { severity: 'error', title: 'tied head dims differ', template: 'tied head reads hidden states of dim {hidden} but the token embedding has dim {embed}' },
  TFM3005: { severity: 'error', title: 'positions shorter than context', template: 'learned positions cover {positions} tokens but the context is {context}' },
  TFM3006: { severity: 'error', title: 'add of mismatched shapes', template: 'cannot {op} {left} and {right}' },
  TFM3007: { severity: 'error', title: 'matmul inner dims differ', template: 'matmul inner dims differ: {left} @ {right}' },
  TFM3008: { severity: 'error', title: 'block changes the shape', template: 'block body must end with `x` of shape {expected}, found {found}' },
  TFM3009: { severity: 'error', title: 'rank mismatch', template: '{op} needs {expected}, found {found}' },
  TFM3010: { severity: 'error', title: 'rotary positions need an even head dim', template: 'rotary positions rotate pairs of features: the head dim {headDim} is odd' },
  // TFM1000, TFM4xxx–TFM9xxx — errors of the commands that compile and run models (TfmError,
  // common/errors.ts): the message is written where the error is raised.
  TFM1000: { severity: 'error', title: 'the spec has errors (printed before it)', template: '{message}' },
  TFM4001: { severity: 'error', title: 'a model cannot be compiled for the target', template: '{message}' },
  TFM4002: { severity: 'error', title: 'the command does not support this kind of model yet', template: '{message}' },
  TFM5001: { severity: 'error', title: 'safetensors file shorter than its header length', template: '{message}' },
  TFM5002: { severity: 'error', title: 'safetensors header length beyond the file', template: '{message}' },
  TFM5003: { severity: 'error', title: 'safetensors header not UTF-8 JSON, or malformed metadata', template: '{message}' },
  TFM5004: { severity: 'error', title: 'safetensors entry with an invalid dtype or shape', template: '{message}' },
  TFM5005: { severity: 'error', title: 'safetensors data offsets outside the data, misaligned or overlapping', template: '{message}' },
  TFM5006: { severity: 'error', title: 'a file cannot be read', template: '{message}' },
  TFM5007: { severity: 'error', title: 'weights do not fit the model (names, shapes, dtype)', template: '{message}' },
  TFM5008: { severity: 'error', title: 'bad token ids or flags', template: '{message}' },
  TFM5009: { severity: 'error', title: 'not enough text', template: '{message}' },
  TFM5010: { severity: 'error', title: 'a checkpoint is incomplete', template: '{message}' },
  TFM5011: { severity: 'error', title: 'a checkpoint or tokenizer is malformed', template: '{message}' },
  TFM5012: { severity: 'error', title: 'a checkpoint of another spec', template: '{message}' },
  TFM5013: { severity: 'error', title: 'a damaged file (its digest does not match)', template: '{message}' },
  TFM5014: { severity: 'error', title: 'the tokenizer does not fit the vocabulary', template: '{message}' },
  TFM5015: { severity: 'error', title: 'the run folder already holds a run', template: '{message}' },
  TFM5016: { severity: 'error', title: 'not a regular file (a FIFO, a device, a folder)', template: '{message}' },
  TFM5017: { severity: 'error', title: 'a file over its size limit', template: '{message}' },
  TFM5018: { severity: 'error', title: 'a file changed while being read', template: '{message}' },
  TFM5019: { severity: 'error', title: 'not UTF-8 text', template: '{message}' },
  TFM5020: { severity: 'error', title: 'an output cannot be written there', template: '{message}' },
  TFM5021: { severity: 'error', title: 'non-finite weights', template: '{message}' },
  TFM5022: { severity: 'error', title: '--resume with other settings', template: '{message}' },
  TFM5023: { severity: 'error', title: 'image data that is malformed or does not fit the model', template: '{message}' },
  TFM5024: { severity: 'error', title: '--init from a checkpoint whose backbone differs from the model', template: '{message}' },
  TFM6001: { severity: 'error', title: 'NaN/Inf during training or in a forward pass', template: '{message}' },
  TFM7001: { severity: 'error', title: 'no WebGPU adapter on this machine', template: '{message}' },
  TFM7002: { severity: 'error', title: 'a generated WGSL shader does not compile on this device', template: '{message}' },
  TFM7003: { severity: 'error', title: 'the GPU device was lost or ran out of memory', template: '{message}' },
  TFM9000: { severity: 'error', title: 'internal error: a bug of tfm', template: '{message}' },
} as const satisfies Record<string, CodeInfo>;

export type Code = keyof typeof CODES;

export interface Label {
  span: Span;
  message?: string;
}

/** The span of a diagnostic that has no place in a spec (a run-time error about a file, a
 *  flag or the run itself): renderers show no location for it. */
export const NOWHERE: Span = { file: '', start: 0, end: 0 };
export const placed = (span: Span) => span.file !== '';

export interface Diagnostic {
  code: Code;
  severity: Severity;
  message: string;
  primary: Label;
  secondary: Label[];
  /** Context that is not a fix, e.g. which model was being checked when an inherited
   *  statement broke. */
  note?: string;
  help?: string;
}

export function diagnostic(
  code: Code,
  args: Record<string, string | number>,
  primary: Label,
  extra: { secondary?: (Label | undefined)[]; help?: string } = {},
): Diagnostic {
  const info: CodeInfo = CODES[code];
  const message = info.template.replace(/\{(\w+)\}/g, (_, key: string) => String(args[key] ?? `{${key}}`));
  const secondary = (extra.secondary ?? []).filter((l): l is Label => l !== undefined);
  return { code, severity: info.severity, message, primary, secondary, help: extra.help };
}

/** Collects diagnostics for one compilation; phases push into it and never throw. */
export class DiagnosticBag {
  readonly items: Diagnostic[] = [];
  add(d: Diagnostic): void {
    this.items.push(d);
  }
  error(code: Code, args: Record<string, string | number>, primary: Label, extra?: { secondary?: (Label | undefined)[]; help?: string }): void {
    this.add(diagnostic(code, args, primary, extra));
  }
  get hasErrors(): boolean {
    return this.items.some((d) => d.severity === 'error');
  }
}

/** Stable order: by file, then position, then code. */
export function sortDiagnostics(list: Diagnostic[]): Diagnostic[] {
  return [...list].sort(
    (a, b) =>
      a.primary.span.file.localeCompare(b.primary.span.file) ||
      a.primary.span.start - b.primary.span.start ||
      a.code.localeCompare(b.code) ||
      a.message.localeCompare(b.message),
  );
}

/** Edit distance for `did you mean` suggestions. */
export function suggest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = levenshtein(name, c);
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined;
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}
