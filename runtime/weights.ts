// Weights on disk: safetensors under the model's internal parameter names, or under the
// Hugging Face names of its family (detected from the tensor names), validated before use.
import { TfmError } from '../common/errors.ts';
import type { ModelRunner } from './executor.ts';
import { resolveShape, sameShape, type Program } from '../common/program.ts';
import { bertShapes, exportBert, exportGpt, exportVit, gptShapes, importBert, importGpt, importVit, NameMapError, vitShapes, type GptFamily } from './hf.ts';
import { writeAtomically } from '../common/files.ts';
import { encodeChunks, readSafetensorsFile, type NamedTensor, type TensorEntry } from './safetensors.ts';

export type Naming = 'internal' | HfNaming;
export type HfNaming = 'hf-gpt2' | 'hf-gpt1' | 'hf-vit' | 'hf-bert';

/** The Hugging Face family a program's parameters map to: ViT for models of an image, BERT for
 *  encoders of tokens (an embedding LayerNorm), GPT-1 for decoders without a final norm (its
 *  post-norm layout), GPT-2 otherwise. */
export function hfNaming(program: Program): HfNaming {
  if (imageChannels(program) !== undefined) return 'hf-vit';
  if (program.params.some((p) => p.name === 'embed.norm.weight')) return 'hf-bert';
  return program.params.some((p) => p.name === 'final_norm.weight') ? 'hf-gpt2' : 'hf-gpt1';
}

const isGpt = (n: Naming) => n === 'hf-gpt2' || n === 'hf-gpt1';
/** The GPT name table of a GPT naming (runtime/hf.ts). */
const gptFamily = (n: HfNaming): GptFamily => (n === 'hf-gpt1' ? 'gpt1' : 'gpt2');

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

export const FAMILY: Record<HfNaming, string> = { 'hf-gpt2': 'Hugging Face GPT-2', 'hf-gpt1': 'Hugging Face GPT-1', 'hf-vit': 'Hugging Face ViT', 'hf-bert': 'Hugging Face BERT' };

/** The Hugging Face tensors (names and shapes) a model of these parameter shapes reads. */
function hfShapes(naming: HfNaming, expected: Map<string, number[]>, program: Program): Map<string, number[]> {
  return naming === 'hf-vit' ? vitShapes(expected, imageChannels(program)!) : naming === 'hf-bert' ? bertShapes(expected) : gptShapes(expected, gptFamily(naming));
}

/** Hugging Face names and layouts → internal parameters. */
export function fromHf(naming: HfNaming, tensors: Map<string, NamedTensor>, expected: Map<string, number[]>, program: Program): Map<string, NamedTensor> {
  return naming === 'hf-vit' ? importVit(tensors, expected, imageChannels(program)!) : naming === 'hf-bert' ? importBert(tensors, expected) : importGpt(tensors, expected, gptFamily(naming));
}

/** Internal parameters → Hugging Face names and layouts. */
export function toHf(naming: HfNaming, params: Map<string, NamedTensor>, program: Program): Map<string, NamedTensor> {
  return naming === 'hf-vit' ? exportVit(params, imageChannels(program)!) : naming === 'hf-bert' ? exportBert(params) : exportGpt(params, gptFamily(naming));
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
