// lowerModel: a checked model becomes one tensor graph, from its inputs to its loss, for
// every layout. Blocks are unrolled layer by layer; a declarative block is lowered through
// the explicit body it stands for (block.ts `desugar`), so both forms share one path.
// Weights are [in, out]; parameters start as the spec's `init` says (Lowerer.init): by
// default the reference families' normal 0.02, residual projections 0.02/sqrt(2·layers), or
// T5's fan-in scheme for unscaled attention; norms 1, biases 0.
import type { Expr } from '../grammar/ast.ts';
import { desugar } from './block.ts';
import type { CheckedModel } from './check.ts';
import { Graph, type AttrValue, type SymDim, type Value } from './ir.ts';
import type { Attention, Block, Embed, Mask, Mlp, Model, Norm, Stack } from './model.ts';
import { emit } from './ops.ts';
import type { Span } from '../common/source.ts';

export interface Lowered {
  graph: Graph;
  loss: Value;
  logits: Value;
}

export class LoweringError extends Error {
  constructor(
    message: string,
    readonly span?: Span,
  ) {
    super(message);
  }
}

const INIT_STD = 0.02;

export interface LowerOptions {
  /** Training graph (dropout on, the default) or evaluation graph (dropout off). */
  train?: boolean;
}

export function lowerModel(checked: CheckedModel, opts: LowerOptions = {}): Lowered {
  return new Lowerer(checked.model, opts.train ?? true).run();
}

/**
 * The inference graph of a decoder with a key/value cache: one graph serves as the prefill
 * program (dims `seq` = the longest prompt) and as the decode program (`seq` = 1). Inputs:
 * `tokens` [batch, seq], the new tokens of each row, and `past` [batch] i32, how many tokens
 * row b's cache already holds (its new tokens are at positions past[b] …). Each self-attention
 * layer writes its new keys and values into the outputs `cache:<layer>.k` / `.v` [batch, ctx,
 * kv_heads·head_dim] — pinned buffers that keep the rows of earlier calls — and attends over
 * the cache with its queries at their absolute positions, so causal, local and alternating
 * masks hold across calls without recomputing anything. No loss: the output is `logits`.
 */
export function lowerForCache(checked: CheckedModel): { graph: Graph; logits: Value } {
  const m = checked.model;
  if (m.layout?.value !== 'decoder' && m.layout?.value !== 'encoder_decoder') throw new LoweringError(`a key/value cache serves decoders and encoder-decoders; ${m.name} is ${m.layout?.value ?? 'incomplete'}`, m.layout?.span ?? m.nameSpan);
  const { graph, logits } = new Lowerer(m, false, true).run();
  return { graph, logits };
}

/**
 * The encoder program of an encoder-decoder's cached inference (its decoder is lowerForCache's
 * graph): inputs `src_tokens` (and `src_key_mask`) [batch, src_seq]; it runs the encoder once
 * and outputs, for every cross attention of the decoder, its keys and values of the encoder's
 * output, `cross:<layer>.k` / `.v` [batch, src_seq, kv_heads·head_dim] — what the decoder
 * program takes as inputs at every step instead of recomputing them.
 */
export function lowerForEncode(checked: CheckedModel): { graph: Graph } {
  const m = checked.model;
  if (m.layout?.value !== 'encoder_decoder') throw new LoweringError(`an encoder program serves encoder-decoders; ${m.name} is ${m.layout?.value ?? 'incomplete'}`, m.layout?.span ?? m.nameSpan);
  return { graph: new Lowerer(m, false, false).encodeOnly() };
}

class Lowerer {
  private readonly g: Graph;
  private salt = 0;
  constructor(
    private readonly m: Model,
    private readonly train: boolean,
    /** The inference graph with a key/value cache (lowerForCache). */
    readonly cache = false,
  ) {
    this.g = new Graph(m.name);
    const unscaled = m.stacks.some((st) => st.blocks.some((b) => b.attentions.some((a) => a.scale?.value === 1)));
    this.init = m.init?.kind.value ?? (unscaled ? 't5' : 'normal');
    this.baseStd = m.init?.std?.value ?? INIT_STD;
  }

