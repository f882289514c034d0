// A target is what turns the target-neutral kernel IR into code for one kind of machine: its
// schedule (kernel-IR → kernel-IR passes, in order) and its renderer (kernels → the files of a
// compiled model). The driver (compiler/codegen/compile.ts) is the same for every target, and
// so are the program (common/program.ts) and the executor ABI; adding a target adds a folder
// here and an entry in index.ts.
import type { SourceMap } from '../../common/source.ts';
import type { Kernel } from '../codegen/kir.ts';
import type { KernelVariant } from '../codegen/kernels.ts';
import type { Program } from '../../common/program.ts';

export interface RenderContext {
  /** Header lines for generated files: spec, compiler version. No timestamps or absolute paths. */
  header: string[];
  sources?: SourceMap;
}

export interface Target {
  /** The name users write after `--target`, and the folder of its output under generated/<model>/. */
  name: string;
  /** The kernel algorithms this target asks for where machines differ (kernels.ts
   *  KernelVariant); the builders' default otherwise. */
  variants?: KernelVariant[];
  /** Kernel-IR → kernel-IR passes that choose how each kernel runs on this target. */
  schedule: ((k: Kernel) => Kernel)[];
  /** The generated files of a compiled model, by name (program.json is written by the driver). */
  render(kernels: Kernel[], ctx: RenderContext): Record<string, string | Uint8Array>;
  /** The readable code of each kernel as its generated file shows it (doc comment included),
   *  by kernel name: what `tfm diff` compares. */
  review(kernels: Kernel[], ctx: RenderContext): Map<string, string>;
  /** Bytes an executor of the compiled program allocates at `dims` beside the program's
   *  buffers, from the scheduled kernels (WebGPU: the textures its matmuls read operands
   *  through); what `tfm compile` and `tfm diff` report beside the peak. None when absent. */
  textureBytes?(program: Program, kernels: Kernel[], dims: Record<string, number>): number;
}

/** A kernel after a target's schedule passes, in order. */
export function scheduled(target: Target, k: Kernel): Kernel {
  return target.schedule.reduce((x, pass) => pass(x), k);
}
