// Parameter names and layouts of the Hugging Face model of each family, so that `tfm export`
// writes weights a PyTorch/transformers model loads by name and `tfm import` reads them back.
// GPT family (GPT-2 layout: `transformer.` prefix dropped, Conv1D weights stored [in, out],
// q/k/v fused into `c_attn`): wte, wpe, h.N.ln_1, h.N.attn.c_attn, h.N.attn.c_proj, h.N.ln_2,
// h.N.mlp.c_fc, h.N.mlp.c_proj, ln_f, and lm_head (nn.Linear, [out, in]) when untied.
// GPT-1 (transformers' OpenAIGPTLMHeadModel) has the same blocks under the same names, its
// embeddings named tokens_embed and positions_embed, and no final norm.
import type { NamedTensor } from './safetensors.ts';

type Params = Map<string, NamedTensor>;

export class NameMapError extends Error {}

export type GptFamily = 'gpt2' | 'gpt1';

const GPT_BLOCKS: [RegExp, string][] = [
  [/^blocks\.(\d+)\.norm_1\.(weight|bias)$/, 'h.$1.ln_1.$2'],
  [/^blocks\.(\d+)\.norm_2\.(weight|bias)$/, 'h.$1.ln_2.$2'],
  [/^blocks\.(\d+)\.attention\.o\.(weight|bias)$/, 'h.$1.attn.c_proj.$2'],
  [/^blocks\.(\d+)\.mlp\.up\.(weight|bias)$/, 'h.$1.mlp.c_fc.$2'],
  [/^blocks\.(\d+)\.mlp\.down\.(weight|bias)$/, 'h.$1.mlp.c_proj.$2'],
];
const GPT_SIMPLE: Record<GptFamily, [RegExp, string][]> = {
  gpt2: [[/^embed\.tokens$/, 'wte.weight'], [/^embed\.positions$/, 'wpe.weight'], ...GPT_BLOCKS, [/^final_norm\.(weight|bias)$/, 'ln_f.$1']],
  gpt1: [[/^embed\.tokens$/, 'tokens_embed.weight'], [/^embed\.positions$/, 'positions_embed.weight'], ...GPT_BLOCKS],
};
const GPT_NAME: Record<GptFamily, string> = { gpt2: 'GPT-2', gpt1: 'GPT-1' };

function transpose(t: NamedTensor): NamedTensor {
  const [r, c] = t.shape;
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = t.data[i * c + j];
  return { shape: [c, r], data: out };
}

/** Concatenates [.., a], [.., b], ... along the last dim. */
function concatLast(ts: NamedTensor[]): NamedTensor {
  const rows = ts[0].data.length / ts[0].shape[ts[0].shape.length - 1];
  const widths = ts.map((t) => t.shape[t.shape.length - 1]);
  const W = widths.reduce((a, b) => a + b, 0);
  const out = new Float32Array(rows * W);
  for (let r = 0; r < rows; r++) {
    let at = 0;
    ts.forEach((t, k) => {
      out.set(t.data.subarray(r * widths[k], (r + 1) * widths[k]), r * W + at);
      at += widths[k];
    });
  }
  return { shape: [...ts[0].shape.slice(0, -1), W], data: out };
}

/** Columns [from, to) of the last dim. */
function sliceLast(t: NamedTensor, from: number, to: number): NamedTensor {
  const W = t.shape[t.shape.length - 1];
  const w = to - from;
  const rows = t.data.length / W;
  const out = new Float32Array(rows * w);
  for (let r = 0; r < rows; r++) out.set(t.data.subarray(r * W + from, r * W + to), r * w);
  return { shape: [...t.shape.slice(0, -1), w], data: out };
}

