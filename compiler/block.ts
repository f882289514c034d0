// Shape-checks one block and counts its parameters. A declarative block is first written
// out as the explicit body it stands for (pre-norm: `x = x + attention(norm(x))`, post-norm:
// `x = norm(x + attention(x))`), with spans on the declarations, so that both forms go
// through one evaluator and one set of shape rules.
import type { Assignment, Expr, Name } from '../grammar/ast.ts';
import { exprRefs, exprText } from '../grammar/ast.ts';
import { suggest, type DiagnosticBag } from '../common/diagnostics.ts';
import type { DimEnv } from './dims.ts';
import type { Block, Mlp, Norm } from './model.ts';
import { broadcast, constDim, constValue, dimText, last, shapesEqual, shapeText, type Dim, type Shape } from './shapes.ts';
import type { Span } from '../common/source.ts';

export interface LayerParams {
  /** `attention`, `cross_attention`, `mlp`, `norm`, `linear`, `weight`. */
  kind: string;
  params: number;
  span: Span;
}

export interface BlockTrace {
  out?: Shape;
  layers: LayerParams[];
}

const ACTIVATION_FUNCTIONS = ['relu', 'gelu', 'gelu_tanh', 'tanh', 'silu', 'sigmoid'];
const FUNCTIONS = ['norm', 'attention', 'cross_attention', 'mlp', 'dropout', 'linear', 'matmul', 'weight', ...ACTIVATION_FUNCTIONS];

export function normParams(norm: Norm, dim: number): number {
  return dim + (norm.bias ? dim : 0);
}

/** `memoryKnown`: the block may read `memory` (decoder of an encoder-decoder model, or a block
 *  that declares cross attention, which is then reported once at the model level). */
export function traceBlock(block: Block, x: Shape, memory: Shape | undefined, memoryKnown: boolean, env: DimEnv, diags: DiagnosticBag): BlockTrace {
  const t = new BlockTracer(block, env, diags, memory);
  const body = block.body ?? desugar(block);
  const vars = new Map<string, Shape | undefined>([['x', x]]);
  if (memory || memoryKnown || block.attentions.some((a) => a.kind.value === 'cross')) vars.set('memory', memory);
  for (const a of body) {
    const s = t.eval(a.value, vars);
    if (a.target.name === 'memory') diags.error('TFM2023', { name: 'memory', reason: 'it is the encoder output, read-only in a block body' }, { span: a.target.span });
    // A failed line leaves its target known but shapeless, so later lines do not cascade.
    else vars.set(a.target.name, s);
    t.definitions.set(a.target.name, a.value);
  }
  if (block.body) checkWiring(block, block.body, t, x, memory, diags);
  const out = vars.get('x');
  if (block.body && out && !shapesEqual(out, x)) {
    const lastX = [...block.body].reverse().find((a) => a.target.name === 'x');
    diags.error('TFM3008', { expected: shapeText(x), found: shapeText(out) }, { span: (lastX ?? block.body[block.body.length - 1]).span, message: `\`x\` is ${shapeText(out)} here` }, { help: 'the residual stream must keep its shape so that blocks can repeat' });
  }
  return { out: block.body && out && !shapesEqual(out, x) ? undefined : out, layers: t.layers };
}

interface Declaration {
  /** The body function that uses it. */
  call: 'norm' | 'attention' | 'cross_attention' | 'mlp' | 'dropout';
  what: string;
  span: Span;
}

function declarations(block: Block): Declaration[] {
  const out: Declaration[] = [];
  if (block.norm) out.push({ call: 'norm', what: '`norm`', span: block.norm.span });
  for (const a of block.attentions) out.push(a.kind.value === 'self' ? { call: 'attention', what: '`attention self`', span: a.span } : { call: 'cross_attention', what: '`attention cross`', span: a.span });
  if (block.mlp) out.push({ call: 'mlp', what: '`mlp`', span: block.mlp.span });
  if (block.dropout && block.dropoutSpan) out.push({ call: 'dropout', what: '`dropout`', span: block.dropoutSpan });
  return out;
}

/** An explicit body wires the block itself: every declared sub-layer must be called, `x` must
 *  be written, and every variable read. A body that calls none of the declarations is one
 *  mistake (reported once, at the assignment that made the block explicit), not several. */
