// Statements → typed Model. What each statement accepts is declared next to its handler;
// unknown statements get a did-you-mean, and every value is folded and validated here.
import type { Assignment, CallArg, Expr, Item, Statement } from '../grammar/ast.ts';
import { exprRefs, exprText } from '../grammar/ast.ts';
import { suggest, type DiagnosticBag } from '../common/diagnostics.ts';
import { ArgReader, flag, int, list, num, oneOf, onoff, prob, type KeySpec, type WordArg } from './args.ts';
import { FUNCTIONS, type DimEnv } from './dims.ts';
import type { Activation, Attention, Block, Embed, Head, Inputs, Layout, Mask, MaskKind, Mlp, Model, Norm, Num, Objective, ObjectiveKind, Positions, Stack, Word } from './model.ts';
import type { Span } from '../common/source.ts';

export const ACTIVATIONS = ['relu', 'gelu', 'gelu_tanh', 'swiglu', 'geglu'] as const;
const NORMS = ['layernorm', 'rmsnorm'] as const;
const MASKS = ['bidirectional', 'causal', 'prefix', 'padding', 'local'] as const;
const POSITIONS = ['learned', 'sinusoidal', 'relative_bias', 'rotary', 'none'] as const;
const OBJECTIVES = ['clm', 'mlm', 'span_corruption', 'denoise', 'text_to_text', 'classify'] as const;
const normKeys = { eps: num, bias: onoff };

/** Parameters each objective accepts (named call arguments), with their rules. */
const OBJECTIVE_PARAMS: Record<ObjectiveKind, Record<string, 'prob' | 'positive' | 'count' | 'split'>> = {
  clm: {},
  classify: {},
  mlm: { mask_prob: 'prob', split: 'split' },
  span_corruption: { noise_density: 'prob', mean_span_length: 'positive', sentinels: 'count' },
  text_to_text: {},
  denoise: { mask: 'prob', delete: 'prob', permute: 'prob', rotate: 'prob', infill: 'prob', poisson_lambda: 'positive' },
};

type Ctx = { env: DimEnv; diags: DiagnosticBag };