/** Internal parameters → GPT-2 (or GPT-1) names and layouts. */
export function exportGpt(params: Params, family: GptFamily = 'gpt2'): Params {
  const out: Params = new Map();
  const used = new Set<string>();
  for (const [name, t] of params) {
    const rule = GPT_SIMPLE[family].find(([re]) => re.test(name));
    if (rule) {
      out.set(name.replace(rule[0], rule[1]), t);
      used.add(name);
    }
  }
  for (const [name] of params) {
    const m = /^blocks\.(\d+)\.attention\.q\.(weight|bias)$/.exec(name);
    if (!m) continue;
    const parts = ['q', 'k', 'v'].map((x) => `blocks.${m[1]}.attention.${x}.${m[2]}`);
    out.set(`h.${m[1]}.attn.c_attn.${m[2]}`, concatLast(parts.map((p) => params.get(p)!)));
    parts.forEach((p) => used.add(p));
  }
  if (params.has('head.weight')) {
    out.set('lm_head.weight', transpose(params.get('head.weight')!));
    used.add('head.weight');
  }
  const left = [...params.keys()].filter((k) => !used.has(k));
  if (left.length) throw new NameMapError(`no ${GPT_NAME[family]} name for ${left.join(', ')}`);
  return out;
}

/** GPT-2 (or GPT-1) names and layouts → internal parameters (the inverse of exportGpt). */
export function importGpt(hf: Params, expected: Map<string, number[]>, family: GptFamily = 'gpt2'): Params {
  const out: Params = new Map();
  const views = gptViews(expected, family);
  const strip = (k: string) => k.replace(/^transformer\./, '');
  const byName = new Map([...hf].map(([k, t]) => [strip(k), t]));
  for (const [name, shape] of expected) {
    let t: NamedTensor | undefined;
    const rule = GPT_SIMPLE[family].find(([re]) => re.test(name));
    const qkv = /^blocks\.(\d+)\.attention\.([qkv])\.(weight|bias)$/.exec(name);
    if (rule) t = byName.get(name.replace(rule[0], rule[1]));
    else if (qkv) {
      // Columns [from, to) of the fused c_attn: q, k and v side by side, k and v narrower
      // than q under grouped-query attention.
      const fused = byName.get(`h.${qkv[1]}.attn.c_attn.${qkv[3]}`);
      const view = views.get(name)!;
      if (fused && fused.shape[fused.shape.length - 1] === view.shape[view.shape.length - 1]) t = sliceLast(fused, view.from!, view.to!);
    } else if (name === 'head.weight') {
      const lm = byName.get('lm_head.weight');
      if (lm) t = transpose(lm);
    }
    if (!t) throw new NameMapError(`checkpoint has no tensor for \`${name}\``);
    if (t.shape.length !== shape.length || t.shape.some((d, k) => d !== shape[k])) throw new NameMapError(`\`${name}\`: checkpoint shape [${t.shape}] differs from the model's [${shape}]`);
    out.set(name, t);
  }
  return out;
}

/** The stored tensors of a set of views, by name (q, k and v of one c_attn are one tensor). */
export function shapesOf(views: Map<string, HfView>): Map<string, number[]> {
  return new Map([...views.values()].map((v) => [v.key, v.shape]));
}

/** Where each parameter lives in a Hugging Face file, and in what layout (the PyTorch target
 *  reads its parameters through these views). Same fields as compiler/torch/render.ts ParamView. */
export interface HfView {
  key: string;
  layout: 'same' | 'transpose' | 'lead' | 'conv' | 'slice';
  from?: number;
  to?: number;
  shape: number[];
}

