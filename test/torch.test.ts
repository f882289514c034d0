// Conformance against PyTorch: for gpt_tiny with the same random weights and batch, the
// generated kernels' logits, loss and every parameter gradient agree with an independent
// PyTorch GPT-2 to ≤ 1e-4 relative, and 10 AdamW steps track torch.optim.AdamW's losses
// (run in float64: see the tolerances below).
// Weights cross over through `tfm export`'s Hugging Face names and come back through import.
// Needs Debian's python3-torch (`apt-get install -y --no-install-recommends python3-torch
// python3-numpy`); without it the test is skipped locally and fails in CI (CI=true).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkFiles } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { CPU_TARGETS } from '../compiler/targets/index.ts';
import { tsTarget } from '../compiler/targets/ts/index.ts';
import { emit } from '../compiler/codegen/emit.ts';
import { resolveShape } from '../compiler/ir.ts';
import { Executor } from '../runtime/executor.ts';
import { exportGpt, importGpt } from '../runtime/hf.ts';
import { hfShapes } from '../runtime/weights.ts';
import { initParams } from '../runtime/init.ts';
import { loadCompiled } from '../runtime/load.ts';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../runtime/safetensors.ts';
import { relErr } from './support/compare.ts';
import { hasTorch, HOW, PYTHON } from './support/torch.ts';

if (!hasTorch && !process.env.CI) console.warn(`skipping PyTorch conformance: ${PYTHON} cannot import torch; ${HOW}`);

