// The PyTorch target (`tfm compile --target torch`): for every tiny spec and every language
// variant, the generated module, loaded with the weights `tfm export` writes through
// load_state_dict(strict=True), gives the logits (≤ 1e-5 relative) and loss of our compiled
// forward pass, and PyTorch's autograd gives the gradients of our backward pass (≤ 1e-4), on
// fresh random weights and inputs (the seed is in every message; TFM_TORCH_SEED replays one).
// Needs Debian's python3-torch; skipped locally without it, a failure in CI (CI=true).
import { spawnSync } from 'node:child_process';
import fg from 'fast-glob';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkFiles } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { emit } from '../compiler/codegen/emit.ts';
import { wasmTarget } from '../compiler/targets/wasm/index.ts';
import { resolveShape } from '../common/program.ts';
import { Executor } from '../runtime/executor.ts';
import { initParams, Rng } from '../runtime/init.ts';
import { loadCompiled } from '../runtime/load.ts';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../runtime/safetensors.ts';
import { expectedShapes, exportTensors, fromHf, hfNaming } from '../runtime/weights.ts';
import { torchModule } from '../cli/torch.ts';
import { relErr } from './support/compare.ts';
import { hasTorch, PYTHON } from './support/torch.ts';

// Every tiny spec of specs/ (and the small ones of other families), the conformance specs
// without dropout (their training graphs: BERT's masked-LM gather), the language variants.
const SPECS = [...fg.sync(['specs/*tiny*.tfm', 'specs/vit_mnist.tfm', 'specs/gpt_fewshot.tfm', 'test/torch/*.tfm', 'test/variants/*.tfm']).sort()];

