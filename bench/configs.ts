// The benchmark models, shared by our side and the peers.
import type { GptConfig } from './peers/tfjs-gpt.ts';

/** GPT-mini: the model of specs/gpt_tiny.tfm at batch 16 × 64. */
export const GPT_MINI: GptConfig = { vocab: 65, ctx: 64, d: 128, heads: 4, layers: 4, batch: 16, seq: 64 };

export interface BertConfig {
  vocab: number;
  d: number;
  heads: number;
  layers: number;
  batch: number;
  seq: number;
}

/** BERT-mini forward: bench/bert_mini.tfm (d 256, 4 layers, 4 heads, seq 128, batch 8). */
export const BERT_MINI: BertConfig = { vocab: 30522, d: 256, heads: 4, layers: 4, batch: 8, seq: 128 };

/** The generation benchmark's models (GPT-2 layout): a prompt of `prompt` tokens prefilled
 *  into a key/value cache of `ctx` positions, then decode steps of one token per row. */
export const GEN_MODELS: Record<string, { spec: string; vocab: number; d: number; heads: number; layers: number; ctx: number; prompt: number }> = {
  gpt_tiny: { spec: 'specs/gpt_tiny.tfm', vocab: 65, d: 128, heads: 4, layers: 4, ctx: 64, prompt: 32 },
  gpt2_small: { spec: 'specs/gpt2_small.tfm', vocab: 50257, d: 768, heads: 12, layers: 12, ctx: 64, prompt: 32 },
};