describe('PyTorch conformance (gpt_tiny)', () => {
  it('python3-torch is available in CI', () => {
    if (process.env.CI) expect(hasTorch, `${PYTHON} cannot import torch; ${HOW}`).toBe(true);
  });

  it.skipIf(!hasTorch).each(Object.keys(CPU_TARGETS))('%s target: logits, loss, every gradient and 10 AdamW steps match PyTorch', async (target) => {
    const r = checkFiles(['specs/gpt_tiny.tfm']);
    const compiled = compile(r.models[0], CPU_TARGETS[target], r.program.sources);
    const dir = `out/test-torch/${target}`;
    mkdirSync(dir, { recursive: true });
    emit(compiled, `${dir}/gpt_tiny`);
    const { program, source } = loadCompiled(`${dir}/gpt_tiny`);
    const dims = { batch: 4, seq: 32 };
    const ex = await Executor.create(program, source, dims);
    // Fresh weights each run; the seed is in every message so that a failure can be replayed.
    const seed = Number(process.env.TFM_TORCH_SEED ?? Math.floor(Math.random() * 2 ** 31));
    initParams(ex, seed);
    const n = dims.batch * dims.seq;
    const tokens = Int32Array.from({ length: n }, () => Math.floor(Math.random() * 65));
    const targets = Int32Array.from({ length: n }, (_, i) => (i % 7 === 6 ? -100 : Math.floor(Math.random() * 65)));

    // Our parameters → Hugging Face names → PyTorch.
    const params = new Map<string, NamedTensor>(program.params.map((p) => [p.name, { shape: resolveShape(p.shape, dims), data: ex.param(p.name) }]));
    writeFileSync(`${dir}/weights.safetensors`, encodeSafetensors(exportGpt(params)));
    writeFileSync(`${dir}/batch.safetensors`, encodeSafetensors(new Map([['tokens', { shape: [dims.batch, dims.seq], data: tokens }], ['targets', { shape: [dims.batch, dims.seq], data: targets }]])));
    const adamw = { lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1, max_norm: 1.0, steps: 10 };
    writeFileSync(`${dir}/config.json`, JSON.stringify({ heads: 4, eps: 1e-5, adamw }));
    const py = spawnSync(PYTHON, ['test/torch/gpt_reference.py', `${dir}/weights.safetensors`, `${dir}/batch.safetensors`, `${dir}/config.json`, `${dir}/torch.safetensors`], { encoding: 'utf8' });
    expect(py.status, py.stderr).toBe(0);
    const torch = decodeSafetensors(readFileSync(`${dir}/torch.safetensors`)).tensors;

    ex.input('tokens').set(tokens);
    ex.input('targets').set(targets);
    const loss = ex.forward();
    ex.backward();
    expect(Math.abs(loss - torch.get('loss')!.data[0]) / torch.get('loss')!.data[0], `loss, seed ${seed}`).toBeLessThan(1e-4);
    expect(relErr(ex.output('logits'), torch.get('logits')!.data), `logits, seed ${seed}`).toBeLessThan(1e-4);
    const grads = exportGpt(new Map(program.params.map((p) => [p.name, { shape: resolveShape(p.shape, dims), data: ex.grad(p.name) }])));
    for (const [name, g] of grads) expect(relErr(g.data, torch.get(`grad.${name}`)!.data), `gradient of ${name}, seed ${seed}`).toBeLessThan(1e-4);
    expect(grads.size).toBe(4 * 12 + 5); // every HF tensor: 12 per layer, wte, wpe, ln_f (2), lm_head

    // Weights written by PyTorch under HF names load back through import, unchanged.
    const back = importGpt(decodeSafetensors(readFileSync(`${dir}/weights.safetensors`)).tensors, new Map(program.params.map((p) => [p.name, resolveShape(p.shape, dims)])));
    for (const p of program.params) expect(Array.from(back.get(p.name)!.data)).toEqual(Array.from(ex.param(p.name)));

    // 10 AdamW steps with clipping and decoupled weight decay.
    const ours: number[] = [];
    for (let s = 0; s < adamw.steps; s++) {
      ours.push(ex.forward());
      ex.backward();
      ex.optimizerStep({ lr: adamw.lr, beta1: adamw.beta1, beta2: adamw.beta2, eps: adamw.eps, weightDecay: adamw.weight_decay, maxNorm: adamw.max_norm });
    }
    // The trajectory is compared with PyTorch's in float64, the same optimizer in exact-enough
    // arithmetic. Float32 AdamW trajectories part chaotically: where a gradient is near zero,
    // rounding flips the sign of m/√v and that weight moves by ±lr. Measured over 42 seeds of
    // this setup: PyTorch's own float32 run stays within 2.1e-5 of its float64 run for the
    // first 5 steps and drifts up to 1.1e-4 by step 10 (a 1e-4 bound would fail PyTorch
    // itself); ours stays within 2.0e-5, then up to 6.7e-5. So the first 5 steps are held to
    // 1e-4 and the last 5 to 1e-3. Both bounds still catch a wrong optimizer: without the
    // weight decay our trajectory moves 0.8–1.5e-4 in the first 5 steps and 1.5–3.6e-3 by
    // step 10; with β2 = 0.999 for 0.95, 0.7–4.9e-3 and 1–5.5e-2 (two seeds each).
    writeFileSync(`${dir}/config64.json`, JSON.stringify({ heads: 4, eps: 1e-5, adamw, float64: true }));
    const py64 = spawnSync(PYTHON, ['test/torch/gpt_reference.py', `${dir}/weights.safetensors`, `${dir}/batch.safetensors`, `${dir}/config64.json`, `${dir}/torch64.safetensors`], { encoding: 'utf8' });
    expect(py64.status, py64.stderr).toBe(0);
    const theirs = Array.from(decodeSafetensors(readFileSync(`${dir}/torch64.safetensors`)).tensors.get('adamw_losses')!.data);
    for (let s = 0; s < adamw.steps; s++) expect(Math.abs(ours[s] - theirs[s]) / theirs[s], `loss at step ${s}: ${ours[s]} vs ${theirs[s]} (PyTorch float64), seed ${seed}`).toBeLessThan(s < 5 ? 1e-4 : 1e-3);
    expect(ours[adamw.steps - 1]).toBeLessThan(ours[0]);
  });

  it.skipIf(!hasTorch)('weights drawn and written by PyTorch under Hugging Face names load with import and give its logits', async () => {
    const dir = 'out/test-torch-import';
    mkdirSync(dir, { recursive: true });
    const r = checkFiles(['specs/gpt_tiny.tfm']);
    emit(compile(r.models[0], tsTarget, r.program.sources), `${dir}/gpt_tiny`);
    const { program, source } = loadCompiled(`${dir}/gpt_tiny`);
    const dims = { batch: 2, seq: 24 };
    const n = dims.batch * dims.seq;
    const tokens = Int32Array.from({ length: n }, () => Math.floor(Math.random() * 65));
    const targets = Int32Array.from({ length: n }, () => Math.floor(Math.random() * 65));
    writeFileSync(`${dir}/batch.safetensors`, encodeSafetensors(new Map([['tokens', { shape: [dims.batch, dims.seq], data: tokens }], ['targets', { shape: [dims.batch, dims.seq], data: targets }]])));
    const seed = Math.floor(Math.random() * 2 ** 31);
    writeFileSync(`${dir}/config.json`, JSON.stringify({ vocab: 65, ctx: 64, d: 128, n_layers: 4, heads: 4, eps: 1e-5, seed }));
    const py = spawnSync(PYTHON, ['test/torch/gpt_reference.py', 'init', `${dir}/config.json`, `${dir}/batch.safetensors`, `${dir}/torch-weights.safetensors`, `${dir}/torch-logits.safetensors`], { encoding: 'utf8' });
    expect(py.status, py.stderr).toBe(0);
    const imported = importGpt(decodeSafetensors(readFileSync(`${dir}/torch-weights.safetensors`)).tensors, new Map(program.params.map((p) => [p.name, resolveShape(p.shape, dims)])));
    const ex = await Executor.create(program, source, dims);
    for (const [name, t] of imported) ex.param(name).set(t.data);
    ex.input('tokens').set(tokens);
    ex.input('targets').set(targets);
    const loss = ex.forward();
    const torch = decodeSafetensors(readFileSync(`${dir}/torch-logits.safetensors`)).tensors;
    expect(relErr(ex.output('logits'), torch.get('logits')!.data), `logits, seed ${seed}`).toBeLessThan(1e-4);
    expect(Math.abs(loss - torch.get('loss')!.data[0]) / torch.get('loss')!.data[0], `loss, seed ${seed}`).toBeLessThan(1e-4);
  });
});

