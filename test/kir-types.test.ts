// The kernel IR is typed: the checker passes on every kernel of every spec (training and
// evaluation graphs, the optimizer included) and rejects what a target could not render
// faithfully — mixed int/float arithmetic, untyped or undeclared locals, float `%`.
import fg from 'fast-glob';
import { describe, expect, it } from 'vitest';
import { checkFiles } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { add, bin, cast, checkKernel, dim, f, i, let_, load, loop, set, store, v, type Kernel, type KStmt } from '../compiler/codegen/kir.ts';
import { TARGETS } from '../compiler/targets/index.ts';

const SPECS = [...fg.sync('specs/*.tfm'), ...fg.sync('test/valid/*.tfm')].sort();

describe('kernel IR types', () => {
  it.each(SPECS.flatMap((s) => Object.keys(TARGETS).map((t) => [s, t] as const)))('every kernel of %s type-checks after the %s schedule', (file, target) => {
    const r = checkFiles([file]);
    expect(r.models.length).toBeGreaterThan(0);
    let count = 0;
    for (const m of r.models) {
      for (const train of [true, false]) {
        for (const k of compile(m, TARGETS[target], undefined, { train }).kernels) {
          expect(checkKernel(k)).toEqual([]);
          count++;
        }
      }
    }
    expect(count).toBeGreaterThan(3);
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
  ];
  it.each(cases)('rejects %s', (_what, body, message) => {
    const errors = checkKernel(kernel(body));
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.join('\n')).toMatch(message);
  });

  it('accepts the same arithmetic with explicit casts', () => {
    expect(checkKernel(kernel([loop('o', dim('n'), [store('y', v('o'), add(load('x', v('o')), cast('f32', v('o'))))]), let_('t', cast('i32', load('x', i(0))), 'i32')]))).toEqual([]);
  });
});