/** GPT-2 (or GPT-1) views: q, k and v are column ranges of the fused c_attn, in that order. */
export function gptViews(expected: Map<string, number[]>, family: GptFamily = 'gpt2'): Map<string, HfView> {
  const out = new Map<string, HfView>();
  for (const [name, shape] of expected) {
    const rule = GPT_SIMPLE[family].find(([re]) => re.test(name));
    const qkv = /^blocks\.(\d+)\.attention\.([qkv])\.(weight|bias)$/.exec(name);
    if (rule) out.set(name, { key: name.replace(rule[0], rule[1]), layout: 'same', shape });
    else if (qkv) {
      const widths = ['q', 'k', 'v'].map((x) => expected.get(`blocks.${qkv[1]}.attention.${x}.${qkv[3]}`)?.at(-1) ?? 0);
      const i = 'qkv'.indexOf(qkv[2]);
      const from = widths.slice(0, i).reduce((a, b) => a + b, 0);
      out.set(name, { key: `h.${qkv[1]}.attn.c_attn.${qkv[3]}`, layout: 'slice', from, to: from + widths[i], shape: [...shape.slice(0, -1), widths.reduce((a, b) => a + b, 0)] });
    } else if (name === 'head.weight') out.set(name, { key: 'lm_head.weight', layout: 'transpose', shape: [...shape].reverse() });
    else throw new NameMapError(`no ${GPT_NAME[family]} name for \`${name}\``);
  }
  return out;
}

// ViT family (ViTForImageClassification): nn.Linear weights stored [out, in]; the patch
// embedding is a Conv2d [d, channels, p, p] (our [channels·p·p, d] matrix, whose rows are
// ordered channel, row, column, transposed); `<cls>` and positions carry leading unit dims.
type Layout = 'same' | 'transpose' | 'conv' | 'lead';
type Rules = [RegExp, string, Layout][];
const VIT_RULES: Rules = [
  [/^embed\.patches\.weight$/, 'vit.embeddings.patch_embeddings.projection.weight', 'conv'],
  [/^embed\.patches\.bias$/, 'vit.embeddings.patch_embeddings.projection.bias', 'same'],
  [/^embed\.cls$/, 'vit.embeddings.cls_token', 'lead'],
  [/^embed\.positions$/, 'vit.embeddings.position_embeddings', 'lead'],
  [/^blocks\.(\d+)\.norm_1\.(weight|bias)$/, 'vit.encoder.layer.$1.layernorm_before.$2', 'same'],
  [/^blocks\.(\d+)\.norm_2\.(weight|bias)$/, 'vit.encoder.layer.$1.layernorm_after.$2', 'same'],
  [/^blocks\.(\d+)\.attention\.q\.weight$/, 'vit.encoder.layer.$1.attention.attention.query.weight', 'transpose'],
  [/^blocks\.(\d+)\.attention\.k\.weight$/, 'vit.encoder.layer.$1.attention.attention.key.weight', 'transpose'],
  [/^blocks\.(\d+)\.attention\.v\.weight$/, 'vit.encoder.layer.$1.attention.attention.value.weight', 'transpose'],
  [/^blocks\.(\d+)\.attention\.q\.bias$/, 'vit.encoder.layer.$1.attention.attention.query.bias', 'same'],
  [/^blocks\.(\d+)\.attention\.k\.bias$/, 'vit.encoder.layer.$1.attention.attention.key.bias', 'same'],
  [/^blocks\.(\d+)\.attention\.v\.bias$/, 'vit.encoder.layer.$1.attention.attention.value.bias', 'same'],
  [/^blocks\.(\d+)\.attention\.o\.weight$/, 'vit.encoder.layer.$1.attention.output.dense.weight', 'transpose'],
  [/^blocks\.(\d+)\.attention\.o\.bias$/, 'vit.encoder.layer.$1.attention.output.dense.bias', 'same'],
  [/^blocks\.(\d+)\.mlp\.up\.weight$/, 'vit.encoder.layer.$1.intermediate.dense.weight', 'transpose'],
  [/^blocks\.(\d+)\.mlp\.up\.bias$/, 'vit.encoder.layer.$1.intermediate.dense.bias', 'same'],
  [/^blocks\.(\d+)\.mlp\.down\.weight$/, 'vit.encoder.layer.$1.output.dense.weight', 'transpose'],
  [/^blocks\.(\d+)\.mlp\.down\.bias$/, 'vit.encoder.layer.$1.output.dense.bias', 'same'],
  [/^final_norm\.(weight|bias)$/, 'vit.layernorm.$1', 'same'],
  [/^head\.classifier\.weight$/, 'classifier.weight', 'transpose'],
  [/^head\.classifier\.bias$/, 'classifier.bias', 'same'],
];

