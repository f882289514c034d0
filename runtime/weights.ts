// Weights on disk: safetensors under the model's internal parameter names, or under the
// Hugging Face names of its family (detected from the tensor names), validated before use.
import { readFileSync, writeFileSync } from 'node:fs';
import type { CpuProgram } from '../compiler/codegen/compile.ts';
import { resolveShape } from '../compiler/ir.ts';
import { exportGpt, importGpt, NameMapError } from './hf.ts';
import { decodeSafetensors, encodeSafetensors, SafetensorsError, type NamedTensor } from './safetensors.ts';

export class WeightsError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export type Naming = 'internal' | 'hf-gpt2';

export function expectedShapes(program: CpuProgram): Map<string, number[]> {
  // Parameter shapes are all compile-time constants.
  return new Map(program.params.map((p) => [p.name, resolveShape(p.shape, {})]));
}

export function readWeights(path: string, program: CpuProgram): { params: Map<string, NamedTensor>; naming: Naming } {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new WeightsError('TFM5006', `cannot read checkpoint \`${path}\`: ${(e as NodeJS.ErrnoException).code ?? 'read error'}`);
  }
  let tensors: Map<string, NamedTensor>;
  try {
    tensors = decodeSafetensors(bytes).tensors;
  } catch (e) {
    if (e instanceof SafetensorsError) throw new WeightsError(e.code, `\`${path}\`: ${e.message}`);
    throw e;
  }
  const expected = expectedShapes(program);
  if ([...expected.keys()].every((k) => tensors.has(k))) {
    for (const [name, shape] of expected) {
      const t = tensors.get(name)!;
      if (t.shape.join() !== shape.join()) throw new WeightsError('TFM5007', `\`${path}\`: \`${name}\` has shape [${t.shape}], the model expects [${shape}]`);
    }
    return { params: new Map([...expected.keys()].map((k) => [k, tensors.get(k)!])), naming: 'internal' };
  }
  try {
    return { params: importGpt(tensors, expected), naming: 'hf-gpt2' };
  } catch (e) {
    if (e instanceof NameMapError) throw new WeightsError('TFM5007', `\`${path}\` matches neither the model's parameter names nor Hugging Face GPT-2 names: ${e.message}`);
    throw e;
  }
}

export function writeWeights(path: string, params: Map<string, NamedTensor>, naming: Naming, metadata: Record<string, string> = {}): void {
  const tensors = naming === 'hf-gpt2' ? exportGpt(params) : params;
  writeFileSync(path, encodeSafetensors(tensors, metadata));
}