export function interpretModel(name: { name: string; span: Span }, span: Span, ancestors: string[], items: Item[], ctx: Ctx): Model {
  const model: Model = {
    written: new Set(items.filter((i): i is Statement => i.kind === 'statement').map((i) => i.keyword.name)),
    name: name.name,
    nameSpan: name.span,
    span,
    ancestors,
    dims: new Map(),
    vocabulary: { specials: [] },
    inputs: {},
    stacks: [],
  };
  const topBlocks: Block[] = [];
  let topFinalNorm: Norm | undefined;
  const sections: Partial<Record<'encoder' | 'decoder', Stack>> = {};
  for (const item of items) {
    if (item.kind === 'assign') {
      ctx.diags.error('TFM2025', { message: `assignment \`${item.target.name} = ...\` outside \`dims\` or a block body` }, { span: item.span }, { help: 'declare constants inside `dims { ... }`' });
      continue;
    }
    const r = new ArgReader(item, ctx.env, ctx.diags);
    switch (item.keyword.name) {
      case 'layout':
        model.layout = r.word(['encoder', 'decoder', 'encoder_decoder'] as Layout[], 'layout');
        r.keys({});
        break;
      case 'dims':
        r.keys({});
        for (const d of item.body ?? []) {
          if (d.kind === 'assign') continue;
          const value = d.args.length === 1 && d.args[0].kind === 'expr' && !d.body ? exprText(d.args[0].expr) : undefined;
          ctx.diags.error('TFM2016', { message: `\`dims\` holds only \`name = value\` lines, found \`${d.keyword.name}\`` }, { span: d.span, message: value ? 'missing `=`' : undefined }, { help: value ? `write \`${d.keyword.name} = ${value}\`` : undefined });
        }
        break;
      case 'vocabulary': {
        const k = r.keys({ specials: { kind: 'specials' }, sentinels: int });
        model.vocabulary = { specials: k.get('specials')?.specials ?? [], sentinels: k.get('sentinels')?.num, span: item.span };
        noBody(item, ctx);
        break;
      }
      case 'input':
        readInput(r, model.inputs, ctx);
        noBody(item, ctx);
        break;
      case 'embed':
        r.keys({});
        model.embed = readEmbed(item, ctx);
        break;
      case 'block':
        topBlocks.push(readBlock(item, ctx));
        break;
      case 'encoder':
      case 'decoder':
        r.keys({});
        sections[item.keyword.name] = readStack(item, item.keyword.name, ctx);
        break;
      case 'final_norm':
        topFinalNorm = readNorm(r, item.span, false);
        noBody(item, ctx);
        break;
      case 'pooler':
        model.pooler = r.word(['tanh', 'gelu', 'relu'], 'pooler activation');
        r.keys({});
        noBody(item, ctx);
        break;
      case 'head':
        model.head = readHead(r, item.span);
        noBody(item, ctx);
        break;
      case 'objective':
        model.objective = readObjective(r, item.span, ctx);
        noBody(item, ctx);
        break;
      case 'init': {
        const kind = r.word(['normal', 'fan_in', 't5'] as const, 'initialisation');
        const std = r.keys(kind?.value === 'normal' ? { std: num } : {}).get('std')?.num;
        if (kind) model.init = { kind: { value: kind.value, span: kind.span }, std, span: item.span };
        noBody(item, ctx);
        break;
      }
      default:
        unknownStatement(item, 'a model', ['layout', 'dims', 'vocabulary', 'input', 'embed', 'block', 'encoder', 'decoder', 'final_norm', 'pooler', 'head', 'objective', 'init'], ctx);
    }
  }
  const layout = model.layout?.value;
  if (layout === 'encoder_decoder') {
    for (const b of topBlocks) ctx.diags.error('TFM2025', { message: 'an `encoder_decoder` model puts its blocks inside `encoder { }` and `decoder { }`' }, { span: b.span }, { secondary: [{ span: model.layout!.span, message: 'layout declared here' }] });
    if (topFinalNorm) ctx.diags.error('TFM2025', { message: 'an `encoder_decoder` model puts `final_norm` inside `encoder { }` and `decoder { }`' }, { span: topFinalNorm.span });
    for (const role of ['encoder', 'decoder'] as const) {
      const s = sections[role];
      if (s) model.stacks.push(s);
      else ctx.diags.error('TFM2005', { what: `\`${role} { ... }\` of an \`encoder_decoder\` model` }, { span: model.layout!.span, message: 'layout declared here' });
    }
  } else {
    for (const s of Object.values(sections)) {
      ctx.diags.error('TFM2025', { message: `\`${s.role} { }\` sections belong to \`encoder_decoder\` models` }, { span: s.span }, { secondary: [model.layout ? { span: model.layout.span, message: 'layout declared here' } : undefined], help: 'write the blocks at the top level, or use `layout encoder_decoder`' });
    }
    if (layout) model.stacks.push({ role: layout, span: topBlocks[0]?.span ?? model.layout!.span, blocks: topBlocks, finalNorm: topFinalNorm });
  }
  return model;
}

function noBody(item: Statement, ctx: Ctx): void {
  if (item.body) ctx.diags.error('TFM2016', { message: `\`${item.keyword.name}\` takes no \`{ }\` body` }, { span: item.span });
}

function unknownStatement(item: Statement, context: string, known: string[], ctx: Ctx): void {
  const near = suggest(item.keyword.name, known);
  ctx.diags.error('TFM2003', { name: item.keyword.name, context }, { span: item.keyword.span, message: 'not a statement here' }, { help: near ? `did you mean \`${near}\`?` : `expected one of ${list(known)}` });
}

function readInput(r: ArgReader, inputs: Inputs, ctx: Ctx): void {
  const kind = r.word(['tokens', 'targets', 'segments', 'image'] as const, 'input kind');
  if (!kind) {
    r.keys({});
    return;
  }
  const span = r.stmt.span;
  if (inputs[kind.value]) ctx.diags.error('TFM2002', { what: 'input', name: kind.value }, { span: kind.span });
  if (kind.value === 'tokens' || kind.value === 'targets') {
    const k = r.keys({ context: int });
    inputs[kind.value] = { context: k.get('context')?.num, span };
  } else if (kind.value === 'segments') {
    inputs.segments = { types: r.keys({ types: int }).get('types')?.num, span };
  } else {
    const k = r.keys({ channels: int, height: int, width: int });
    inputs.image = { channels: k.get('channels')?.num, height: k.get('height')?.num, width: k.get('width')?.num, span };
  }
}

