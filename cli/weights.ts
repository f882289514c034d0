// `tfm forward`, `tfm import`, `tfm export`: one forward pass for debugging and checking
// against other implementations, and conversion between internal and Hugging Face names.
import { TfmError } from '../common/errors.ts';
import { extname } from 'node:path';
import { checkWritable, LIMITS, readBounded, readTextBounded, writeAtomically } from '../common/files.ts';
import { decodeNpy, encodeNpy } from '../common/npy.ts';
import { count } from './flags.ts';
import { checkFiles, type CheckedModel } from '../compiler/check.ts';
import { resolveShape } from '../compiler/ir.ts';
import { initParams } from '../runtime/init.ts';
import { compileExecutor } from './driver.ts';
import { FAMILY, hfNaming, readWeights, writeWeights, type Naming } from '../runtime/weights.ts';

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

export interface ForwardOptions {
  checkpoint: string;
  tokens?: string;
  segments?: string;
  image?: string;
  pixels?: string;
  targets?: string;
  /** Encoder-decoders: source ids and the decoder's input ids. */
  src?: string;
  tgt?: string;
  out?: string;
  target?: string;
}

/** Images from .npy or JSON (nested lists): [C, H, W] or [batch, C, H, W], and for one
 *  channel also [H, W] or [batch, H, W]. They are fed to the model as they are — the values
 *  its `image` input takes (training feeds (pixel − mean) / std of its training images). */
function readImages(path: string, json: boolean, image: { channels: number; height: number; width: number }): { batch: number; data: Float32Array } {
  let shape: number[];
  let data: Float32Array;
  if (json) {
    let v: unknown;
    try {
      v = JSON.parse(readTextBounded(path, LIMITS.tokens, 'pixels'));
    } catch (e) {
      if (e instanceof TfmError) throw e;
      throw new TfmError('TFM5008', `\`${path}\` is not valid JSON: ${(e as Error).message}`);
    }
    shape = [];
    for (let x = v; Array.isArray(x); x = x[0]) shape.push(x.length);
    const flat = (shape.length ? (v as unknown[]).flat(shape.length - 1) : []) as unknown[];
    if (!shape.length || flat.length !== shape.reduce((a, b) => a * b, 1) || !flat.every((x) => typeof x === 'number' && Number.isFinite(x))) throw new TfmError('TFM5008', `\`${path}\` must hold nested lists of finite numbers, every row the same length`);
    data = Float32Array.from(flat as number[]);
  } else ({ shape, data } = decodeNpy(readBounded(path, LIMITS.tokens, 'image'), path));
  const { channels: C, height: H, width: W } = image;
  const per = C === 1 ? [H, W] : [C, H, W];
  const prefix = shape.slice(0, Math.max(0, shape.length - per.length));
  const fits = shape.length >= per.length && shape.slice(prefix.length).every((d, k) => d === per[k]) && (prefix.length <= 1 || (C === 1 && prefix.length === 2 && prefix[1] === 1));
  const batch = prefix.length ? prefix[0] : 1;
  if (!fits || batch < 1) throw new TfmError('TFM5008', `\`${path}\` holds an array of shape [${shape.join(', ')}]; the model takes images of ${C} × ${H} × ${W}: [${C}, ${H}, ${W}] or [batch, ${C}, ${H}, ${W}]${C === 1 ? `, or [${H}, ${W}] or [batch, ${H}, ${W}]` : ''}`);
  const bad = data.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) throw new TfmError('TFM5008', `\`${path}\`: value ${bad} is not finite`);
  return { batch, data };
}

/** Checks a forward pass's logits (and loss) are finite, writes them where --out says, and
 *  prints their shape, the loss and (without --out) the first few. */
function reportLogits(opts: ForwardOptions, logits: Float32Array, shape: number[], loss: number | undefined): void {
  const at = logits.findIndex((x) => !Number.isFinite(x));
  if (at >= 0 || (loss !== undefined && !Number.isFinite(loss))) throw new TfmError('TFM6001', `the forward pass produced a non-finite ${at >= 0 ? `logit at index ${at}` : 'loss'} from finite weights and inputs: the weights overflow float32 in this model`);
  if (opts.out?.endsWith('.npy')) writeAtomically(opts.out, encodeNpy(logits, shape), 'logits');
  else if (opts.out) writeAtomically(opts.out, JSON.stringify({ shape, logits: Array.from(logits), ...(loss !== undefined ? { loss } : {}) }) + '\n', 'logits');
  console.log(JSON.stringify({ shape, ...(loss !== undefined ? { loss } : {}), ...(opts.out ? { out: opts.out } : { logits: Array.from(logits.subarray(0, Math.min(8, logits.length))) }) }));
}

