// Conformance against PyTorch for a tiny BERT (bert_tiny without dropout, a small vocabulary):
// with the same random weights and a batch of sentence pairs — segments, padded rows, masked-LM
// targets at a few positions — the generated kernels' logits (at those positions), pooled `<cls>` state, loss and
// every parameter gradient agree with an independent PyTorch BERT (test/torch/bert_reference.py,
// the computation of transformers' BertForMaskedLM) to ≤ 1e-4 relative. Weights cross over under
// Hugging Face BERT names (what `tfm export` writes) and come back through import unchanged.
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
import { exportBert, importBert } from '../runtime/hf.ts';
import { hfShapes } from '../runtime/weights.ts';
import { initParams } from '../runtime/init.ts';
import { loadCompiled } from '../runtime/load.ts';
import { gatherTargets } from '../runtime/text/mlm.ts';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../runtime/safetensors.ts';
import { expectKeyBiasNoise, relErr } from './support/compare.ts';
import { hasTorch, PYTHON } from './support/torch.ts';

describe('PyTorch conformance (tiny BERT)', () => {
  it.skipIf(!hasTorch).each(Object.keys(CPU_TARGETS))('%s target: logits, pooled state, loss and every gradient match PyTorch under Hugging Face BERT names', async (target) => {
    const r = checkFiles(['test/torch/bert_tiny.tfm']);
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const model = r.models.find((m) => m.model.name === 'bert_conf')!;
    const dir = `out/test-torch-bert/${target}`;
    mkdirSync(dir, { recursive: true });
    emit(compile(model, CPU_TARGETS[target], r.program.sources), `${dir}/bert_conf`);
    const { program, source } = loadCompiled(`${dir}/bert_conf`);
    // The training graph gathers the rows at the targets' positions (P per row at most) before
    // the output layer; PyTorch computes logits everywhere, compared at those positions.
    const [B, T, P] = [3, 32, 9];
    const dims = { batch: B, seq: T, picks: P };
    const ex = await Executor.create(program, source, dims);
    const seed = Math.floor(Math.random() * 2 ** 31);
    initParams(ex, seed);
    // Weights larger than the init's 0.02, so that every block's contribution shows in the logits.
    for (const p of program.params) {
      const w = ex.param(p.name);
      for (let i = 0; i < w.length; i++) w[i] += (Math.random() - 0.5) * 0.2;
    }
    // Rows <cls> A <sep> B <sep> of random lengths, then padding (id 0, masked out); segment 1
    // on B; targets at about 15% of the real tokens.
    const tokens = new Int32Array(B * T);
    const segments = new Int32Array(B * T);
    const keyMask = new Float32Array(B * T);
    const targets = new Int32Array(B * T).fill(-100);
    for (let b = 0; b < B; b++) {
      const len = b === 0 ? T : 8 + Math.floor(Math.random() * (T - 12));
      const cut = 2 + Math.floor(Math.random() * (len - 5));
      for (let t = 0; t < len; t++) {
        const at = b * T + t;
        tokens[at] = t === 0 ? 2 : t === cut || t === len - 1 ? 3 : 5 + Math.floor(Math.random() * 595);
        segments[at] = t > cut ? 1 : 0;
        keyMask[at] = 1;
        if (t > 0 && Math.random() < 0.15) targets[at] = Math.floor(Math.random() * 600);
      }
      targets[b * T + 1] = tokens[b * T + 1]; // at least one target per row
    }
    // At most P per row: the first P kept.
    for (let b = 0; b < B; b++) for (let t = 0, n = 0; t < T; t++) if (targets[b * T + t] !== -100 && ++n > P) targets[b * T + t] = -100;
    const positions = new Int32Array(B * P);
    const picked = new Int32Array(B * P);
    gatherTargets(targets, T, P, positions, picked);

    const shapes = new Map(program.params.map((p) => [p.name, resolveShape(p.shape, dims)]));
    const params = new Map<string, NamedTensor>(program.params.map((p) => [p.name, { shape: shapes.get(p.name)!, data: ex.param(p.name) }]));
    const hf = exportBert(params);
    // The names and shapes of transformers' BertForMaskedLM.
    expect(hf.get('bert.embeddings.token_type_embeddings.weight')!.shape).toEqual([2, 128]);
    expect(hf.get('bert.encoder.layer.1.attention.output.LayerNorm.weight')!.shape).toEqual([128]);
    expect(hf.get('bert.encoder.layer.0.intermediate.dense.weight')!.shape).toEqual([512, 128]);
    expect(hf.get('cls.predictions.transform.dense.weight')!.shape).toEqual([128, 128]);
    expect(hf.get('cls.predictions.bias')!.shape).toEqual([600]);
    expect([...hfShapes('hf-bert', shapes, program)]).toEqual([...hf].map(([k, t]) => [k, t.shape]));
    writeFileSync(`${dir}/weights.safetensors`, encodeSafetensors(hf));
    const batch = new Map<string, NamedTensor>([
      ['tokens', { shape: [B, T], data: tokens }],
      ['segments', { shape: [B, T], data: segments }],
      ['key_mask', { shape: [B, T], data: keyMask }],
      ['targets', { shape: [B, T], data: targets }],
    ]);
    writeFileSync(`${dir}/batch.safetensors`, encodeSafetensors(batch));
    writeFileSync(`${dir}/config.json`, JSON.stringify({ heads: 2, eps: 1e-12 }));
    const py = spawnSync(PYTHON, ['test/torch/bert_reference.py', `${dir}/weights.safetensors`, `${dir}/batch.safetensors`, `${dir}/config.json`, `${dir}/torch.safetensors`], { encoding: 'utf8' });
    expect(py.status, py.stderr).toBe(0);
    const torch = decodeSafetensors(readFileSync(`${dir}/torch.safetensors`)).tensors;

    for (const name of ['tokens', 'segments', 'key_mask']) ex.input(name).set(batch.get(name)!.data);
    ex.input('mlm_positions').set(positions);
    ex.input('targets').set(picked);
    const loss = ex.forward();
    ex.backward();
    const theirLoss = torch.get('loss')!.data[0];
    expect(Math.abs(loss - theirLoss) / theirLoss, `loss ${loss} vs ${theirLoss}, seed ${seed}`).toBeLessThan(1e-4);
    const V = 600;
    const theirLogits = torch.get('logits')!.data;
    const gathered = new Float32Array(B * P * V);
    for (let b = 0; b < B; b++) for (let j = 0; j < P; j++) gathered.set(theirLogits.subarray((b * T + positions[b * P + j]) * V, (b * T + positions[b * P + j] + 1) * V), (b * P + j) * V);
    expect(relErr(ex.output('logits'), gathered), `logits at the gathered positions, seed ${seed}`).toBeLessThan(1e-4);
    expect(relErr(ex.output('pooled'), torch.get('pooled')!.data), `pooled, seed ${seed}`).toBeLessThan(1e-4);
    const grads = exportBert(new Map(program.params.map((p) => [p.name, { shape: shapes.get(p.name)!, data: ex.grad(p.name) }])));
    for (const [name, g] of grads) {
      const theirs = torch.get(`grad.${name}`)!.data;
      if (name.startsWith('bert.pooler.')) {
        // The masked-LM loss does not reach the pooler: no gradient on either side.
        expect(Array.from(g.data).every((x) => x === 0) && Array.from(theirs).every((x) => x === 0), `gradient of ${name}`).toBe(true);
      } else if (name.endsWith('attention.self.key.bias')) expectKeyBiasNoise(name, g.data, theirs, grads.get(name.replace('key.bias', 'query.bias'))!.data, seed);
      else expect(relErr(g.data, theirs), `gradient of ${name}, seed ${seed}`).toBeLessThan(1e-4);
    }
    expect(grads.size).toBe(2 * 16 + 5 + 2 + 5); // 16 per block; 5 embedding tensors; pooler (2); MLM head (5)

    // Back through import: the same numbers under our names.
    const back = importBert(decodeSafetensors(readFileSync(`${dir}/weights.safetensors`)).tensors, shapes);
    for (const p of program.params) expect(Array.from(back.get(p.name)!.data), p.name).toEqual(Array.from(ex.param(p.name)));
  });
});
