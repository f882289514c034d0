// The WebGPU target on a real device (a GPU, or lavapipe in CI): every generated WGSL module
// of every spec compiles without an error or a warning, and on each tiny spec one forward,
// backward and AdamW step equals the Wasm target's (≤ 1e-4 relative: loss, logits, every
// gradient, the updated weights). Single kernels against the float64 reference are in
// kernels.test.ts.
import fg from 'fast-glob';
import { describe, expect, it } from 'vitest';
import { checkFiles } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { emit } from '../compiler/codegen/emit.ts';
import { TARGETS } from '../compiler/targets/index.ts';
import { parseWgsl } from '../common/wgsl.ts';
import { Executor } from '../runtime/executor.ts';
import { loadCompiled } from '../runtime/load.ts';
import { GpuExecutor } from '../runtime/webgpu/executor.ts';
import { prepareKernel } from '../runtime/webgpu/kernel.ts';
import { differentiate } from '../compiler/autodiff.ts';
import { lowerModel } from '../compiler/lower.ts';
import { randomInputs, randomParams } from './support/random.ts';
import { l2, relErr } from './support/compare.ts';
import { NO_WEBGPU, gpu } from './support/webgpu.ts';

const SPECS = fg.sync('specs/*.tfm').sort();

describe.skipIf(NO_WEBGPU)('WebGPU target', () => {
  it('sums a million squares for the gradient norm as a float64 sum would (compensated f32 in a workgroup tree)', async () => {
    const g = compile(checkFiles(['specs/gpt_tiny.tfm']).models[0], TARGETS.webgpu);
    const k = parseWgsl(g.files['kernels.wgsl'] as string).get('opt_grad_norm')!;
    expect(k.dispatch.mode).toBe('tree');
    const n = 1_000_003;
    // Magnitudes over six decades, so that small squares are lost by a plain f32 sum.
    const grads = Float32Array.from({ length: n }, () => (Math.random() - 0.5) * 10 ** (-6 * Math.random()));
    const want = Math.sqrt(grads.reduce((a, x) => a + x * x, 0));
    const run = await prepareKernel(await gpu(), k, [grads, 2], { n }, [0.5]);
    const [, clip] = await run.run();
    run.destroy();
    expect(Math.abs(clip[1] - want) / want).toBeLessThan(2e-7);
    expect(clip[0]).toBeCloseTo(0.5 / (want + 1e-6), 6);
  });

  it.each(SPECS)('every WGSL kernel of %s compiles on the device without an error or a warning', async (file) => {
    const { device } = await gpu();
    const r = checkFiles([file]);
    for (const m of r.models) {
      for (const train of [true, false]) {
        const wgsl = compile(m, TARGETS.webgpu, r.program.sources, { train }).files['kernels.wgsl'] as string;
        for (const k of parseWgsl(wgsl).values()) {
          const info = await device.createShaderModule({ label: k.name, code: k.code }).getCompilationInfo();
          expect(info.messages.map((x) => `${k.name}: ${x.type} at ${x.lineNum}:${x.linePos}: ${x.message}`)).toEqual([]);
        }
      }
    }
  });

  const tiny = [
    ['gpt_tiny', { vocab: 65 }],
    ['bert_tiny_sentiment', { vocab: 30522, classes: 2 }],
    ['bart_tiny', { vocab: 2048 }],
    ['t5_tiny', { vocab: 2048 }],
    ['vit_mnist', { vocab: 1, classes: 10 }],
    ['bert_tiny', { vocab: 30522 }],
  ] as const;
  it.each(tiny)('%s: one forward, backward and AdamW step on WebGPU equal the Wasm target within 1e-4', async (spec, sizes) => {
    const r = checkFiles([`specs/${spec}.tfm`]);
    const m = r.models[0];
    const dir = `out/test-webgpu/${spec}/wasm`;
    emit(compile(m, TARGETS.wasm, r.program.sources), dir);
    const { program, source } = loadCompiled(dir);
    const g = compile(m, TARGETS.webgpu, r.program.sources);
    const dims = { batch: 2, seq: 8, src_seq: 8, tgt_seq: 6 };
    const graph = lowerModel(m).graph;
    differentiate(graph, lowerModel(m).loss);
    const params = randomParams(graph, dims);
    const inputs = randomInputs(graph, dims, sizes);

    const cpu = await Executor.create(program, source, dims);
    const dev = await GpuExecutor.create(g.program, g.files['kernels.wgsl'] as string, dims, { gpu: await gpu() });
    try {
      for (const [name, data] of params) cpu.param(name).set(data);
      dev.paramArena.set(cpu.paramArena);
      dev.uploadParams();
      for (const [name, data] of inputs) {
        cpu.input(name).set(data);
        dev.setInput(name, cpu.input(name));
      }
      const want = cpu.forward();
      cpu.backward();
      const got = await dev.forward();
      await dev.backward();
      expect(Math.abs(got - want) / Math.abs(want), 'loss').toBeLessThan(1e-4);
      expect(relErr(await dev.read('logits'), cpu.output('logits')), 'logits').toBeLessThan(1e-4);
      // Every gradient within 1e-4, relative to its own norm or, for a gradient a thousand
      // times smaller than the whole, to a thousandth of the whole gradient's norm. Such a
      // gradient is what is left of cancelling summands — a key bias (zero in exact
      // arithmetic under softmax's shift invariance), a classifier bias whose per-example
      // terms (p − y) nearly cancel over the batch — and the two targets' round-off in those
      // summands (exp, order of sums) is a fraction of the summands, not of what is left.
      const floor = 1e-3 * l2(cpu.gradArena);
      for (const p of program.params) {
        const [a, b] = [await dev.read(`grad:${p.name}`), cpu.grad(p.name)];
        let diff = 0;
        for (let k = 0; k < a.length; k++) diff += (a[k] - b[k]) ** 2;
        diff = Math.sqrt(diff);
        expect(diff / Math.max(l2(b), floor), `gradient of ${p.name} (norm ${l2(b)}, whole ${floor * 1e3})`).toBeLessThan(1e-4);
      }
      // One AdamW step from the same gradients (the first step is ≈ lr·sign(g): from each
      // target's own gradients, round-off in the tiniest elements would be amplified).
      dev.writeGrads(cpu.gradArena);
      const s = { lr: 1e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1, maxNorm: 0.5 };
      const before = Float32Array.from(cpu.paramArena);
      const nCpu = cpu.optimizerStep(s);
      const nDev = await dev.optimizerStep(s);
      expect(Math.abs(nDev - nCpu) / nCpu, 'gradient norm').toBeLessThan(1e-6);
      const after = await dev.downloadParams();
      expect(relErr(after.map((w, k) => w - before[k]), cpu.paramArena.map((w, k) => w - before[k])), 'AdamW update').toBeLessThan(1e-4);
      expect(relErr(after, cpu.paramArena), 'updated weights').toBeLessThan(1e-6);
    } finally {
      dev.destroy();
    }
  });
});
