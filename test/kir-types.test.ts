// The kernel IR is typed: the checker passes on every kernel of every spec (training and
// evaluation graphs, a decoder's or encoder-decoder's inference programs (with a key/value cache; the encoder's), the optimizer
// included; as built and after every target's schedule) and
// rejects what a target could not render faithfully — mixed int/float arithmetic, untyped or
// undeclared locals, float `%` — and parallel loops whose iterations plainly write the same
// element or share an accumulator.
import fg from 'fast-glob';
import { describe, expect, it } from 'vitest';
import { checkFiles, type CheckedModel } from '../compiler/check.ts';
import { compile, type CompileOptions } from '../compiler/codegen/compile.ts';
import { add, bin, call, cast, checkKernel, dim, f, i, let_, load, loop, mul, parallelDomain, reduce, set, store, sub, v, type Kernel, type KStmt } from '../compiler/codegen/kir.ts';
import { lowerReduce } from '../compiler/passes/schedule/lower-reduce.ts';
import { printKernel } from '../compiler/codegen/print-kir.ts';
import type { Target } from '../compiler/targets/target.ts';
import { TARGETS } from '../compiler/targets/index.ts';

const SPECS = [...fg.sync('specs/*.tfm'), ...fg.sync('test/valid/*.tfm'), ...fg.sync('test/variants/*.tfm')].sort();
/** Every program a model compiles to: training, evaluation, and for a decoder the inference
 *  program with a key/value cache. */
const modes = (m: CheckedModel): CompileOptions[] => [{ train: true }, { train: false }, ...(m.model.layout?.value === 'decoder' ? [{ cache: true }] : m.model.layout?.value === 'encoder_decoder' ? [{ cache: true }, { encode: true }] : [])];

