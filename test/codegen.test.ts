// Generated CPU kernels (after fusion) against the float64 reference interpreter of the
// unfused graph: the forward loss and logits and every parameter gradient, on fresh random
// weights and inputs. This checks every fused kernel against its unfused float64 reference.
import { describe, expect, it } from 'vitest';
import { checkFiles } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { CPU_TARGETS } from '../compiler/targets/index.ts';
import { emit } from '../compiler/codegen/emit.ts';
import { differentiate } from '../compiler/autodiff.ts';
import { lowerModel } from '../compiler/lower.ts';
import { runReference, valueOf } from '../compiler/reference.ts';
import { Executor } from '../runtime/executor.ts';
import { loadCompiled } from '../runtime/load.ts';
import { randomInputs, randomParams } from './support/random.ts';
import { l2, relErr } from './support/compare.ts';

/** Each target, and the wasm target's two modules: fused multiply-adds (relaxed SIMD, what
 *  runs by default where the engine has it) and SIMD128 only. */
const VARIANTS = Object.keys(CPU_TARGETS).flatMap((t) => (t === 'wasm' ? ['wasm', 'wasm-simd128'] : [t]));

function compileAndLoad(spec: string, variant: string) {
  const target = variant.replace(/-simd128$/, '');
  const r = checkFiles([`specs/${spec}.tfm`]);
  const compiled = compile(r.models[0], CPU_TARGETS[target], r.program.sources);
  const dir = `out/test-codegen/${spec}/${variant}`;
  emit(compiled, dir);
  const { program, source } = loadCompiled(dir, target === 'wasm' ? { fma: variant === 'wasm' } : {});
  // The same model, lowered and differentiated but not fused: the float64 oracle.
  const unfused = lowerModel(r.models[0]);
  differentiate(unfused.graph, unfused.loss);
  return { compiled, program, source, graph: unfused.graph };
}

describe('generated CPU kernels match the float64 reference', () => {
  const specs = [
    ['gpt_tiny', { vocab: 65 }],
    ['bert_tiny_sentiment', { vocab: 8192, classes: 2 }],
    ['bart_tiny', { vocab: 2048 }],
    ['t5_tiny', { vocab: 2048 }],
    ['vit_mnist', { vocab: 1, classes: 10 }],
    ['bert_tiny', { vocab: 8192 }],
  ] as const;
  it.each(VARIANTS.flatMap((t) => specs.map(([spec, sizes]) => [spec, t, sizes] as const)))('%s on %s: loss, logits, every gradient and one AdamW step within 1e-4', async (spec, target, sizes) => {
    const { compiled, program, source, graph } = compileAndLoad(spec, target);
    const dims = { batch: 2, seq: 8, src_seq: 8, tgt_seq: 6, picks: 3 };
    expect(Object.values(compiled.fusions).reduce((a, b) => a + b, 0), 'fusion rules fired').toBeGreaterThan(0);
    const params = randomParams(graph, dims);
    const inputs = randomInputs(graph, dims, sizes);
    const ref = runReference(graph, { params, inputs, dims });

    const ex = await Executor.create(program, source, dims);
    for (const [name, data] of params) ex.param(name).set(data);
    for (const [name, data] of inputs) ex.input(name).set(data);
    const loss = ex.forward();
    ex.backward();
    const refLoss = valueOf(ref, graph.outputs.get('loss')!).data[0];
    expect(Math.abs(loss - refLoss) / Math.abs(refLoss)).toBeLessThan(1e-4);
    expect(relErr(ex.output('logits'), valueOf(ref, graph.outputs.get('logits')!).data)).toBeLessThan(1e-4);
    const grads = program.params.map((p) => valueOf(ref, graph.outputs.get(`grad:${p.name}`)!).data as Float64Array);
    const norm = Math.sqrt(grads.reduce((acc, g) => acc + l2(g) ** 2, 0));
    program.params.forEach((p, k) => {
      // A gradient that is zero in exact arithmetic (a key bias under softmax's shift
      // invariance) must come out as round-off: below 1e-5 of the whole gradient's norm.
      if (l2(grads[k]) < 1e-6 * norm) expect(l2(ex.grad(p.name)), `gradient of ${p.name} (zero in exact arithmetic)`).toBeLessThan(1e-5 * norm);
      else expect(relErr(ex.grad(p.name), grads[k]), `gradient of ${p.name}`).toBeLessThan(1e-4);
    });
    // One AdamW step (the optimizer kernels alone) from the reference gradients rounded to
    // f32, against the same update in float64. (From the kernels' own gradients the first
    // step's g / √v ≈ sign(g) would amplify round-off in the tiniest elements.)
    program.params.forEach((p, k) => {
      ex.grad(p.name).set(grads[k]);
      grads[k] = Float64Array.from(ex.grad(p.name));
    });
    const s = { lr: 1e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1, maxNorm: 0.5 };
    const clip = norm > s.maxNorm ? s.maxNorm / (norm + 1e-6) : 1;
    const before = program.params.map((p) => Float64Array.from(ex.param(p.name)));
    expect(Math.abs(ex.optimizerStep(s) - norm) / norm, 'gradient norm').toBeLessThan(1e-4);
    program.params.forEach((p, k) => {
      const want = before[k].map((w, e) => {
        const g = grads[k][e] * clip;
        const mh = ((1 - s.beta1) * g) / (1 - s.beta1);
        const vh = ((1 - s.beta2) * g * g) / (1 - s.beta2);
        return w - s.lr * s.weightDecay * (p.decay ? w : 0) - (s.lr * mh) / (Math.sqrt(vh) + s.eps) - w;
      });
      const got = ex.param(p.name).map((w, e) => w - before[k][e]);
      expect(relErr(got, want), `AdamW update of ${p.name}`).toBeLessThan(1e-4);
    });
    ex.close();
  });
});
