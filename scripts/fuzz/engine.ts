// The fuzzing engine of `npm run fuzz` and of test/fuzz.test.ts: seeded mutators of specs,
// safetensors headers and token files, and one case runner that puts a mutant through the
// checker (and the diagnostic renderers) or the readers, in-process, and says what went
// wrong. A case is a pure function of (seed, index): any finding replays exactly.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkFiles } from '../../compiler/check.ts';
import { renderHuman } from '../../compiler/render/human.ts';
import { renderJson } from '../../compiler/render/machine.ts';
import { tfmLexer } from '../../grammar/lexer.ts';
import { parseIds } from '../../cli/weights.ts';
import { Rng } from '../../runtime/init.ts';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../../runtime/safetensors.ts';

/** Floats in [0, 1) from the runtime's seeded generator (sfc32). */
export function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/** The generator of case `index` under `seed`: cases are independent of each other. */
export const caseRng = (seed: number, index: number) => rng(Math.imul(seed, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b));

const ROOT = join(import.meta.dirname, '../..');

/** The specs mutants start from: the reference specs and the diagnostic corpus. */
export function specCorpus(): Map<string, string> {
  const corpus = new Map<string, string>();
  for (const dir of ['specs', 'test/diagnostics/cases', 'test/valid']) {
    for (const f of readdirSync(join(ROOT, dir)).sort()) if (f.endsWith('.tfm')) corpus.set(`${dir}/${f}`, readFileSync(join(ROOT, dir, f), 'utf8'));
  }
  return corpus;
}

export const NASTY = ['`', '${', '}', '*/', '/*', '"', "'", '\\', '\n', '\r', '\t', '\0', '\u001b[2J', '\u202e', '\u2028', 'é', '😀', '<', '>', '<<', '->', '**', '(', ')', '[', ']', '{', '=', ',', ';', '#', '1e308', '1e999', '-0', '0', '-1', '0.5', '99999999999999999999', '16777217', 'model', 'extends', 'import', 'x', 'memory', 'block', 'alternate(', 'local(', 'seq', '(((((((((', '---------', 'max(max(max(', '[[[[[[[['];

/** One to four mutations of a spec: delete, swap or duplicate tokens, truncate, insert random
 *  bytes or nasty strings, replace a number. */
export function mutateSpec(text: string, r: () => number): string {
  const toks = tfmLexer.tokenize(text).tokens;
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const n = 1 + Math.floor(r() * 4);
  let out = text;
  for (let k = 0; k < n; k++) {
    const kind = Math.floor(r() * 7);
    const tk = toks.length ? pick(toks) : undefined;
    if (kind === 0 && tk) out = out.slice(0, tk.startOffset) + out.slice(tk.endOffset! + 1);
    else if (kind === 1 && toks.length > 1) {
      const [a, b] = [pick(toks), pick(toks)].sort((x, y) => x.startOffset - y.startOffset);
      if (a.endOffset! < b.startOffset && b.endOffset! < out.length) out = out.slice(0, a.startOffset) + b.image + out.slice(a.endOffset! + 1, b.startOffset) + a.image + out.slice(b.endOffset! + 1);
    } else if (kind === 2) out = out.slice(0, Math.floor(r() * out.length));
    else if (kind === 3) {
      const at = Math.floor(r() * out.length);
      const bytes = Array.from({ length: 1 + Math.floor(r() * 6) }, () => String.fromCharCode(Math.floor(r() * 256))).join('');
      out = out.slice(0, at) + bytes + out.slice(at);
    } else if (kind === 4) {
      const at = Math.floor(r() * out.length);
      out = out.slice(0, at) + pick(NASTY).repeat(r() < 0.1 ? 1 + Math.floor(r() * 200) : 1) + out.slice(at);
    } else if (kind === 5 && tk && tk.endOffset! < out.length) out = out.slice(0, tk.startOffset) + tk.image + ' ' + out.slice(tk.startOffset);
    else if (kind === 6) out = out.replace(/\b\d+(\.\d+)?\b/, pick(['0', '-3', '7', '1e9', '0.25', '2048', '13', '16777216', '16777217', '1e308']));
  }
  return out;
}