  /**
   * How parameters start (the spec's `init`). `normal`: every weight matrix and table
   * normal(0, std), residual output projections std/sqrt(2·layers) — GPT-2's, BERT's and
   * BART's, made for widths of 768 and more. `fan_in`: each weight matrix normal(0,
   * fan_in^-½), tables normal(0, 0.02) — for narrow models, where 0.02 starts every attention
   * uniform and every product of weights small. `t5`: Mesh TensorFlow's (factor 1), the
   * default of models whose attention is unscaled (`scale 1`): fan-in normals with the
   * queries' (d_model·head_dim)^-½ folding in attention's 1/sqrt(head_dim), token
   * embeddings 1 and relative position biases d_model^-½.
   */
  readonly init: 'normal' | 'fan_in' | 't5';
  /** `init normal`'s std (0.02 unless written; the other schemes' tables). */
  readonly baseStd: number;

  /** A weight matrix's std: fan-in for `fan_in` and `t5`, else the base std (`residual`:
   *  an output projection onto the residual stream, divided by sqrt(2·layers)). */
  matrixStd(fanIn: number, residual?: number): number {
    if (this.init !== 'normal') return fanIn ** -0.5;
    return residual ?? this.baseStd;
  }

  /** Layers outside the blocks (poolers, classifiers, untied heads, projections): T5's keeps
   *  the base std for them, as before. */
  otherStd(fanIn: number): number {
    return this.init === 'fan_in' ? fanIn ** -0.5 : this.baseStd;
  }

  /** How many tokens each row's cache holds before this call (lowerForCache). */
  past(): Value {
    return this.g.input('past', ['batch'], 'i32');
  }

  private op(name: string, inputs: Value[], attrs: Record<string, AttrValue> = {}, span?: Span): Value {
    return emit(this.g, name, inputs, attrs, span)[0];
  }

  private weight(name: string, shape: SymDim[], std = this.baseStd): Value {
    return this.g.param(name, shape, { kind: 'normal', std }, true);
  }
  /** Embedding tables (tokens, positions, segments, <cls>, relative bias): no weight decay. */
  private table(name: string, shape: SymDim[], std = this.baseStd): Value {
    return this.g.param(name, shape, { kind: 'normal', std }, false);
  }
  private bias(name: string, n: number): Value {
    return this.g.param(name, [n], { kind: 'zeros' }, false);
  }

  private dropout(x: Value, p: number | undefined, span?: Span): Value {
    if (!p || !this.train) return x;
    const seed = this.g.input('seed', [1], 'i32');
    return this.op('dropout', [x, seed], { p, salt: this.salt++ }, span);
  }

  /** x @ W (+ b): a dense layer with [in, out] weights. */
  private dense(prefix: string, x: Value, out: number, bias: boolean, std = this.baseStd, span?: Span): Value {
    const w = this.weight(`${prefix}.weight`, [dimOf(x), out], std);
    let y = this.op('matmul', [x, w], {}, span);
    if (bias) y = this.op('add', [y, this.bias(`${prefix}.bias`, out)], {}, span);
    return y;
  }

  private norm(prefix: string, x: Value, n: Norm): Value {
    const d = dimOf(x);
    const w = this.g.param(`${prefix}.weight`, [d], { kind: 'ones' }, false);
    const eps = n.eps?.value ?? (n.kind.value === 'rmsnorm' ? 1e-6 : 1e-5);
    if (n.kind.value === 'rmsnorm') return this.op('rmsnorm', [x, w], { eps }, n.span);
    const inputs = n.bias ? [x, w, this.bias(`${prefix}.bias`, d)] : [x, w];
    return this.op('layernorm', inputs, { eps }, n.span);
  }