function readNorm(r: ArgReader, span: Span, withPlacement: boolean): Norm | undefined {
  const placement = withPlacement ? r.word(['pre', 'post'] as const, 'norm placement') : undefined;
  const kind = r.word(NORMS, 'norm kind');
  const k = r.keys(normKeys);
  if (!kind) return undefined;
  return { kind, placement, eps: k.get('eps')?.num, bias: k.get('bias')?.flag ?? kind.value === 'layernorm', span };
}

function readEmbed(item: Statement, ctx: Ctx): Embed {
  const embed: Embed = { span: item.span, written: new Set((item.body ?? []).filter((s): s is Statement => s.kind === 'statement').map((s) => s.keyword.name)) };
  for (const s of item.body ?? []) {
    if (s.kind === 'assign') {
      ctx.diags.error('TFM2025', { message: 'assignments are not allowed in `embed`' }, { span: s.span });
      continue;
    }
    const r = new ArgReader(s, ctx.env, ctx.diags);
    switch (s.keyword.name) {
      case 'tokens': {
        const vocab = r.number({ what: 'vocabulary size', integer: true, positive: true });
        const dim = r.arrow() ? r.number({ what: 'embedding dim', integer: true, positive: true }) : undefined;
        const k = r.keys({ scale: num });
        if (vocab && dim) embed.tokens = { vocab, dim, scale: k.get('scale')?.num, span: s.span };
        else embed.partialDim ??= dim;
        break;
      }
      case 'project':
        embed.project = r.number({ what: 'projected dim', integer: true, positive: true });
        r.keys({});
        break;
      case 'segments':
      {
        const types = r.number({ what: 'segment types', integer: true, positive: true });
        if (types) embed.segments = { types, span: s.span };
        r.keys({});
      }
        break;
      case 'patches': {
        const size = r.number({ what: 'patch size', integer: true, positive: true });
        const dim = r.arrow() ? r.number({ what: 'embedding dim', integer: true, positive: true }) : undefined;
        const k = r.keys({ cls: flag });
        if (size && dim) embed.patches = { size, dim, cls: k.get('cls')?.flag ?? false, span: s.span };
        else embed.partialDim ??= dim;
        break;
      }
      case 'positions':
        embed.positions = readPositions(r, s.span, ctx);
        break;
      case 'norm':
        embed.norm = readNorm(r, s.span, false);
        break;
      case 'dropout':
        embed.dropout = r.number({ what: 'dropout', probability: true });
        r.keys({});
        break;
      default:
        unknownStatement(s, '`embed`', ['tokens', 'project', 'segments', 'patches', 'positions', 'norm', 'dropout'], ctx);
    }
    noBody(s, ctx);
  }
  return embed;
}

function readPositions(r: ArgReader, span: Span, ctx: Ctx): Positions | undefined {
  const kind = r.word(POSITIONS, 'positions');
  if (!kind) {
    r.keys({});
    return undefined;
  }
  const p: Positions = { kind: { value: kind.value, span: kind.span }, lengthGiven: false, span };
  if (kind.value === 'relative_bias') {
    const [buckets, maxDistance] = callNums(kind, ['buckets', 'max_distance'], ctx);
    p.buckets = buckets;
    p.maxDistance = maxDistance;
  } else noCall(kind, ctx);
  p.lengthGiven = kind.value === 'learned' && r.hasValue({ offset: int });
  if (kind.value === 'learned') p.length = r.number({ what: 'number of learned positions', integer: true, positive: true }, { offset: int }, true);
  p.offset = r.keys(kind.value === 'learned' ? { offset: { kind: 'num', rules: { integer: true, nonNegative: true } } } : {}).get('offset')?.num;
  return p;
}

