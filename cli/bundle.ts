// `tfm compile --target webgpu --bundle`: one ES module a web page can import — the WebGPU
// runtime (runtime/webgpu/browser.ts, bundled by esbuild) and the compiled model (program.json
// and kernels.wgsl, embedded as JSON literals: data, never code) — exporting
// `createExecutor(dims)`, `program`, `wgsl`, `GpuExecutor` and `gpuContext`.
import { buildSync } from 'esbuild';
import { fileURLToPath } from 'node:url';
import type { Program } from '../common/program.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export function webgpuBundle(program: Program, wgsl: string): string {
  const entry = [
    `import { GpuExecutor, gpuContext, gpuUnavailable } from './runtime/webgpu/browser.ts';`,
    `/** The compiled model (program.json). */`,
    `export const program = ${JSON.stringify(program)};`,
    `/** Its WGSL kernels (kernels.wgsl). */`,
    `export const wgsl = ${JSON.stringify(wgsl)};`,
    `/** An executor of the model on the page's WebGPU device, for run-time dims ({ batch, seq }). */`,
    `export function createExecutor(dims) { return GpuExecutor.create(program, wgsl, dims); }`,
    `export { GpuExecutor, gpuContext, gpuUnavailable };`,
  ].join('\n');
  const out = buildSync({
    stdin: { contents: entry, resolveDir: ROOT, loader: 'ts', sourcefile: 'tfm-model.ts' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    // Dawn's Node bindings: imported only where there is no navigator.gpu, never in a page.
    external: ['webgpu'],
    write: false,
    logLevel: 'silent',
    banner: { js: `// tfm WebGPU bundle of model \`${program.model.replace(/[^A-Za-z0-9_]/g, '_')}\`: the runtime and the compiled model. Generated; do not edit.` },
  });
  return out.outputFiles[0].text;
}
