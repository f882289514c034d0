// The checked, typed model: what a spec means once statements are interpreted, `extends`
// is applied and dims are folded to constants. Every value keeps the span it came from
// (and, when it came through a dim name, where that dim was declared) for diagnostics.
import type { Span } from '../common/source.ts';
import type { Assignment } from '../grammar/ast.ts';

/** A folded constant. `origin` is the dim declaration it came from, if any. */
export interface Num {
  value: number;
  span: Span;
  origin?: { name: string; span: Span };
}

export interface Word<T extends string = string> {
  value: T;
  span: Span;
}

export type Layout = 'encoder' | 'decoder' | 'encoder_decoder';
export type NormKind = 'layernorm' | 'rmsnorm';
export type Activation = 'relu' | 'gelu' | 'gelu_tanh' | 'swiglu' | 'geglu';
export type PositionKind = 'learned' | 'sinusoidal' | 'relative_bias' | 'rotary' | 'none';
export type MaskKind = 'bidirectional' | 'causal' | 'prefix' | 'padding' | 'local';

export interface Norm {
  kind: Word<NormKind>;
  eps?: Num;
  bias: boolean;
  placement?: Word<'pre' | 'post'>;
  span: Span;
}

export interface Positions {
  kind: Word<PositionKind>;
  length?: Num;
  /** A length was written (even if it failed to evaluate, which was reported then). */
  lengthGiven: boolean;
  offset?: Num;
  buckets?: Num;
  maxDistance?: Num;
  span: Span;
}

export interface Embed {
  span: Span;
  /** Keywords of the statements written in this embed, valid or not. */
  written: Set<string>;
  tokens?: { vocab: Num; dim: Num; scale?: Num; span: Span };
  project?: Num;
  segments?: { types: Num; span: Span };
  patches?: { size: Num; dim: Num; cls: boolean; span: Span };
  /** The dim of a `tokens` or `patches` line whose other values failed (reported): the
   *  blocks are still checked at that width. */
  partialDim?: Num;
  positions?: Positions;
  norm?: Norm;
  dropout?: Num;
}

export interface Mask {
  kind: Word<MaskKind>;
  window?: Num;
  span: Span;
}

export interface Attention {
  kind: Word<'self' | 'cross'>;
  heads?: Num;
  kvHeads?: Num;
  headDim?: Num;
  /** Score scale; 1/sqrt(head_dim) unless given (T5 folds it into its initialisation: `scale 1`). */
  scale?: Num;
  /** One mask, or several that alternate by layer (GPT-3: dense, local, dense, ...). */
  masks: Mask[];
  bias: boolean;
  dropout?: Num;
  span: Span;
}

export interface Mlp {
  dff?: Num;
  /** A hidden dim was written (even if it failed to evaluate, which was reported then). */
  dffGiven: boolean;
  act: Word<Activation>;
  bias: boolean;
  dropout?: Num;
  span: Span;
}

export interface Block {
  span: Span;
  repeat: Num;
  norm?: Norm;
  attentions: Attention[];
  mlp?: Mlp;
  dropout?: Num;
  /** Where `dropout` was declared (diagnostics about an unused rate). */
  dropoutSpan?: Span;
  bias: boolean;
  /** Declarations written, valid or not: `norm`, `attention self|cross` (or just `attention`
   *  when its kind failed), `mlp`, `dropout`, `bias` (no echo errors for failed ones). */
  written: Set<string>;
  /** Explicit wiring (`x = x + attention(norm(x))`); absent for declarative blocks. */
  body?: Assignment[];
}

export interface Stack {
  role: 'encoder' | 'decoder';
  span: Span;
  embed?: Embed;
  blocks: Block[];
  finalNorm?: Norm;
}

/** How the parameters start (`init`): `normal std X` — every weight matrix and table
 *  normal(0, X), residual output projections X/sqrt(2·layers) (GPT-2, BERT, BART; X = 0.02);
 *  `fan_in` — each weight matrix normal(0, fan_in^-½), tables normal(0, 0.02); `t5` — Mesh
 *  TensorFlow's (fan-in, attention's scale folded into the queries, token embeddings 1). */
export interface Init {
  kind: Word<'normal' | 'fan_in' | 't5'>;
  std?: Num;
  span: Span;
}

export interface Head {
  kind: Word<'lm' | 'mlm' | 'classify'>;
  tied: boolean;
  tiedSpan?: Span;
  scale?: Num;
  bias: boolean;
  classes?: Num;
  from?: Word<'cls' | 'mean'>;
  pooler?: Word<string>;
  transform?: Word<Activation | 'tanh'>;
  dropout?: Num;
  span: Span;
}

export type ObjectiveKind = 'clm' | 'mlm' | 'span_corruption' | 'denoise' | 'text_to_text' | 'classify';

export interface Objective {
  kind: Word<ObjectiveKind>;
  params: Map<string, Num | Num[]>;
  span: Span;
}

export interface InputTokens {
  context?: Num;
  span: Span;
}

export interface Inputs {
  tokens?: InputTokens;
  targets?: InputTokens;
  segments?: { types?: Num; span: Span };
  image?: { channels?: Num; height?: Num; width?: Num; span: Span };
}

export interface DimEntry {
  name: string;
  span: Span;
  value?: number;
}

export interface Model {
  /** Keywords of the top-level statements written, valid or not (no `missing` echo errors). */
  written: Set<string>;
  name: string;
  nameSpan: Span;
  span: Span;
  /** Models this one extends, nearest first. */
  ancestors: string[];
  layout?: Word<Layout>;
  dims: Map<string, DimEntry>;
  vocabulary: { specials: Word[]; sentinels?: Num; span?: Span };
  inputs: Inputs;
  embed?: Embed;
  stacks: Stack[];
  pooler?: Word<string>;
  head?: Head;
  objective?: Objective;
  init?: Init;
}

export const RUNTIME_DIMS = ['batch', 'seq', 'src_seq', 'tgt_seq'] as const;