  run(): Lowered {
    const m = this.m;
    const layout = m.layout?.value;
    if (!layout || !m.embed || !m.head || !m.objective) throw new LoweringError('the model is incomplete; run `tfm check` first', m.nameSpan);
    let hidden: Value;
    if (layout === 'encoder_decoder') {
      const [enc, dec] = m.stacks;
      const srcMask = this.usesPadding(enc) ? this.g.input('src_key_mask', ['batch', 'src_seq'], 'f32') : undefined;
      // Under a cache the encoder ran before (lowerForEncode): the decoder's cross attention
      // reads its keys and values from inputs.
      const memory = this.cache ? undefined : this.stack(enc, this.embed(enc, 'src_tokens', 'src_seq'), 'src_seq', undefined, srcMask);
      const tgt = this.embed(dec, 'tgt_tokens', 'tgt_seq');
      hidden = this.stack(dec, tgt, 'tgt_seq', memory, srcMask);
    } else {
      const stack = m.stacks[0];
      const x = this.embed(stack, 'tokens', 'seq');
      const keyMask = this.usesPadding(stack) ? this.g.input('key_mask', ['batch', 'seq'], 'f32') : undefined;
      hidden = this.stack(stack, x, 'seq', undefined, keyMask);
    }
    if (m.head.kind.value === 'classify') hidden = this.pool(hidden);
    else if (m.pooler) {
      // A backbone pooler (BERT) off the loss path of a token-level objective: computed and
      // exposed as `pooled` so that the parameters exist with their published shapes.
      const d = dimOf(hidden);
      this.g.outputs.set('pooled', this.op('act', [this.dense('pooler', this.op('take_first', [hidden]), d, true, this.otherStd(d))], { kind: m.pooler.value }));
    }
    // Masked-LM training takes the loss at a few positions per row (15%): the rows at those
    // positions are gathered before the output layer, as BERT does, instead of computing
    // vocabulary-wide logits at every position and ignoring most of them. The evaluation
    // graph keeps logits at every position (`tfm forward` fills in any <mask>).
    const gather = this.train && m.objective.kind.value === 'mlm' && m.head.kind.value !== 'classify' && layout !== 'encoder_decoder';
    if (gather) hidden = this.op('gather_rows', [hidden, this.g.input('mlm_positions', ['batch', 'picks'], 'i32')], {}, m.objective.span);
    const logits = this.head(hidden);
    if (this.cache) {
      this.g.outputs.set('logits', logits);
      return { graph: this.g, loss: logits, logits };
    }
    const classify = m.head.kind.value === 'classify';
    const targetDims: SymDim[] = gather ? ['batch', 'picks'] : layout === 'encoder_decoder' ? ['batch', 'tgt_seq'] : ['batch', 'seq'];
    const targets = classify ? this.g.input('labels', ['batch'], 'i32') : this.g.input('targets', targetDims, 'i32');
    const loss = this.op('softmax_xent', [logits, targets], { ignore_index: -100 }, m.objective.span);
    this.g.outputs.set('loss', loss);
    this.g.outputs.set('logits', logits);
    return { graph: this.g, loss, logits };
  }

  /** The encoder, then each decoder cross attention's keys and values of its output as
   *  outputs `cross:<layer>.k` / `.v` (lowerForEncode). */
  encodeOnly(): Graph {
    const [enc, dec] = this.m.stacks;
    const srcMask = this.usesPadding(enc) ? this.g.input('src_key_mask', ['batch', 'src_seq'], 'f32') : undefined;
    const memory = this.stack(enc, this.embed(enc, 'src_tokens', 'src_seq'), 'src_seq', undefined, srcMask);
    let layer = 0;
    for (const block of dec.blocks) {
      const cross = block.attentions.find((a) => a.kind.value === 'cross');
      const calls = countCalls(block.body ?? desugar(block), 'cross_attention');
      for (let r = 0; r < block.repeat.value; r++, layer++) {
        for (let c = 1; c <= calls; c++) {
          const prefix = `decoder.blocks.${layer}.cross_attention${c === 1 ? '' : `_${c}`}`;
          const { k, v } = this.crossKeys(cross!, memory, prefix, dimOf(memory));
          this.g.outputs.set(`cross:${prefix}.k`, k);
          this.g.outputs.set(`cross:${prefix}.v`, v);
        }
      }
    }
    return this.g;
  }