describe('PyTorch target: generated module vs compiled kernels', () => {
  it('python3-torch is available in CI', () => {
    if (process.env.CI) expect(hasTorch, `${PYTHON} cannot import torch`).toBe(true);
  });

  it.skipIf(!hasTorch).each(SPECS)('%s: logits, loss and every gradient', async (path) => {
    const seed = Number(process.env.TFM_TORCH_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const rng = new Rng(seed);
    const r = checkFiles([path]);
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const m = r.models[r.models.length - 1];
    const name = m.model.name;
    const dir = `out/test-torch-module/${name}`;
    mkdirSync(dir, { recursive: true });
    // The training graph where it has no dropout (PyTorch's would draw other masks); the
    // evaluation graph otherwise. The same graph on both sides.
    const train = !compile(m, wasmTarget, undefined, { render: false }).program.inputs.some((i) => i.name === 'seed');
    emit(compile(m, wasmTarget, r.program.sources, { train }), `${dir}/wasm`);
    writeFileSync(`${dir}/model.py`, torchModule(m, r.program.sources, { train }));
    const { program, source } = loadCompiled(`${dir}/wasm`);

    const shapeOf = (n: string) => program.params.find((p) => p.name === n)?.shape as number[] | undefined;
    const vocab = shapeOf('embed.tokens')?.[0] ?? 0;
    const classes = shapeOf('head.classifier.weight')?.[1] ?? 0;
    const types = shapeOf('embed.segments')?.[0] ?? 1;
    const ctx = (m.model.inputs.tokens?.context?.value as number | undefined) ?? 16;
    const dims = { batch: 3, seq: Math.min(12, ctx), src_seq: Math.min(11, ctx), tgt_seq: Math.min(9, ctx), picks: 4 };
    const ex = await Executor.create(program, source, dims);
    initParams(ex, seed);
    // Norm gains and biases start at 1 and 0: move them, so that a wrong one would show (biases
    // on the weights' scale: larger ones would make every key alike, and the query gradient a
    // difference of nearly equal terms that float32 cannot resolve).
    for (const p of program.params) if (p.init.kind !== 'normal') for (const [k, v] of ex.param(p.name).entries()) ex.param(p.name)[k] = v + rng.normal() * (p.init.kind === 'ones' ? 0.2 : 0.02);

    const batch = new Map<string, NamedTensor>();
    for (const input of program.inputs) {
      if (input.name === 'seed') continue;
      const buffer = program.buffers[input.buffer];
      const shape = resolveShape(buffer.shape, dims);
      const n = shape.reduce((a, b) => a * b, 1);
      const ints = (hi: number) => Int32Array.from({ length: n }, () => Math.floor(rng.next() * hi));
      let data: Float32Array | Int32Array;
      if (/tokens$/.test(input.name)) data = ints(vocab);
      else if (input.name === 'targets') data = Int32Array.from(ints(vocab), (t, i) => (i % 5 === 3 ? -100 : t));
      else if (input.name === 'segments') data = ints(types);
      else if (input.name === 'labels') data = ints(classes);
      else if (input.name === 'prefix_len') data = ints(shape.length ? dims.seq + 1 : 1);
      else if (input.name === 'mlm_positions') {
        // Distinct positions per row.
        const [B, M] = shape;
        data = new Int32Array(n);
        for (let b = 0; b < B; b++) {
          const order = Array.from({ length: dims.seq }, (_, i) => i).sort(() => rng.next() - 0.5);
          for (let j = 0; j < M; j++) data[b * M + j] = order[j];
        }
      } else if (/key_mask$/.test(input.name)) {
        // Padding at the end of some rows, never a whole row.
        const [B, T] = shape;
        data = new Float32Array(n);
        for (let b = 0; b < B; b++) {
          const len = T - (b % 3) * 2;
          for (let t = 0; t < T; t++) data[b * T + t] = t < len ? 1 : 0;
        }
      } else if (input.name === 'image') data = Float32Array.from({ length: n }, () => rng.normal());
      else throw new Error(`no test data for input \`${input.name}\``);
      batch.set(input.name, { shape, data });
      ex.input(input.name).set(data);
    }

    const loss = ex.forward();
    ex.backward();
    const params = new Map<string, NamedTensor>(program.params.map((p) => [p.name, { shape: resolveShape(p.shape, {}), data: Float32Array.from(ex.param(p.name)) }]));
    const grads = new Map<string, NamedTensor>(program.params.map((p) => [p.name, { shape: resolveShape(p.shape, {}), data: Float32Array.from(ex.grad(p.name)) }]));
    const stored = exportTensors(params, program);
    writeFileSync(`${dir}/weights.safetensors`, encodeSafetensors(stored));
    // What export writes, import reads back unchanged (`tfm import`, `tfm forward -c`).
    if (stored !== params) {
      const back = fromHf(hfNaming(program), stored, expectedShapes(program), program);
      for (const [k, t] of params) expect(Array.from(back.get(k)!.data), `${k} after export and import, ${name}`).toEqual(Array.from(t.data));
    }
    writeFileSync(`${dir}/batch.safetensors`, encodeSafetensors(batch));
    // The module in float32 (what a user trains) and in float64 (the oracle of both sides' rounding).
    const run = (out: string, precision: string) => spawnSync(PYTHON, ['test/torch/run_module.py', `${dir}/model.py`, `${dir}/weights.safetensors`, `${dir}/batch.safetensors`, out, precision], { encoding: 'utf8' });
    for (const [out, precision] of [[`${dir}/torch.safetensors`, 'float32'], [`${dir}/torch64.safetensors`, 'float64']]) {
      const py = run(out, precision);
      expect(py.status, `${py.stderr}\nseed ${seed}`).toBe(0);
    }
    const torch = decodeSafetensors(readFileSync(`${dir}/torch.safetensors`)).tensors;
    const exact = decodeSafetensors(readFileSync(`${dir}/torch64.safetensors`)).tensors;

    const at = `${name}, seed ${seed}`;
    expect(Math.abs(loss - torch.get('loss')!.data[0]) / Math.abs(torch.get('loss')!.data[0]), `loss, ${at}`).toBeLessThan(1e-5);
    expect(relErr(ex.output('logits'), torch.get('logits')!.data), `logits, ${at}`).toBeLessThan(1e-5);
    const ours = exportTensors(grads, program);
    const norm = (x: ArrayLike<number>) => Math.sqrt(Array.from(x).reduce((t, v) => t + v * v, 0));
    const dist = (x: ArrayLike<number>, y: ArrayLike<number>) => norm(Array.from(x, (v, i) => v - y[i]));
    let compared = 0;
    for (const [key, g] of ours) {
      const theirs = torch.get(`grad.${key}`);
      const truth = exact.get(`grad.${key}`);
      if (!theirs || !truth) continue; // a stored buffer (BART's final_logits_bias)
      // A key projection's bias adds the same q·b to every score of a row, which the softmax
      // ignores: its gradient is zero in exact arithmetic, and both sides hold rounding noise.
      // Its error is measured against the query bias's gradient of the same attention.
      const query = /(k_proj|key|\.k)\.bias$/.test(key) ? truth && exact.get(`grad.${key.replace(/k_proj\.bias$/, 'q_proj.bias').replace(/key\.bias$/, 'query.bias').replace(/\.k\.bias$/, '.q.bias')}`) : undefined;
      const scale = Math.max(norm(truth.data), query ? norm(query.data) : 0);
      // (A parameter the loss does not reach — BERT's pooler under masked LM — has zero on both.)
      const rel = (d: number) => (scale === 0 ? d : d / scale);
      // Ours against PyTorch's float32 gradient; the float64 run says, on failure, how far
      // PyTorch's own float32 result is from exact.
      const torchError = rel(dist(theirs.data, truth.data));
      expect(rel(dist(g.data, theirs.data)), `gradient of ${key} against PyTorch (PyTorch float32 is ${torchError.toExponential(2)} from float64; ours ${rel(dist(g.data, truth.data)).toExponential(2)}), ${at}`).toBeLessThan(1e-4);
      compared++;
    }
    // Every parameter of the module had its gradient compared.
    expect(compared).toBe([...torch.keys()].filter((k) => k.startsWith('grad.')).length);
  });
});
