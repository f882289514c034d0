// A stand-in for a compiled model's executor, for the objectives' data-pipeline tests: it
// holds the inputs it is given, answers forward passes with a loss and logits the test
// controls, and keeps a copy of the inputs of every pass.
import type { ModelRunner } from '../../runtime/executor.ts';

/** An executor of the given inputs that returns `loss` and logits from `answer`, and keeps a
 *  copy of the inputs of every forward pass. */
export function standIn(inputs: Record<string, Int32Array | Float32Array>, logitsOf: (inputs: Record<string, Int32Array | Float32Array>) => Float32Array, loss = 1.5): ModelRunner & { seen: Record<string, Int32Array | Float32Array>[] } {
  const seen: Record<string, Int32Array | Float32Array>[] = [];
  let logits: Float32Array = new Float32Array(0);
  const runner = {
    seen,
    program: { params: [] },
    steps: 0,
    paramArena: new Float32Array(4),
    mem: { m: new Float32Array(0), v: new Float32Array(0) },
    input: (name: string) => inputs[name],
    hasInput: (name: string) => name in inputs,
    forward() {
      seen.push(Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.slice()])));
      logits = logitsOf(inputs);
      return loss;
    },
    read: () => logits,
    push() {},
    pull() {},
    close() {},
  };
  return runner as unknown as ModelRunner & { seen: typeof seen };
}

