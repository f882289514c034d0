// Every op the language can produce has a CPU kernel, and specs that exercise the variants no
// seed spec uses (rotary, prefix mask, grouped-query attention, SwiGLU/GEGLU, sinusoidal
// positions, local attention, projected embeddings, explicit bodies, mean pooling) compile and
// match the float64 reference of their unfused graph, gradients included.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { differentiate } from '../compiler/autodiff.ts';
import { checkFiles } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { CPU_TARGETS } from '../compiler/targets/index.ts';
import { emit } from '../compiler/codegen/emit.ts';
import { hasKernel } from '../compiler/codegen/kernels.ts';
import { lowerModel } from '../compiler/lower.ts';
import { OPS } from '../compiler/ops.ts';
import { runReference, valueOf } from '../compiler/reference.ts';
import { Executor } from '../runtime/executor.ts';
import { loadCompiled } from '../runtime/load.ts';
import { randomInputs, randomParams } from './support/random.ts';
import { relErr } from './support/compare.ts';

const variants = readdirSync('test/variants').filter((f) => f.endsWith('.tfm')).sort();

describe('op coverage', () => {
  it('every op of the IR has a CPU kernel', () => {
    expect(Object.keys(OPS).filter((op) => !hasKernel(op))).toEqual([]);
  });
});

describe('variant specs', () => {
  it.each(variants.flatMap((v) => Object.keys(CPU_TARGETS).map((t) => [v, t] as const)))('%s checks clean, compiles for %s, and its generated kernels match float64', async (file, target) => {
    const r = checkFiles([`test/variants/${file}`]);
    expect(r.diagnostics.map((d) => d.message)).toEqual([]);
    const m = r.models[0];
    const compiled = compile(m, CPU_TARGETS[target], r.program.sources);
    const dir = `out/test-variants/${m.model.name}/${target}`;
    emit(compiled, dir);
    const { program, source } = loadCompiled(dir);
    const plain = lowerModel(m);
    differentiate(plain.graph, plain.loss);
    const dims = { batch: 2, seq: 7 };
    const params = randomParams(plain.graph, dims);
    const inputs = randomInputs(plain.graph, dims, { vocab: 40, classes: 3 });
    const ref = runReference(plain.graph, { params, inputs, dims });
    const ex = await Executor.create(program, source, dims);
    for (const [name, data] of params) ex.param(name).set(data);
    for (const [name, data] of inputs) ex.input(name).set(data);
    const loss = ex.forward();
    ex.backward();
    expect(Math.abs(loss - valueOf(ref, plain.graph.outputs.get('loss')!).data[0])).toBeLessThan(1e-4 * Math.abs(loss));
    for (const p of program.params) expect(relErr(ex.grad(p.name), valueOf(ref, plain.graph.outputs.get(`grad:${p.name}`)!).data), p.name).toBeLessThan(1e-4);
  });
});