/** Reads `f(a, b)` or `f(a = 1, b = 2)` into numbers named by `names`, all required. */
function callNums(w: WordArg, names: string[], ctx: Ctx): (Num | undefined)[] {
  const args = w.call ?? [];
  const out: (Num | undefined)[] = names.map(() => undefined);
  const seen = new Set<number>();
  args.forEach((a, i) => {
    const idx = a.name ? names.indexOf(a.name.name) : i;
    if (idx < 0 || idx >= names.length || seen.has(idx)) {
      ctx.diags.error('TFM2016', { message: `\`${w.value}\` takes ${list(names)}` }, { span: a.span, message: a.name ? `unknown or repeated parameter \`${a.name.name}\`` : 'extra argument' });
      return;
    }
    seen.add(idx);
    out[idx] = ctx.env.num(a.value, { what: `\`${names[idx]}\``, integer: true, positive: true });
  });
  names.forEach((n, i) => {
    if (!seen.has(i)) ctx.diags.error('TFM2005', { what: `\`${n}\` of \`${w.value}\`` }, { span: w.span, message: `write \`${w.value}(${names.join(', ')})\`` });
  });
  return out;
}

function noCall(w: WordArg, ctx: Ctx): void {
  if (w.call) ctx.diags.error('TFM2016', { message: `\`${w.value}\` takes no arguments` }, { span: w.span });
}

const BLOCK_STATEMENTS = ['norm', 'attention', 'mlp', 'dropout', 'bias'];

function readBlock(item: Statement, ctx: Ctx): Block {
  const repeatArg = item.args.find((a) => a.kind === 'repeat');
  let repeat: Num = { value: 1, span: item.keyword.span };
  if (repeatArg?.kind === 'repeat') repeat = ctx.env.num(repeatArg.count, { what: 'block repeat count', integer: true, positive: true }) ?? repeat;
  for (const a of item.args) {
    if (a.kind !== 'repeat') ctx.diags.error('TFM2016', { message: '`block` takes only a repeat count: `block * layers { ... }`' }, { span: a.span });
  }
  const block: Block = { span: item.span, repeat, attentions: [], bias: true, written: new Set() };
  const body: Assignment[] = [];
  if (!item.body) ctx.diags.error('TFM2005', { what: '`{ ... }` body of `block`' }, { span: item.keyword.span });
  // A second declaration of the same sub-layer would silently replace the first.
  const declared = new Map<string, Statement>();
  const once = (s: Statement, key: string, what: string): void => {
    const first = declared.get(key);
    if (first) ctx.diags.error('TFM2002', { what: key === 'dropout' || key === 'bias' ? 'block setting' : 'sub-layer', name: what }, { span: s.keyword.span, message: 'declared again here' }, { secondary: [{ span: first.span, message: 'first declared here' }], help: 'a block holds one of each sub-layer (plus one `attention cross`); remove one of the two' });
    else declared.set(key, s);
  };
  const assignments = (item.body ?? []).filter((s): s is Assignment => s.kind === 'assign');
  for (const s of item.body ?? []) {
    if (s.kind === 'assign') {
      const later = assignments.slice(assignments.indexOf(s) + 1);
      if (!isSettingAssignment(s, body, later, ctx)) body.push(s);
      continue;
    }
    const r = new ArgReader(s, ctx.env, ctx.diags);
    block.written.add(s.keyword.name);
    switch (s.keyword.name) {
      case 'norm':
        once(s, 'norm', 'norm');
        block.norm ??= readNorm(r, s.span, true);
        break;
      case 'attention': {
        const a = readAttention(r, s.span, ctx);
        if (a) once(s, `attention ${a.kind.value}`, `attention ${a.kind.value}`);
        if (a) block.written.add(`attention ${a.kind.value}`);
        if (a && !block.attentions.some((b) => b.kind.value === a.kind.value)) block.attentions.push(a);
        break;
      }
      case 'mlp':
        once(s, 'mlp', 'mlp');
        block.mlp ??= readMlp(r, s.span, ctx);
        break;
      case 'dropout':
        once(s, 'dropout', 'dropout');
        block.dropout ??= r.number({ what: 'dropout', probability: true });
        block.dropoutSpan ??= s.span;
        r.keys({});
        break;
      case 'bias': {
        once(s, 'bias', 'bias');
        const on = r.word(['on', 'off'] as const, 'bias');
        if (on && declared.get('bias') === s) block.bias = on.value === 'on'; // the first one holds
        r.keys({});
        break;
      }
      default:
        unknownStatement(s, '`block`', [...BLOCK_STATEMENTS, 'x = ...'], ctx);
    }
    noBody(s, ctx);
  }
  if (body.length === 0 && item.body && !block.written.has('attention') && !block.written.has('mlp')) {
    ctx.diags.error('TFM2005', { what: '`attention` or `mlp` in `block`' }, { span: item.keyword.span, message: 'this block computes nothing: it would be the identity' }, { help: 'declare its sub-layers (`attention self heads <n> mask causal`, `mlp <dim> act gelu`) or write its body (`x = ...`)' });
  }
  // `bias off` applies to sub-layers that did not say otherwise.
  if (!block.bias) {
    const explicit = (s: Statement, key: string) => s.args.some((a) => a.kind === 'expr' && a.expr.kind === 'name' && a.expr.name === key);
    const stmts = (item.body ?? []).filter((s): s is Statement => s.kind === 'statement');
    block.attentions.forEach((a) => {
      const st = stmts.find((s) => s.span === a.span);
      if (st && !explicit(st, 'bias')) a.bias = false;
    });
    const mlpStmt = stmts.find((s) => s.keyword.name === 'mlp');
    if (block.mlp && mlpStmt && !explicit(mlpStmt, 'bias')) block.mlp.bias = false;
    const normStmt = stmts.find((s) => s.keyword.name === 'norm');
    if (block.norm && normStmt && !explicit(normStmt, 'bias')) block.norm.bias = false;
  }
  if (body.length > 0) block.body = body;
  return block;
}