function checkWiring(block: Block, body: Assignment[], t: BlockTracer, x: Shape, memory: Shape | undefined, diags: DiagnosticBag): void {
  const calls = new Set<string>();
  const reads = new Set<string>();
  for (const a of body) {
    const r = exprRefs(a.value);
    // A misspelt call (`atention(x)`, reported as such) counts as the call it was meant to be.
    r.calls.forEach((c) => calls.add(FUNCTIONS.includes(c) ? c : (suggest(c, FUNCTIONS) ?? c)));
    r.names.forEach((n) => reads.add(n));
  }
  const decls = declarations(block);
  const unused = decls.filter((d) => !calls.has(d.call));
  const example = (d: Declaration) => (d.call === 'cross_attention' ? 'x = x + cross_attention(norm(x), memory)' : d.call === 'norm' || d.call === 'dropout' ? `x = x + ${d.call}(mlp(x))` : `x = x + ${d.call}(norm(x))`);
  let wiringError = unused.length > 0;
  const layers = decls.filter((d) => d.call !== 'norm' && d.call !== 'dropout');
  if (layers.length > 0 && layers.every((d) => unused.includes(d))) {
    const names = unused.map((d) => d.what);
    diags.error('TFM2032', { message: `the block body never calls its declared ${names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`}` }, { span: body[0].span, message: 'this assignment makes the block an explicit body' }, {
      secondary: unused.slice(0, 3).map((d) => ({ span: d.span, message: 'declared, never called' })),
      help: `remove the assignment to keep the declared wiring, or wire every sub-layer yourself, e.g. \`${example(unused[0])}\``,
    });
  } else {
    for (const d of unused) {
      diags.error('TFM2032', { message: `${d.what} is declared but the block body never calls \`${d.call}(...)\`` }, { span: d.span, message: 'never called' }, { help: `call it in the body, e.g. \`${example(d)}\`, or remove the declaration` });
    }
    if (!body.some((a) => a.target.name === 'x')) {
      wiringError = true;
      const lastLine = body[body.length - 1];
      diags.error('TFM2035', {}, { span: lastLine.span, message: 'the last line of the body' }, { help: `assign the new residual stream to \`x\`, e.g. \`x = ${exprText(lastLine.value)}\`` });
    }
  }
  // A declaration is checked whether or not the body uses it.
  for (const d of unused) t.checkDeclaration(d.call, x, memory);
  if (wiringError) return;
  for (const a of body) {
    if (a.target.name !== 'x' && !reads.has(a.target.name) && body.find((b) => b.target.name === a.target.name) === a) {
      diags.error('TFM2034', { name: a.target.name }, { span: a.target.span, message: 'assigned here' }, { help: `use it in a later line, or remove \`${a.target.name} = ...\`` });
    }
  }
}

/** The explicit body a declarative block stands for. */
export function desugar(block: Block): Assignment[] {
  const pre = block.norm?.placement?.value !== 'post';
  const out: Assignment[] = [];
  const sub = (name: string, span: Span, args: Expr[]): Expr => ({ kind: 'call', callee: { kind: 'name', name, span }, args: args.map((value) => ({ value, span })), span });
  const x = (span: Span): Name => ({ kind: 'name', name: 'x', span });
  const sublayers: { call: (input: Expr) => Expr; span: Span }[] = [];
  for (const a of block.attentions) {
    const span = a.span;
    sublayers.push({ span, call: (input) => (a.kind.value === 'cross' ? sub('cross_attention', span, [input, { kind: 'name', name: 'memory', span }]) : sub('attention', span, [input])) });
  }
  if (block.mlp) {
    const span = block.mlp.span;
    sublayers.push({ span, call: (input) => sub('mlp', span, [input]) });
  }
  for (const { call, span } of sublayers) {
    const normSpan = block.norm?.span ?? span;
    const add = (l: Expr, r: Expr): Expr => ({ kind: 'binary', op: '+', left: l, right: r, opSpan: span, span });
    const normed = (e: Expr): Expr => (block.norm ? sub('norm', normSpan, [e]) : e);
    const value = pre ? add(x(span), call(normed(x(span)))) : normed(add(x(span), call(x(span))));
    out.push({ kind: 'assign', target: x(span), value, span });
  }
  return out;
}

