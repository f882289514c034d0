// The arithmetic peak of one core under V8 WebAssembly: a loop of 12 independent f32x4
// multiply-adds on registers only (no memory), with relaxed SIMD's fused multiply-add and with
// separate f32x4.mul + f32x4.add. `node bench/peak.mjs` (fma) or `node bench/peak.mjs nofma`. The
// ceiling the matmul benchmark is measured against (README: benchmarks).
import binaryen from 'binaryen';
import v8 from 'node:v8';
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
const m = new binaryen.Module();
m.setFeatures(binaryen.Features.MVP | binaryen.Features.SIMD128 | binaryen.Features.RelaxedSIMD);
const V = binaryen.v128, A = 12;
const madd = (a, b, c) => binaryen._BinaryenSIMDTernary(m.ptr, binaryen.RelaxedMaddVecF32x4, a, b, c);
const fma = process.argv[2] !== 'nofma';
const body = [];
for (let k = 0; k < A; k++) body.push(m.local.set(2 + k, m.f32x4.splat(m.f32.const(k))));
const step = [];
for (let k = 0; k < A; k++) step.push(m.local.set(2 + k, fma ? madd(m.local.get(2 + A, V), m.local.get(3 + A, V), m.local.get(2 + k, V)) : m.f32x4.add(m.f32x4.mul(m.local.get(2 + A, V), m.local.get(3 + A, V)), m.local.get(2 + k, V))));
body.push(m.local.set(2 + A, m.f32x4.splat(m.f32.const(0.999))), m.local.set(3 + A, m.f32x4.splat(m.f32.const(0.001))));
body.push(m.loop('l', m.block(null, [...step, m.local.set(1, m.i32.add(m.local.get(1, binaryen.i32), m.i32.const(1))), m.br('l', m.i32.lt_s(m.local.get(1, binaryen.i32), m.local.get(0, binaryen.i32)))])));
let sum = m.local.get(2, V);
for (let k = 1; k < A; k++) sum = m.f32x4.add(sum, m.local.get(2 + k, V));
body.push(m.f32x4.extract_lane(sum, 0));
m.addFunction('run', binaryen.createType([binaryen.i32]), binaryen.f32, [binaryen.i32, ...Array(A + 2).fill(V)], m.block(null, body, binaryen.f32));
m.addFunctionExport('run', 'run');
m.optimize();
const { instance } = await WebAssembly.instantiate(m.emitBinary());
const n = 2e7;
instance.exports.run(1000);
for (let r = 0; r < 3; r++) {
  const t0 = performance.now();
  instance.exports.run(n);
  const ms = performance.now() - t0;
  console.log(fma ? 'fma' : 'mul+add', (n * A * 8 / ms / 1e6).toFixed(1), 'GFLOP/s per core');
}
