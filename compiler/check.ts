// checkModel: names, semantics and symbolic shapes of one model, from its inputs to its
// loss. Produces the per-component parameter table as a by-product of the shape trace.
import { DiagnosticBag, sortDiagnostics, suggest, type Diagnostic, type Label } from '../common/diagnostics.ts';
import { DimEnv } from './dims.ts';
import { interpretModel } from './interpret.ts';
import type { Embed, Model, Num, Positions, Stack } from './model.ts';
import { dimAssignments, loadProgram, resolveModel, type Program, type ReadFile } from './program.ts';
import { divisors, normParams, traceBlock } from './block.ts';
import { constDim, sym, type Shape } from './shapes.ts';
import type { Span } from '../common/source.ts';

export interface ParamRow {
  component: string;
  params: number;
  /** Repeat count for rows that stand for `block * n`; `params` is per layer. */
  repeat?: number;
  /** False for the task head; backbone rows are what the reference families publish. */
  backbone: boolean;
}

export interface ParamReport {
  rows: ParamRow[];
  backbone: number;
  total: number;
}

export interface CheckedModel {
  model: Model;
  params: ParamReport;
  /** Shape of the hidden states entering the head, when the trace got that far. */
  hidden?: Shape;
}

export interface CheckResult {
  program: Program;
  models: CheckedModel[];
  diagnostics: Diagnostic[];
}

/** Loads `paths` (and their imports), checks every model declared in them. Never throws. */
export function checkFiles(paths: string[], readFile?: ReadFile): CheckResult {
  const program = loadProgram(paths, readFile);
  const bag = new DiagnosticBag();
  const models: CheckedModel[] = [];
  for (const [name, src] of program.models) {
    if (!program.roots.includes(src.file) || program.syntaxErrors.has(src.file)) continue;
    models.push(checkModel(program, name, bag));
  }
  return { program, models, diagnostics: dedupe([...program.diagnostics.items, ...bag.items]) };
}

const keyOf = (d: Diagnostic) => `${d.code}|${d.primary.span.file}|${d.primary.span.start}|${d.primary.span.end}|${d.message}`;

