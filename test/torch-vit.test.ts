// Conformance against PyTorch for a tiny ViT (vit_mnist with two blocks, no dropout): with the
// same random weights and images, the generated kernels' logits, loss and every parameter
// gradient agree with an independent PyTorch ViT (test/torch/vit_reference.py, the computation
// of transformers' ViTForImageClassification) to ≤ 1e-4 relative. Weights cross over under
// Hugging Face ViT names (what `tfm export` writes) and come back through import unchanged.
// Needs Debian's python3-torch, like test/torch.test.ts.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkFiles } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { emit } from '../compiler/codegen/emit.ts';
import { resolveShape } from '../compiler/ir.ts';
import { CPU_TARGETS } from '../compiler/targets/index.ts';
import { Executor } from '../runtime/executor.ts';
import { exportVit, importVit } from '../runtime/hf.ts';
import { hfShapes } from '../runtime/weights.ts';
import { initParams } from '../runtime/init.ts';
import { loadCompiled } from '../runtime/load.ts';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../runtime/safetensors.ts';
import { expectKeyBiasNoise, relErr } from './support/compare.ts';
import { hasTorch, PYTHON } from './support/torch.ts';

describe('PyTorch conformance (tiny ViT)', () => {
  it.skipIf(!hasTorch).each(Object.keys(CPU_TARGETS))('%s target: logits, loss and every gradient match PyTorch under Hugging Face ViT names', async (target) => {
    const r = checkFiles(['test/torch/vit_tiny.tfm']);
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const model = r.models.find((m) => m.model.name === 'vit_tiny')!;
    const dir = `out/test-torch-vit/${target}`;
    mkdirSync(dir, { recursive: true });
    emit(compile(model, CPU_TARGETS[target], r.program.sources), `${dir}/vit_tiny`);
    const { program, source } = loadCompiled(`${dir}/vit_tiny`);
    const dims = { batch: 3 };
    const ex = await Executor.create(program, source, dims);
    const seed = Math.floor(Math.random() * 2 ** 31);
    initParams(ex, seed);
    // Weights larger than the init's 0.02, so that every block's contribution shows in the logits.
    for (const p of program.params) {
      const w = ex.param(p.name);
      for (let i = 0; i < w.length; i++) w[i] += (Math.random() - 0.5) * 0.2;
    }
    const images = Float32Array.from({ length: 3 * 28 * 28 }, () => Math.random() * 2 - 1);
    const labels = Int32Array.from({ length: 3 }, () => Math.floor(Math.random() * 10));

    const shapes = new Map(program.params.map((p) => [p.name, resolveShape(p.shape, dims)]));
    const params = new Map<string, NamedTensor>(program.params.map((p) => [p.name, { shape: shapes.get(p.name)!, data: ex.param(p.name) }]));
    const hf = exportVit(params, 1);
    // The names and shapes of transformers' ViTForImageClassification.
    expect(hf.get('vit.embeddings.patch_embeddings.projection.weight')!.shape).toEqual([64, 1, 7, 7]);
    expect(hf.get('vit.embeddings.cls_token')!.shape).toEqual([1, 1, 64]);
    expect(hf.get('vit.embeddings.position_embeddings')!.shape).toEqual([1, 17, 64]);
    expect(hf.get('vit.encoder.layer.1.intermediate.dense.weight')!.shape).toEqual([128, 64]);
    expect(hf.get('classifier.weight')!.shape).toEqual([10, 64]);
    expect([...hfShapes('hf-vit', shapes, program)]).toEqual([...hf].map(([k, t]) => [k, t.shape]));
    writeFileSync(`${dir}/weights.safetensors`, encodeSafetensors(hf));
    writeFileSync(`${dir}/batch.safetensors`, encodeSafetensors(new Map([['images', { shape: [3, 1, 28, 28], data: images }], ['labels', { shape: [3], data: labels }]])));
    writeFileSync(`${dir}/config.json`, JSON.stringify({ heads: 4, eps: 1e-6 }));
    const py = spawnSync(PYTHON, ['test/torch/vit_reference.py', `${dir}/weights.safetensors`, `${dir}/batch.safetensors`, `${dir}/config.json`, `${dir}/torch.safetensors`], { encoding: 'utf8' });
    expect(py.status, py.stderr).toBe(0);
    const torch = decodeSafetensors(readFileSync(`${dir}/torch.safetensors`)).tensors;

    ex.input('image').set(images);
    ex.input('labels').set(labels);
    const loss = ex.forward();
    ex.backward();
    const theirLoss = torch.get('loss')!.data[0];
    expect(Math.abs(loss - theirLoss) / theirLoss, `loss ${loss} vs ${theirLoss}, seed ${seed}`).toBeLessThan(1e-4);
    expect(relErr(ex.output('logits'), torch.get('logits')!.data), `logits, seed ${seed}`).toBeLessThan(1e-4);
    const grads = exportVit(new Map(program.params.map((p) => [p.name, { shape: shapes.get(p.name)!, data: ex.grad(p.name) }])), 1);
    for (const [name, g] of grads) {
      const theirs = torch.get(`grad.${name}`)!.data;
      if (name.endsWith('attention.attention.key.bias')) expectKeyBiasNoise(name, g.data, theirs, grads.get(name.replace('key.bias', 'query.bias'))!.data, seed);
      else expect(relErr(g.data, theirs), `gradient of ${name}, seed ${seed}`).toBeLessThan(1e-4);
    }
    expect(grads.size).toBe(2 * 16 + 8); // 16 per block; patch weight and bias, cls, positions, final norm (2), classifier (2)

    // Back through import: the same numbers under our names.
    const back = importVit(decodeSafetensors(readFileSync(`${dir}/weights.safetensors`)).tensors, shapes, 1);
    for (const p of program.params) expect(Array.from(back.get(p.name)!.data), p.name).toEqual(Array.from(ex.param(p.name)));
  });
});