// BERT family (BertForMaskedLM, BertForSequenceClassification): nn.Linear weights [out, in],
// post-norm blocks (attention.output.LayerNorm after attention, output.LayerNorm after the
// MLP), the MLM head's transform, LayerNorm and output bias under `cls.predictions` (its
// decoder is tied to the word embeddings, which transformers re-ties on load).
const BERT_RULES: Rules = [
  [/^embed\.tokens$/, 'bert.embeddings.word_embeddings.weight', 'same'],
  [/^embed\.positions$/, 'bert.embeddings.position_embeddings.weight', 'same'],
  [/^embed\.segments$/, 'bert.embeddings.token_type_embeddings.weight', 'same'],
  [/^embed\.norm\.(weight|bias)$/, 'bert.embeddings.LayerNorm.$1', 'same'],
  [/^blocks\.(\d+)\.attention\.q\.weight$/, 'bert.encoder.layer.$1.attention.self.query.weight', 'transpose'],
  [/^blocks\.(\d+)\.attention\.k\.weight$/, 'bert.encoder.layer.$1.attention.self.key.weight', 'transpose'],
  [/^blocks\.(\d+)\.attention\.v\.weight$/, 'bert.encoder.layer.$1.attention.self.value.weight', 'transpose'],
  [/^blocks\.(\d+)\.attention\.q\.bias$/, 'bert.encoder.layer.$1.attention.self.query.bias', 'same'],
  [/^blocks\.(\d+)\.attention\.k\.bias$/, 'bert.encoder.layer.$1.attention.self.key.bias', 'same'],
  [/^blocks\.(\d+)\.attention\.v\.bias$/, 'bert.encoder.layer.$1.attention.self.value.bias', 'same'],
  [/^blocks\.(\d+)\.attention\.o\.weight$/, 'bert.encoder.layer.$1.attention.output.dense.weight', 'transpose'],
  [/^blocks\.(\d+)\.attention\.o\.bias$/, 'bert.encoder.layer.$1.attention.output.dense.bias', 'same'],
  [/^blocks\.(\d+)\.norm_1\.(weight|bias)$/, 'bert.encoder.layer.$1.attention.output.LayerNorm.$2', 'same'],
  [/^blocks\.(\d+)\.mlp\.up\.weight$/, 'bert.encoder.layer.$1.intermediate.dense.weight', 'transpose'],
  [/^blocks\.(\d+)\.mlp\.up\.bias$/, 'bert.encoder.layer.$1.intermediate.dense.bias', 'same'],
  [/^blocks\.(\d+)\.mlp\.down\.weight$/, 'bert.encoder.layer.$1.output.dense.weight', 'transpose'],
  [/^blocks\.(\d+)\.mlp\.down\.bias$/, 'bert.encoder.layer.$1.output.dense.bias', 'same'],
  [/^blocks\.(\d+)\.norm_2\.(weight|bias)$/, 'bert.encoder.layer.$1.output.LayerNorm.$2', 'same'],
  [/^pooler\.weight$/, 'bert.pooler.dense.weight', 'transpose'],
  [/^pooler\.bias$/, 'bert.pooler.dense.bias', 'same'],
  [/^head\.transform\.weight$/, 'cls.predictions.transform.dense.weight', 'transpose'],
  [/^head\.transform\.bias$/, 'cls.predictions.transform.dense.bias', 'same'],
  [/^head\.norm\.(weight|bias)$/, 'cls.predictions.transform.LayerNorm.$1', 'same'],
  [/^head\.bias$/, 'cls.predictions.bias', 'same'],
  [/^head\.classifier\.weight$/, 'classifier.weight', 'transpose'],
  [/^head\.classifier\.bias$/, 'classifier.bias', 'same'],
];

