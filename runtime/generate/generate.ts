// Generation from a decoder: prompts in, new tokens out, one position at a time, with the
// decoding strategies of decoding.ts and stop sequences on the text. Two ways to get each
// position's logits:
//
// - `generateWithCache` runs the inference program with a key/value cache (lowerForCache):
//   one prefill pass over the prompts, then one decode pass of a single token per row, each
//   reading the keys and values of all earlier tokens from the cache. When a row's cache is
//   full (`ctx` tokens), every row is prefilled again from its last `keep` tokens (3/4 of the
//   context) and decoding goes on: the window slides in jumps, not one token at a time.
// - `generate` runs the evaluation program on each row's whole window (the last `seq`
//   tokens) for every new token: the reference the cached decoder is tested against, and
//   the way to generate from a decoder the cache does not serve (relative position bias).
//
// Rows of different lengths share a batch without padding masks: in a causal decoder the
// logits at a row's last real token do not depend on what lies after it, so the filler there
// is never seen (and with a cache, a row's stale rows past its position are never read).
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
  const tokens = ex.input('tokens') as Int32Array;
  if (ex.hasInput('targets')) (ex.input('targets') as Int32Array).fill(-100);
  const step: LogitsStep = async (rows) => {
    const last: number[] = [];
    tokens.fill(0);
    rows.forEach((ids, r) => {
      const window = ids.slice(-seq);
      tokens.set(window, r * seq);
      last.push(window.length - 1);
    });
    await ex.forward();
    const logits = (await ex.read('logits')) as Float32Array;
    return { logits, at: last.map((t, r) => (r * seq + t) * vocab) };
  };
  return run(step, vocab, prompts, o, rng, decode, onText);
}

/** The prefill length a cached generation allocates for prompts of these lengths: the
 *  longest prompt, and at least `keepOf(ctx)` (what a refill after a full cache takes). */
export function prefillLength(prompts: number[][], ctx: number): number {
  return Math.min(ctx, Math.max(keepOf(ctx), ...prompts.map((p) => p.length)));
}

/** The dims a cached generation runs besides its allocation's (executor `variants`, so
 *  that the threads serve them too): decode (seq 1), the first prefill (the longest prompt)
 *  and a refill (keepOf(ctx)). */
export function cacheVariants(prompts: number[][], ctx: number): Record<string, number>[] {
  const seq = prefillLength(prompts, ctx);
  const lengths = new Set([1, Math.min(seq, Math.max(...prompts.map((p) => p.length))), Math.min(seq, keepOf(ctx))]);
  lengths.delete(seq);
  return [...lengths].map((n) => ({ seq: n }));
}

/** Tokens kept when a full cache is refilled: three quarters of the context. */
export const keepOf = (ctx: number) => Math.max(1, ctx - Math.floor(ctx / 4));

/**
 * Generates from `prompts` on `ex`, an executor of the inference program with a key/value
 * cache for dims {batch ≥ prompts.length, seq: prefillLength(prompts, ctx), ctx}: the prompts
 * (their last `seq` tokens) are prefilled in one pass, then each new token is one decode
 * pass (`ex.withDims({ seq: 1 })`). Same options, streaming and results as `generate`.
 */
export async function generateWithCache(
  ex: ModelRunner,
  dims: { batch: number; seq: number; ctx: number; vocab: number },
  prompts: number[][],
  o: GenerateOptions,
  rng: Rng,
  decode: (ids: number[]) => string,
  onText?: (row: number, text: string) => void,
): Promise<Generated> {
  const { batch, seq, ctx, vocab } = dims;
  if (prompts.length > batch) throw new Error(`${prompts.length} prompts for a batch of ${batch}`);
  const keep = Math.min(seq, keepOf(ctx));
  const one = ex.withDims({ seq: 1 });
  const prefills = new Map<number, ModelRunner>();
  // A prefix-LM decoder generates as a causal one: no prefix.
  const noPrefix = (r: ModelRunner) => {
    if (r.hasInput('prefix_len')) (r.input('prefix_len') as Int32Array).fill(0);
    return r;
  };
  noPrefix(ex);
  noPrefix(one);
  /** How many tokens each row's cache holds (0: prefill next), and the row's length then. */
  const held = prompts.map(() => 0);
  const seen = prompts.map(() => 0);
  const step: LogitsStep = async (rows) => {
    const grewByOne = rows.every((ids, r) => ids.length === seen[r] + 1);
    rows.forEach((ids, r) => (seen[r] = ids.length));
    if (!grewByOne || held.some((n) => n === 0 || n >= ctx)) {
      // Prefill (first call, or a full cache): each row's last tokens, from position 0, in a
      // pass as long as the longest of them.
      const windows = rows.map((ids, r) => ids.slice(-(held[r] === 0 ? seq : keep)));
      const n = Math.max(...windows.map((w) => w.length));
      const pre = n === seq ? ex : prefills.get(n) ?? prefills.set(n, noPrefix(ex.withDims({ seq: n }))).get(n)!;
      const tokens = pre.input('tokens') as Int32Array;
      tokens.fill(0);
      (pre.input('past') as Int32Array).fill(0);
      windows.forEach((w, r) => {
        tokens.set(w, r * n);
        held[r] = w.length;
      });
      await pre.forward();
      const logits = (await pre.read('logits')) as Float32Array;
      return { logits, at: windows.map((w, r) => (r * n + w.length - 1) * vocab) };
    }
    // Decode: each row's newest token at the position after what its cache holds.
    const tokens = one.input('tokens') as Int32Array;
    const past = one.input('past') as Int32Array;
    rows.forEach((ids, r) => {
      tokens[r] = ids[ids.length - 1];
      past[r] = held[r]++;
    });
    await one.forward();
    const logits = (await one.read('logits')) as Float32Array;
    return { logits, at: rows.map((_, r) => r * vocab) };
  };
  return run(step, vocab, prompts, o, rng, decode, onText);
}

/** The logits of each row's last token (offsets into `logits`) after the rows grew by one
 *  token each (or, the first time, for the prompts). */
type LogitsStep = (rows: number[][]) => Promise<{ logits: Float32Array; at: number[] }>;

async function run(step: LogitsStep, vocab: number, prompts: number[][], o: GenerateOptions, rng: Rng, decode: (ids: number[]) => string, onText?: (row: number, text: string) => void): Promise<Generated> {
  if (prompts.some((p) => p.length === 0)) throw new Error('an empty prompt');
  const rows = prompts.map((p) => [...p]);
  const fresh: number[][] = prompts.map(() => []);
  const shown = prompts.map(() => 0);
  const text = prompts.map(() => '');
  const stops = prompts.map(() => new StopText(o.stop ?? []));
  const reason: Generated['reason'] = prompts.map(() => 'length');
  const done = prompts.map(() => false);
  const stopTokens = new Set(o.stopTokens ?? []);
  const emit = (r: number, piece: string) => {
    if (!piece) return;
    text[r] += piece;
    onText?.(r, piece);
  };
  for (let n = 0; n < o.maxNewTokens && done.some((d) => !d); n++) {
    // A row that has ended still takes part (its last token again) so that every row grows
    // by one token per step; what it would generate is not used.
    if (n > 0) rows.forEach((ids, r) => done[r] && ids.push(ids[ids.length - 1]));
    const { logits, at } = await step(rows);
    rows.forEach((ids, r) => {
      if (done[r]) return;
      const t = nextToken(logits, at[r], vocab, ids, o, rng);
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
