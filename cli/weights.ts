// `tfm forward`, `tfm import`, `tfm export`: one forward pass for debugging and checking
// against other implementations, and conversion between internal and Hugging Face names.
import { TfmError } from '../common/errors.ts';
import { extname } from 'node:path';
import { checkWritable, LIMITS, readTextBounded, writeAtomically } from '../common/files.ts';
import { count } from './flags.ts';
import { checkFiles, type CheckedModel } from '../compiler/check.ts';
import { resolveShape } from '../compiler/ir.ts';
import { initParams } from '../runtime/init.ts';
import { compileExecutor } from './driver.ts';
import { hfNaming, readWeights, writeWeights, type Naming } from '../runtime/weights.ts';

/** The one model of a spec file, or a TfmError that carries the spec's errors. */
export function checkedModel(spec: string): CheckedModel {
  const r = checkFiles([spec]);
  const errors = r.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length) throw new TfmError('TFM1000', `\`${spec}\` has errors`, undefined, { diagnostics: errors, sources: r.program.sources });
  if (r.models.length !== 1) throw new TfmError('TFM4002', `\`${spec}\` declares ${r.models.length} models; name a file with one`);
  return r.models[0];
}

const PLAIN_ID = /^(0|[1-9]\d*|-100)$/;

/** Token ids from JSON (`[1, 2]` or `[[1, 2], [3, 4]]`) or text (whitespace-separated decimal
 *  integers; one row per line). `-100` (ignored position) is read here and refused where it
 *  is not allowed. */
function readIds(path: string, what: string): number[][] {
  return parseIds(readTextBounded(path, LIMITS.tokens, what), extname(path) === '.json', path, what);
}

/** Token ids from the text of a token file (see readIds); TfmError TFM5008 when malformed. */
export function parseIds(text: string, json: boolean, path: string, what = 'token ids'): number[][] {
  let rows: unknown;
  if (json) {
    try {
      rows = JSON.parse(text);
    } catch (e) {
      throw new TfmError('TFM5008', `\`${path}\` is not valid JSON: ${(e as Error).message}`);
    }
    if (Array.isArray(rows) && rows.every((x) => typeof x === 'number')) rows = [rows];
  } else {
    const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
    const words = lines.map((l) => l.split(/\s+/));
    const bad = words.flat().find((w) => !PLAIN_ID.test(w));
    if (bad !== undefined) throw new TfmError('TFM5008', `\`${path}\`: \`${bad.slice(0, 40)}\` is not a decimal token id`);
    rows = words.map((ws) => ws.map(Number));
  }
  if (!Array.isArray(rows) || rows.length === 0 || (rows as unknown[][])[0]?.length === 0) throw new TfmError('TFM5008', `\`${path}\` holds no ${what}`);
  if (!rows.every((r) => Array.isArray(r) && r.length === (rows as unknown[][])[0].length && r.every((x) => Number.isSafeInteger(x)))) {
    throw new TfmError('TFM5008', `\`${path}\` must hold integer ${what}: one row, or rows of equal length`);
  }
  return rows as number[][];
}