/** `dropout = 0.1`, `bias = off`, `heads = 8` in a block: an assignment that looks like a
 *  setting but would only create an unused body variable (and turn a declarative block into
 *  an explicit body that wires nothing). Reported with the fix and left out of the body.
 *  Any other number-valued body variable is reported too (body values are tensors; numbers
 *  are written where they scale one) but kept, so that the lines reading it do not echo. */
function isSettingAssignment(a: Assignment, earlier: Assignment[], later: Assignment[], ctx: Ctx): boolean {
  const name = a.target.name;
  const tensors = new Set(['x', 'memory', ...earlier.map((e) => e.target.name)]);
  if (mentionsTensor(a.value, tensors)) {
    if (!ctx.env.has(name)) return false;
    ctx.diags.error('TFM2033', { message: `\`${name}\` is a dim; a block body cannot assign it` }, { span: a.target.span, message: 'assigned here' }, { secondary: [{ span: ctx.env.span(name)!, message: 'dim declared here' }], help: `give the tensor another name, e.g. \`${name}_out = ...\`` });
    return false;
  }
  const value = exprText(a.value);
  if (ctx.env.has(name)) {
    ctx.diags.error('TFM2033', { message: `\`${name} = ${value}\` in a block body does not change the dim \`${name}\`` }, { span: a.span, message: 'this would be an unused tensor variable' }, {
      secondary: [{ span: ctx.env.span(name)!, message: 'dim declared here' }],
      help: `set it in \`dims { }\` (\`${name} = ${value}\`), or write the value where it is used, e.g. \`attention self heads ${value}\``,
    });
    return true;
  }
  const keyword = BLOCK_STATEMENTS.includes(name) ? name : suggest(name, BLOCK_STATEMENTS.filter((k) => k !== 'bias' && k !== 'norm'));
  const readLater = later.some((l) => exprRefs(l.value).names.has(name));
  if (keyword && !readLater) {
    ctx.diags.error('TFM2033', { message: `\`${name} = ${value}\` assigns a body variable; it does not set the block's \`${keyword}\`` }, { span: a.span, message: 'a block setting takes no `=`' }, { help: `write \`${keyword} ${value}\`` });
    return true;
  }
  ctx.diags.error('TFM2028', { what: `block body variable \`${name}\``, expected: 'a tensor', found: `\`${value}\`` }, { span: a.span }, { help: `write the number where it scales a tensor, e.g. \`x = x + mlp(norm(x)) * ${value}\`` });
  return false;
}

function mentionsTensor(e: Expr, tensors: Set<string>): boolean {
  const { names, calls } = exprRefs(e);
  return [...names].some((n) => tensors.has(n)) || [...calls].some((c) => !(c in FUNCTIONS));
}

