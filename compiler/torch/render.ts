// The PyTorch target: a model's forward pass and loss, from the tensor IR, as one readable
// `nn.Module` (model.py). It is a different kind of target from ts, wasm and webgpu, which
// render the kernel IR: PyTorch brings its own kernels and autograd, so this renders the ops
// before fusion, one line of Python per IR node, grouped under the spec line each came from.
// The module's parameters carry the Hugging Face names and layouts that `tfm export` writes
// (so its files load with `load_state_dict(strict=True)`); `tfm_weights()` gives them back
// under tfm's names and layouts as views, through which autograd reaches the stored tensors.
// Spec text enters only inside comments (escaped) and names only inside string literals.
import type { Graph, Node, Value } from '../ir.ts';
import { escapeInvisible } from '../../common/text.ts';
import { spanAt, type SourceMap } from '../../common/source.ts';
import type { SymDim } from '../../common/program.ts';

/** How a parameter under tfm's name and layout is read from a stored tensor. */
export interface ParamView {
  /** The stored tensor's name (a Hugging Face name, or tfm's own). */
  key: string;
  /** same; transpose (nn.Linear's [out, in]); lead (leading unit dims); conv (a Conv2d
   *  [d, C, p, p] patch projection); slice (columns [from, to) of a fused tensor: GPT-2's c_attn). */
  layout: 'same' | 'transpose' | 'lead' | 'conv' | 'slice';
  from?: number;
  to?: number;
  /** The stored tensor's shape. */
  shape: number[];
}

export interface TorchOptions {
  header: string[];
  sources?: SourceMap;
  /** tfm name → stored tensor; identity when absent. */
  views?: Map<string, ParamView>;
  /** Stored tensors that are not parameters (BART's zero `final_logits_bias`), registered as buffers. */
  buffers?: Map<string, number[]>;
  /** What the stored names are, for the docstring (`Hugging Face GPT-2`, `tfm's own`). */
  naming: string;
}

export class TorchRenderError extends Error {}

const PY_KEYWORDS = new Set('False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield'.split(' '));
const comment = (s: string) => escapeInvisible(s, (code) => `\\u{${code}}`);
/** A Python string literal (JSON's escapes are Python's). */
const str = (s: string) => JSON.stringify(s);
const num = (x: number) => (Number.isInteger(x) ? String(x) : Number.isFinite(x) ? String(x) : x > 0 ? "float('inf')" : x < 0 ? "float('-inf')" : "float('nan')");

