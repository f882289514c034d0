// Weights on disk: safetensors under the model's internal parameter names, or under the
// Hugging Face names of its family (detected from the tensor names), validated before use.
import { TfmError } from '../common/errors.ts';
import type { ModelRunner } from './executor.ts';
import { resolveShape, sameShape, type Program } from '../common/program.ts';
import { bartExtras, bartViews, bertViews, exportBart, exportBert, exportGpt, exportT5, exportVit, gptViews, importBart, importBert, importGpt, importT5, importVit, NameMapError, shapesOf, t5Views, vitViews, type HfView } from './hf.ts';
import { writeAtomically } from '../common/files.ts';
import { encodeChunks, readSafetensorsFile, type NamedTensor, type TensorEntry } from './safetensors.ts';

export type Naming = 'internal' | HfNaming;
export type HfNaming = 'hf-gpt2' | 'hf-gpt1' | 'hf-vit' | 'hf-bert' | 'hf-t5' | 'hf-bart';

/** The Hugging Face family a program's parameters map to: ViT for models of an image; for
 *  encoder-decoders T5 when they have a relative position bias, else BART; BERT for encoders
 *  of tokens (an embedding LayerNorm), GPT-1 for decoders without a final norm (its post-norm
 *  layout), GPT-2 otherwise. */
export function hfNaming(program: Program): HfNaming {
  if (imageChannels(program) !== undefined) return 'hf-vit';
  if (program.params.some((p) => p.name.startsWith('decoder.blocks.'))) return program.params.some((p) => p.name === 'encoder.relative_bias') ? 'hf-t5' : 'hf-bart';
  if (program.params.some((p) => p.name === 'embed.norm.weight')) return 'hf-bert';
  return program.params.some((p) => p.name === 'final_norm.weight') ? 'hf-gpt2' : 'hf-gpt1';
}

const isGpt = (n: Naming) => n === 'hf-gpt2' || n === 'hf-gpt1';

export function expectedShapes(program: Program): Map<string, number[]> {
  // Parameter shapes are all compile-time constants.
  return new Map(program.params.map((p) => [p.name, resolveShape(p.shape, {})]));
}

/** The channels of a program's `image` input, if it has one. */
export function imageChannels(program: Program): number | undefined {
  const input = program.inputs.find((i) => i.name === 'image');
  const shape = input ? program.buffers[input.buffer].shape : undefined;
  return shape ? Number(shape[1]) : undefined;
}

/** Each family's name tables (runtime/hf.ts): where each parameter lives in its files, the
 *  other tensors those carry, and the conversions both ways. */
const TABLES: Record<HfNaming, { title: string; views(expected: Map<string, number[]>, program: Program): Map<string, HfView>; extras?(expected: Map<string, number[]>): Map<string, number[]>; from(tensors: Map<string, NamedTensor>, expected: Map<string, number[]>, program: Program): Map<string, NamedTensor>; to(params: Map<string, NamedTensor>, program: Program): Map<string, NamedTensor> }> = {
  'hf-gpt2': { title: 'GPT-2', views: (e) => gptViews(e, 'gpt2'), from: (t, e) => importGpt(t, e, 'gpt2'), to: (p) => exportGpt(p, 'gpt2') },
  'hf-gpt1': { title: 'GPT-1', views: (e) => gptViews(e, 'gpt1'), from: (t, e) => importGpt(t, e, 'gpt1'), to: (p) => exportGpt(p, 'gpt1') },
  'hf-vit': { title: 'ViT', views: (e, prog) => vitViews(e, imageChannels(prog)!), from: (t, e, prog) => importVit(t, e, imageChannels(prog)!), to: (p, prog) => exportVit(p, imageChannels(prog)!) },
  'hf-bert': { title: 'BERT', views: bertViews, from: importBert, to: exportBert },
  'hf-t5': { title: 'T5', views: t5Views, from: importT5, to: exportT5 },
  'hf-bart': { title: 'BART', views: bartViews, extras: bartExtras, from: importBart, to: exportBart },
};

export const FAMILY = Object.fromEntries(Object.entries(TABLES).map(([k, t]) => [k, `Hugging Face ${t.title}`])) as Record<HfNaming, string>;

/** The Hugging Face tensors (names and shapes) a model of these parameter shapes reads. */
export const hfShapes = (naming: HfNaming, expected: Map<string, number[]>, program: Program) => new Map([...shapesOf(TABLES[naming].views(expected, program)), ...(TABLES[naming].extras?.(expected) ?? [])]);

/** Hugging Face names and layouts → internal parameters. */
export const fromHf = (naming: HfNaming, tensors: Map<string, NamedTensor>, expected: Map<string, number[]>, program: Program) => TABLES[naming].from(tensors, expected, program);

/** Internal parameters → Hugging Face names and layouts. */
export const toHf = (naming: HfNaming, params: Map<string, NamedTensor>, program: Program) => TABLES[naming].to(params, program);

/** Where each parameter of a program lives in the file `tfm export` writes, and the other
 *  tensors that file carries; tfm's own names (identity views) for a model whose family has
 *  no Hugging Face name for one of its parameters (then `tfm export` refuses it too). */
