// Masked-language-model inputs, as BERT pretrains (Devlin et al. 2019, §3.1 and appendix A):
// in each sequence, round(maskProb · n) of its n tokens that are not special (padding, <cls>,
// <sep>, <mask>, …) are chosen (at least one when n > 0) — exactly that many, drawn without
// replacement, as BERT's own data generator does, rather than each token on a coin flip, so
// that every sequence carries the same share of loss positions. Of the chosen, a fraction
// split[0] becomes <mask>, split[1] a token drawn uniformly from the non-special vocabulary,
// and split[2] stays as it is (each chosen position draws its fate independently). The
// targets are the original token at chosen positions and IGNORE_INDEX elsewhere — the index
// softmax cross-entropy skips — so the loss is taken on chosen positions only. Everything is
// drawn from the generator given, so a run is reproducible from its state.
import type { Rng } from '../init.ts';

/** The target softmax cross-entropy ignores (the compiler lowers it with this index). */
export const IGNORE_INDEX = -100;

export interface MlmSettings {
  /** The share of non-special tokens chosen per sequence (BERT: 0.15). */
  maskProb: number;
  /** Of the chosen: → <mask>, → a random token, unchanged (BERT: 0.8, 0.1, 0.1). */
  split: readonly [number, number, number];
  maskId: number;
  /** Ids never chosen and never drawn as a random replacement. */
  special: ReadonlySet<number>;
  vocab: number;
}

export interface Masker {
  /** Masks `tokens` (batch rows of `seq`) into `input` and `targets`; returns how many
   *  positions were chosen. */
  batch(tokens: Int32Array, seq: number, rng: Rng, input: Int32Array, targets: Int32Array): number;
}

export function mlmMasker(s: MlmSettings): Masker {
  const [toMask, toRandom, toKeep] = s.split;
  // The checker has validated the spec's objective (a probability, a split of three shares
  // that add up to 1, a <mask> special): a violation here is a bug, not bad input.
  if (!(s.maskProb > 0 && s.maskProb <= 1)) throw new Error(`internal: mlm masking probability ${s.maskProb}`);
  if ([toMask, toRandom, toKeep].some((x) => !(x >= 0)) || Math.abs(toMask + toRandom + toKeep - 1) > 1e-6) throw new Error(`internal: mlm split ${s.split.join(', ')}`);
  if (!s.special.has(s.maskId)) throw new Error(`internal: mlm mask token ${s.maskId} is not special`);
  const ordinary = Int32Array.from({ length: s.vocab }, (_, id) => id).filter((id) => !s.special.has(id));
  if (!ordinary.length) throw new Error('internal: mlm vocabulary has no ordinary token');
  let positions = new Int32Array(0);
  return {
    batch(tokens, seq, rng, input, targets) {
      if (tokens.length % seq !== 0 || input.length !== tokens.length || targets.length !== tokens.length) throw new Error(`internal: mlm batch of ${tokens.length} tokens, rows of ${seq}, outputs of ${input.length} and ${targets.length}`);
      if (positions.length < seq) positions = new Int32Array(seq);
      input.set(tokens);
      targets.fill(IGNORE_INDEX);
      let chosen = 0;
      for (let o = 0; o < tokens.length; o += seq) {
        let n = 0;
        for (let t = 0; t < seq; t++) if (!s.special.has(tokens[o + t])) positions[n++] = o + t;
        const k = n === 0 ? 0 : Math.min(n, Math.max(1, Math.round(s.maskProb * n)));
        // The first k of a partial Fisher–Yates shuffle: k distinct positions, uniformly.
        for (let c = 0; c < k; c++) {
          const pick = c + rng.int(n - c);
          const at = positions[pick];
          positions[pick] = positions[c];
          positions[c] = at;
          targets[at] = tokens[at];
          const u = rng.next();
          if (u < toMask) input[at] = s.maskId;
          else if (u < toMask + toRandom) input[at] = ordinary[rng.int(ordinary.length)];
        }
        chosen += k;
      }
      return chosen;
    },
  };
}

/** The most positions a row of `seq` tokens can have chosen: the width of the gathered
 *  targets (the training graph's `picks` dim). A row has n ≤ seq ordinary tokens and
 *  chooses min(n, max(1, round(maskProb · n))) of them. */
export function maxPicks(maskProb: number, seq: number): number {
  return Math.max(1, Math.round(maskProb * seq));
}

/**
 * The chosen positions of each row, in order, and their targets — what the training graph
 * takes (`mlm_positions`, `targets` of [batch, picks]): it gathers those rows before the output
 * layer instead of computing logits everywhere. Rows with fewer than `picks` chosen are
 * filled with position 0 and IGNORE_INDEX, which the loss skips.
 */
export function gatherTargets(targets: Int32Array, seq: number, picks: number, positions: Int32Array, picked: Int32Array): void {
  const rows = targets.length / seq;
  if (!Number.isInteger(rows) || positions.length !== rows * picks || picked.length !== rows * picks) throw new Error(`internal: gathering ${targets.length} targets in rows of ${seq} into ${positions.length} and ${picked.length} of ${picks} per row`);
  positions.fill(0);
  picked.fill(IGNORE_INDEX);
  for (let r = 0; r < rows; r++) {
    let j = 0;
    for (let t = 0; t < seq; t++) {
      const target = targets[r * seq + t];
      if (target === IGNORE_INDEX) continue;
      if (j === picks) throw new Error(`internal: row ${r} has more than ${picks} chosen positions`);
      positions[r * picks + j] = t;
      picked[r * picks + j++] = target;
    }
  }
}