  /** A cross attention's keys and values of the encoder's output `memory`, as its layer
   *  computes them (the same parameters and initialisation). */
  crossKeys(a: Attention, memory: Value, prefix: string, d: number): { k: Value; v: Value } {
    const heads = a.heads!.value;
    const hd = a.headDim?.value ?? d / heads;
    const kvHeads = a.kvHeads?.value ?? heads;
    const std = this.matrixStd(dimOf(memory));
    return { k: this.dense(`${prefix}.k`, memory, kvHeads * hd, !!a.bias, std, a.span), v: this.dense(`${prefix}.v`, memory, kvHeads * hd, !!a.bias, std, a.span) };
  }

  private usesPadding(stack: Stack): boolean {
    return stack.blocks.some((b) => b.attentions.some((a) => a.masks.some((k) => k.kind.value === 'padding')));
  }

  /** Token (or patch) embedding, segments, positions, norm, dropout, projection → [batch, seq, d]. */
  private embed(stack: Stack, tokensName: string, seq: string): Value {
    const top = this.m.embed!;
    const own = stack.embed;
    const prefix = this.m.stacks.length > 1 ? `${stack.role}.` : '';
    const e: Embed = { ...top, ...(own ?? {}), tokens: own?.tokens ?? top.tokens, written: top.written };
    let x: Value;
    let rows: SymDim = seq;
    if (e.patches) {
      const img = this.m.inputs.image!;
      const image = this.g.input('image', ['batch', img.channels!.value, img.height!.value, img.width!.value], 'f32');
      const p = e.patches.size.value;
      const patches = this.op('patchify', [image], { patch: p }, e.patches.span);
      x = this.dense('embed.patches', patches, e.patches.dim.value, true, this.otherStd(dimOf(patches)), e.patches.span);
      if (e.patches.cls) x = this.op('prepend', [x, this.table('embed.cls', [e.patches.dim.value])], {}, e.patches.span);
      rows = x.shape[1];
    } else {
      const t = e.tokens!;
      const tableName = own?.tokens ? `${prefix}embed.tokens` : 'embed.tokens';
      const table = this.g.paramByName(tableName)?.value ?? this.table(tableName, [t.vocab.value, t.dim.value], this.init === 't5' ? 1 : this.baseStd);
      const ids = this.g.input(tokensName, ['batch', seq], 'i32');
      x = this.op('embedding', [table, ids], {}, t.span);
      if (t.scale) x = this.op('scale', [x], { c: t.scale.value }, t.span);
      if (e.segments) {
        const segIds = this.g.input('segments', ['batch', seq], 'i32');
        x = this.op('add', [x, this.op('embedding', [this.table('embed.segments', [e.segments.types.value, t.dim.value]), segIds], {}, e.segments.span)], {}, e.segments.span);
      }
    }
    const pos = e.positions;
    if (pos?.kind.value === 'learned') {
      const length = (pos.length?.value ?? (typeof rows === 'number' ? rows : this.contextOf(stack)!)) + (pos.offset?.value ?? 0);
      const table = this.table(`${prefix}embed.positions`, [length, dimOf(x)]);
      const rowsOf = this.cache ? this.op('position_rows', [table, this.past()], { rows, offset: pos.offset?.value ?? 0 }, pos.span) : this.op('slice_rows', [table], { rows, offset: pos.offset?.value ?? 0 }, pos.span);
      x = this.op('add', [x, rowsOf], {}, pos.span);
    } else if (pos?.kind.value === 'sinusoidal') {
      const at = this.cache ? this.op('sinusoidal_at', [this.past()], { rows, dim: dimOf(x) }, pos.span) : this.op('sinusoidal', [], { rows, dim: dimOf(x) }, pos.span);
      x = this.op('add', [x, at], {}, pos.span);
    }
    if (e.norm) x = this.norm(`${prefix}embed.norm`, x, e.norm);
    x = this.dropout(x, e.dropout?.value, e.span);
    if (e.project) x = this.dense('embed.project', x, e.project.value, true, this.otherStd(dimOf(x)), e.span);
    return x;
  }

  private contextOf(stack: Stack): number | undefined {
    const i = this.m.inputs;
    return (stack.role === 'decoder' && this.m.stacks.length > 1 ? (i.targets ?? i.tokens) : i.tokens)?.context?.value;
  }