class BlockTracer {
  readonly layers: LayerParams[] = [];
  /** The expression each body variable was last assigned (to name a transposed `weight`). */
  readonly definitions = new Map<string, Expr>();
  private readonly reportedUndeclared = new Set<string>();
  constructor(
    private readonly block: Block,
    private readonly env: DimEnv,
    private readonly diags: DiagnosticBag,
    private readonly memory: Shape | undefined,
  ) {}

  private get bias(): boolean {
    return this.block.bias;
  }

  /** Checks a declared sub-layer the body never calls, on the block's input (its parameters
   *  are not counted: the unused declaration is already an error). */
  checkDeclaration(call: Declaration['call'], x: Shape, memory: Shape | undefined): void {
    const span = this.block.span;
    const callee: Name = { kind: 'name', name: call, span };
    const layers = this.layers.length;
    if (call === 'attention' || call === 'cross_attention') this.attention(callee, x, call === 'cross_attention' ? (memory ?? x) : x, call === 'attention' ? 'self' : 'cross', span);
    else if (call === 'mlp') this.mlp(callee, x, span);
    this.layers.length = layers;
  }

  eval(e: Expr, vars: Map<string, Shape | undefined>): Shape | undefined {
    switch (e.kind) {
      case 'number':
        return [];
      case 'name': {
        const s = vars.get(e.name);
        if (!vars.has(e.name)) {
          const near = suggest(e.name, vars.keys());
          const reason = e.name === 'memory' ? 'only the decoder of an `encoder_decoder` model reads `memory`' : 'not assigned before this line';
          this.diags.error('TFM2001', { what: 'variable', name: e.name }, { span: e.span, message: reason }, { help: near ? `did you mean \`${near}\`?` : undefined });
        }
        return s;
      }
      case 'unary':
        return this.eval(e.operand, vars);
      case 'binary': {
        if (!this.supportedArithmetic(e)) return undefined;
        const l = this.eval(e.left, vars);
        const r = this.eval(e.right, vars);
        if (!l || !r) return undefined;
        const b = broadcast(l, r);
        if (!b) {
          const op = { '+': 'add', '-': 'subtract', '*': 'multiply', '/': 'divide', '**': 'raise' }[e.op];
          this.diags.error('TFM3006', { op, left: shapeText(l), right: shapeText(r) }, { span: e.opSpan, message: mismatchNote(l, r) }, { secondary: declNotes(l, r) });
        }
        return b;
      }
      case 'call':
        return this.call(e.callee, e.args.map((a) => a.value), e.span, vars);
      default:
        this.diags.error('TFM2028', { what: 'a block body value', expected: 'a tensor expression', found: exprText(e) }, { span: e.span });
        return undefined;
    }
  }