export function className(model: string): string {
  const camel = model
    .split(/_+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join('');
  const name = /^[A-Za-z_][A-Za-z0-9_]*$/.test(camel) ? camel : 'Model';
  return PY_KEYWORDS.has(name) ? `Tfm${name}` : name;
}

const PRELUDE = String.raw`import math

import torch
import torch.nn.functional as F
from torch import nn


def submodule(root, name):
    """The module that holds the tensor called name ("a.b.weight": root.a.b, made on first use), and the tensor's own name ("weight")."""
    *path, leaf = name.split(".")
    owner = root
    for part in path:
        if not hasattr(owner, part):
            owner.add_module(part, nn.Module())
        owner = getattr(owner, part)
    return owner, leaf


def relative_bucket(relative, bidirectional, num_buckets, max_distance):
    """T5's relative position bucket of each key offset (j - i), in float64 as tfm computes it."""
    buckets = torch.zeros_like(relative)
    n = num_buckets
    if bidirectional:
        n //= 2
        buckets = buckets + (relative > 0).long() * n
        relative = relative.abs()
    else:
        relative = -torch.clamp(relative, max=0)
    max_exact = n // 2
    large = max_exact + (torch.log(relative.double().clamp(min=1) / max_exact) / math.log(max_distance / max_exact) * (n - max_exact)).long()
    large = torch.clamp(large, max=n - 1)
    return buckets + torch.where(relative < max_exact, relative, large)


def attention(q, k, v, *, heads, kv_heads, head_dim, scale, mask, window=0, bias=None, rel=None, key_mask=None, prefix=None, p_drop=0.0, training=False):
    """Multi-head attention over q [B, Tq, H*hd], k and v [B, Tk, KV*hd]: scores scaled, plus a
    relative bias, masked (causal, local window, prefix, padded keys), softmax (a row with no
    visible key gives zeros), dropout on the probabilities, weighted sum of the values."""
    B, Tq, Tk = q.shape[0], q.shape[1], k.shape[1]
    q = q.reshape(B, Tq, heads, head_dim).transpose(1, 2)
    k = k.reshape(B, Tk, kv_heads, head_dim).transpose(1, 2)
    v = v.reshape(B, Tk, kv_heads, head_dim).transpose(1, 2)
    if kv_heads != heads:
        k = k.repeat_interleave(heads // kv_heads, dim=1)
        v = v.repeat_interleave(heads // kv_heads, dim=1)
    s = (q @ k.transpose(-1, -2)) * scale
    i = torch.arange(Tq, device=q.device)[:, None]
    j = torch.arange(Tk, device=q.device)[None, :]
    if bias is not None:
        buckets = relative_bucket(j - i, rel[2], rel[0], rel[1])
        s = s + bias[buckets].permute(2, 0, 1)[None]
    visible = torch.ones(B, 1, Tq, Tk, dtype=torch.bool, device=q.device)
    if mask == "causal":
        visible = visible & (j <= i)
    elif mask == "local":
        visible = visible & (j <= i) & (i - j < window)
    elif mask == "prefix":
        visible = visible & ((j <= i) | (j < prefix.reshape(B, 1, 1, 1)))
    if key_mask is not None:
        visible = visible & (key_mask.reshape(B, 1, 1, Tk) != 0)
    s = s.masked_fill(~visible, torch.finfo(s.dtype).min)
    p = torch.softmax(s, dim=-1) * visible
    if p_drop:
        p = F.dropout(p, p_drop, training)
    return (p @ v).transpose(1, 2).reshape(B, Tq, heads * head_dim)


def rotary(x, head_dim, base):
    """Rotary positions (rotate-half form): every head vector of x [B, T, H*hd] turned by its position."""
    B, T, W = x.shape
    half = head_dim // 2
    pos = torch.arange(T, dtype=torch.float64, device=x.device)[:, None]
    theta = pos * base ** (-2 * torch.arange(half, dtype=torch.float64, device=x.device) / head_dim)
    c, s = torch.cos(theta).to(x.dtype), torch.sin(theta).to(x.dtype)
    h = x.reshape(B, T, W // head_dim, head_dim)
    x1, x2 = h[..., :half], h[..., half:]
    c, s = c[None, :, None, :], s[None, :, None, :]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1).reshape(B, T, W)


def sinusoidal(rows, dim, device=None):
    """The Transformer's sinusoidal positions [rows, dim]: sin at even, cos at odd columns."""
    pos = torch.arange(rows, dtype=torch.float64, device=device)[:, None]
    angle = pos / 10000 ** (2 * torch.arange(dim // 2, dtype=torch.float64, device=device) / dim)
    return torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1).reshape(rows, dim).float()


def patchify(image, p):
    """[B, C, H, W] images → [B, (H/p)(W/p), C*p*p] patches, rows in raster order, each patch's
    values ordered channel, row, column."""
    B, C, H, W = image.shape
    x = image.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(B, (H // p) * (W // p), C * p * p)


def rmsnorm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def cross_entropy(logits, targets, ignore_index):
    """Mean cross-entropy over the targets that are not ignore_index (0 when there are none)."""
    logits = logits.reshape(-1, logits.shape[-1])
    targets = targets.reshape(-1)
    keep = targets != ignore_index
    if not bool(keep.any()):
        return logits.sum() * 0
    return F.cross_entropy(logits, targets.long(), ignore_index=ignore_index)
`;

const ACTS: Record<string, (x: string) => string> = {
  relu: (x) => `F.relu(${x})`,
  gelu: (x) => `F.gelu(${x})`,
  gelu_tanh: (x) => `F.gelu(${x}, approximate="tanh")`,
  tanh: (x) => `torch.tanh(${x})`,
  sigmoid: (x) => `torch.sigmoid(${x})`,
  silu: (x) => `F.silu(${x})`,
};

/** The forward pass and loss of `graph` (lowered, not differentiated, not fused) as model.py. */
export function renderTorch(graph: Graph, model: string, opts: TorchOptions): string {
  const cls = className(model);
  const params = new Map(graph.params.map((p) => [p.value.id, p.name]));
  const inputs = new Map(graph.inputs.map((i) => [i.value.id, i.name]));
  for (const name of inputs.values()) if (!/^[a-z_][a-z0-9_]*$/.test(name) || PY_KEYWORDS.has(name)) throw new TorchRenderError(`input name \`${name}\` is not a Python identifier`);
  const args = graph.inputs.filter((i) => i.name !== 'seed');

  // Run-time dims from the inputs' shapes.
  const dimLines: string[] = [];
  const dims = new Set<string>();
  for (const i of args) {
    i.value.shape.forEach((d, k) => {
      if (typeof d === 'string' && /^[a-z_][a-z0-9_]*$/.test(d) && !dims.has(d)) {
        dims.add(d);
        dimLines.push(`${d} = ${i.name}.shape[${k}]`);
      }
    });
  }
  const dim = (d: SymDim): string => {
    if (typeof d === 'number') return String(d);
    if (dims.has(d)) return d;
    const plus = /^([a-z_][a-z0-9_]*)\+(\d+)$/.exec(d);
    if (plus && dims.has(plus[1])) return `(${plus[1]} + ${plus[2]})`;
    throw new TorchRenderError(`run-time dim \`${d}\` is not known from the inputs`);
  };
  const shape = (s: readonly SymDim[]) => `(${s.map(dim).join(', ')}${s.length === 1 ? ',' : ''})`;

  const names = new Map<number, string>();
  const ref = (v: Value): string => {
    const p = params.get(v.id);
    if (p !== undefined) return `w[${str(p)}]`;
    const i = inputs.get(v.id);
    if (i !== undefined) return i;
    const n = names.get(v.id);
    if (n === undefined) throw new TorchRenderError(`internal: value ${v.id} used before it is computed`);
    return n;
  };
  const body: string[] = [];
  let lastAt: string | undefined;
  for (const n of graph.nodes) {
    const at = spanAt(n.span, opts.sources);
    if (at && at !== lastAt) {
      const text = n.span && opts.sources ? lineOf(n, opts.sources) : '';
      body.push(`# ${comment(`${at}${text ? ` \`${text}\`` : ''}`)}`);
      lastAt = at;
    }
    for (const o of n.outputs) names.set(o.id, `x${o.id}`);
    body.push(...statement(n, ref, dim, shape));
  }
  const outputs = [...graph.outputs].filter(([k]) => !k.startsWith('grad:')).sort(([a], [b]) => a.localeCompare(b));
  body.push(`return {${outputs.map(([k, v]) => `${str(k)}: ${ref(v)}`).join(', ')}}`);

  const views = opts.views ?? new Map<string, ParamView>();
  const viewOf = (p: Graph['params'][number]): ParamView => views.get(p.name) ?? { key: p.name, layout: 'same', shape: p.value.shape as number[] };
  const stored = new Map<string, number[]>();
  for (const p of graph.params) {
    const v = viewOf(p);
    stored.set(v.key, v.shape);
  }
  const viewExpr = (p: Graph['params'][number]) => {
    const v = viewOf(p);
    const t = `p[${str(v.key)}]`;
    switch (v.layout) {
      case 'same':
        return t;
      case 'transpose':
        return `${t}.t()`;
      case 'lead':
        return `${t}.reshape(${shape(p.value.shape)})`;
      case 'conv':
        return `${t}.reshape(${v.shape[0]}, -1).t()`;
      case 'slice':
        return `${t}[..., ${v.from}:${v.to}]`;
    }
  };

  const argDocs = args.map((i) => `        ${i.name}: ${i.value.dtype === 'i32' ? 'integer' : 'float'} [${i.value.shape.join(', ')}]`);
  const out: string[] = [
    ...opts.header.map((l) => `# ${comment(l)}`),
    '# The forward pass and loss as a PyTorch module, one line per tensor-IR op (before fusion);',
    "# PyTorch's autograd differentiates it. Parameters carry the stored names below, so a file",
    '# that `tfm export` writes loads with load_state_dict(strict=True).',
    '',
    PRELUDE,
    '',
    `class ${cls}(nn.Module):`,
    `    """${comment(model)}: parameters under ${comment(opts.naming)} names and layouts; forward() takes`,
    "    the program's inputs and returns its outputs (the loss among them).",
    '',
    '    Inputs:',
    ...argDocs,
    '    """',
    '',
    '    # Stored tensors: name → shape.',
    '    PARAMETERS = {',
    ...[...stored].map(([k, s]) => `        ${str(k)}: (${s.join(', ')}${s.length === 1 ? ',' : ''}),`),
    '    }',
    ...(opts.buffers?.size
      ? ['    # Buffers that the stored files carry but the model does not use (zeros).', '    BUFFERS = {', ...[...opts.buffers].map(([k, s]) => `        ${str(k)}: (${s.join(', ')}${s.length === 1 ? ',' : ''}),`), '    }']
      : ['    BUFFERS = {}']),
    '',
    '    def __init__(self):',
    '        super().__init__()',
    '        for name, shape in self.PARAMETERS.items():',
    '            owner, leaf = submodule(self, name)',
    '            owner.register_parameter(leaf, nn.Parameter(torch.zeros(shape)))',
    '        for name, shape in self.BUFFERS.items():',
    '            owner, leaf = submodule(self, name)',
    '            owner.register_buffer(leaf, torch.zeros(shape))',
    '',
    '    # tfm name → the stored tensor it is read from.',
    '    STORED_AS = {',
    ...graph.params.map((p) => `        ${str(p.name)}: ${str(viewOf(p).key)},`),
    '    }',
    '',
    '    def tfm_weights(self, p=None):',
    '        """The parameters under tfm\'s names and layouts, as views of the stored tensors (or of',
    '        `p`, any tensors by stored name and shape: Adam\'s moments for a tfm checkpoint)."""',
    '        p = dict(self.named_parameters()) if p is None else p',
    '        return {',
    ...graph.params.map((p) => `            ${str(p.name)}: ${viewExpr(p)},`),
    '        }',
    '',
    `    def forward(self, ${args.map((i) => i.name).join(', ')}):`,
    '        w = self.tfm_weights()',
    ...dimLines.map((l) => `        ${l}`),
    ...body.map((l) => `        ${l}`),
    '',
  ];
  return out.join('\n');
}

function lineOf(n: Node, sources: SourceMap): string {
  const f = sources.get(n.span!.file);
  if (!f) return '';
  const p = f.position(n.span!.start);
  return f.lineText(p.line).trim();
}

function statement(n: Node, ref: (v: Value) => string, dim: (d: SymDim) => string, shape: (s: readonly SymDim[]) => string): string[] {
  const [a, b] = n.inputs.map(ref);
  const y = `x${n.outputs[0].id}`;
  const at = n.attrs;
  switch (n.op) {
    case 'embedding':
      return [`${y} = F.embedding(${b}.long(), ${a})`];
    case 'slice_rows': {
      const off = (at.offset as number) ?? 0;
      return [`${y} = ${a}[${off}:${off ? `${off} + ` : ''}${dim(at.rows as SymDim)}]`];
    }
    case 'matmul':
      if (at.ta) return [`${y} = ${a}.reshape(-1, ${a}.shape[-1]).t() @ ${b}.reshape(-1, ${b}.shape[-1])`];
      return [`${y} = ${a} @ ${b}${at.tb ? '.t()' : ''}`];
    case 'add':
      return [`${y} = ${a} + ${b}`];
    case 'sub':
      return [`${y} = ${a} - ${b}`];
    case 'mul':
      return [`${y} = ${a} * ${b}`];
    case 'scale':
      return [`${y} = ${a} * ${num(at.c as number)}`];
    case 'reshape':
      return [`${y} = ${a}.reshape(${shape(at.shape as SymDim[])})`];
    case 'broadcast':
      return [`${y} = ${a}.expand(${shape(at.shape as SymDim[])})`];
    case 'act': {
      const f = ACTS[at.kind as string];
      if (!f) throw new TorchRenderError(`activation \`${at.kind}\` has no PyTorch rendering`);
      return [`${y} = ${f(a)}`];
    }
    case 'layernorm': {
      const bias = n.inputs[2] ? ref(n.inputs[2]) : 'None';
      return [`${y} = F.layer_norm(${a}, (${a}.shape[-1],), ${b}, ${bias}, ${num(at.eps as number)})`];
    }
    case 'rmsnorm':
      return [`${y} = rmsnorm(${a}, ${b}, ${num(at.eps as number)})`];
    case 'attention': {
      let i = 3;
      const extra: string[] = [];
      if (at.has_bias) extra.push(`bias=${ref(n.inputs[i++])}, rel=(${at.rel_buckets}, ${at.rel_max_distance}, ${at.rel_bidirectional ? 'True' : 'False'})`);
      if (at.has_key_mask) extra.push(`key_mask=${ref(n.inputs[i++])}`);
      if (at.has_prefix) extra.push(`prefix=${ref(n.inputs[i++])}`);
      if (at.has_q_pos) throw new TorchRenderError('attention with query positions (the key/value cache) has no PyTorch rendering: render the training graph');
      if (at.window) extra.push(`window=${at.window}`);
      if (at.p_drop) extra.push(`p_drop=${num(at.p_drop as number)}, training=self.training`);
      const mask = typeof at.mask === 'string' ? at.mask : 'none';
      if (!['none', 'causal', 'local', 'prefix', 'padding', 'bidirectional'].includes(mask)) throw new TorchRenderError(`attention mask \`${mask}\` has no PyTorch rendering`);
      return [`${y} = attention(${n.inputs.slice(0, 3).map(ref).join(', ')}, heads=${at.heads}, kv_heads=${at.kv_heads}, head_dim=${at.head_dim}, scale=${num(at.scale as number)}, mask=${str(mask)}${extra.map((e) => `, ${e}`).join('')})`];
    }
    case 'rotary':
      if (n.inputs.length > 1 || at.inverse) throw new TorchRenderError('rotary with cache positions or inverse has no PyTorch rendering');
      return [`${y} = rotary(${a}, ${at.head_dim}, ${num(at.base as number)})`];
    case 'softmax_xent':
      return [`${y} = cross_entropy(${a}, ${b}, ${(at.ignore_index as number) ?? -100})`];
    case 'dropout':
      return [`${y} = F.dropout(${a}, ${num(at.p as number)}, self.training)`];
    case 'patchify':
      return [`${y} = patchify(${a}, ${at.patch})`];
    case 'prepend':
      return [`${y} = torch.cat([${b}.expand(${a}.shape[0], 1, -1), ${a}], dim=1)`];
    case 'gather_rows':
      return [`${y} = torch.gather(${a}, 1, ${b}.long()[..., None].expand(-1, -1, ${a}.shape[-1]))`];
    case 'take_first':
      return [`${y} = ${a}[:, 0]`];
    case 'mean_seq':
      return [`${y} = ${a}.mean(dim=1)`];
    case 'sinusoidal':
      return [`${y} = sinusoidal(${dim(at.rows as SymDim)}, ${at.dim})`];
    case 'fill':
      return [`${y} = torch.full(${shape(at.shape as SymDim[])}, ${num(at.value as number)})`];
    case 'sum_all':
      return [`${y} = ${a}.sum()`];
    default:
      throw new TorchRenderError(`op \`${n.op}\` has no PyTorch rendering`);
  }
}