/** A small, valid safetensors file: a few F32 and I32 tensors and metadata. */
export function baseSafetensors(): Uint8Array {
  const t = (shape: number[], data: Float32Array | Int32Array): NamedTensor => ({ shape, data });
  return encodeSafetensors(
    new Map([
      ['wte.weight', t([4, 3], Float32Array.from({ length: 12 }, (_, i) => i / 7))],
      ['h.0.attn.c_attn.weight', t([3, 9], Float32Array.from({ length: 27 }, (_, i) => -i / 5))],
      ['ids', t([2, 2], Int32Array.of(1, 2, 3, 4))],
      ['empty', t([0], new Float32Array(0))],
    ]),
    { format: 'pt' },
  );
}

const JUNK: unknown[] = [null, true, 0, -1, 1.5, 2 ** 53, 1e308, -0, '', 'F32', 'I32', 'F16', 'x'.repeat(300), [], [1], [-1], [1.5], ['3'], [2 ** 60], [[1]], {}, { dtype: 'F32' }, [0, 2 ** 31], [5, 2]];

/** Mutates a safetensors file: its JSON header (entries, dtypes, shapes, offsets, metadata)
 *  or its bytes (length field, header bytes, truncation). */
export function mutateSafetensors(bytes: Uint8Array, r: () => number): Uint8Array {
  // A fresh copy of each pick: the values are mutated further, and a shared one could end
  // up inside itself (or carry one case's edits into the next).
  const pick = <T>(xs: T[]): T => structuredClone(xs[Math.floor(r() * xs.length)]);
  const len = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len))) as Record<string, Record<string, unknown>>;
  let data = bytes.subarray(8 + len);
  const kind = Math.floor(r() * 10);
  if (kind < 6) {
    for (let k = 0; k < 1 + Math.floor(r() * 3); k++) {
      const names = Object.keys(header);
      const name = pick(names);
      const m = Math.floor(r() * 6);
      if (m === 0) delete header[name];
      else if (m === 1) (header as Record<string, unknown>)[name] = pick(JUNK);
      else if (m === 2 && header[name] && typeof header[name] === 'object') header[name].dtype = pick(JUNK);
      else if (m === 3 && header[name] && typeof header[name] === 'object') header[name].shape = pick(JUNK);
      else if (m === 4 && header[name] && typeof header[name] === 'object') header[name].data_offsets = pick([...JUNK, [0, 1e12], [8, 4], [0, data.length + 4]]);
      else (header as Record<string, unknown>)[pick(['__metadata__', 'new', '__proto__', 'constructor', name])] = pick(JUNK);
    }
    const json = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + json.length + data.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    out.set(data, 8 + json.length);
    return out;
  }
  const out = new Uint8Array(bytes);
  if (kind === 6) new DataView(out.buffer).setBigUint64(0, BigInt(Math.floor(r() * 2 ** 52)), true);
  else if (kind === 7) for (let k = 0; k < 4; k++) out[Math.floor(r() * Math.min(out.length, 8 + len))] = Math.floor(r() * 256);
  else if (kind === 8) return out.subarray(0, Math.floor(r() * out.length));
  else {
    data = new Uint8Array(data.length + Math.floor(r() * 64));
    const grown = new Uint8Array(8 + len + data.length);
    grown.set(bytes.subarray(0, 8 + len));
    return grown;
  }
  return out;
}

/** Mutates a token file: text rows or JSON. */
export function mutateTokens(r: () => number): { text: string; json: boolean } {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const rows = Array.from({ length: 1 + Math.floor(r() * 3) }, () => Array.from({ length: 1 + Math.floor(r() * 6) }, () => Math.floor(r() * 100)));
  const json = r() < 0.5;
  let text = json ? JSON.stringify(rows.length === 1 && r() < 0.5 ? rows[0] : rows) : rows.map((row) => row.join(' ')).join('\n');
  for (let k = 0; k < 1 + Math.floor(r() * 3); k++) {
    const at = Math.floor(r() * (text.length + 1));
    const m = Math.floor(r() * 3);
    if (m === 0) text = text.slice(0, at) + pick([...NASTY, '0x10', '1e3', '-100', '-5', '9007199254740993', 'NaN', 'null', '[]', '[[]]', '{}', ' ', '\n\n']) + text.slice(at);
    else if (m === 1) text = text.slice(0, at);
    else text = text.slice(0, at) + text.slice(at + 1 + Math.floor(r() * 4));
  }
  return { text, json };
}

export type FindingKind = 'crash' | 'invalid';

export interface Finding {
  kind: FindingKind;
  target: 'spec' | 'safetensors' | 'tokens';
  message: string;
  /** The input, to replay it (base64 for bytes). */
  input: string;
  path?: string;
}