describe('kernel IR types', () => {
  it.each(SPECS.flatMap((s) => Object.keys(TARGETS).map((t) => [s, t] as const)))('every kernel of %s type-checks after the %s schedule', (file, target) => {
    const r = checkFiles([file]);
    expect(r.models.length).toBeGreaterThan(0);
    let count = 0;
    for (const m of r.models) {
      for (const mode of modes(m)) {
        for (const k of compile(m, TARGETS[target], undefined, mode).kernels) {
          expect(checkKernel(k)).toEqual([]);
          count++;
        }
      }
    }
    expect(count).toBeGreaterThan(3);
  });

  // The builders' own IR, before any schedule: reductions still `reduce`, parallel loops nested.
  const UNSCHEDULED: Target = { name: 'kir', schedule: [], render: () => ({}), review: () => new Map() };
  it.each(SPECS)('every kernel of %s type-checks before any schedule (reductions and parallel loops as built)', (file) => {
    const r = checkFiles([file]);
    for (const m of r.models) for (const mode of modes(m)) for (const k of compile(m, UNSCHEDULED, undefined, mode).kernels) expect(checkKernel(k)).toEqual([]);
  });

  const kernel = (body: KStmt[]): Kernel => ({ name: 'k', doc: '', buffers: [{ name: 'x', t: 'f32', access: 'read' }, { name: 'ids', t: 'i32', access: 'read' }, { name: 'y', t: 'f32', access: 'write' }], dims: ['n'], body });
  const cases: [string, KStmt[], RegExp][] = [
    ['a float plus an index', [loop('o', dim('n'), [store('y', v('o'), add(load('x', v('o')), v('o')))])], /mixes f32 and i32/],
    ['a local used before its declaration', [store('y', i(0), v('acc'))], /used before it is declared/],
    ['a let whose value has another type', [let_('r', load('ids', i(0)), 'f32')], /declared f32, value is i32/],
    ['a float index', [store('y', load('x', i(0)) as never, f(1))], /index is not i32/],
    ['float %', [store('y', i(0), bin('%', load('x', i(0)), f(2)))], /`%` of floats/],
    ['integer /', [let_('q', bin('/', dim('n'), i(2)), 'i32')], /integer division/],
    ['an int stored to a float buffer', [store('y', i(0), load('ids', i(0)))], /buffer is f32, value is i32/],
    ['assignment to a constant', [let_('c', f(0)), set('c', f(1))], /assignment to a constant/],
    ['a number as a condition', [{ k: 'if', c: f(1), then: [] }], /not a comparison/],
    ['a local named like a buffer', [let_('x', load('x', i(0)))], /shadows a buffer/],
    ['a local declared twice in one block', [loop('o', dim('n'), [let_('t', load('x', v('o'))), let_('t', f(1)), store('y', v('o'), v('t'))])], /declared twice in one block/],
    ['a parallel loop whose iterations store to one element', [loop('o', dim('n'), [store('y', i(0), load('x', v('o')))], true)], /does not depend on parallel loop `o`/],
    ['an inner parallel loop storing along the outer loop only', [loop('r', dim('n'), [loop('c', i(4), [store('y', v('r'), f(1))], true)], true)], /does not depend on parallel loop `c`/],
    ['an accumulator shared by parallel iterations', [let_('acc', f(0), 'f32', true), loop('o', dim('n'), [set('acc', load('x', v('o')), '+')], true)], /declared outside parallel loop `o`/],
    ['a store inside a reduction', [reduce('s', '+', 'o', dim('n'), load('x', v('o')), [store('y', v('o'), f(0))])], /only declares locals/],
    ['a reduction whose value has another type', [reduce('s', '+', 'o', dim('n'), load('ids', v('o')))], /declared f32, value is i32/],
    ['assignment to a reduction result', [reduce('s', '+', 'o', dim('n'), load('x', v('o'))), set('s', f(1))], /assignment to a constant/],
    ['max over integers', [reduce('s', 'max', 'o', dim('n'), load('ids', v('o')), [], 'i32')], /max over i32/],
  ];
  it.each(cases)('rejects %s', (_what, body, message) => {
    const errors = checkKernel(kernel(body));
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.join('\n')).toMatch(message);
  });

  it('accepts parallel stores through locals that depend on the loop, and a reduction per parallel iteration', () => {
    const body = [
      loop('r', dim('n'), [
        let_('o', mul(v('r'), i(4)), 'i32'),
        reduce('m', 'max', 'c', i(4), load('x', add(v('o'), v('c')))),
        loop('c', i(4), [store('y', add(v('o'), v('c')), sub(load('x', add(v('o'), v('c'))), v('m')))], true),
      ], true),
    ];
    expect(checkKernel(kernel(body))).toEqual([]);
  });

  it('lowers a reduction to an accumulator loop in index order on the CPU targets', () => {
    const k = lowerReduce()(kernel([reduce('m', 'max', 'o', dim('n'), load('x', v('o'))), store('y', i(0), v('m'))]));
    expect(k.body).toEqual([
      { k: 'let', v: 'm', t: 'f32', e: { k: 'num', v: -Infinity, t: 'f32' }, mutable: true },
      loop('o', dim('n'), [set('m', call('max', v('m'), load('x', v('o'))))]),
      store('y', i(0), v('m')),
    ]);
    expect(checkKernel(k)).toEqual([]);
  });

  it('prints a reduction that no schedule has lowered', () => {
    const text = printKernel(kernel([reduce('m', 'max', 'o', dim('n'), load('x', v('o'))), store('y', i(0), v('m'))]));
    expect(text).toContain('let m: f32 = reduce max o in [0, n) {\n    x[o]\n  }\n  y[0] = m');
  });

  it('gives the N-dim parallel index space of a kernel: attention (batch, head, query), a matmul (row, column)', () => {
    const r = checkFiles(['specs/gpt_tiny.tfm']);
    const kernels = compile(r.models[0], UNSCHEDULED, undefined, { train: true }).kernels;
    const domain = (doc: RegExp) => parallelDomain(kernels.find((k) => doc.test(k.doc))!).map((l) => l.v);
    expect(domain(/^fused attention \(/)).toEqual(['b', 'h', 'qi']);
    expect(domain(/^fused attention backward/)).toEqual(['b']);
    expect(domain(/^c = a @ b/)).toEqual(['i', 'j']);
    expect(domain(/^layernorm over/)).toEqual(['r']);
  });

  it('accepts the same arithmetic with explicit casts', () => {
    expect(checkKernel(kernel([loop('o', dim('n'), [store('y', v('o'), add(load('x', v('o')), cast('f32', v('o'))))]), let_('t', cast('i32', load('x', i(0))), 'i32')]))).toEqual([]);
  });
});
