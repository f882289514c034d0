// `tfm compile`: check, lower, differentiate and generate kernels for each model of the
// given spec files; write them under <out>/<model>/<target>/ or print one stage.
import { join } from 'node:path';
import { differentiate } from '../compiler/autodiff.ts';
import { checkFiles, type CheckedModel } from '../compiler/check.ts';
import { compile, type CompileOptions } from '../compiler/codegen/compile.ts';
import { targetNamed } from '../compiler/targets/index.ts';
import { renderWasm } from '../compiler/targets/wasm/render.ts';
import { emit } from '../compiler/codegen/emit.ts';
import { TorchRenderError } from '../compiler/torch/render.ts';
import { MissingKernel } from '../compiler/codegen/kernels.ts';
import { lowerModel, LoweringError } from '../compiler/lower.ts';
import { fuseKernels } from '../compiler/passes/fuse.ts';
import { peakBytes } from '../compiler/passes/plan.ts';
import { maxPicks } from '../runtime/text/mlm.ts';
import { printGraph } from '../compiler/print.ts';
import { TfmError } from '../common/errors.ts';
import { writeAtomically } from '../common/files.ts';
import { webgpuBundle } from './bundle.ts';
import { mlmSettings } from './driver.ts';

/** The run-time dims `tfm compile` and `tfm diff` report peak memory and FLOPs at: batch 1
 *  and the full context (a prefill of the whole context for an inference program). */
export function nominalDims(m: CheckedModel): Record<string, number> & { batch: number; seq: number } {
  const ctx = m.model.inputs.tokens?.context?.value ?? 128;
  const picks = m.model.objective?.kind.value === 'mlm' ? maxPicks(mlmSettings(m).maskProb, ctx) : 1;
  return { batch: 1, seq: ctx, ctx, src_seq: ctx, tgt_seq: m.model.inputs.targets?.context?.value ?? ctx, picks };
}

export async function compileCommand(files: string[], opts: { target: string; emit?: string; dumpAfter?: string; out: string; bundle?: boolean; cache?: boolean }): Promise<number> {
  const result = checkFiles(files);
  const errors = result.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length) throw new TfmError('TFM1000', `${files.length === 1 ? `\`${files[0]}\` has` : 'the specs have'} errors`, undefined, { diagnostics: errors, sources: result.program.sources });
  let status = 0;
  for (const m of result.models) {
    try {
      if (opts.dumpAfter) {
        const { graph, loss } = lowerModel(m);
        if (opts.dumpAfter !== 'lower') differentiate(graph, loss);
        if (opts.dumpAfter === 'fuse') fuseKernels(graph);
        process.stdout.write(printGraph(graph, result.program.sources));
        continue;
      }
      if (opts.target === 'torch') {
        // The PyTorch target renders the tensor IR (cli/torch.ts), not the kernel IR.
        if (opts.cache || opts.bundle) throw new TfmError('TFM5008', '--target torch writes the training forward pass and loss (model.py); --cache and --bundle are for the kernel targets');
        const { emitTorch, torchModule } = await import('./torch.ts');
        if (opts.emit === 'code') process.stdout.write(torchModule(m, result.program.sources));
        else console.error(`${m.model.name}: PyTorch module → ${emitTorch(m, join(opts.out, m.model.name, 'torch'), result.program.sources).join(', ')}`);
        continue;
      }
      const target = targetNamed(opts.target);
      const layout = m.model.layout?.value;
      if (opts.cache && layout !== 'decoder' && layout !== 'encoder_decoder') {
        // `--cache` over a glob of specs: the inference programs exist for decoders and encoder-decoders.
        console.error(`${m.model.name}: skipped (--cache builds the inference programs of decoders and encoder-decoders; this is ${layout ?? 'incomplete'})`);
        continue;
      }
      // With --cache: the decoder's program with a key/value cache, and for an encoder-decoder
      // also its encoder program (the cross attentions' keys and values, computed once).
      const variants: [string, CompileOptions, string][] = !opts.cache
        ? [['', {}, '']]
        : [...(layout === 'encoder_decoder' ? [['-encode', { encode: true }, ' (encoder of cached inference)'] as [string, CompileOptions, string]] : []), ['-cache', { cache: true }, ' (inference with a key/value cache)']];
      for (const [suffix, options, what] of variants) {
        const compiled = compile(m, target, result.program.sources, options);
        if (opts.emit === 'ir') process.stdout.write(printGraph(compiled.graph, result.program.sources));
        else if (opts.emit === 'kernels') console.log(JSON.stringify(compiled.kernels, null, 1));
        else if (opts.emit === 'code' || opts.emit === 'ts') {
          // The readable code: TypeScript, or the WebAssembly module as text.
          if (target.name === 'wasm') process.stdout.write(renderWasm(compiled.kernels, { header: [] }, { wat: true, fma: true }).text);
          else for (const text of Object.values(compiled.files)) if (typeof text === 'string') process.stdout.write(text);
        } else {
          const dir = join(opts.out, m.model.name, `${target.name}${suffix}`);
          const written = emit(compiled, dir);
          if (opts.bundle) {
            if (target.name !== 'webgpu') throw new TfmError('TFM5008', '--bundle writes a web page\'s module of the WebGPU target: use it with --target webgpu');
            writeAtomically(join(dir, 'tfm-webgpu.mjs'), webgpuBundle(compiled.program, compiled.files['kernels.wgsl'] as string), 'bundle');
            written.push(join(dir, 'tfm-webgpu.mjs'));
          }
          // Peak memory at batch 1 and the full context (training, or a prefill of the whole
          // context for the inference program), with and without buffer reuse.
          const dims = nominalDims(m);
          const ctx = dims.seq;
          const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
          const fused = Object.entries(compiled.fusions).map(([k, n]) => `${k} ×${n}`).join(', ');
          // WebGPU: the textures the matmuls read their operands through come beside the buffers.
          const textures = target.textureBytes?.(compiled.program, compiled.kernels, dims) ?? 0;
          const plus = textures ? ` + ${mb(textures)} of textures` : '';
          console.error(`${m.model.name}${what}: ${compiled.kernels.length} kernels, ${compiled.program.steps.length} steps (fused: ${fused || 'none'}); peak ${mb(peakBytes(compiled.program, compiled.program.memory, dims))}${plus} at batch 1, seq ${ctx} (${mb(peakBytes(compiled.program, undefined, dims))} without reuse) → ${written.join(', ')}`);
        }
      }
    } catch (e) {
      if (!(e instanceof MissingKernel || e instanceof LoweringError || e instanceof TorchRenderError)) throw e;
      const where = e instanceof LoweringError && e.span ? ` at ${e.span.file}` : '';
      console.error(`error[TFM4001]: cannot compile \`${m.model.name}\` for ${opts.target}${where}: ${e.message}`);
      status = 1;
    }
  }
  return status;
}
