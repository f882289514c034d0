// Generation from a decoder: prompts in, new tokens out, one position at a time, with the
// decoding strategies of decoding.ts and stop sequences on the text.
//
// This loop runs the model's evaluation program on each row's whole window (the last `seq`
// tokens) for every new token: the reference that an incremental decoder with a KV cache must
// match, and the way to generate from any decoder the compiler builds. Rows of different
// lengths share a batch without padding masks: in a causal decoder the logits at a row's last
// real token do not depend on what lies after it, so the filler there is never seen.
import type { ModelRunner } from '../executor.ts';
import type { Rng } from '../init.ts';
import { nextToken, StopText, type DecodingOptions } from './decoding.ts';

export interface GenerateOptions extends DecodingOptions {
  maxNewTokens: number;
  /** Text that ends a row's generation (not included in its output). */
  stop?: string[];
  /** Token ids that end a row's generation (`<eos>`; not included). */
  stopTokens?: number[];
}

export interface Generated {
  /** The new tokens of each row (without a stop token; with the tokens of a stop sequence). */
  tokens: number[][];
  /** The new text of each row, cut before a stop sequence. */
  text: string[];
  /** Why each row ended. */
  reason: ('length' | 'stop' | 'stop-token')[];
}

/**
 * Generates from `prompts` (token ids; each non-empty) on `ex`, an evaluation executor of a
 * decoder for dims {batch ≥ prompts.length, seq}. `decode` turns a row's new tokens into
 * text; `onText(row, text)` receives each row's text as it becomes final (streaming).
 */
export async function generate(
  ex: ModelRunner,
  dims: { batch: number; seq: number; vocab: number },
  prompts: number[][],
  o: GenerateOptions,
  rng: Rng,
  decode: (ids: number[]) => string,
  onText?: (row: number, text: string) => void,
): Promise<Generated> {
  const { batch, seq, vocab } = dims;
  if (prompts.length > batch) throw new Error(`${prompts.length} prompts for a batch of ${batch}`);
  if (prompts.some((p) => p.length === 0)) throw new Error('an empty prompt');
  const rows = prompts.map((p) => [...p]);
  const fresh: number[][] = prompts.map(() => []);
  const shown = prompts.map(() => 0);
  const text = prompts.map(() => '');
  const stops = prompts.map(() => new StopText(o.stop ?? []));
  const reason: Generated['reason'] = prompts.map(() => 'length');
  const done = prompts.map(() => false);
  const stopTokens = new Set(o.stopTokens ?? []);
  const tokens = ex.input('tokens') as Int32Array;
  if (ex.hasInput('targets')) (ex.input('targets') as Int32Array).fill(-100);
  const emit = (r: number, piece: string) => {
    if (!piece) return;
    text[r] += piece;
    onText?.(r, piece);
  };
  for (let step = 0; step < o.maxNewTokens && done.some((d) => !d); step++) {
    const last: number[] = [];
    tokens.fill(0);
    rows.forEach((ids, r) => {
      const window = ids.slice(-seq);
      tokens.set(window, r * seq);
      last.push(window.length - 1);
    });
    await ex.forward();
    const logits = (await ex.read('logits')) as Float32Array;
    rows.forEach((ids, r) => {
      if (done[r]) return;
      const t = nextToken(logits, (r * seq + last[r]) * vocab, vocab, ids, o, rng);
      if (stopTokens.has(t)) {
        done[r] = true;
        reason[r] = 'stop-token';
        return;
      }
      ids.push(t);
      fresh[r].push(t);
      // Text is shown once it is final: a byte-level tokenizer may end a token inside a
      // character (decoded as U+FFFD until the next token completes it).
      const all = decode(fresh[r]);
      const stable = all.endsWith('\uFFFD') ? all.slice(0, all.lastIndexOf('\uFFFD')) : all;
      if (stable.length > shown[r]) {
        const s = stops[r].push(stable.slice(shown[r]));
        shown[r] = stable.length;
        emit(r, s.text);
        if (s.stop) {
          done[r] = true;
          reason[r] = 'stop';
        }
      }
    });
  }
  rows.forEach((_, r) => {
    if (reason[r] === 'stop') return;
    const all = decode(fresh[r]);
    const s = stops[r].push(all.slice(shown[r]));
    emit(r, s.text);
    if (s.stop) reason[r] = 'stop';
    else emit(r, stops[r].flush());
  });
  return { tokens: fresh, text, reason };
}