describe('PyTorch conformance (GPT-1 layout, Hugging Face OpenAIGPT names)', () => {
  it.skipIf(!hasTorch).each(Object.keys(CPU_TARGETS))('%s target: logits, loss and every gradient match PyTorch; weights cross by GPT-1 names', async (target) => {
    const r = checkFiles(['test/torch/gpt1_tiny.tfm']);
    const model = r.models.find((m) => m.model.name === 'gpt1_conf')!;
    const compiled = compile(model, CPU_TARGETS[target], r.program.sources);
    const dir = `out/test-torch-gpt1/${target}`;
    mkdirSync(dir, { recursive: true });
    emit(compiled, `${dir}/gpt1_conf`);
    const { program, source } = loadCompiled(`${dir}/gpt1_conf`);
    const dims = { batch: 3, seq: 24 };
    const ex = await Executor.create(program, source, dims);
    const seed = Math.floor(Math.random() * 2 ** 31);
    initParams(ex, seed);
    // Weights larger than the init's 0.02, so that every block's contribution shows.
    for (const p of program.params) {
      const w = ex.param(p.name);
      for (let i = 0; i < w.length; i++) w[i] += (Math.random() - 0.5) * 0.2;
    }
    const n = dims.batch * dims.seq;
    const tokens = Int32Array.from({ length: n }, () => Math.floor(Math.random() * 97));
    const targets = Int32Array.from({ length: n }, (_, i) => (i % 5 === 4 ? -100 : Math.floor(Math.random() * 97)));
    const shapes = new Map(program.params.map((p) => [p.name, resolveShape(p.shape, dims)]));
    const hf = exportGpt(new Map(program.params.map((p) => [p.name, { shape: shapes.get(p.name)!, data: ex.param(p.name) }])), 'gpt1');
    // transformers' OpenAIGPTLMHeadModel names (its `transformer.` prefix dropped, as for GPT-2).
    expect([...hf.keys()].filter((k) => !k.startsWith('h.'))).toEqual(['tokens_embed.weight', 'positions_embed.weight']);
    expect(hf.get('h.1.attn.c_attn.weight')!.shape).toEqual([64, 192]);
    expect(hf.get('h.0.mlp.c_fc.weight')!.shape).toEqual([64, 256]);
    const sorted = (m: Iterable<[string, number[]]>) => [...m].sort((a, b) => a[0].localeCompare(b[0]));
    expect(sorted(hfShapes('hf-gpt1', shapes, program))).toEqual(sorted([...hf].map(([k, t]) => [k, t.shape])));
    writeFileSync(`${dir}/weights.safetensors`, encodeSafetensors(hf));
    writeFileSync(`${dir}/batch.safetensors`, encodeSafetensors(new Map([['tokens', { shape: [dims.batch, dims.seq], data: tokens }], ['targets', { shape: [dims.batch, dims.seq], data: targets }]])));
    writeFileSync(`${dir}/config.json`, JSON.stringify({ heads: 4, eps: 1e-5 }));
    const py = spawnSync(PYTHON, ['test/torch/gpt_reference.py', `${dir}/weights.safetensors`, `${dir}/batch.safetensors`, `${dir}/config.json`, `${dir}/torch.safetensors`], { encoding: 'utf8' });
    expect(py.status, py.stderr).toBe(0);
    const torch = decodeSafetensors(readFileSync(`${dir}/torch.safetensors`)).tensors;

    ex.input('tokens').set(tokens);
    ex.input('targets').set(targets);
    const loss = ex.forward();
    ex.backward();
    expect(Math.abs(loss - torch.get('loss')!.data[0]) / torch.get('loss')!.data[0], `loss, seed ${seed}`).toBeLessThan(1e-4);
    expect(relErr(ex.output('logits'), torch.get('logits')!.data), `logits, seed ${seed}`).toBeLessThan(1e-4);
    const grads = exportGpt(new Map(program.params.map((p) => [p.name, { shape: shapes.get(p.name)!, data: ex.grad(p.name) }])), 'gpt1');
    for (const [name, g] of grads) expect(relErr(g.data, torch.get(`grad.${name}`)!.data), `gradient of ${name}, seed ${seed}`).toBeLessThan(1e-4);
    expect(grads.size).toBe(2 * 12 + 2); // 12 per layer, tokens_embed, positions_embed

    const back = importGpt(decodeSafetensors(readFileSync(`${dir}/weights.safetensors`)).tensors, shapes, 'gpt1');
    for (const p of program.params) expect(Array.from(back.get(p.name)!.data), p.name).toEqual(Array.from(ex.param(p.name)));
  });
});
