// Generated CPU kernels (after fusion) against the float64 reference interpreter of the
// unfused graph: the forward loss and logits and every parameter gradient, on fresh random
// weights and inputs. This checks every fused kernel against its unfused float64 reference.
import { describe, expect, it } from 'vitest';
import { checkFiles } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { tsTarget } from '../compiler/targets/ts/index.ts';
import { emit } from '../compiler/codegen/emit.ts';
import { differentiate } from '../compiler/autodiff.ts';
import { lowerModel } from '../compiler/lower.ts';
import { runReference, valueOf } from '../compiler/reference.ts';
import { Executor } from '../runtime/executor.ts';
import { loadCompiled } from '../runtime/load.ts';
import { randomInputs, randomParams } from './support/random.ts';
import { relErr } from './support/compare.ts';

async function compileAndLoad(spec: string) {
  const r = checkFiles([`specs/${spec}.tfm`]);
  const compiled = compile(r.models[0], tsTarget, r.program.sources);
  const dir = `out/test-codegen/${spec}`;
  emit(compiled, dir);
  const { program, kernels } = await loadCompiled(dir);
  // The same model, lowered and differentiated but not fused: the float64 oracle.
  const unfused = lowerModel(r.models[0]);
  differentiate(unfused.graph, unfused.loss);
  return { compiled, program, kernels, graph: unfused.graph };
}

describe('generated CPU kernels match the float64 reference', () => {
  it.each([
    ['gpt_tiny', { vocab: 65 }],
    ['bert_tiny_sentiment', { vocab: 30522, classes: 2 }],
    ['bart_tiny', { vocab: 2048 }],
    ['t5_tiny', { vocab: 2048 }],
    ['vit_mnist', { vocab: 1, classes: 10 }],
    ['bert_tiny', { vocab: 30522 }],
  ] as const)('%s: loss, logits and every gradient within 1e-4', async (spec, sizes) => {
    const { compiled, program, kernels, graph } = await compileAndLoad(spec);
    const dims = { batch: 2, seq: 8, src_seq: 8, tgt_seq: 6 };
    expect(Object.values(compiled.fusions).reduce((a, b) => a + b, 0), 'fusion rules fired').toBeGreaterThan(0);
    const params = randomParams(graph, dims);
    const inputs = randomInputs(graph, dims, sizes);
    const ref = runReference(graph, { params, inputs, dims });

    const ex = new Executor(program, kernels, dims);
    for (const [name, data] of params) ex.param(name).set(data);
    for (const [name, data] of inputs) ex.input(name).set(data);
    const loss = ex.forward();
    ex.backward();
    const refLoss = valueOf(ref, graph.outputs.get('loss')!).data[0];
    expect(Math.abs(loss - refLoss) / Math.abs(refLoss)).toBeLessThan(1e-4);
    expect(relErr(ex.output('logits'), valueOf(ref, graph.outputs.get('logits')!).data)).toBeLessThan(1e-4);
    for (const p of program.params) {
      const want = valueOf(ref, graph.outputs.get(`grad:${p.name}`)!).data;
      expect(relErr(ex.grad(p.name), want), `gradient of ${p.name}`).toBeLessThan(1e-4);
    }
  });
});