// The ViT and BERT families are tables of rules: an internal name pattern, its Hugging Face
// name, and how the tensor's layout changes. One set of functions serves every table.
function ruleFor(rules: Rules, family: string, name: string): [string, Layout] {
  const rule = rules.find(([re]) => re.test(name));
  if (!rule) throw new NameMapError(`no ${family} name for \`${name}\``);
  return [name.replace(rule[0], rule[1]), rule[2]];
}

/** The Hugging Face shape of a parameter of internal shape `shape` (`channels`: of the image a
 *  patch projection reads). */
function layoutShape(layout: Layout, shape: number[], channels: number): number[] {
  switch (layout) {
    case 'same':
      return shape;
    case 'transpose':
      return [...shape].reverse();
    case 'lead':
      return shape.length === 1 ? [1, 1, ...shape] : [1, ...shape];
    case 'conv': {
      const p = Math.round(Math.sqrt(shape[0] / channels));
      if (p * p * channels !== shape[0]) throw new NameMapError(`patch weights of ${shape[0]} rows are not ${channels} channels of square patches`);
      return [shape[1], channels, p, p];
    }
  }
}

function viewsByRules(rules: Rules, family: string, expected: Map<string, number[]>, channels: number): Map<string, HfView> {
  return new Map([...expected].map(([name, shape]) => {
    const [key, layout] = ruleFor(rules, family, name);
    return [name, { key, layout, shape: layoutShape(layout, shape, channels) }];
  }));
}

function exportByRules(rules: Rules, family: string, params: Params, channels: number): Params {
  return new Map([...params].map(([name, t]) => {
    const [hf, layout] = ruleFor(rules, family, name);
    const shape = layoutShape(layout, t.shape, channels);
    const data = layout === 'transpose' || layout === 'conv' ? transpose(t).data : t.data;
    return [hf, { shape, data }];
  }));
}

function importByRules(rules: Rules, family: string, hf: Params, expected: Map<string, number[]>, channels: number): Params {
  const out: Params = new Map();
  for (const [name, shape] of expected) {
    const [key, layout] = ruleFor(rules, family, name);
    const t = hf.get(key);
    if (!t) throw new NameMapError(`checkpoint has no tensor for \`${name}\` (\`${key}\`)`);
    const want = layoutShape(layout, shape, channels);
    if (t.shape.length !== want.length || t.shape.some((d, k) => d !== want[k])) throw new NameMapError(`\`${key}\`: checkpoint shape [${t.shape}] differs from the model's [${want}]`);
    const data = layout === 'transpose' || layout === 'conv' ? transpose({ shape: [want[0], t.data.length / want[0]], data: t.data }).data : t.data;
    out.set(name, { shape, data });
  }
  return out;
}

/** The Hugging Face ViT tensors (names and shapes) for a model of these parameter shapes. */
export const vitViews = (expected: Map<string, number[]>, channels: number) => viewsByRules(VIT_RULES, 'ViT', expected, channels);
/** Internal parameters → ViTForImageClassification names and layouts. */
export const exportVit = (params: Params, channels: number) => exportByRules(VIT_RULES, 'ViT', params, channels);
/** ViTForImageClassification names and layouts → internal parameters (exportVit's inverse). */
export const importVit = (hf: Params, expected: Map<string, number[]>, channels: number) => importByRules(VIT_RULES, 'ViT', hf, expected, channels);

export const bertViews = (expected: Map<string, number[]>) => viewsByRules(BERT_RULES, 'BERT', expected, 1);
/** Internal parameters → BertForMaskedLM / BertForSequenceClassification names and layouts. */
export const exportBert = (params: Params) => exportByRules(BERT_RULES, 'BERT', params, 1);
/** BERT names and layouts → internal parameters (exportBert's inverse). */
export const importBert = (hf: Params, expected: Map<string, number[]>) => importByRules(BERT_RULES, 'BERT', hf, expected, 1);