  private stack(stack: Stack, x: Value, seq: string, memory: Value | undefined, keyMask: Value | undefined): Value {
    const prefix = this.m.stacks.length > 1 ? `${stack.role}.` : '';
    const pos = stack.embed?.positions ?? this.m.embed!.positions;
    const totalLayers = stack.blocks.reduce((s, b) => s + b.repeat.value, 0);
    let relTable: Value | undefined;
    if (pos?.kind.value === 'relative_bias') {
      // Under a cache the buckets are of key position − the query's absolute position (past + qi).
      const heads = stack.blocks.flatMap((b) => b.attentions).find((a) => a.kind.value === 'self')?.heads?.value ?? 1;
      relTable = this.table(`${prefix}relative_bias`, [pos.buckets!.value, heads], this.init === 't5' ? dimOf(x) ** -0.5 : this.baseStd);
    }
    const ctx: StackContext = { prefix, seq, memory, keyMask, relTable, rotary: pos?.kind.value === 'rotary', role: stack.role, residualStd: this.baseStd / Math.sqrt(2 * totalLayers), positions: pos };
    let layer = 0;
    for (const block of stack.blocks) {
      for (let r = 0; r < block.repeat.value; r++) x = new BlockLowerer(this, block, ctx, `${prefix}blocks.${layer}`, layer++).lower(x);
    }
    if (stack.finalNorm) x = this.norm(`${prefix}final_norm`, x, stack.finalNorm);
    return x;
  }

  private pool(h: Value): Value {
    const head = this.m.head!;
    if (head.kind.value !== 'classify') return h;
    let pooled = head.from?.value === 'mean' ? this.op('mean_seq', [h], {}, head.span) : this.op('take_first', [h], {}, head.span);
    const pooler = head.pooler?.value ?? this.m.pooler?.value;
    if (pooler) {
      const d = dimOf(pooled);
      pooled = this.op('act', [this.dense(head.pooler ? 'head.pooler' : 'pooler', pooled, d, true, this.otherStd(d), head.span)], { kind: pooler }, head.span);
    }
    return this.dropout(pooled, head.dropout?.value, head.span);
  }

  private head(h: Value): Value {
    const head = this.m.head!;
    const tokens = this.g.paramByName('embed.tokens')?.value;
    if (head.kind.value === 'classify') return this.dense('head.classifier', h, head.classes!.value, true, this.otherStd(dimOf(h)), head.span);
    if (head.kind.value === 'mlm') {
      const e = this.m.embed!.tokens!.dim.value;
      let t = this.op('act', [this.dense('head.transform', h, e, true, this.otherStd(dimOf(h)), head.span)], { kind: head.transform?.value ?? 'gelu' }, head.span);
      t = this.norm('head.norm', t, { kind: { value: 'layernorm', span: head.span }, eps: { value: 1e-12, span: head.span }, bias: true, span: head.span });
      let logits = head.tied ? this.op('matmul', [t, tokens!], { tb: true }, head.span) : this.dense('head.decoder', t, this.m.embed!.tokens!.vocab.value, false, this.otherStd(dimOf(t)), head.span);
      if (head.bias) logits = this.op('add', [logits, this.bias('head.bias', logits.shape[logits.shape.length - 1] as number)], {}, head.span);
      return logits;
    }
    let logits = head.tied ? this.op('matmul', [h, tokens!], { tb: true }, head.span) : this.dense('head', h, this.m.embed!.tokens!.vocab.value, head.bias, this.otherStd(dimOf(h)), head.span);
    if (head.scale) logits = this.op('scale', [logits], { c: head.scale.value }, head.span);
    if (head.tied && head.bias) logits = this.op('add', [logits, this.bias('head.bias', logits.shape[logits.shape.length - 1] as number)], {}, head.span);
    return logits;
  }

