// Conformance against PyTorch for the encoder-decoders: a tiny T5 (relative position bias in
// both stacks, RMSNorm, gated GELU, cross attention, unscaled attention, the tied head
// rescaled) and a tiny BART (learned positions with the offset of 2, post-norm, biases,
// final_logits_bias), each without dropout. With the same random weights and a batch of
// padded sources and targets, the generated kernels' logits, loss and every parameter gradient
// agree with independent PyTorch models (test/torch/seq2seq_reference.py) to ≤ 1e-4 relative.
// Weights cross over under Hugging Face names (what `tfm export` writes) and come back through
// import unchanged. Needs Debian's python3-torch, like test/torch.test.ts.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkFiles } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { emit } from '../compiler/codegen/emit.ts';
import { resolveShape } from '../compiler/ir.ts';
import { CPU_TARGETS } from '../compiler/targets/index.ts';
import { Executor } from '../runtime/executor.ts';
import { exportBart, exportT5, importBart, importT5, NameMapError } from '../runtime/hf.ts';
import { hfShapes } from '../runtime/weights.ts';
import { initParams } from '../runtime/init.ts';
import { loadCompiled } from '../runtime/load.ts';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../runtime/safetensors.ts';
import { expectKeyBiasNoise, relErr } from './support/compare.ts';
import { hasTorch, PYTHON } from './support/torch.ts';

type Params = Map<string, NamedTensor>;
const FAMILIES = {
  t5: { spec: 'test/torch/t5_tiny.tfm', model: 't5_conf', exporter: exportT5, importer: importT5, naming: 'hf-t5' as const, config: { heads: 4, head_dim: 32, eps: 1e-6, layers: 2, buckets: 32, max_distance: 128 }, tensors: 2 * 9 + 2 * 14 + 1 + 2 + 2 },
  bart: { spec: 'test/torch/bart_tiny.tfm', model: 'bart_conf', exporter: exportBart, importer: importBart, naming: 'hf-bart' as const, config: { heads: 4, eps: 1e-5, layers: 2 }, tensors: 2 * 16 + 2 * 26 + 1 + 2 * 3 + 1 },
};

