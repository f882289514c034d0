// Generation with an encoder-decoder by recomputation: each step runs the model's evaluation
// program on the sources and the prefixes so far (teacher-forced), and reads the logits at each
// prefix's end. Causality makes what lies past a prefix irrelevant, so one executor whose
// decoder length covers the longest answer serves every step. This is the reference that a
// cached decoder must equal; it recomputes the encoder at every step.
import type { ModelRunner } from '../executor.ts';
import { IGNORE_INDEX } from '../text/mlm.ts';
import { fillRows, fillSources, type Example, type Seq2SeqRows } from '../objectives/seq2seq.ts';
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

/** Next-token logits of an encoder-decoder with its caches: the encoder program runs once on
 *  the sources (`sourceOf(row)`, right-padded) and hands each cross attention its keys and
 *  values; the decoder program (dims `tgt_seq` 1, `ctx` ≥ the longest answer) then takes each
 *  row's newest token at its position. Prefixes must grow by one token per call (rows that
 *  stopped are fed filler); `reorder` moves the self-attention caches with the beams. */
export async function cachedNext(encoder: ModelRunner, decoder: ModelRunner, rows: Seq2SeqRows & { width: number }, sourceOf: (row: number) => number[]): Promise<NextLogits> {
  fillSources(encoder, rows, sourceOf);
  await encoder.forward();
  for (const name of Object.keys(encoder.program.outputs)) if (name.startsWith('cross:')) decoder.input(name).set((await encoder.read(name)) as Float32Array);
  if (decoder.hasInput('src_key_mask')) decoder.input('src_key_mask').set(encoder.input('src_key_mask'));
  const caches = Object.keys(decoder.program.outputs).filter((n) => n.startsWith('cache:'));
  const tokens = decoder.input('tgt_tokens') as Int32Array;
  const past = decoder.input('past') as Int32Array;
  const next: NextLogits = async (prefixes) => {
    tokens.fill(rows.pad);
    past.fill(0);
    prefixes.forEach((p, r) => {
      tokens[r] = p.length ? p[p.length - 1] : rows.start;
      past[r] = p.length;
    });
    await decoder.forward();
    const logits = (await decoder.read('logits')) as Float32Array;
    return Float32Array.from(logits.subarray(0, prefixes.length * rows.width));
  };
  next.reorder = async (from) => {
    if (from.every((f, r) => f === r)) return; // every beam continues its own row
    for (const name of caches) {
      const cache = Float32Array.from((await decoder.read(name)) as Float32Array);
      const row = cache.length / rows.batch;
      const moved = cache.slice();
      from.forEach((f, r) => moved.set(cache.subarray(f * row, (f + 1) * row), r * row));
      decoder.write(name, moved);
    }
  };
  return next;
}