function readAttention(r: ArgReader, span: Span, ctx: Ctx): Attention | undefined {
  const kind = r.word(['self', 'cross'] as const, 'attention kind');
  const k = r.keys({ heads: int, kv_heads: int, head_dim: int, mask: { kind: 'expr' }, scale: num, bias: onoff, dropout: prob });
  if (!kind) return undefined;
  const maskExpr = k.get('mask')?.expr;
  let masks: Mask[] = [];
  if (maskExpr) masks = readMask(maskExpr, ctx, true);
  else if (kind.value === 'self') ctx.diags.error('TFM2005', { what: '`mask` of self attention' }, { span: kind.span, message: `add \`mask causal\` or \`mask bidirectional\`` });
  if (!k.get('heads')) ctx.diags.error('TFM2005', { what: '`heads` of attention' }, { span: kind.span, message: 'add `heads <count>`' });
  return { kind, heads: k.get('heads')?.num, kvHeads: k.get('kv_heads')?.num, headDim: k.get('head_dim')?.num, scale: k.get('scale')?.num, masks, bias: k.get('bias')?.flag ?? true, dropout: k.get('dropout')?.num, span };
}

function readMask(e: import('../grammar/ast.ts').Expr, ctx: Ctx, allowAlternate: boolean): Mask[] {
  const w = e.kind === 'name' ? { name: e, call: undefined as CallArg[] | undefined } : e.kind === 'call' ? { name: e.callee, call: e.args } : undefined;
  if (w && w.name.name === 'alternate' && allowAlternate && w.call) {
    if (w.call.length < 2) ctx.diags.error('TFM2016', { message: '`alternate` takes two or more masks' }, { span: e.span });
    return w.call.flatMap((a) => readMask(a.value, ctx, false));
  }
  if (!w || !(MASKS as readonly string[]).includes(w.name.name)) {
    const near = w ? suggest(w.name.name, [...MASKS, 'alternate']) : undefined;
    ctx.diags.error('TFM2004', { what: 'mask', value: exprText(e) }, { span: e.span, message: `expected one of ${list(MASKS)} or \`alternate(...)\`` }, { help: near ? `did you mean \`${near}\`?` : undefined });
    return [];
  }
  const kind: Word<MaskKind> = { value: w.name.name as MaskKind, span: e.span };
  if (kind.value === 'local') {
    const [window] = callNums({ value: 'local', span: e.span, call: w.call ?? [] }, ['window'], ctx);
    return [{ kind, window, span: e.span }];
  }
  if (w.call) ctx.diags.error('TFM2016', { message: `mask \`${kind.value}\` takes no arguments` }, { span: e.span });
  return [{ kind, span: e.span }];
}

function readMlp(r: ArgReader, span: Span, ctx: Ctx): Mlp | undefined {
  const keys: Record<string, KeySpec> = { act: oneOf(ACTIVATIONS), bias: onoff, dropout: prob };
  const dffGiven = r.hasValue(keys);
  const dff = r.number({ what: 'hidden dim of `mlp`', integer: true, positive: true }, keys, true);
  const k = r.keys(keys);
  const act = k.get('act')?.word;
  if (!act) {
    // An invalid `act` value was already reported by the reader; a missing one is reported here.
    if (!k.has('act')) ctx.diags.error('TFM2005', { what: '`act` of `mlp`' }, { span: r.stmt.keyword.span, message: `add \`act\` with one of ${list(ACTIVATIONS)}` });
    return undefined;
  }
  return { dff, dffGiven, act: { value: act.value as Activation, span: act.span }, bias: k.get('bias')?.flag ?? true, dropout: k.get('dropout')?.num, span };
}

function readHead(r: ArgReader, span: Span): Head | undefined {
  const kind = r.word(['lm', 'mlm', 'classify'] as const, 'head kind');
  const keys: Record<string, KeySpec> = { tied: flag, untied: flag, scale: num, bias: onoff, from: oneOf(['cls', 'mean']), pooler: oneOf(['tanh', 'gelu', 'relu']), transform: oneOf([...ACTIVATIONS, 'tanh']), dropout: prob };
  const classes = kind?.value === 'classify' ? r.number({ what: 'class count', integer: true, positive: true }, keys, true) : undefined;
  const k = r.keys(keys);
  if (!kind) return undefined;
  const tiedKey = k.get('tied')?.key ?? k.get('untied')?.key;
  return {
    kind: { value: kind.value, span: kind.span },
    tied: k.has('tied') || (!k.has('untied') && kind.value === 'mlm'),
    tiedSpan: tiedKey?.span,
    scale: k.get('scale')?.num,
    bias: k.get('bias')?.flag ?? kind.value !== 'lm',
    classes,
    from: k.get('from')?.word as Word<'cls' | 'mean'> | undefined,
    pooler: k.get('pooler')?.word,
    transform: k.get('transform')?.word as Word<Activation | 'tanh'> | undefined,
    dropout: k.get('dropout')?.num,
    span,
  };
}