// T5 family (T5ForConditionalGeneration): no biases; nn.Linear weights [out, in]; per block
// `layer.0` is self attention, then (decoder) `layer.1` cross attention (`EncDecAttention`),
// then the MLP (`DenseReluDense`: `wi`, or `wi_0` under the activation and `wi_1` beside it
// when gated, and `wo`), each with its own `layer_norm`; the relative position bias lives in
// block 0's self attention of each stack; `shared` is the tied embedding (the d_model^-0.5
// rescale of the tied head is in the architecture, not in a tensor).
function t5Rules(gated: boolean): Rules {
  const mlp = (stack: string, layer: number): Rules => [
    [new RegExp(`^${stack}\\.blocks\\.(\\d+)\\.mlp\\.up\\.weight$`), `${stack}.block.$1.layer.${layer}.DenseReluDense.${gated ? 'wi_1' : 'wi'}.weight`, 'transpose'],
    [new RegExp(`^${stack}\\.blocks\\.(\\d+)\\.mlp\\.gate\\.weight$`), `${stack}.block.$1.layer.${layer}.DenseReluDense.wi_0.weight`, 'transpose'],
    [new RegExp(`^${stack}\\.blocks\\.(\\d+)\\.mlp\\.down\\.weight$`), `${stack}.block.$1.layer.${layer}.DenseReluDense.wo.weight`, 'transpose'],
  ];
  return [
    [/^embed\.tokens$/, 'shared.weight', 'same'],
    [/^(encoder|decoder)\.relative_bias$/, '$1.block.0.layer.0.SelfAttention.relative_attention_bias.weight', 'same'],
    [/^(encoder|decoder)\.blocks\.(\d+)\.norm_1\.weight$/, '$1.block.$2.layer.0.layer_norm.weight', 'same'],
    [/^(encoder|decoder)\.blocks\.(\d+)\.attention\.([qkvo])\.weight$/, '$1.block.$2.layer.0.SelfAttention.$3.weight', 'transpose'],
    [/^encoder\.blocks\.(\d+)\.norm_2\.weight$/, 'encoder.block.$1.layer.1.layer_norm.weight', 'same'],
    ...mlp('encoder', 1),
    [/^decoder\.blocks\.(\d+)\.norm_2\.weight$/, 'decoder.block.$1.layer.1.layer_norm.weight', 'same'],
    [/^decoder\.blocks\.(\d+)\.cross_attention\.([qkvo])\.weight$/, 'decoder.block.$1.layer.1.EncDecAttention.$2.weight', 'transpose'],
    [/^decoder\.blocks\.(\d+)\.norm_3\.weight$/, 'decoder.block.$1.layer.2.layer_norm.weight', 'same'],
    ...mlp('decoder', 2),
    [/^(encoder|decoder)\.final_norm\.weight$/, '$1.final_layer_norm.weight', 'same'],
    [/^head\.weight$/, 'lm_head.weight', 'transpose'],
  ];
}

/** Whether a T5's MLPs are gated (T5 v1.1: a `gate` beside `up`). */
const gatedT5 = (names: Iterable<string>) => [...names].some((n) => /\.mlp\.gate\.weight$/.test(n));

export const t5Views = (expected: Map<string, number[]>) => viewsByRules(t5Rules(gatedT5(expected.keys())), 'T5', expected, 1);
/** Internal parameters → T5ForConditionalGeneration names and layouts. */
export const exportT5 = (params: Params) => exportByRules(t5Rules(gatedT5(params.keys())), 'T5', params, 1);
/** T5 names and layouts → internal parameters (exportT5's inverse). */
export const importT5 = (hf: Params, expected: Map<string, number[]>) => importByRules(t5Rules(gatedT5(expected.keys())), 'T5', hf, expected, 1);