  private call(callee: Name, args: Expr[], span: Span, vars: Map<string, Shape | undefined>): Shape | undefined {
    const name = callee.name;
    if (!FUNCTIONS.includes(name)) {
      const near = suggest(name, FUNCTIONS);
      this.diags.error('TFM2027', { name, context: 'a block body' }, { span: callee.span }, { help: near ? `did you mean \`${near}\`?` : `available: ${FUNCTIONS.map((f) => `\`${f}\``).join(', ')}` });
      return undefined;
    }
    if (name === 'weight') return this.weight(args, span);
    const arity = name === 'cross_attention' || name === 'matmul' || name === 'linear' ? 2 : 1;
    if (args.length !== arity) {
      this.diags.error('TFM2016', { message: `\`${name}\` takes ${arity} argument${arity > 1 ? 's' : ''}, found ${args.length}` }, { span });
      return undefined;
    }
    if (name === 'linear') return this.linear(args, span, vars);
    const shapes = args.map((a) => this.eval(a, vars));
    if (shapes.some((s) => !s)) return undefined;
    const [a, b] = shapes as Shape[];
    switch (name) {
      case 'norm':
        return this.norm(callee, a, span);
      case 'attention':
        return this.attention(callee, a, a, 'self', span);
      case 'cross_attention':
        return this.attention(callee, a, b, 'cross', span);
      case 'mlp':
        return this.mlp(callee, a, span);
      case 'matmul':
        return this.matmul(a, b, args, span);
      case 'dropout':
        if (this.block.dropout === undefined) this.undeclared(callee);
        return a;
      default:
        return a; // element-wise activations keep the shape
    }
  }

  /** Tensors add, subtract and multiply element-wise; a number only scales a tensor
   *  (`0.5 * x`, `x * 0.5`, `x / 2`). Anything else has no kernel, so it is a mistake here
   *  rather than a lowering failure after `tfm check` said yes. */
  private supportedArithmetic(e: Extract<Expr, { kind: 'binary' }>): boolean {
    const isNum = (x: Expr) => x.kind === 'number';
    const fail = (operand: Expr, expected: string) => {
      this.diags.error('TFM2028', { what: `the ${operand === e.left ? 'left' : 'right'} operand of \`${e.op}\` in a block body`, expected, found: isNum(operand) ? `the number \`${exprText(operand)}\`` : 'a tensor' }, { span: operand.span }, { help: 'numbers only scale tensors: `0.5 * x`, `x * 0.5`, `x / 2`' });
      return false;
    };
    if (e.op === '**') return fail(e.right, 'absent: `**` has no tensor kernel');
    if (e.op === '/') return isNum(e.left) ? fail(e.left, 'a tensor') : isNum(e.right) || fail(e.right, 'a number');
    if (e.op === '*') return !(isNum(e.left) && isNum(e.right)) || fail(e.right, 'a tensor');
    if (isNum(e.left)) return fail(e.left, 'a tensor');
    return !isNum(e.right) || fail(e.right, 'a tensor');
  }

  private needRank(op: string, s: Shape, min: number, span: Span): boolean {
    if (s.length >= min) return true;
    this.diags.error('TFM3009', { op: `\`${op}\``, expected: `a tensor of rank ${min} or more`, found: shapeText(s) }, { span });
    return false;
  }

  private feature(op: string, s: Shape, span: Span): Dim | undefined {
    if (!this.needRank(op, s, 1, span)) return undefined;
    const d = last(s)!;
    if ('sym' in d) {
      this.diags.error('TFM3009', { op: `\`${op}\``, expected: 'a constant feature dim', found: shapeText(s) }, { span });
      return undefined;
    }
    return d;
  }

  /** A call of an undeclared sub-layer; its output shape is still known, so checking goes on.
   *  Silent when the declaration was written but failed (that was reported). */
  private undeclared(callee: Name): void {
    const key = callee.name === 'cross_attention' ? 'attention cross' : callee.name === 'attention' ? 'attention self' : callee.name;
    if (this.block.written.has(key) || (key.startsWith('attention') && this.block.written.has('attention'))) return;
    if (this.reportedUndeclared.has(key)) return; // one missing declaration is one mistake
    this.reportedUndeclared.add(key);
    this.diags.error('TFM2030', { name: callee.name === 'cross_attention' ? 'attention cross' : callee.name }, { span: callee.span }, { secondary: [{ span: this.block.span, message: 'in this block' }] });
  }

  private norm(callee: Name, x: Shape, span: Span): Shape | undefined {
    const norm = this.block.norm;
    if (!norm) {
      this.undeclared(callee);
      return x;
    }
    const d = this.feature('norm', x, span);
    if (d) this.layers.push({ kind: 'norm', params: normParams(norm, constValue(d)!), span: norm.span });
    return x;
  }

  /** Attention returns the shape of its queries whatever its settings; a wrong setting is
   *  reported and its parameters left uncounted, and checking continues with that shape. */
  private attention(callee: Name, q: Shape, kv: Shape, kind: 'self' | 'cross', span: Span): Shape | undefined {
    const att = this.block.attentions.find((a) => a.kind.value === kind);
    if (!att) {
      this.undeclared(callee);
      return [...q];
    }
    const dq = this.feature('attention', q, span);
    const dkv = this.feature('attention', kv, span);
    if (!dq || !dkv) return undefined;
    if (!att.heads || 'sym' in dq) return [...q];
    const d = dq;
    if (kind === 'cross' && !this.memory) return [...q]; // reported by the model checker
    const dim = constValue(d)!;
    const heads = att.heads.value;
    const headDim = att.headDim?.value ?? dim / heads;
    let ok = true;
    if (!att.headDim && dim % heads !== 0) {
      ok = false;
      this.diags.error('TFM3001', { heads, dim: `${d.name ? `\`${d.name}\` = ` : ''}${dim}` }, { span: att.heads.span, message: `${dim} / ${heads} is not a whole number` }, {
        secondary: [d.decl ? { span: d.decl, message: `\`${d.name}\` declared here` } : undefined, att.heads.origin && att.heads.origin.span.start !== att.heads.span.start ? { span: att.heads.origin.span, message: `\`${att.heads.origin.name}\` declared here` } : undefined],
        help: headsHelp(heads, dim, att.heads.origin?.name, d.name),
      });
    }
    const kvHeads = att.kvHeads?.value ?? heads;
    if (heads % kvHeads !== 0) {
      ok = false;
      this.diags.error('TFM3002', { kv: kvHeads, heads }, { span: att.kvHeads!.span, message: `${heads} / ${kvHeads} is not a whole number` }, {
        secondary: [{ span: att.heads.span, message: '`heads` given here' }],
        help: `use one of ${divisors(heads).map((v) => `\`kv_heads ${v}\``).join(', ')}`,
      });
    }
    if (!ok) return [...q];
    const inner = heads * headDim;
    const kvInner = kvHeads * headDim;
    const kvDim = constValue(dkv)!;
    const b = att.bias;
    const params = dim * inner + (b ? inner : 0) + 2 * (kvDim * kvInner + (b ? kvInner : 0)) + inner * dim + (b ? dim : 0);
    this.layers.push({ kind: kind === 'self' ? 'attention' : 'cross_attention', params, span: att.span });
    return [...q];
  }

  private mlp(callee: Name, x: Shape, span: Span): Shape | undefined {
    const mlp: Mlp | undefined = this.block.mlp;
    if (!mlp) {
      this.undeclared(callee);
      return x;
    }
    const d = this.feature('mlp', x, span);
    if (!d) return undefined;
    if (!mlp.dff) {
      if (!mlp.dffGiven) this.diags.error('TFM2005', { what: 'hidden dim of `mlp`' }, { span: mlp.span, message: 'write `mlp <dim> act ...`, e.g. `mlp d_ff act gelu`' });
      return x;
    }
    const dim = constValue(d)!;
    const f = mlp.dff.value;
    const gated = mlp.act.value === 'swiglu' || mlp.act.value === 'geglu';
    const b = mlp.bias;
    const params = (gated ? 2 : 1) * (dim * f + (b ? f : 0)) + f * dim + (b ? dim : 0);
    this.layers.push({ kind: 'mlp', params, span: mlp.span });
    return x;
  }

  private linear(args: Expr[], span: Span, vars: Map<string, Shape | undefined>): Shape | undefined {
    const x = this.eval(args[0], vars);
    const n = this.env.num(args[1], { what: 'output dim of `linear`', integer: true, positive: true });
    if (!x || !n) return undefined;
    const d = this.feature('linear', x, span);
    if (!d) return undefined;
    this.layers.push({ kind: 'linear', params: constValue(d)! * n.value + (this.bias ? n.value : 0), span });
    return [...x.slice(0, -1), constDim(n)];
  }

  private weight(args: Expr[], span: Span): Shape | undefined {
    if (args.length === 0) {
      this.diags.error('TFM2016', { message: '`weight` takes its dims: `weight(d_model, d_ff)`' }, { span });
      return undefined;
    }
    const dims = args.map((a) => this.env.num(a, { what: 'a `weight` dim', integer: true, positive: true }));
    if (dims.some((d) => !d)) return undefined;
    this.layers.push({ kind: 'weight', params: dims.reduce((p, d) => p * d!.value, 1), span });
    return dims.map((d) => constDim(d!));
  }

  private matmul(a: Shape, b: Shape, args: Expr[], span: Span): Shape | undefined {
    if (!this.needRank('matmul', a, 2, args[0].span) || !this.needRank('matmul', b, 2, args[1].span)) return undefined;
    if (b.length !== 2) {
      this.diags.error('TFM3009', { op: '`matmul`', expected: 'a `weight(...)` of rank 2 on the right (a product of two activations has no kernel yet)', found: shapeText(b) }, { span: args[1].span });
      return undefined;
    }
    const k1 = a[a.length - 1];
    const k2 = b[b.length - 2];
    if (!dimEq(k1, k2)) {
      const transposed = transposeHelp(a, b, args, this.definitions);
      this.diags.error('TFM3007', { left: shapeText(a), right: shapeText(b) }, { span, message: `inner dims ${dimText(k1)} and ${dimText(k2)} differ` }, { secondary: declNotes([k1], [k2]), help: transposed ?? 'the last dim of the left operand must equal the second-to-last dim of the right' });
      // The result's last dims would be a guess (even the transposed fix may not be what was
      // meant), and a guess only adds echoes: later uses of it are not checked.
      return undefined;
    }
    const batchA = a.slice(0, -2);
    const batchB = b.slice(0, -2);
    const batch = broadcast(batchA, batchB);
    if (!batch) {
      this.diags.error('TFM3006', { op: 'broadcast', left: shapeText(batchA), right: shapeText(batchB) }, { span, message: 'batch dims of `matmul` do not broadcast' });
      return undefined;
    }
    // The result's shape is known even when the inner dims differ: checking goes on with it.
    return [...batch, a[a.length - 2], b[b.length - 1]];
  }
}

/** When one operand of a failed matmul is a literal `weight(p, q)` that fits the other
 *  operand once transposed, the fix is to swap its dims. */
function transposeHelp(a: Shape, b: Shape, args: Expr[], definitions: Map<string, Expr>): string | undefined {
  const swap = (e: Expr, shape: Shape) => {
    const w = e.kind === 'name' ? definitions.get(e.name) : e;
    if (w?.kind !== 'call' || w.callee.name !== 'weight' || w.args.length !== 2) return undefined;
    const named = e.kind === 'name' ? `\`${e.name}\` = ` : '';
    return `${named}\`${exprText(w)}\` is ${shapeText(shape)}; write \`weight(${exprText(w.args[1].value)}, ${exprText(w.args[0].value)})\``;
  };
  const right = dimEq(a[a.length - 1], b[b.length - 1]) ? swap(args[1], b) : undefined;
  return right ?? (dimEq(a[a.length - 2], b[b.length - 2]) ? swap(args[0], a) : undefined);
}