function dedupe(list: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return sortDiagnostics(list).filter((d) => {
    const key = keyOf(d);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Checks one model; diagnostics on lines it inherits are moved to where it broke them. */
export function checkModel(program: Program, name: string, diags: DiagnosticBag): CheckedModel {
  const own = new DiagnosticBag();
  const { checked, incomplete } = checkResolvedModel(program, name, own);
  for (const d of incomplete ? own.items : relocateInherited(program, name, own.items)) diags.add(d);
  return checked;
}

function checkResolvedModel(program: Program, name: string, diags: DiagnosticBag): { checked: CheckedModel; incomplete: boolean } {
  const decl = program.models.get(name)!.decl;
  const resolved = resolveModel(program, name, diags);
  // With an ancestor missing, what it would have declared (dims, layout, head, ...) is
  // unknown: only the model's own mistakes are reported, not the absence of the rest.
  const incomplete = resolved.incomplete === true;
  const env = new DimEnv(resolved.dims, diags, { unknownNamesSilent: incomplete });
  const dimTable = env.table(); // folds every dim, so errors in unused dims are reported too
  const model = interpretModel(decl.name, decl.span, resolved.ancestors, resolved.items, { env, diags });
  model.dims = dimTable;
  const checker = new ModelChecker(model, env, diags, incomplete);
  const checked = checker.run();
  if (incomplete) return { checked, incomplete };
  for (const item of decl.items) {
    if (item.kind !== 'statement' || item.keyword.name !== 'dims') continue;
    for (const d of dimAssignments(item)) {
      if (!env.used.has(d.target.name) && dimTable.has(d.target.name) && !d.target.name.startsWith('_')) {
        // In a child, an unused new dim is usually a misspelt override of an inherited one.
        const inherited = resolved.dims.filter((a) => a.target.span.file !== d.target.span.file || a.target.span.start < decl.span.start || a.target.span.start > decl.span.end).map((a) => a.target.name);
        const near = decl.parent ? suggest(d.target.name, inherited) : undefined;
        diags.error('TFM2026', { name: d.target.name }, { span: d.target.span, message: 'not referenced anywhere in this model' }, { help: near ? `did you mean to override the inherited dim \`${near}\`?` : `remove it, or prefix it with \`_\` to keep it as documentation` });
      }
    }
  }
  return { checked, incomplete };
}

/** A child model (`extends`) can break a rule on a line it inherits. The diagnostic then goes
 *  where the child broke it: a label inside the child becomes the primary (the inherited line
 *  a secondary); with no such label, the child's `extends` clause. Mistakes the parent makes
 *  by itself stay on the parent's line, once. Every moved diagnostic names the model. */
function relocateInherited(program: Program, name: string, list: Diagnostic[]): Diagnostic[] {
  const src = program.models.get(name)!;
  const { decl } = src;
  if (!decl.parent || !program.models.has(decl.parent.name)) return list;
  const parent = decl.parent.name;
  const extendsSpan = decl.parent.span;
  const inChild = (span: Span) => span.file === src.file && span.start >= decl.span.start && span.end <= decl.span.end;
  let parentKeys: Set<string> | undefined;
  const parentOwn = (d: Diagnostic) => {
    if (!parentKeys) {
      const bag = new DiagnosticBag();
      checkResolvedModel(program, parent, bag);
      parentKeys = new Set(bag.items.map(keyOf));
    }
    return parentKeys.has(keyOf(d));
  };
  const note = `in model \`${name}\`, which extends \`${parent}\``;
  const inherited = (l: Label): Label => ({ span: l.span, message: `inherited from \`${parent}\`${l.message ? `: ${l.message}` : ''}` });
  return list.flatMap((d): Diagnostic[] => {
    if (inChild(d.primary.span)) return [d];
    const label = d.secondary.find((l) => inChild(l.span));
    if (label) return [{ ...d, primary: label, secondary: [inherited(d.primary), ...d.secondary.filter((l) => l !== label)], note }];
    if (parentOwn(d)) {
      const parentIsChecked = program.roots.includes(program.models.get(parent)!.file);
      return parentIsChecked ? [] : [{ ...d, note: d.note ?? `in model \`${parent}\`, which \`${name}\` extends` }];
    }
    return [{ ...d, primary: { span: extendsSpan, message: 'the inherited statement below breaks in this model' }, secondary: [inherited(d.primary), ...d.secondary], note }];
  });
}

const GENERATIVE = new Set(['clm', 'span_corruption', 'denoise', 'text_to_text']);

class ModelChecker {
  private readonly rows: ParamRow[] = [];
  constructor(
    private readonly model: Model,
    private readonly env: DimEnv,
    private readonly diags: DiagnosticBag,
    /** An ancestor is missing: absent declarations may be its, so they are not reported. */
    private readonly incomplete: boolean,
  ) {}

  run(): CheckedModel {
    const m = this.model;
    if (this.incomplete) ['layout', 'embed', 'head', 'objective'].forEach((k) => m.written.add(k));
    if (!m.layout && !m.written.has('layout')) this.diags.error('TFM2005', { what: '`layout`' }, { span: m.nameSpan, message: `model \`${m.name}\` has no layout` }, { help: 'add `layout encoder`, `layout decoder` or `layout encoder_decoder`' });
    if (!m.embed && !m.written.has('embed')) this.diags.error('TFM2005', { what: '`embed { ... }`' }, { span: m.nameSpan, message: `model \`${m.name}\` has no embedding` });
    const emb = m.embed ? this.embedding(m.embed) : undefined;
    let hidden: Shape | undefined;
    let memory: Shape | undefined;
    for (const stack of m.stacks) {
      const seqName = m.layout?.value === 'encoder_decoder' ? (stack.role === 'encoder' ? 'src_seq' : 'tgt_seq') : 'seq';
      const x = emb ? this.stackInput(stack, emb, seqName) : undefined;
      const out = x ? this.stack(stack, x, stack.role === 'decoder' ? memory : undefined) : undefined;
      if (stack.role === 'encoder') memory = out;
      hidden = out;
    }
    // With an ancestor missing, rules across statements (specials, head and objective) may
    // hinge on what it declares: only the model's own statements and shapes are checked.
    if (!this.incomplete) this.semantics();
    const head = this.incomplete ? undefined : this.head(hidden, emb);
    if (m.pooler && hidden) {
      const d = dimValue(hidden);
      if (d) this.rows.push({ component: 'pooler', params: d * d + d, backbone: true });
    }
    if (head) this.rows.push(head);
    const total = this.rows.reduce((s, r) => s + r.params * (r.repeat ?? 1), 0);
    const backbone = this.rows.filter((r) => r.backbone).reduce((s, r) => s + r.params * (r.repeat ?? 1), 0);
    return { model: m, params: { rows: this.rows, backbone, total }, hidden };
  }

  /** Token or patch embedding shared by all stacks; returns the model dim and sequence info. */
  private embedding(e: Embed): { modelDim: Num; tokenDim?: Num; patches?: number } | undefined {
    const m = this.model;
    let dim: Num | undefined;
    let patches: number | undefined;
    if (e.tokens) {
      this.rows.push({ component: 'embed.tokens', params: e.tokens.vocab.value * e.tokens.dim.value, backbone: true });
      dim = e.tokens.dim;
      if (!m.inputs.tokens && m.inputs.image) this.diags.error('TFM2005', { what: '`input tokens`' }, { span: e.tokens.span, message: 'token embedding without token input' });
    }
    if (e.patches) {
      const p = e.patches;
      const img = m.inputs.image;
      if (!img) this.diags.error('TFM2015', { what: 'an `input image channels C height H width W` declaration' }, { span: p.span, message: 'patch embedding declared here' }, { help: 'add `input image channels 3 height 224 width 224`' });
      else {
        for (const key of ['channels', 'height', 'width'] as const) {
          if (!img[key]) this.diags.error('TFM2015', { what: `\`${key}\` of the image input` }, { span: img.span, message: `\`input image\` has no \`${key}\`` }, { secondary: [{ span: p.span, message: 'needed by this patch embedding' }], help: `add \`${key} <n>\` to \`input image\`` });
        }
        let ok = !!(img.channels && img.height && img.width);
        for (const [side, n] of [['height', img.height], ['width', img.width]] as const) {
          if (n && n.value % p.size.value !== 0) {
            ok = false;
            const lo = largestDivisorBelow(n.value, p.size.value);
            this.diags.error('TFM3003', { patch: p.size.value, side, size: n.value }, { span: p.size.span, message: `${n.value} / ${p.size.value} is not a whole number` }, { secondary: [{ span: n.span, message: `image ${side} given here` }], help: `use patch size ${lo}, or an image ${side} of ${Math.ceil(n.value / p.size.value) * p.size.value}` });
          }
        }
        if (ok) {
          patches = (img.height!.value / p.size.value) * (img.width!.value / p.size.value) + (p.cls ? 1 : 0);
          const c = img.channels!.value;
          this.rows.push({ component: 'embed.patches', params: c * p.size.value * p.size.value * p.dim.value + p.dim.value + (p.cls ? p.dim.value : 0), backbone: true });
        }
      }
      if (dim && dim.value !== p.dim.value) this.diags.error('TFM3006', { op: 'add', left: `[.., ${dim.value}]`, right: `[.., ${p.dim.value}]` }, { span: p.dim.span, message: 'patch and token embeddings differ in dim' });
      dim = dim ?? p.dim;
    }
    if (!dim) {
      if (e.partialDim) return { modelDim: e.project ?? e.partialDim };
      if (!e.written.has('tokens') && !e.written.has('patches')) this.diags.error('TFM2005', { what: '`tokens` or `patches` in `embed`' }, { span: e.span, message: 'nothing is embedded' });
      return undefined;
    }
    if (e.segments) this.rows.push({ component: 'embed.segments', params: e.segments.types.value * dim.value, backbone: true });
    let modelDim = dim;
    if (e.project) {
      this.rows.push({ component: 'embed.project', params: dim.value * e.project.value + e.project.value, backbone: true });
      modelDim = e.project;
    }
    return { modelDim, tokenDim: e.tokens?.dim, patches };
  }

  /** Positions and embedding norm belong to each stack (BART and T5 keep one per stack). */
  private stackInput(stack: Stack, emb: { modelDim: Num; tokenDim?: Num; patches?: number }, seqName: string): Shape {
    const top = this.model.embed!;
    const positions = stack.embed?.positions ?? top.positions;
    const norm = stack.embed?.norm ?? top.norm;
    const prefix = this.model.stacks.length > 1 ? `${stack.role}.` : '';
    const embDim = this.model.embed?.tokens?.dim ?? this.model.embed?.patches?.dim ?? emb.modelDim;
    if (stack.embed?.tokens) this.rows.push({ component: `${prefix}embed.tokens`, params: stack.embed.tokens.vocab.value * stack.embed.tokens.dim.value, backbone: true });
    if (positions) this.positions(positions, stack, embDim.value, emb.patches, prefix);
    if (norm) this.rows.push({ component: `${prefix}embed.norm`, params: normParams(norm, embDim.value), backbone: true });
    return [sym('batch'), sym(seqName), constDim(emb.modelDim)];
  }

  private positions(p: Positions, stack: Stack, dim: number, patches: number | undefined, prefix: string): void {
    const inputs = this.model.inputs;
    const ctxInput = stack.role === 'decoder' && this.model.stacks.length > 1 ? (inputs.targets ?? inputs.tokens) : inputs.tokens;
    const context: { value: number; span?: Span; what: string } | undefined = patches !== undefined ? { value: patches, span: this.model.embed?.patches?.span, what: 'patches' } : ctxInput?.context ? { value: ctxInput.context.value, span: ctxInput.context.span, what: 'context' } : undefined;
    if (p.kind.value === 'learned') {
      const length = p.length?.value ?? context?.value;
      if (length === undefined) {
        // Nothing to say when the length or the patch grid failed to evaluate: that was reported.
        if (p.lengthGiven || this.model.embed?.patches) return;
        this.diags.error('TFM2005', { what: 'length of learned positions' }, { span: p.span, message: 'write `positions learned <length>` or declare `input tokens context <n>`' });
        return;
      }
      if (p.length && context && p.length.value < context.value) {
        this.diags.error('TFM3005', { positions: p.length.value, context: context.value }, { span: p.length.span, message: `${context.value - p.length.value} position${context.value - p.length.value === 1 ? '' : 's'} short` }, {
          secondary: [context.span ? { span: context.span, message: context.what === 'patches' ? `${context.value} patch tokens (with cls) come from here` : 'context declared here' } : undefined],
          help: `use \`positions learned ${context.value}\`${context.what === 'context' ? ' or a shorter context' : ''}`,
        });
      }
      this.rows.push({ component: `${prefix}embed.positions`, params: (length + (p.offset?.value ?? 0)) * dim, backbone: true });
    } else if (p.kind.value === 'rotary') {
      // Rotary embeddings rotate feature pairs (2i, 2i+1) of each head.
      const model = this.model.embed?.project?.value ?? dim;
      for (const att of stack.blocks.flatMap((b) => b.attentions)) {
        if (att.kind.value !== 'self' || !att.heads) continue;
        const headDim = att.headDim?.value ?? (model % att.heads.value === 0 ? model / att.heads.value : undefined);
        if (headDim === undefined || headDim % 2 === 0) continue;
        this.diags.error('TFM3010', { headDim }, { span: att.headDim?.span ?? att.heads.span, message: att.headDim ? `head_dim ${headDim}` : `${model} / ${att.heads.value} = ${headDim} features per head` }, {
          secondary: [{ span: p.kind.span, message: 'rotary positions chosen here' }],
          help: att.headDim ? `use an even \`head_dim\`, e.g. ${headDim + 1}` : `choose \`heads\` so that ${model} / heads is even, or give an even \`head_dim\``,
        });
      }
    } else if (p.kind.value === 'relative_bias') {
      const att = stack.blocks.flatMap((b) => b.attentions).find((a) => a.kind.value === 'self');
      if (p.buckets && att?.heads) this.rows.push({ component: `${prefix}relative_bias`, params: p.buckets.value * att.heads.value, backbone: true });
    }
  }

  private stack(stack: Stack, x: Shape, memory: Shape | undefined): Shape {
    const prefix = this.model.stacks.length > 1 ? `${stack.role}.` : '';
    // A block keeps the shape of the residual stream (TFM3008), so after a block whose
    // body failed, the next block is still checked, with the shape this one should give.
    let h: Shape = x;
    stack.blocks.forEach((block, i) => {
      const memoryKnown = stack.role === 'decoder' && this.model.layout?.value === 'encoder_decoder';
      const t = traceBlock(block, h, memory, memoryKnown, this.env, this.diags);
      const name = `${prefix}block${stack.blocks.length > 1 ? i : ''}`;
      const perLayer = t.layers.reduce((s, l) => s + l.params, 0);
      this.rows.push({ component: `${name} × ${block.repeat.value}`, params: perLayer, repeat: block.repeat.value, backbone: true });
      h = t.out ?? h;
      for (const a of block.attentions) {
        if (a.kind.value === 'cross' && !(stack.role === 'decoder' && this.model.layout?.value === 'encoder_decoder')) {
          this.diags.error('TFM2009', {}, { span: a.kind.span, message: `cross attention in ${this.model.layout?.value === 'encoder_decoder' ? 'the encoder' : `a \`${this.model.layout?.value ?? ''}\` model`}` }, { secondary: [this.model.layout ? { span: this.model.layout.span, message: 'layout declared here' } : undefined], help: 'use `layout encoder_decoder` with a `decoder { }` stack, or `attention self`' });
        }
      }
    });
    const d = dimValue(h);
    if (stack.finalNorm && d) this.rows.push({ component: `${prefix}final_norm`, params: normParams(stack.finalNorm, d), backbone: true });
    return h;
  }

  private semantics(): void {
    const m = this.model;
    const obj = m.objective;
    if (!obj && !m.written.has('objective')) {
      this.diags.error('TFM2005', { what: '`objective`' }, { span: m.nameSpan, message: `model \`${m.name}\` has no objective` }, { help: 'add `objective clm`, `objective mlm(...)`, `objective span_corruption(...)`, `objective denoise(...)`, `objective text_to_text` or `objective classify`' });
    }
    if (!m.head && !m.written.has('head')) this.diags.error('TFM2005', { what: '`head`' }, { span: m.nameSpan, message: `model \`${m.name}\` has no head` });
    const specials = new Set(m.vocabulary.specials.map((s) => s.value));
    const vocabSize = m.embed?.tokens?.vocab;
    const needed = m.vocabulary.specials.length + (m.vocabulary.sentinels?.value ?? 0);
    if (vocabSize && needed > vocabSize.value) {
      const origin = vocabSize.origin;
      this.diags.error('TFM2029', { vocab: vocabSize.value, needed }, { span: m.vocabulary.span!, message: `${needed} tokens declared here` }, {
        secondary: [origin ? { span: origin.span, message: `\`${origin.name}\` declared here` } : { span: vocabSize.span, message: 'vocabulary size given here' }],
        help: origin ? `set \`${origin.name} = ${needed}\` or more (plus the ordinary tokens)` : `make the vocabulary at least ${needed} (plus the ordinary tokens)`,
      });
    }
    if (m.inputs.targets && m.layout && m.layout.value !== 'encoder_decoder') {
      this.diags.error('TFM2025', { message: `\`input targets\` belongs to the decoder of an \`encoder_decoder\` model, not to ${m.layout.value === 'encoder' ? 'an' : 'a'} \`${m.layout.value}\` model` }, { span: m.inputs.targets.span }, {
        secondary: [{ span: m.layout.span, message: 'layout declared here' }],
        help: m.layout.value === 'decoder' ? 'remove it: a decoder-only model learns to predict the next token of `input tokens`' : 'remove it, or use `layout encoder_decoder`',
      });
    }
    const dupSpecial = m.vocabulary.specials.find((s, i) => m.vocabulary.specials.findIndex((t) => t.value === s.value) !== i);
    if (dupSpecial) this.diags.error('TFM2002', { what: 'special token', name: dupSpecial.value }, { span: dupSpecial.span });
    const selfAttentions = m.stacks.flatMap((s) => s.blocks.flatMap((b) => b.attentions.filter((a) => a.kind.value === 'self').map((a) => ({ a, stack: s }))));
    const head = m.head;
    if (head?.kind.value === 'classify') {
      if (!head.classes) this.diags.error('TFM2012', {}, { span: head.kind.span, message: 'how many classes?' }, { help: 'write `head classify <classes> from cls`' });
      const from = head.from?.value ?? 'cls';
      const clsSource = specials.has('<cls>') || m.embed?.patches?.cls;
      if (from === 'cls' && !clsSource) {
        this.diags.error('TFM2013', {}, { span: head.from?.span ?? head.kind.span, message: 'reads the `<cls>` position' }, { secondary: [m.vocabulary.span ? { span: m.vocabulary.span, message: 'no `<cls>` among these specials' } : undefined], help: m.embed?.patches ? 'add `cls` to the `patches` embedding' : 'add `<cls>` to `vocabulary specials`, or use `from mean`' });
      }
    }
    if (!obj) return;
    const kind = obj.kind.value;
    const needHead = (want: 'lm' | 'mlm' | 'classify') => {
      if (head && head.kind.value !== want) this.diags.error('TFM2021', { objective: kind, needs: `a \`${want}\` head`, found: `\`${head.kind.value}\`` }, { span: head.kind.span, message: `this head does not fit \`${kind}\`` }, { secondary: [{ span: obj.kind.span, message: 'objective declared here' }], help: `use \`head ${want}${want === 'classify' ? ' <classes> from cls' : ' tied'}\`` });
    };
    const needSpecial = (token: string) => {
      if (!specials.has(token)) this.diags.error('TFM2020', { objective: kind, token }, { span: obj.kind.span }, { secondary: [m.vocabulary.span ? { span: m.vocabulary.span, message: `no \`${token}\` here` } : undefined], help: `add \`${token}\` to \`vocabulary specials\`` });
    };
    const needLayout = (layout: 'encoder_decoder') => {
      if (m.layout && m.layout.value !== layout) this.diags.error('TFM2025', { message: `\`${kind}\` trains an \`${layout}\` model` }, { span: obj.kind.span }, { secondary: [{ span: m.layout.span, message: 'layout declared here' }] });
    };
    if (kind === 'clm' || kind === 'span_corruption' || kind === 'denoise' || kind === 'text_to_text') needHead('lm');
    if (kind === 'text_to_text') needLayout('encoder_decoder');
    if (kind === 'mlm') {
      needHead('mlm');
      needSpecial('<mask>');
      for (const { a } of selfAttentions) {
        for (const mask of a.masks) {
          if (mask.kind.value === 'causal' || mask.kind.value === 'local') this.diags.error('TFM2010', {}, { span: mask.span, message: 'each token sees only its left context' }, { secondary: [{ span: obj.kind.span, message: 'masked-LM objective declared here' }], help: 'use `mask bidirectional` (or `padding`) for masked-LM pretraining' });
        }
      }
    }
    if (kind === 'classify') needHead('classify');
    if (kind === 'span_corruption') {
      needLayout('encoder_decoder');
      // The objective may say how many sentinels it uses; the vocabulary must hold at least that many.
      const wanted = obj.params.get('sentinels') as Num | undefined;
      const have = m.vocabulary.sentinels;
      if (!have || (wanted && wanted.value > have.value)) {
        const need = wanted?.value ?? 100;
        this.diags.error('TFM2014', {}, { span: wanted?.span ?? obj.kind.span, message: wanted ? `uses ${wanted.value} sentinels` : 'replaces each dropped span with a sentinel token' }, {
          secondary: [have ? { span: have.span, message: `the vocabulary has ${have.value}` } : m.vocabulary.span ? { span: m.vocabulary.span, message: 'no `sentinels` declared here' } : undefined],
          help: `declare \`sentinels ${need}\` in \`vocabulary\`${wanted ? '' : ' (T5 uses 100)'}`,
        });
      }
    }
    if (kind === 'denoise') {
      needLayout('encoder_decoder');
      const p = (k: string) => (obj.params.get(k) as Num | undefined)?.value ?? 0;
      if (p('mask') > 0 || p('infill') > 0) needSpecial('<mask>');
    }
    if (GENERATIVE.has(kind)) {
      for (const { a, stack } of selfAttentions) {
        if (stack.role !== 'decoder') continue;
        for (const mask of a.masks) {
          if (mask.kind.value === 'bidirectional' || mask.kind.value === 'padding') {
            this.diags.error('TFM2011', { mask: mask.kind.value, objective: kind }, { span: mask.span, message: 'lets every position see the future' }, { secondary: [{ span: obj.kind.span, message: 'generative objective declared here' }], help: 'use `mask causal` (or `local(<window>)`, `prefix`) in the decoder' });
          }
        }
      }
    }
  }

  private head(hidden: Shape | undefined, emb: { modelDim: Num; tokenDim?: Num } | undefined): ParamRow | undefined {
    const head = this.model.head;
    if (!head || !hidden || !emb) return undefined;
    const d = dimValue(hidden);
    if (!d) return undefined;
    const tokens = this.model.embed?.tokens;
    const component = `head ${head.kind.value}`;
    if (head.kind.value === 'lm') {
      if (!head.tied) return { component, params: tokens ? tokens.vocab.value * d + (head.bias ? tokens.vocab.value : 0) : 0, backbone: false };
      if (!tokens) {
        if (this.model.embed?.written.has('tokens')) return undefined; // its error was reported
        this.diags.error('TFM2005', { what: 'token embedding to tie the head to' }, { span: head.tiedSpan ?? head.kind.span });
        return undefined;
      }
      if (tokens.dim.value !== d) {
        this.diags.error('TFM3004', { hidden: d, embed: tokens.dim.value }, { span: head.tiedSpan ?? head.kind.span, message: `logits = hidden [.., ${d}] @ embedding^T [${tokens.dim.value}, ..]` }, { secondary: [{ span: tokens.dim.span, message: 'embedding dim declared here' }], help: 'use `head lm untied`, or make the embedding dim equal the model dim' });
        return undefined;
      }
      return { component, params: head.bias ? tokens.vocab.value : 0, backbone: false };
    }
    if (head.kind.value === 'mlm') {
      if (!tokens) {
        if (this.model.embed?.written.has('tokens')) return undefined;
        this.diags.error('TFM2005', { what: 'token embedding for the `mlm` head' }, { span: head.kind.span });
        return undefined;
      }
      const e = tokens.dim.value;
      const transform = d * e + e + 2 * e;
      const decoder = head.tied ? 0 : tokens.vocab.value * e;
      return { component, params: transform + decoder + (head.bias ? tokens.vocab.value : 0), backbone: false };
    }
    const classes = head.classes?.value ?? 0;
    const pooler = head.pooler ? d * d + d : 0;
    return { component, params: pooler + classes * d + classes, backbone: false };
  }
}

function dimValue(s: Shape): number | undefined {
  const d = s[s.length - 1];
  return d && !('sym' in d) ? d.value : undefined;
}

function largestDivisorBelow(n: number, below: number): number {
  return [...divisors(n)].reverse().find((v) => v < below) ?? 1;
}