describe('PyTorch conformance (tiny T5 and BART)', () => {
  const cases = Object.keys(CPU_TARGETS).flatMap((target) => (['t5', 'bart'] as const).map((family) => [family, target] as const));
  it.skipIf(!hasTorch).each(cases)('%s on the %s target: logits, loss and every gradient match PyTorch under Hugging Face names', async (family, target) => {
    const f = FAMILIES[family];
    const r = checkFiles([f.spec]);
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const model = r.models.find((m) => m.model.name === f.model)!;
    const dir = `out/test-torch-seq2seq/${family}-${target}`;
    mkdirSync(dir, { recursive: true });
    emit(compile(model, CPU_TARGETS[target], r.program.sources), `${dir}/${f.model}`);
    const { program, source } = loadCompiled(`${dir}/${f.model}`);
    // Sources longer than the targets, so that relative positions reach the far buckets
    // (distance ≥ 8 is logarithmic), and one source row padded.
    const [B, S, T, V] = [3, 29, 13, 600];
    const dims = { batch: B, src_seq: S, tgt_seq: T };
    const ex = await Executor.create(program, source, dims);
    const seed = Math.floor(Math.random() * 2 ** 31);
    initParams(ex, seed);
    // Weights larger than the init's, so that every block's contribution shows in the logits.
    for (const p of program.params) {
      const w = ex.param(p.name);
      for (let i = 0; i < w.length; i++) w[i] += (Math.random() - 0.5) * 0.2;
    }
    const src = new Int32Array(B * S);
    const mask = new Float32Array(B * S);
    const tgt = new Int32Array(B * T);
    const targets = new Int32Array(B * T).fill(-100);
    for (let b = 0; b < B; b++) {
      const len = b === 1 ? 11 + Math.floor(Math.random() * 10) : S;
      for (let s = 0; s < S; s++) {
        src[b * S + s] = s < len ? 5 + Math.floor(Math.random() * 595) : 0;
        mask[b * S + s] = s < len ? 1 : 0;
      }
      const tlen = b === 2 ? 7 : T;
      for (let t = 0; t < T; t++) {
        tgt[b * T + t] = 5 + Math.floor(Math.random() * 595);
        if (t < tlen) targets[b * T + t] = 5 + Math.floor(Math.random() * 595);
      }
    }
    const shapes = new Map(program.params.map((p) => [p.name, resolveShape(p.shape, dims)]));
    const params: Params = new Map(program.params.map((p) => [p.name, { shape: shapes.get(p.name)!, data: ex.param(p.name) }]));
    const hf = f.exporter(params);
    expect([...hfShapes(f.naming, shapes, program)].sort()).toEqual([...hf].map(([k, t]) => [k, t.shape]).sort());
    expect(hf.size).toBe(f.tensors);
    writeFileSync(`${dir}/weights.safetensors`, encodeSafetensors(hf));
    const batch = new Map<string, NamedTensor>([
      ['src_tokens', { shape: [B, S], data: src }],
      ['src_key_mask', { shape: [B, S], data: mask }],
      ['tgt_tokens', { shape: [B, T], data: tgt }],
      ['targets', { shape: [B, T], data: targets }],
    ]);
    writeFileSync(`${dir}/batch.safetensors`, encodeSafetensors(batch));
    writeFileSync(`${dir}/config.json`, JSON.stringify(f.config));
    const py = spawnSync(PYTHON, ['test/torch/seq2seq_reference.py', family, `${dir}/weights.safetensors`, `${dir}/batch.safetensors`, `${dir}/config.json`, `${dir}/torch.safetensors`], { encoding: 'utf8' });
    expect(py.status, py.stderr).toBe(0);
    const torch = decodeSafetensors(readFileSync(`${dir}/torch.safetensors`)).tensors;

    for (const name of ['src_tokens', 'src_key_mask', 'tgt_tokens', 'targets']) ex.input(name).set(batch.get(name)!.data);
    const loss = ex.forward();
    ex.backward();
    const theirLoss = torch.get('loss')!.data[0];
    expect(Math.abs(loss - theirLoss) / theirLoss, `loss ${loss} vs ${theirLoss}, seed ${seed}`).toBeLessThan(1e-4);
    expect(ex.output('logits').length).toBe(B * T * V);
    expect(relErr(ex.output('logits'), torch.get('logits')!.data), `logits, seed ${seed}`).toBeLessThan(1e-4);
    const grads = f.exporter(new Map(program.params.map((p) => [p.name, { shape: shapes.get(p.name)!, data: ex.grad(p.name) }])));
    for (const [name, g] of grads) {
      const theirs = torch.get(`grad.${name}`)!.data;
      if (name === 'final_logits_bias') continue; // not a parameter of ours (written as zeros)
      if (/\.k_proj\.bias$/.test(name)) expectKeyBiasNoise(name, g.data, theirs, grads.get(name.replace('k_proj', 'q_proj'))!.data, seed);
      else expect(relErr(g.data, theirs), `gradient of ${name}, seed ${seed}`).toBeLessThan(1e-4);
    }

    // Back through import: the same numbers under our names.
    const back = f.importer(decodeSafetensors(readFileSync(`${dir}/weights.safetensors`)).tensors, shapes);
    for (const p of program.params) expect(Array.from(back.get(p.name)!.data), p.name).toEqual(Array.from(ex.param(p.name)));
    if (family === 'bart') {
      const biased = new Map(hf);
      biased.set('final_logits_bias', { shape: [1, V], data: new Float32Array(V).fill(0.5) });
      expect(() => importBart(biased, shapes)).toThrow(NameMapError);
    }
  }, 120_000);
});