  // Exposed to BlockLowerer.
  emitOp = (name: string, inputs: Value[], attrs: Record<string, AttrValue> = {}, span?: Span) => this.op(name, inputs, attrs, span);
  denseLayer = (prefix: string, x: Value, out: number, bias: boolean, std: number, span?: Span) => this.dense(prefix, x, out, bias, std, span);
  normLayer = (prefix: string, x: Value, n: Norm) => this.norm(prefix, x, n);
  dropoutLayer = (x: Value, p: number | undefined, span?: Span) => this.dropout(x, p, span);
  nextSalt = () => this.salt++;
  /** Exposes a value as a graph output (the caches). */
  output = (name: string, v: Value) => this.g.outputs.set(name, v);
  get training(): boolean {
    return this.train;
  }
  graph = () => this.g;
  /** A dim expression the checker has already validated, folded with the model's dims. */
  constant = (e: Expr): number => {
    switch (e.kind) {
      case 'number':
        return e.value;
      case 'name': {
        const v = this.m.dims.get(e.name)?.value;
        if (v === undefined) throw new LoweringError(`dim \`${e.name}\` has no value`, e.span);
        return v;
      }
      case 'unary':
        return -this.constant(e.operand);
      case 'binary': {
        const [a, b] = [this.constant(e.left), this.constant(e.right)];
        return e.op === '+' ? a + b : e.op === '-' ? a - b : e.op === '*' ? a * b : e.op === '/' ? a / b : a ** b;
      }
      default:
        throw new LoweringError('not a constant dim expression', e.span);
    }
  };
  weightParam = (name: string, shape: SymDim[]) => this.weight(name, shape);
}

interface StackContext {
  prefix: string;
  seq: string;
  memory?: Value;
  keyMask?: Value;
  relTable?: Value;
  rotary: boolean;
  role: 'encoder' | 'decoder';
  residualStd: number;
  positions?: { kind: { value: string } };
}

/** Lowers one layer of a block: evaluates its (explicit or desugared) body over IR values. */
class BlockLowerer {
  private readonly counts = new Map<string, number>();
  constructor(
    private readonly l: Lowerer,
    private readonly block: Block,
    private readonly ctx: StackContext,
    private readonly prefix: string,
    private readonly layer: number,
  ) {}

  private instance(kind: string): string {
    const n = (this.counts.get(kind) ?? 0) + 1;
    this.counts.set(kind, n);
    return kind === 'norm' || kind === 'linear' || kind === 'weight' ? `${this.prefix}.${kind}_${n}` : n === 1 ? `${this.prefix}.${kind}` : `${this.prefix}.${kind}_${n}`;
  }

  lower(x: Value): Value {
    const vars = new Map<string, Value>([['x', x]]);
    if (this.ctx.memory) vars.set('memory', this.ctx.memory);
    for (const a of this.block.body ?? desugar(this.block)) vars.set(a.target.name, this.expr(a.value, vars));
    return vars.get('x')!;
  }

  private expr(e: Expr, vars: Map<string, Value>): Value {
    switch (e.kind) {
      case 'name': {
        const value = vars.get(e.name);
        if (!value) throw new LoweringError(e.name === 'memory' ? 'with a key/value cache, the encoder output `memory` is read only by `cross_attention`' : `\`${e.name}\` has no value here`, e.span);
        return value;
      }
      case 'number':
        throw new LoweringError('a bare number is not a tensor', e.span);
      case 'unary':
        return this.l.emitOp('scale', [this.expr(e.operand, vars)], { c: -1 }, e.span);
      case 'binary': {
        if (e.op === '*' && e.left.kind === 'number') return this.l.emitOp('scale', [this.expr(e.right, vars)], { c: e.left.value }, e.span);
        if ((e.op === '*' || e.op === '/') && e.right.kind === 'number') return this.l.emitOp('scale', [this.expr(e.left, vars)], { c: e.op === '*' ? e.right.value : 1 / e.right.value }, e.span);
        const op = { '+': 'add', '-': 'sub', '*': 'mul' }[e.op as '+' | '-' | '*'];
        if (!op) throw new LoweringError(`operator \`${e.op}\` between tensors is not supported`, e.opSpan);
        return this.l.emitOp(op, [this.expr(e.left, vars), this.expr(e.right, vars)], {}, e.span);
      }
      case 'call':
        return this.call(e.callee.name, e.args.map((a) => a.value), e.span, vars);
      default:
        throw new LoweringError('not a tensor expression', e.span);
    }
  }