export async function forwardCommand(spec: string, opts: { checkpoint: string; tokens: string; targets?: string; out?: string; target?: string }): Promise<void> {
  const m = checkedModel(spec);
  if (m.model.layout?.value === 'encoder_decoder' || m.model.embed?.patches) throw new TfmError('TFM4002', '`tfm forward` runs token models with one stack (decoder or encoder) so far');
  const rows = readIds(opts.tokens, 'token ids');
  const vocab = m.model.embed!.tokens!.vocab.value;
  const bad = rows.flat().find((t) => t < 0 || t >= vocab);
  if (bad !== undefined) throw new TfmError('TFM5008', `token id ${bad} is outside the vocabulary of ${vocab}`);
  const targets = opts.targets ? readIds(opts.targets, 'target ids') : undefined;
  if (targets && (targets.length !== rows.length || targets[0].length !== rows[0].length)) throw new TfmError('TFM5008', `targets must have the shape of the tokens ([${rows.length}, ${rows[0].length}]), got [${targets.length}, ${targets[0].length}]`);
  const badTarget = targets?.flat().find((t) => t !== -100 && (t < 0 || t >= vocab));
  if (badTarget !== undefined) throw new TfmError('TFM5008', `target id ${badTarget} is outside the vocabulary of ${vocab} (-100 marks a position without a target)`);
  if (targets && targets.flat().every((t) => t === -100)) throw new TfmError('TFM5008', 'every target is -100 (ignored): there is no loss to compute');
  const ctx = m.model.inputs.tokens?.context?.value;
  if (ctx && rows[0].length > ctx) throw new TfmError('TFM5008', `${rows[0].length} tokens per row exceed the context of ${ctx}`);
  if (opts.out) checkWritable(opts.out, 'logits');
  const dims = { batch: rows.length, seq: rows[0].length };
  const ex = await compileExecutor(m, dims, { train: false, target: opts.target });
  try {
    const { params } = readWeights(opts.checkpoint, ex.program);
    for (const [name, t] of params) ex.param(name).set(t.data);
    ex.push();
    ex.input('tokens').set(rows.flat());
    ex.input('targets').set(targets ? targets.flat() : rows.flat().map(() => -100));
    for (const name of ['key_mask']) if (ex.hasInput(name)) (ex.input(name) as Float32Array).fill(1);
    const loss = await ex.forward();
    const logits = (await ex.read('logits')) as Float32Array;
    const at = logits.findIndex((x) => !Number.isFinite(x));
    if (at >= 0 || (targets && !Number.isFinite(loss))) throw new TfmError('TFM6001', `the forward pass produced a non-finite ${at >= 0 ? `logit at index ${at}` : 'loss'} from finite weights and inputs: the weights overflow float32 in this model`);
    const shape = [dims.batch, dims.seq, logits.length / (dims.batch * dims.seq)];
    if (opts.out?.endsWith('.npy')) writeAtomically(opts.out, npy(logits, shape), 'logits');
    else if (opts.out) writeAtomically(opts.out, JSON.stringify({ shape, logits: Array.from(logits), ...(targets ? { loss } : {}) }) + '\n', 'logits');
    console.log(JSON.stringify({ shape, ...(targets ? { loss } : {}), ...(opts.out ? { out: opts.out } : { logits: Array.from(logits.subarray(0, Math.min(8, logits.length))) }) }));
  } finally {
    ex.close();
  }
}

/** NumPy .npy v1.0: magic, header dict padded to 64 bytes, little-endian float32 data. */
function npy(data: Float32Array, shape: number[]): Uint8Array {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(64 - ((10 + header.length + 1) % 64)) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

export async function convertCommand(direction: 'import' | 'export', spec: string, opts: { checkpoint?: string; seed?: string; out: string }): Promise<void> {
  const m = checkedModel(spec);
  if (m.model.layout?.value === 'encoder_decoder') throw new TfmError('TFM4002', 'Hugging Face names are known for GPT (decoders), BERT (encoders of tokens) and ViT (models of an image) so far');
  const seed = direction === 'export' && !opts.checkpoint && opts.seed !== undefined ? count(opts.seed, 'seed', 0) : undefined;
  if (!opts.checkpoint && seed === undefined) throw new TfmError('TFM5006', direction === 'export' ? 'give --checkpoint <file> or --seed <n>' : 'give --checkpoint <file>');
  checkWritable(opts.out, 'weights');
  const ex = await compileExecutor(m, { batch: 1, seq: 1 }, { train: false });
  let params;
  const program = ex.program;
  try {
    if (opts.checkpoint) {
      const { params } = readWeights(opts.checkpoint, ex.program);
      for (const [name, t] of params) ex.param(name).set(t.data);
    } else initParams(ex, seed!);
    params = new Map(ex.program.params.map((p) => [p.name, { shape: resolveShape(p.shape, {}), data: ex.param(p.name) }]));
  } finally {
    ex.close();
  }
  const naming: Naming = direction === 'export' ? hfNaming(program) : 'internal';
  writeWeights(opts.out, params, naming, program, { format: 'pt', model: m.model.name });
  console.log(`${m.model.name}: ${params.size} parameters written to ${opts.out} (${{ 'hf-gpt2': 'Hugging Face GPT-2 names', 'hf-vit': 'Hugging Face ViT names', 'hf-bert': 'Hugging Face BERT names', internal: 'tfm names' }[naming]})`);
}

