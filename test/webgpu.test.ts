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
import { KERNEL_MARKER, parseWgsl, PRELUDE_MARKER, TEXTURE_ROWS, TEXTURE_WIDTH, textureBytes } from '../common/wgsl.ts';
import { Executor } from '../runtime/executor.ts';
import { loadCompiled } from '../runtime/load.ts';
import { GpuExecutor } from '../runtime/webgpu/executor.ts';
import { prepareKernel } from '../runtime/webgpu/kernel.ts';
import { bufferTexture, deviceBuffer, encodeCopies } from '../runtime/webgpu/pipeline.ts';
import { lowerModel } from '../compiler/lower.ts';
import { randn, randomInputs, randomParams } from './support/random.ts';
import { l2, relErr } from './support/compare.ts';
import { Graph, numel, type AttrValue } from '../compiler/ir.ts';
import { emit as emitOp } from '../compiler/ops.ts';
import { runReference } from '../compiler/reference.ts';
import { buildKernel } from '../compiler/codegen/kernels.ts';
import { scheduled } from '../compiler/targets/target.ts';
import { renderWgsl } from '../compiler/targets/webgpu/render.ts';
import { NO_WEBGPU, gpu } from './support/webgpu.ts';
import { newGpuContext } from '../runtime/webgpu/device.ts';
import { fresh, tfm } from './support/cli.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const SPECS = fg.sync('specs/*.tfm').sort();

describe.skipIf(NO_WEBGPU)('WebGPU target', () => {
  it('sums a million squares for the gradient norm as a float64 sum would (compensated f32 in a workgroup tree)', async () => {
    const g = compile(checkFiles(['specs/gpt_tiny.tfm']).models[0], TARGETS.webgpu);
    const k = parseWgsl(g.files['kernels.wgsl'] as string).get('opt_grad_norm')!;
    expect(k.dispatch.phases.map((p) => p.mode)).toEqual(['tree']);
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

  // The attention backward a GPU runs (by queries, then by keys: kernels.ts
  // attention-grad-by-keys) for every mask and with grouped kv heads and dropout, at sizes
  // that fill nothing evenly; dq, dk and dv against the float64 reference. Head dim 3 runs
  // scalar loops; head dim 8 runs the vectorized ones, with rows read as aligned vec4s.
  it.each([
    ['causal, grouped kv heads', 3, { mask: 'causal', heads: 4, kv_heads: 2 }],
    ['local window 3', 3, { mask: 'local', window: 3, heads: 2, kv_heads: 2 }],
    ['prefix (bidirectional up to a per-row prefix)', 3, { mask: 'prefix', has_prefix: true, heads: 2, kv_heads: 1 }],
    ['none, key padding and dropout', 3, { mask: 'none', has_key_mask: true, p_drop: 0.25, salt: 7, heads: 2, kv_heads: 2 }],
    ['causal, grouped kv heads, vec4 rows', 8, { mask: 'causal', heads: 4, kv_heads: 2 }],
    ['none, key padding and dropout, vec4 rows', 8, { mask: 'none', has_key_mask: true, p_drop: 0.25, salt: 7, heads: 2, kv_heads: 2 }],
  ] as const)('attention backward on the device (%s, head dim %i) matches float64', async (_name, hd, attrs) => {
    const [B, T] = [2, 7];
    const a = { head_dim: hd, scale: 1 / Math.sqrt(hd), ...attrs } as Record<string, AttrValue>;
    const H = a.heads as number;
    const KV = a.kv_heads as number;
    const g = new Graph('attention');
    const q = g.input('q', ['batch', 'seq', H * hd], 'f32');
    const k = g.input('k', ['batch', 'seq', KV * hd], 'f32');
    const v = g.input('v', ['batch', 'seq', KV * hd], 'f32');
    const extra = [...(a.has_key_mask ? [g.input('keyMask', ['batch', 'seq'], 'f32')] : []), ...(a.has_prefix ? [g.input('prefix', ['batch'], 'i32')] : []), ...(a.p_drop ? [g.input('seed', [1], 'i32')] : [])];
    const dOut = g.input('dOut', ['batch', 'seq', H * hd], 'f32');
    const [out, lse] = emitOp(g, 'attention', [q, k, v, ...extra], a);
    emitOp(g, 'attention_grad', [q, k, v, ...extra, out, lse, dOut], a);
    const dims = { batch: B, seq: T };
    const data = new Map<string, Float64Array | Int32Array>();
    for (const x of g.inputs) {
      const n = numel(x.value.shape, dims);
      if (x.name === 'keyMask') data.set(x.name, Float64Array.from({ length: n }, (_, e) => (e % T >= T - 2 && e < T ? 0 : 1)));
      else if (x.name === 'prefix') data.set(x.name, Int32Array.from([3, 5]));
      else if (x.name === 'seed') data.set(x.name, Int32Array.from([Math.floor(Math.random() * 1e6)]));
      else data.set(x.name, Float64Array.from({ length: n }, randn));
    }
    const ref = runReference(g, { params: new Map(), inputs: data, dims });
    const node = g.nodes[1];
    const kernel = scheduled(TARGETS.webgpu, buildKernel(node, 'kernel', new Set(TARGETS.webgpu.variants)));
    const [wk] = parseWgsl(renderWgsl([kernel], { header: [] })).values();
    expect(wk.dispatch.phases.length, 'a dq pass and a dk, dv pass').toBe(2);
    expect(wk.code.includes('var<storage, read> k: array<vec4<f32>>;'), 'k read as vec4s').toBe(hd % 4 === 0);
    const f32 = (x: Float64Array | Int32Array) => (x instanceof Int32Array ? x : Float32Array.from(x));
    const ins = node.inputs.map((x) => f32(ref.get(x.id)?.data ?? data.get(g.inputs.find((i) => i.value.id === x.id)!.name)!));
    const run = await prepareKernel(await gpu(), wk, [...ins, ...node.outputs.map((o) => numel(o.shape, dims))], dims);
    const got = await run.run();
    run.destroy();
    node.outputs.forEach((o, n) => expect(relErr(got[ins.length + n], ref.get(o.id)!.data), ['dq', 'dk', 'dv'][n]).toBeLessThan(1e-5));
  });

  it('tfm compile --target webgpu --bundle writes one ES module that runs the model by itself', async () => {
    const dir = fresh('webgpu-bundle');
    const r = tfm(['compile', 'specs/gpt_tiny.tfm', '--target', 'webgpu', '--bundle', '--out', dir]);
    expect(r.code, r.stderr).toBe(0);
    const file = join(dir, 'gpt_tiny', 'webgpu', 'tfm-webgpu.mjs');
    const text = readFileSync(file, 'utf8');
    // Self-contained: no import but Dawn's Node bindings (which a page never reaches).
    expect([...text.matchAll(/\bimport\s*\(?\s*["']([^"']+)["']/g)].map((m) => m[1])).toEqual(['webgpu']);
    const mod = (await import(pathToFileURL(file).href)) as { createExecutor: (dims: Record<string, number>) => Promise<GpuExecutor>; program: { model: string } };
    expect(mod.program.model).toBe('gpt_tiny');
    const ex = await mod.createExecutor({ batch: 1, seq: 8 });
    ex.input('tokens').set([1, 2, 3, 4, 5, 6, 7, 8]);
    ex.input('targets').set([2, 3, 4, 5, 6, 7, 8, 9]);
    // Fresh (zero) weights: uniform logits, loss ln 65.
    expect(await ex.forward()).toBeCloseTo(Math.log(65), 5);
    ex.close();
    const wrong = tfm(['compile', 'specs/gpt_tiny.tfm', '--target', 'wasm', '--bundle', '--out', dir]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('--bundle');
  });

  it('schedules for a GPU: matmuls in 8×8 tiles, bias gradients by columns, attention backward in two parallel passes, its rows private, its head-dim loops in aligned vec4 loads', () => {
    const g = compile(checkFiles(['specs/gpt_tiny.tfm']).models[0], TARGETS.webgpu);
    const kernels = parseWgsl(g.files['kernels.wgsl'] as string);
    const of = (op: string) => [...kernels.values()].filter((k) => new RegExp(`^${op}_[0-9a-f]{8,}$`).test(k.name));
    const modes = (op: string) => of(op).map((k) => k.dispatch.phases.map((p) => p.mode).join('+'));
    for (const op of ['matmul', 'matmul_epilogue', 'reduce_to', 'attention', 'add_norm', 'embedding']) expect(new Set(modes(op)), op).toEqual(new Set(['grid']));
    expect(new Set(modes('attention_grad'))).toEqual(new Set(['grid+grid']));
    const code = (op: string) => of(op).map((k) => k.code).join('\n');
    expect(code('matmul')).toContain('c7_7 += a0_7 * b0_7;');
    // Rows of a head (32 floats) in eight vec4s: private rows, and q, k, v read four at a time.
    expect(code('attention_grad')).toMatch(/var dk_row: array<vec4<f32>, 8>;/);
    expect(code('attention')).toMatch(/var<storage, read> k: array<vec4<f32>>;/);
    // The query row is read once, before the loop over keys (hoist-loads.ts), then q·k in vec4s.
    expect(code('attention')).toMatch(/let (ld\d+): vec4<f32> = q\[\(qo\) \/ 4\];[^]*for \(var j[^]*dot_v1 \+= \1 \* k\[\(ko\) \/ 4\];/);
    // The key row of the by-keys pass too, before its loops over queries.
    expect(code('attention_grad')).toMatch(/let ld\d+: vec4<f32> = k\[\(ko\) \/ 4\];\s+[^]*for \(var qi/);
    // Matmul tiles read their operands through textures, a texel (four floats) at a time:
    // a·bᵀ both along the contraction, a·b X along it and Y along its columns.
    expect(code('matmul')).toMatch(/var a: texture_2d_array<f32>;[^]*var b: texture_2d_array<f32>;/);
    expect(code('matmul')).toContain('let a0: vec4<f32> = tfm_fetch(a, (i0 * 512 + p) / 4);');
    expect(code('matmul_epilogue')).toMatch(/let a0: vec4<f32> = tfm_fetch\(a, \(i0 \* \d+ \+ p\) \/ 4\);/);
    expect(code('matmul_epilogue')).toMatch(/let b0_1: vec4<f32> = tfm_fetch\(b, \(p \* 512 \+ \(j0 \+ 4\)\) \/ 4\);/);
    // Through a texture only what the kernel reads a whole texel at a time: the a·bᵀ over the
    // logits' 65 characters reads rows of both four at a time unaligned, so both stay storage.
    const textures = (k: { code: string; dispatch: { buffers: { name: string; texture?: true }[] } }) => k.dispatch.buffers.filter((b) => b.texture).map((b) => b.name);
    expect(of('matmul').filter((k) => k.code.includes('(i0 * 512 + p)')).map(textures)).toEqual([['a', 'b']]);
    expect(of('matmul').filter((k) => k.code.includes('(j0 * 65 + p)')).map(textures)).toEqual([[]]);
    expect(code('matmul')).toMatch(/var<storage, read> b: array<vec4<f32>>;[^]*let b1: vec4<f32> = vec4<f32>\(b\[/);
    // The accumulators stay scalar (a vector loop would hold 64 vec4 more).
    expect(code('matmul')).not.toMatch(/var c0_0: vec4/);
  });

  it('copies a buffer into the texture it is read through texel by texel: whole layers, then rows, then the last texels (a small layout)', async () => {
    const { device } = await gpu();
    // 16 texels (the fewest whose row is a multiple of 256 bytes, as copies require) a row, 2 rows
    // a layer: 64 floats a row, 128 a layer.
    const layout = { width: 16, rows: 2 };
    // A part of a texel, one texel, a part of a row, a row, a layer, two layers and a row and
    // five texels and a part, three layers.
    for (const floats of [3, 4, 61, 64, 128, 343, 384]) {
      const data = Float32Array.from({ length: floats }, () => Math.random() + 1);
      const at = 256; // a region that does not start the buffer, as a parameter's
      const buf = deviceBuffer(device, at + 4 * floats);
      device.queue.writeBuffer(buf, at, data);
      const copy = bufferTexture(device, 'copy-test', buf, at, floats, layout);
      const { width, height, depthOrArrayLayers: layers } = copy.texture;
      const back = device.createBuffer({ size: 256 * height * layers, usage: 0x01 | 0x08 }); // MAP_READ | COPY_DST
      const enc = device.createCommandEncoder();
      encodeCopies(enc, [copy]);
      enc.copyTextureToBuffer({ texture: copy.texture }, { buffer: back, bytesPerRow: 256, rowsPerImage: height }, [width, height, layers]);
      device.queue.submit([enc.finish()]);
      await back.mapAsync(1);
      const got = new Float32Array(back.getMappedRange().slice(0));
      back.unmap();
      for (const b of [back, buf]) b.destroy();
      copy.texture.destroy();
      expect(layers).toBe(Math.ceil(Math.ceil(floats / 4) / 32));
      for (let e = 0; e < floats; e++) {
        const t = e >> 2;
        const [x, y, l] = [t % 16, Math.floor(t / 16) % 2, Math.floor(t / 32)];
        expect(got[((l * height + y) * 256 + x * 16) / 4 + (e & 3)], `${floats} floats: element ${e}`).toBe(data[e]);
      }
    }
  });

  it('finds texel t of a texture where the copies put it, past the first layer too (tfm_texel, common/wgsl.ts)', async () => {
    const g = compile(checkFiles(['specs/gpt_tiny.tfm']).models[0], TARGETS.webgpu);
    const text = g.files['kernels.wgsl'] as string;
    const prelude = text.slice(text.indexOf(PRELUDE_MARKER), text.indexOf(`\n${KERNEL_MARKER}`));
    const layer = TEXTURE_WIDTH * TEXTURE_ROWS;
    const ts = Int32Array.from([0, 1, TEXTURE_WIDTH - 1, TEXTURE_WIDTH, layer - 1, layer, 3 * layer + 5 * TEXTURE_WIDTH + 7, 2 ** 31 - 1, ...Array.from({ length: 8 }, () => Math.floor(Math.random() * 2 ** 31))]);
    const code = `${prelude}
@group(0) @binding(0) var<storage, read> ts: array<i32>;
@group(0) @binding(1) var<storage, read_write> at: array<i32>;
@compute @workgroup_size(1)
fn main() {
  for (var n = 0; n < ${ts.length}; n += 1) {
    let c = tfm_texel(ts[n]);
    at[3 * n] = c.x;
    at[3 * n + 1] = c.y;
    at[3 * n + 2] = c.z;
  }
}`;
    const k = { name: 'texel', code, dispatch: { buffers: [{ name: 'ts', t: 'i32' as const, access: 'read' as const }, { name: 'at', t: 'i32' as const, access: 'write' as const }], dims: [], scalars: [], phases: [{ entry: 'main', mode: 'single' as const, invocations: 1, workgroup: 1 }] } };
    const run = await prepareKernel(await gpu(), k, [ts, 3 * ts.length], {});
    const [, at] = await run.run();
    run.destroy();
    const want = [...ts].flatMap((t) => [t % TEXTURE_WIDTH, Math.floor(t / TEXTURE_WIDTH) % TEXTURE_ROWS, Math.floor(t / layer)]);
    expect([...at]).toEqual(want);
  });

  it('profiled (one pass per call, texture copies between) it computes what it computes unprofiled, and reports each call once', async () => {
    const r = checkFiles(['specs/gpt_tiny.tfm']);
    const m = r.models[0];
    const g = compile(m, TARGETS.webgpu, r.program.sources);
    const dims = { batch: 2, seq: 8 };
    const { graph } = lowerModel(m);
    const inputs = randomInputs(graph, dims, { vocab: 65 });
    const context = await gpu();
    const [plain, profiled] = await Promise.all([0, 1].map(() => GpuExecutor.create(g.program, g.files['kernels.wgsl'] as string, dims, { gpu: context })));
    if (!profiled.kernelClock) return; // an adapter without timestamp queries has no profile
    const calls: number[] = [];
    profiled.onKernel = (k) => calls.push(k);
    try {
      // Twice, with new weights the second time (copied into the textures again).
      for (const round of [0, 1]) {
        for (const [name, data] of randomParams(graph, dims)) for (const ex of [plain, profiled]) ex.param(name).set(data);
        for (const ex of [plain, profiled]) {
          ex.push();
          for (const [name, data] of inputs) ex.input(name).set(data);
        }
        const loss = await plain.forward();
        expect(await profiled.forward(), `round ${round}`).toBe(loss);
        expect([...(await profiled.read('logits'))]).toEqual([...(await plain.read('logits'))]);
      }
      await profiled.backward();
      await profiled.pull();
      const forward = g.program.steps.flatMap((s, k) => (s.phase === 'forward' ? [k] : []));
      const backward = g.program.steps.flatMap((s, k) => (s.phase === 'backward' ? [k] : []));
      expect(calls).toEqual([...forward, ...forward, ...backward]);
    } finally {
      plain.close();
      profiled.close();
    }
  });

  it.each(['specs/gpt_tiny.tfm', 'specs/bert_tiny.tfm', 'specs/t5_tiny.tfm'])('the texture memory tfm compile and tfm diff report for %s (textureBytes) is what an executor allocates, training and inference', async (file) => {
    const r = checkFiles([file]);
    const context = await gpu();
    for (const m of r.models) {
      for (const train of [true, false]) {
        const g = compile(m, TARGETS.webgpu, r.program.sources, { train });
        const wgsl = g.files['kernels.wgsl'] as string;
        // Large enough that textures differ in size (a row holds 8,192 floats).
        const dims = { batch: 8, seq: 64, src_seq: 64, tgt_seq: 32, picks: 10 };
        const ex = await GpuExecutor.create(g.program, wgsl, dims, { gpu: context });
        try {
          const textures = [...(ex as unknown as { textures: Map<unknown, Map<string, { texture: GPUTexture }>> }).textures.values()].flatMap((byRegion) => [...byRegion.values()]);
          const allocated = textures.reduce((a, t) => a + t.texture.width * t.texture.height * t.texture.depthOrArrayLayers * 16, 0);
          expect(textures.length, `${m.model.name} train ${train}`).toBeGreaterThan(0);
          // From the scheduled kernels (what tfm compile and tfm diff report) and from the
          // dispatches the generated file declares (what the runtime reads).
          expect(TARGETS.webgpu.textureBytes!(g.program, g.kernels, dims), `${m.model.name} train ${train}`).toBe(allocated);
          expect(textureBytes(g.program, new Map([...parseWgsl(wgsl)].map(([name, k]) => [name, k.dispatch])), dims), `${m.model.name} train ${train}`).toBe(allocated);
        } finally {
          ex.close();
        }
      }
    }
  });

  it('a lost device is a coded error (TFM7003), not a crash or a wrong number', async () => {
    const own = await newGpuContext();
    const r = checkFiles(['specs/gpt_tiny.tfm']);
    const g = compile(r.models[0], TARGETS.webgpu, r.program.sources);
    const ex = await GpuExecutor.create(g.program, g.files['kernels.wgsl'] as string, { batch: 1, seq: 8 }, { gpu: own });
    expect(Number.isFinite(await ex.forward())).toBe(true);
    own.device.destroy();
    await own.device.lost;
    await expect(ex.forward()).rejects.toMatchObject({ code: 'TFM7003' });
  });

  const tiny = [
    ['gpt_tiny', { vocab: 65 }],
    ['bert_tiny_sentiment', { vocab: 8192, classes: 2 }],
    ['bart_tiny', { vocab: 2048 }],
    ['t5_tiny', { vocab: 2048 }],
    ['vit_mnist', { vocab: 1, classes: 10 }],
    ['bert_tiny', { vocab: 8192 }],
  ] as const;
  it.each(tiny)('%s: one forward, backward and AdamW step on WebGPU equal the Wasm target within 1e-4', async (spec, sizes) => {
    const r = checkFiles([`specs/${spec}.tfm`]);
    const m = r.models[0];
    const dir = `out/test-webgpu/${spec}/wasm`;
    emit(compile(m, TARGETS.wasm, r.program.sources), dir);
    const { program, source } = loadCompiled(dir);
    const g = compile(m, TARGETS.webgpu, r.program.sources);
    const dims = { batch: 2, seq: 8, src_seq: 8, tgt_seq: 6, picks: 3 };
    // The model's parameters and inputs, to draw random values for.
    const { graph } = lowerModel(m);
    const params = randomParams(graph, dims);
    const inputs = randomInputs(graph, dims, sizes);

    const cpu = await Executor.create(program, source, dims);
    const dev = await GpuExecutor.create(g.program, g.files['kernels.wgsl'] as string, dims, { gpu: await gpu() });
    try {
      for (const [name, data] of params) cpu.param(name).set(data);
      dev.paramArena.set(cpu.paramArena);
      dev.push();
      for (const [name, data] of inputs) {
        cpu.input(name).set(data);
        dev.input(name).set(cpu.input(name));
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
      await dev.pull();
      const after = dev.paramArena;
      expect(relErr(after.map((w, k) => w - before[k]), cpu.paramArena.map((w, k) => w - before[k])), 'AdamW update').toBeLessThan(1e-4);
      expect(relErr(after, cpu.paramArena), 'updated weights').toBeLessThan(1e-6);
      // A second forward pass reads the updated weights: a texture a matmul reads them through
      // is copied again once the update has written them (and only then: pipeline.ts wrote).
      const again = cpu.forward();
      expect(Math.abs((await dev.forward()) - again) / Math.abs(again), 'loss after the update').toBeLessThan(1e-4);
      expect(relErr(await dev.read('logits'), cpu.output('logits')), 'logits after the update').toBeLessThan(1e-4);
    } finally {
      dev.close();
    }
  });

  it('tfm train --target webgpu: 50 steps whose loss curve matches the Wasm target within 1e-4 per step', () => {
    // Same seed, data, initialisation and dropout masks on both; only the arithmetic differs
    // (exp, the order of sums). Those round-off differences start near 1e-7 and the optimizer
    // carries them forward, so the curves drift apart slowly: 1.3e-6 at worst over these 50
    // steps when measured; 1e-4 leaves room for other devices' exp and log while still
    // catching any wrong kernel (a wrong gradient changes the loss in the third digit).
    const dir = fresh('webgpu-train');
    // The command as a user types it: the default batch (16 × 64) and evaluation schedule.
    const args = ['train', 'specs/gpt_tiny.tfm', '--steps', '50'];
    const gpuRun = tfm([...args, '--target', 'webgpu', '--out', join(dir, 'gpu')], { timeout: 600_000 });
    expect(gpuRun.code, gpuRun.stderr).toBe(0);
    expect(gpuRun.stdout).toMatch(/tokens\/s/);
    const cpuRun = tfm([...args, '--target', 'wasm', '--out', join(dir, 'cpu')], { timeout: 600_000 });
    expect(cpuRun.code, cpuRun.stderr).toBe(0);
    const history = (run: string) => JSON.parse(readFileSync(join(dir, run, 'ckpt-00000050', 'state.json'), 'utf8')).history as [number, number, number | null][];
    const [g, c] = [history('gpu'), history('cpu')];
    expect(g.length).toBe(50);
    expect(g.map((h) => h[0])).toEqual(c.map((h) => h[0]));
    for (let k = 0; k < g.length; k++) expect(Math.abs(g[k][1] - c[k][1]) / c[k][1], `training loss at step ${g[k][0]}`).toBeLessThan(1e-4);
    expect(Math.abs(g[49][2]! - c[49][2]!) / c[49][2]!, 'validation loss').toBeLessThan(1e-4);
    // It learned: the last loss is well below the first (log 65 ≈ 4.17 at the start).
    expect(g[49][1]).toBeLessThan(g[0][1] - 1);
  });
});