// BART family (BartForConditionalGeneration): everything under `model.`; nn.Linear weights
// [out, in] with biases; post-norm blocks (`self_attn_layer_norm`, then in the decoder
// `encoder_attn_layer_norm`, then `final_layer_norm` after the MLP `fc1`/`fc2`); learned
// positions with BART's offset of 2 (their table has context + 2 rows, as ours does);
// `layernorm_embedding`; the head tied to `model.shared`, plus `final_logits_bias` [1, vocab],
// which our models do not have: export writes it as zeros, import requires it to be zero.
const BART_LINEAR: [string, string][] = [
  ['attention\\.q', 'self_attn.q_proj'],
  ['attention\\.k', 'self_attn.k_proj'],
  ['attention\\.v', 'self_attn.v_proj'],
  ['attention\\.o', 'self_attn.out_proj'],
  ['cross_attention\\.q', 'encoder_attn.q_proj'],
  ['cross_attention\\.k', 'encoder_attn.k_proj'],
  ['cross_attention\\.v', 'encoder_attn.v_proj'],
  ['cross_attention\\.o', 'encoder_attn.out_proj'],
  ['mlp\\.up', 'fc1'],
  ['mlp\\.down', 'fc2'],
];
const BART_RULES: Rules = [
  [/^embed\.tokens$/, 'model.shared.weight', 'same'],
  [/^(encoder|decoder)\.embed\.positions$/, 'model.$1.embed_positions.weight', 'same'],
  [/^(encoder|decoder)\.embed\.norm\.(weight|bias)$/, 'model.$1.layernorm_embedding.$2', 'same'],
  ...BART_LINEAR.flatMap(([ours, theirs]): Rules => [
    [new RegExp(`^(encoder|decoder)\\.blocks\\.(\\d+)\\.${ours}\\.weight$`), `model.$1.layers.$2.${theirs}.weight`, 'transpose'],
    [new RegExp(`^(encoder|decoder)\\.blocks\\.(\\d+)\\.${ours}\\.bias$`), `model.$1.layers.$2.${theirs}.bias`, 'same'],
  ]),
  [/^(encoder|decoder)\.blocks\.(\d+)\.norm_1\.(weight|bias)$/, 'model.$1.layers.$2.self_attn_layer_norm.$3', 'same'],
  [/^encoder\.blocks\.(\d+)\.norm_2\.(weight|bias)$/, 'model.encoder.layers.$1.final_layer_norm.$2', 'same'],
  [/^decoder\.blocks\.(\d+)\.norm_2\.(weight|bias)$/, 'model.decoder.layers.$1.encoder_attn_layer_norm.$2', 'same'],
  [/^decoder\.blocks\.(\d+)\.norm_3\.(weight|bias)$/, 'model.decoder.layers.$1.final_layer_norm.$2', 'same'],
];
const LOGITS_BIAS = 'final_logits_bias';
const vocabOf = (shapes: Map<string, number[]>) => shapes.get('embed.tokens')?.[0] ?? 0;

export const bartViews = (expected: Map<string, number[]>) => viewsByRules(BART_RULES, 'BART', expected, 1);
/** The tensors a BART file carries beyond the parameters: `final_logits_bias`, zeros. */
export const bartExtras = (expected: Map<string, number[]>) => new Map([[LOGITS_BIAS, [1, vocabOf(expected)]]]);
/** Internal parameters → BartForConditionalGeneration names and layouts (with zero logit biases). */
export function exportBart(params: Params): Params {
  const out = exportByRules(BART_RULES, 'BART', params, 1);
  const vocab = params.get('embed.tokens')?.shape[0] ?? 0;
  out.set(LOGITS_BIAS, { shape: [1, vocab], data: new Float32Array(vocab) });
  return out;
}
/** BART names and layouts → internal parameters; a nonzero `final_logits_bias` is refused. */
export function importBart(hf: Params, expected: Map<string, number[]>): Params {
  const bias = hf.get(LOGITS_BIAS);
  if (bias && bias.data.some((x) => x !== 0)) throw new NameMapError(`\`${LOGITS_BIAS}\` is not zero, and the model has no logit biases to hold it`);
  return importByRules(BART_RULES, 'BART', hf, expected, 1);
}