  private call(name: string, args: Expr[], span: Span, vars: Map<string, Value>): Value {
    const arg = (i: number) => this.expr(args[i], vars);
    switch (name) {
      case 'norm':
        return this.l.normLayer(this.instance('norm'), arg(0), this.block.norm!);
      case 'attention': {
        const x = arg(0);
        return this.residualDropout(this.attention(this.block.attentions.find((a) => a.kind.value === 'self')!, x, x, this.instance('attention')), span);
      }
      case 'cross_attention':
        // Under a cache the keys and values come from the encoder program, not from `memory`.
        return this.residualDropout(this.attention(this.block.attentions.find((a) => a.kind.value === 'cross')!, arg(0), this.l.cache ? undefined : arg(1), this.instance('cross_attention')), span);
      case 'mlp':
        return this.residualDropout(this.mlp(this.block.mlp!, arg(0), this.instance('mlp')), span);
      case 'dropout':
        return this.l.dropoutLayer(arg(0), this.block.dropout?.value, span);
      case 'linear':
        return this.l.denseLayer(this.instance('linear'), arg(0), this.l.constant(args[1]), this.block.bias, this.l.otherStd(dimOf(arg(0))), span);
      case 'matmul': {
        const b = arg(1);
        if (b.shape.length !== 2) throw new LoweringError('`matmul` of two activations is not supported yet: the right operand must be a `weight(...)`', span);
        return this.l.emitOp('matmul', [arg(0), b], {}, span);
      }
      case 'weight':
        return this.l.weightParam(this.instance('weight'), args.map((a) => this.l.constant(a)));
      default:
        return this.l.emitOp('act', [arg(0)], { kind: name }, span);
    }
  }

  /** Declarative blocks apply their `dropout` to each sub-layer output (GPT-2, BERT). */
  private residualDropout(v: Value, span: Span): Value {
    return this.block.body ? v : this.l.dropoutLayer(v, this.block.dropout?.value, span);
  }

  private attention(a: Attention, x: Value, kv: Value | undefined, prefix: string): Value {
    const d = dimOf(x);
    const heads = a.heads!.value;
    const hd = a.headDim?.value ?? d / heads;
    const kvHeads = a.kvHeads?.value ?? heads;
    const self = a.kind.value === 'self';
    // Rotary positions rotate queries and keys of self attention by their positions.
    const cached = self && this.l.cache;
    const rotate = (t: Value) => (self && this.ctx.rotary ? this.l.emitOp('rotary', cached ? [t, this.l.past()] : [t], { head_dim: hd, base: 10000, inverse: false }, a.span) : t);
    // Fan-in queries of an unscaled attention (T5's always) fold in its 1/sqrt(head_dim).
    const fold = this.l.init === 't5' || (this.l.init === 'fan_in' && a.scale?.value === 1);
    const q = rotate(this.l.denseLayer(`${prefix}.q`, x, heads * hd, a.bias, this.l.matrixStd(fold ? d * hd : d), a.span));
    let k: Value;
    let v: Value;
    if (!self && this.l.cache) {
      // The encoder program computed this layer's keys and values once (lowerForEncode).
      k = this.l.graph().input(`cross:${prefix}.k`, ['batch', 'src_seq', kvHeads * hd], 'f32');
      v = this.l.graph().input(`cross:${prefix}.v`, ['batch', 'src_seq', kvHeads * hd], 'f32');
    } else if (!self) ({ k, v } = this.l.crossKeys(a, kv!, prefix, d));
    else {
      k = rotate(this.l.denseLayer(`${prefix}.k`, kv!, kvHeads * hd, a.bias, this.l.matrixStd(dimOf(kv!)), a.span));
      v = this.l.denseLayer(`${prefix}.v`, kv!, kvHeads * hd, a.bias, this.l.matrixStd(dimOf(kv!)), a.span);
    }
    const mask: Mask | undefined = self ? a.masks[this.layer % Math.max(1, a.masks.length)] : undefined;
    if (cached) {
      // The new keys and values join the cache; the queries attend over all of it.
      const kind = mask?.kind.value;
      if (kind !== 'causal' && kind !== 'local' && kind !== 'prefix') throw new LoweringError(`a key/value cache needs causal self attention (\`mask causal\`, \`local\` or \`prefix\`); this layer's mask is ${kind ?? 'none'}`, mask?.span ?? a.span);
      k = this.l.emitOp('kv_write', [k, this.l.past()], { ctx: 'ctx' }, a.span);
      v = this.l.emitOp('kv_write', [v, this.l.past()], { ctx: 'ctx' }, a.span);
      this.l.output(`cache:${prefix}.k`, k);
      this.l.output(`cache:${prefix}.v`, v);
    }
    const attrs: Record<string, AttrValue> = { heads, kv_heads: kvHeads, head_dim: hd, scale: a.scale?.value ?? 1 / Math.sqrt(hd), mask: 'none' };
    const inputs = [q, k, v];
    if (self && this.ctx.relTable) {
      inputs.push(this.ctx.relTable);
      const pos = this.ctx.positions as { buckets?: { value: number }; maxDistance?: { value: number } } | undefined;
      Object.assign(attrs, { has_bias: true, rel_buckets: pos?.buckets?.value ?? 32, rel_max_distance: pos?.maxDistance?.value ?? 128, rel_bidirectional: this.ctx.role === 'encoder' });
    }
    const kind = mask?.kind.value;
    if (kind === 'causal') attrs.mask = 'causal';
    if (kind === 'local') Object.assign(attrs, { mask: 'local', window: mask!.window?.value ?? 1 });
    if (kind === 'prefix') {
      attrs.mask = 'prefix';
      attrs.has_prefix = true;
    }
    // Padding: self attention in a padded stack, and cross attention over a padded encoder.
    if ((kind === 'padding' || !self) && this.ctx.keyMask) {
      attrs.has_key_mask = true;
      inputs.push(this.ctx.keyMask);
    }
    if (attrs.has_prefix) inputs.push(this.l.graph().input('prefix_len', ['batch'], 'i32'));
    if (cached) {
      attrs.has_q_pos = true;
      inputs.push(this.l.past());
    }
    if (a.dropout?.value && this.l.training) {
      // Dropout on the attention probabilities, inside the fused attention op.
      Object.assign(attrs, { p_drop: a.dropout.value, salt: this.l.nextSalt() });
      inputs.push(this.l.graph().input('seed', [1], 'i32'));
    }
    const out = this.l.emitOp('attention', inputs, attrs, a.span);
    return this.l.denseLayer(`${prefix}.o`, out, d, a.bias, this.l.matrixStd(heads * hd, this.ctx.residualStd), a.span);
  }