function readObjective(r: ArgReader, span: Span, ctx: Ctx): Objective | undefined {
  const kind = r.word(OBJECTIVES, 'objective');
  r.keys({});
  if (!kind) return undefined;
  const accepted = OBJECTIVE_PARAMS[kind.value];
  const params = new Map<string, Num | Num[]>();
  for (const a of kind.call ?? []) {
    const rule = a.name ? accepted[a.name.name] : undefined;
    if (!a.name || !rule) {
      const near = a.name ? suggest(a.name.name, Object.keys(accepted)) : undefined;
      const names = Object.keys(accepted);
      ctx.diags.error('TFM2016', { message: names.length ? `\`${kind.value}\` takes named parameters ${list(names)}` : `\`${kind.value}\` takes no parameters` }, { span: a.span }, { help: near ? `did you mean \`${near}\`?` : undefined });
      continue;
    }
    if (params.has(a.name.name)) ctx.diags.error('TFM2002', { what: 'parameter', name: a.name.name }, { span: a.name.span });
    if (rule === 'split') {
      if (a.value.kind !== 'list' || a.value.items.length !== 3) {
        ctx.diags.error('TFM2028', { what: '`split`', expected: 'a list of three fractions `[mask, random, keep]`', found: exprText(a.value) }, { span: a.value.span });
        continue;
      }
      const parts = a.value.items.map((e) => ctx.env.num(e, { what: 'a `split` fraction', probability: true }));
      if (parts.every((p) => p)) {
        const sum = parts.reduce((s, p) => s + p!.value, 0);
        if (Math.abs(sum - 1) > 1e-9) ctx.diags.error('TFM2022', { what: 'the fractions of `split`', rule: 'sum to 1', value: String(Number(sum.toFixed(6))) }, { span: a.value.span, message: 'must sum to 1' }, { help: 'the three fractions are mask, random token, keep; e.g. `[0.8, 0.1, 0.1]`' });
        params.set(a.name.name, parts as Num[]);
      }
      continue;
    }
    const what = `\`${a.name.name}\``;
    const n = ctx.env.num(a.value, rule === 'prob' ? { what, probability: true } : rule === 'count' ? { what, integer: true, positive: true } : { what, positive: true });
    if (n) params.set(a.name.name, n);
  }
  return { kind: { value: kind.value, span: kind.span }, params, span };
}

function readStack(item: Statement, role: 'encoder' | 'decoder', ctx: Ctx): Stack {
  const stack: Stack = { role, span: item.span, blocks: [] };
  if (!item.body) ctx.diags.error('TFM2005', { what: `\`{ ... }\` body of \`${role}\`` }, { span: item.keyword.span });
  for (const s of item.body ?? []) {
    if (s.kind === 'assign') {
      ctx.diags.error('TFM2025', { message: `assignments are not allowed directly in \`${role}\`` }, { span: s.span });
      continue;
    }
    const r = new ArgReader(s, ctx.env, ctx.diags);
    if (s.keyword.name === 'block') stack.blocks.push(readBlock(s, ctx));
    else if (s.keyword.name === 'embed') {
      r.keys({});
      stack.embed = readEmbed(s, ctx);
    } else if (s.keyword.name === 'final_norm') {
      stack.finalNorm = readNorm(r, s.span, false);
      noBody(s, ctx);
    } else unknownStatement(s, `\`${role}\``, ['embed', 'block', 'final_norm'], ctx);
  }
  if (stack.blocks.length === 0) ctx.diags.error('TFM2005', { what: `\`block\` in \`${role}\`` }, { span: item.keyword.span });
  return stack;
}