/** Token ids of a file, every id inside the vocabulary and rows no longer than `context`. */
function readTokenRows(path: string, what: string, vocab: number, context: number | undefined): number[][] {
  const rows = readIds(path, what);
  const bad = rows.flat().find((t) => t < 0 || t >= vocab);
  if (bad !== undefined) throw new TfmError('TFM5008', `${what}: id ${bad} is outside the vocabulary of ${vocab}`);
  if (context && rows[0].length > context) throw new TfmError('TFM5008', `${what}: ${rows[0].length} tokens per row exceed the context of ${context}`);
  return rows;
}

/** An encoder-decoder's forward pass: sources (--src) through the encoder, the decoder's input
 *  ids (--tgt: the target shifted right behind the start token) through the decoder; logits
 *  [batch, tgt, vocab], and the loss when --targets (the shape of --tgt) are given. */
async function forwardSeq2Seq(m: CheckedModel, opts: ForwardOptions): Promise<void> {
  if (opts.tokens || opts.image || opts.pixels || opts.segments) throw new TfmError('TFM5008', `\`${m.model.name}\` is an encoder-decoder: give --src (source ids) and --tgt (the decoder's input ids)`);
  if (!opts.src || !opts.tgt) throw new TfmError('TFM5006', `\`${m.model.name}\` is an encoder-decoder: give --src <file> (source ids) and --tgt <file> (the decoder's input ids)`);
  const vocab = m.model.embed!.tokens!.vocab.value;
  const src = readTokenRows(opts.src, 'source ids', vocab, m.model.inputs.tokens?.context?.value);
  const tgt = readTokenRows(opts.tgt, 'decoder input ids', vocab, m.model.inputs.targets?.context?.value);
  if (src.length !== tgt.length) throw new TfmError('TFM5008', `--src has ${src.length} rows and --tgt ${tgt.length}: one decoder row per source`);
  const targets = opts.targets ? readIds(opts.targets, 'target ids') : undefined;
  if (targets && (targets.length !== tgt.length || targets[0].length !== tgt[0].length)) throw new TfmError('TFM5008', `targets must have the shape of --tgt ([${tgt.length}, ${tgt[0].length}]), got [${targets.length}, ${targets[0].length}]`);
  const badTarget = targets?.flat().find((t) => t !== -100 && (t < 0 || t >= vocab));
  if (badTarget !== undefined) throw new TfmError('TFM5008', `target id ${badTarget} is outside the vocabulary of ${vocab} (-100 marks a position without a target)`);
  if (targets && targets.flat().every((t) => t === -100)) throw new TfmError('TFM5008', 'every target is -100 (ignored): there is no loss to compute');
  if (opts.out) checkWritable(opts.out, 'logits');
  const dims = { batch: src.length, src_seq: src[0].length, tgt_seq: tgt[0].length };
  const ex = await compileExecutor(m, dims, { train: false, target: opts.target });
  try {
    const { params } = readWeights(opts.checkpoint, ex.program);
    for (const [name, t] of params) ex.param(name).set(t.data);
    ex.push();
    ex.input('src_tokens').set(src.flat());
    ex.input('tgt_tokens').set(tgt.flat());
    if (ex.hasInput('src_key_mask')) (ex.input('src_key_mask') as Float32Array).fill(1);
    ex.input('targets').set(targets ? targets.flat() : new Array(dims.batch * dims.tgt_seq).fill(-100));
    const loss = await ex.forward();
    reportLogits(opts, (await ex.read('logits')) as Float32Array, [dims.batch, dims.tgt_seq, vocab], targets ? loss : undefined);
  } finally {
    ex.close();
  }
}