  private mlp(m: Mlp, x: Value, prefix: string): Value {
    const d = dimOf(x);
    const f = m.dff!.value;
    const gated = m.act.value === 'swiglu' || m.act.value === 'geglu';
    const actKind = m.act.value === 'swiglu' ? 'silu' : m.act.value === 'geglu' ? 'gelu' : m.act.value;
    const inner = this.l.matrixStd(d);
    const up = this.l.denseLayer(`${prefix}.up`, x, f, m.bias, inner, m.span);
    let h = this.l.emitOp('act', [gated ? this.l.denseLayer(`${prefix}.gate`, x, f, m.bias, inner, m.span) : up], { kind: actKind }, m.span);
    if (gated) h = this.l.emitOp('mul', [h, up], {}, m.span);
    h = this.l.dropoutLayer(h, m.dropout?.value, m.span);
    return this.l.denseLayer(`${prefix}.down`, h, d, m.bias, this.l.matrixStd(f, this.ctx.residualStd), m.span);
  }
}

function dimOf(v: Value): number {
  const d = v.shape[v.shape.length - 1];
  if (typeof d !== 'number') throw new LoweringError(`internal: feature dim of ${v.shape} is not constant`);
  return d;
}

/** How many times a block body calls `name` (the instances its layer lowers). */
function countCalls(body: { value: Expr }[], name: string): number {
  const walk = (e: Expr): number => {
    switch (e.kind) {
      case 'call':
        return (e.callee.name === name ? 1 : 0) + e.args.reduce((n, a) => n + walk(a.value), 0);
      case 'binary':
        return walk(e.left) + walk(e.right);
      case 'unary':
        return walk(e.operand);
      default:
        return 0;
    }
  };
  return body.reduce((n, a) => n + walk(a.value), 0);
}