export function exportViews(program: Program): { naming: string; views: Map<string, HfView>; extras: Map<string, number[]> } {
  const naming = hfNaming(program);
  const expected = expectedShapes(program);
  try {
    return { naming: FAMILY[naming], views: TABLES[naming].views(expected, program), extras: TABLES[naming].extras?.(expected) ?? new Map() };
  } catch (e) {
    if (!(e instanceof NameMapError)) throw e;
    return { naming: "tfm's own", views: new Map([...expected].map(([k, shape]) => [k, { key: k, layout: 'same' as const, shape }])), extras: new Map() };
  }
}

/** The tensors `tfm export` writes for these parameters, under the names exportViews gives. */
export function exportTensors(params: Map<string, NamedTensor>, program: Program): Map<string, NamedTensor> {
  try {
    return toHf(hfNaming(program), params, program);
  } catch (e) {
    if (!(e instanceof NameMapError)) throw e;
    return params;
  }
}

export function readWeights(path: string, program: Program): { params: Map<string, NamedTensor>; naming: Naming } {
  const expected = expectedShapes(program);
  let naming: Naming = 'internal';
  // Names, dtypes and shapes are checked against the header; only the tensors the model
  // needs are read, and only once they are known to fit.
  const tensors = readSafetensorsFile(path, 'checkpoint', (h) => {
    const want = (name: string, entry: TensorEntry, shape: number[], as: string) => {
      if (entry.dtype !== 'F32') throw new TfmError('TFM5007', `\`${path}\`: \`${as}\` is ${entry.dtype}; weights must be F32`);
      if (!sameShape(entry.shape, shape)) throw new TfmError('TFM5007', `\`${path}\`: \`${as}\` has shape [${entry.shape}], the model expects [${shape}]`);
      return name;
    };
    if ([...expected.keys()].every((k) => h.entries.has(k))) return [...expected].map(([k, shape]) => want(k, h.entries.get(k)!, shape, k));
    naming = hfNaming(program);
    // A decoder's file may carry either GPT naming (training checkpoints use GPT-2's; `tfm
    // export` writes GPT-1's for a GPT-1 layout): its embedding's name tells which.
    if (isGpt(naming)) naming = [...h.entries.keys()].some((k) => /^(transformer\.)?tokens_embed\.weight$/.test(k)) ? 'hf-gpt1' : 'hf-gpt2';
    let hf: Map<string, number[]>;
    try {
      hf = hfShapes(naming, expected, program);
    } catch (e) {
      if (e instanceof NameMapError) throw new TfmError('TFM5007', `\`${path}\` does not hold the model's parameter names, and ${e.message}`);
      throw e;
    }
    const strip = (k: string) => (isGpt(naming) ? k.replace(/^transformer\./, '') : k);
    const byStripped = new Map([...h.entries.values()].map((e) => [strip(e.name), e]));
    return [...hf].map(([name, shape]) => {
      const e = byStripped.get(name);
      if (!e) {
        const missing = [...expected.keys()].find((k) => !h.entries.has(k));
        throw new TfmError('TFM5007', `\`${path}\` matches neither the model's parameter names (no \`${missing}\`) nor ${FAMILY[naming as HfNaming]} names (no \`${name}\`)`);
      }
      return want(e.name, e, shape, e.name);
    });
  }).tensors;
  let params: Map<string, NamedTensor>;
  if (naming === 'internal') params = tensors;
  else {
    try {
      params = fromHf(naming, tensors, expected, program);
    } catch (e) {
      if (e instanceof NameMapError) throw new TfmError('TFM5007', `\`${path}\`: ${e.message}`);
      throw e;
    }
  }
  for (const [name, t] of params) {
    const bad = t.data.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) throw new TfmError('TFM5021', `\`${path}\`: \`${name}\` holds a non-finite value (${t.data[bad]}) at index ${bad}: the weights are damaged`);
  }
  return { params, naming };
}

/** A checkpoint's weights under the model's parameter names, in program order: converted
 *  from the Hugging Face names it was saved under, if any; a missing name or another shape is
 *  refused (TFM5007), naming the checkpoint as `where`. */
export function checkpointParams(tensors: Map<string, NamedTensor>, naming: Naming, program: Program, where: string): Map<string, NamedTensor> {
  const shapes = expectedShapes(program);
  let params = tensors;
  if (naming !== 'internal') {
    try {
      params = fromHf(naming, tensors, shapes, program);
    } catch (e) {
      if (e instanceof NameMapError) throw new TfmError('TFM5007', `checkpoint \`${where}\`: ${e.message}`);
      throw e;
    }
  }
  const out = new Map<string, NamedTensor>();
  for (const [name, shape] of shapes) {
    const t = params.get(name);
    if (!t || !sameShape(t.shape, shape)) throw new TfmError('TFM5007', `checkpoint \`${where}\` lacks \`${name}\` of shape [${shape}]`);
    out.set(name, t);
  }
  return out;
}

/** Sets `ex`'s parameters from a checkpoint's weights (checkpointParams); the caller pushes
 *  them to the device (after anything else it restores). */
export function setCheckpointWeights(ex: Pick<ModelRunner, 'program' | 'param'>, tensors: Map<string, NamedTensor>, naming: Naming, where: string): void {
  for (const [name, t] of checkpointParams(tensors, naming, ex.program, where)) ex.param(name).set(t.data);
}

export function writeWeights(path: string, params: Map<string, NamedTensor>, naming: Naming, program: Program, metadata: Record<string, string> = {}): void {
  const tensors = naming === 'internal' ? params : toHf(naming, params, program);
  writeAtomically(path, encodeChunks(tensors, metadata), 'weights');
}