const coded = (e: unknown) => typeof (e as { code?: unknown })?.code === 'string' && /^TFM\d{4}$/.test((e as { code: string }).code);
const describe = (e: unknown) => (e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e));

export interface CaseContext {
  corpus: [string, string][];
  files: Map<string, string>;
  safetensors: Uint8Array;
}

export function context(): CaseContext {
  const files = specCorpus();
  return { corpus: [...files], files, safetensors: baseSafetensors() };
}

/** Checks one spec mutant: the checker must not throw, every diagnostic carries a code, a
 *  message and spans inside their files, and the renderers render it. */
export function specCase(ctx: CaseContext, r: () => number): { finding?: Finding; rejected: boolean } {
  const [path, original] = ctx.corpus[Math.floor(r() * ctx.corpus.length)];
  const text = mutateSpec(original, r);
  const read = (p: string) => {
    const t = p === path ? text : ctx.files.get(p);
    if (t === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
    return t;
  };
  const bad = (kind: FindingKind, message: string) => ({ finding: { kind, target: 'spec' as const, message, input: text, path }, rejected: true });
  let result;
  try {
    result = checkFiles([path], read);
  } catch (e) {
    return bad('crash', `the checker threw: ${describe(e)}`);
  }
  for (const d of result.diagnostics) {
    if (!/^TFM[1-4]\d{3}$/.test(d.code) || d.message.length === 0) return bad('invalid', `diagnostic without a code or message: ${JSON.stringify(d)}`);
    for (const label of [d.primary, ...d.secondary]) {
      const src = result.program.sources.get(label.span.file);
      if (!src || label.span.start < 0 || label.span.end < label.span.start || label.span.end > src.text.length) return bad('invalid', `${d.code}: span ${JSON.stringify(label.span)} outside its file`);
    }
    try {
      renderHuman(d, result.program.sources);
    } catch (e) {
      return bad('crash', `rendering ${d.code} threw: ${describe(e)}`);
    }
  }
  try {
    renderJson(result.diagnostics, result.program.sources);
  } catch (e) {
    return bad('crash', `the JSON renderer threw: ${describe(e)}`);
  }
  for (const m of result.models) if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(m.model.name)) return bad('invalid', `accepted model name ${JSON.stringify(m.model.name)}`);
  return { rejected: result.diagnostics.some((d) => d.severity === 'error') };
}

/** Decodes one safetensors mutant: a coded TfmError, or tensors that fit the file. */
export function safetensorsCase(ctx: CaseContext, r: () => number): Finding | undefined {
  const bytes = mutateSafetensors(ctx.safetensors, r);
  const input = Buffer.from(bytes).toString('base64');
  try {
    const { tensors } = decodeSafetensors(bytes);
    for (const [name, t] of tensors) {
      if (t.data.length !== t.shape.reduce((a, b) => a * b, 1)) return { kind: 'invalid', target: 'safetensors', message: `${name}: ${t.data.length} values for shape [${t.shape}]`, input };
    }
  } catch (e) {
    if (!coded(e)) return { kind: 'crash', target: 'safetensors', message: describe(e), input };
  }
  return undefined;
}

/** Parses one token-file mutant: a coded error, or rows of equal length of safe integers. */
export function tokensCase(r: () => number): Finding | undefined {
  const { text, json } = mutateTokens(r);
  try {
    const rows = parseIds(text, json, json ? 'tokens.json' : 'tokens.txt');
    if (rows.length === 0 || rows.some((row) => row.length !== rows[0].length || row.length === 0 || !row.every(Number.isSafeInteger))) return { kind: 'invalid', target: 'tokens', message: `accepted ${JSON.stringify(rows).slice(0, 200)}`, input: text };
  } catch (e) {
    if (!coded(e)) return { kind: 'crash', target: 'tokens', message: describe(e), input: text };
  }
  return undefined;
}

/** Case `index`: a spec mutant, and for every fifth index a safetensors and a token mutant. */
export function runCase(ctx: CaseContext, seed: number, index: number): { findings: Finding[]; rejected: boolean } {
  const r = caseRng(seed, index);
  const spec = specCase(ctx, r);
  const findings = spec.finding ? [spec.finding] : [];
  if (index % 5 === 0) {
    const s = safetensorsCase(ctx, r);
    if (s) findings.push(s);
    const t = tokensCase(r);
    if (t) findings.push(t);
  }
  return { findings, rejected: spec.rejected };
}