export async function forwardCommand(spec: string, opts: ForwardOptions): Promise<void> {
  const m = checkedModel(spec);
  if (m.model.layout?.value === 'encoder_decoder') return forwardSeq2Seq(m, opts);
  if (opts.src || opts.tgt) throw new TfmError('TFM5008', `--src and --tgt are for encoder-decoders; ${m.model.name} takes --tokens`);
  const image = m.model.inputs.image;
  const classify = m.model.head?.kind.value === 'classify';
  let dims: { batch: number; seq: number };
  let rows: number[][] = [];
  let pixels: Float32Array | undefined;
  if (image) {
    if (opts.tokens || opts.segments) throw new TfmError('TFM5008', `\`${m.model.name}\` takes an image: give --image <file.npy> or --pixels <file.json>, not token ids`);
    if (!opts.image === !opts.pixels) throw new TfmError('TFM5006', `\`${m.model.name}\` takes an image: give one of --image <file.npy> or --pixels <file.json>`);
    const read = readImages((opts.image ?? opts.pixels)!, !opts.image, { channels: image.channels?.value ?? 1, height: image.height!.value, width: image.width!.value });
    pixels = read.data;
    dims = { batch: read.batch, seq: 1 };
  } else {
    if (opts.image || opts.pixels) throw new TfmError('TFM5008', `\`${m.model.name}\` takes tokens, not an image: give --tokens <file>`);
    if (!opts.tokens) throw new TfmError('TFM5006', 'give --tokens <file> (token ids)');
    rows = readTokenRows(opts.tokens, 'token ids', m.model.embed!.tokens!.vocab.value, m.model.inputs.tokens?.context?.value);
    dims = { batch: rows.length, seq: rows[0].length };
  }
  const types = m.model.embed?.segments?.types.value;
  let segments: number[][] | undefined;
  if (opts.segments) {
    if (!types) throw new TfmError('TFM5008', `\`${m.model.name}\` has no segment embedding (\`segments\` in its embed block): --segments does not apply`);
    segments = readIds(opts.segments, 'segment ids');
    if (segments.length !== rows.length || segments[0].length !== rows[0].length) throw new TfmError('TFM5008', `segments must have the shape of the tokens ([${rows.length}, ${rows[0].length}]), got [${segments.length}, ${segments[0].length}]`);
    const badSeg = segments.flat().find((t) => t < 0 || t >= types);
    if (badSeg !== undefined) throw new TfmError('TFM5008', `segment id ${badSeg} is outside the model's ${types} segment types`);
  }
  // Targets: a token id per position for language models, a class per example for classifiers.
  const width = classify ? m.model.head!.classes!.value : m.model.embed!.tokens!.vocab.value;
  const targets = opts.targets ? readIds(opts.targets, 'target ids') : undefined;
  const flatTargets = targets?.flat();
  if (targets && classify && flatTargets!.length !== dims.batch) throw new TfmError('TFM5008', `a classifier takes one target class per example: ${dims.batch} expected, got ${flatTargets!.length}`);
  if (targets && !classify && (targets.length !== rows.length || targets[0].length !== rows[0].length)) throw new TfmError('TFM5008', `targets must have the shape of the tokens ([${rows.length}, ${rows[0].length}]), got [${targets.length}, ${targets[0].length}]`);
  const badTarget = flatTargets?.find((t) => t !== -100 && (t < 0 || t >= width));
  if (badTarget !== undefined) throw new TfmError('TFM5008', classify ? `target class ${badTarget} is not one of the model's ${width} classes` : `target id ${badTarget} is outside the vocabulary of ${width} (-100 marks a position without a target)`);
  if (flatTargets && flatTargets.every((t) => t === -100)) throw new TfmError('TFM5008', 'every target is -100 (ignored): there is no loss to compute');
  if (opts.out) checkWritable(opts.out, 'logits');
  const ex = await compileExecutor(m, dims, { train: false, target: opts.target });
  try {
    const { params } = readWeights(opts.checkpoint, ex.program);
    for (const [name, t] of params) ex.param(name).set(t.data);
    ex.push();
    if (pixels) ex.input('image').set(pixels);
    else ex.input('tokens').set(rows.flat());
    if (ex.hasInput('segments')) ex.input('segments').set(segments ? segments.flat() : rows.flat().map(() => 0));
    if (ex.hasInput('key_mask')) (ex.input('key_mask') as Float32Array).fill(1);
    const n = classify ? dims.batch : dims.batch * dims.seq;
    ex.input(classify ? 'labels' : 'targets').set(flatTargets ?? new Array(n).fill(classify ? 0 : -100));
    const loss = await ex.forward();
    const logits = (await ex.read('logits')) as Float32Array;
    reportLogits(opts, logits, classify ? [dims.batch, width] : [dims.batch, dims.seq, width], targets ? loss : undefined);
  } finally {
    ex.close();
  }
}

export async function convertCommand(direction: 'import' | 'export', spec: string, opts: { checkpoint?: string; seed?: string; out: string }): Promise<void> {
  const m = checkedModel(spec);
  const seed = direction === 'export' && !opts.checkpoint && opts.seed !== undefined ? count(opts.seed, 'seed', 0) : undefined;
  if (!opts.checkpoint && seed === undefined) throw new TfmError('TFM5006', direction === 'export' ? 'give --checkpoint <file> or --seed <n>' : 'give --checkpoint <file>');
  checkWritable(opts.out, 'weights');
  // The smallest executor of the model: only its parameters are used.
  const ex = await compileExecutor(m, { batch: 1, seq: 1, src_seq: 1, tgt_seq: 1 }, { train: false });
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
  console.log(`${m.model.name}: ${params.size} parameters written to ${opts.out} (${naming === 'internal' ? 'tfm names' : `${FAMILY[naming]} names`})`);
}

