// Generation with an encoder-decoder by recomputation: each step runs the model's evaluation
// program on the sources and the prefixes so far (teacher-forced), and reads the logits at each
// prefix's end. Causality makes what lies past a prefix irrelevant, so one executor whose
// decoder length covers the longest answer serves every step. This is the reference that a
// cached decoder must equal; it recomputes the encoder at every step.
import type { ModelRunner } from '../executor.ts';
import { IGNORE_INDEX } from '../text/mlm.ts';
import { fillRows, type Example, type Seq2SeqRows } from '../objectives/seq2seq.ts';
import type { NextLogits } from './beam.ts';

/** Next-token logits of an encoder-decoder's evaluation program for prefixes of rows whose
 *  sources are `sourceOf(row)`; rows past the prefixes given are filler. */
export function recomputeNext(runner: Pick<ModelRunner, 'input' | 'hasInput' | 'forward' | 'read'>, rows: Seq2SeqRows & { width: number }, sourceOf: (row: number) => number[]): NextLogits {
  return async (prefixes) => {
    const examples: Example[] = Array.from({ length: rows.batch }, (_, r) => (r < prefixes.length ? { source: sourceOf(r), target: [...prefixes[r], rows.pad] } : { source: [rows.pad], target: [rows.pad] }));
    fillRows(runner, rows, examples);
    (runner.input('targets') as Int32Array).fill(IGNORE_INDEX);
    await runner.forward();
    const logits = (await runner.read('logits')) as Float32Array;
    const out = new Float32Array(prefixes.length * rows.width);
    prefixes.forEach((p, r) => out.set(logits.subarray((r * rows.tgtSeq + p.length) * rows.width, (r * rows.tgtSeq + p.length + 1) * rows.width), r * rows.width));
    return out;
  };
}