function dimEq(a: Dim, b: Dim): boolean {
  return shapesEqual([a], [b]);
}

function mismatchNote(l: Shape, r: Shape): string {
  const n = Math.max(l.length, r.length);
  for (let i = 1; i <= n; i++) {
    const x = l[l.length - i];
    const y = r[r.length - i];
    if (x && y && !dimEq(x, y)) return `${dimText(x)} vs ${dimText(y)}`;
  }
  return 'ranks differ';
}

function declNotes(l: Shape, r: Shape): { span: Span; message: string }[] {
  const out: { span: Span; message: string }[] = [];
  for (const d of [...l, ...r]) {
    if (!('sym' in d) && d.decl && d.name && !out.some((o) => o.span.start === d.decl!.start)) out.push({ span: d.decl, message: `\`${d.name}\` declared here` });
  }
  return out.slice(0, 2);
}

/** Divisors of n in ascending order, in O(sqrt n) (dims go up to 2^31 - 1). */
export function divisors(n: number): number[] {
  const small: number[] = [];
  const large: number[] = [];
  for (let i = 1; i * i <= n; i++) {
    if (n % i !== 0) continue;
    small.push(i);
    if (i !== n / i) large.unshift(n / i);
  }
  return [...small, ...large];
}

function headsHelp(heads: number, dim: number, headsName: string | undefined, dimName: string | undefined): string {
  const ds = divisors(dim);
  const below = [...ds].reverse().find((v) => v < heads);
  const above = ds.find((v) => v > heads);
  const h = (v: number) => (headsName ? `\`${headsName} = ${v}\`` : `\`heads ${v}\``);
  const choices = [below, above].filter((v): v is number => v !== undefined && v > 1).map(h);
  const multiple = Math.max(heads, Math.round(dim / heads) * heads);
  const fixDim = dimName ? `set \`${dimName} = ${multiple}\`` : `use a model dim of ${multiple}`;
  return choices.length ? `use ${choices.join(' or ')}, or ${fixDim}` : fixDim;
}
