// `tfm diff`: what a spec change does to the generated code, for review. Both sides are
// compiled (two spec files, or one spec against a git revision); kernels are matched by
// their names, which hash their content (an unchanged kernel keeps its name wherever the spec
// moves it), and the rest are paired by kind and by the spec lines whose steps call them. Each
// change is labelled with the spec change that causes it, found by compiling the old spec
// with each change applied alone and the new spec with each change taken back alone (exact
// where a change alone checks; a change that needs another is caught by the second).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { diffArrays, structuredPatch } from 'diff';
import { numel, programJson, type Program } from '../common/program.ts';
import { TfmError } from '../common/errors.ts';
import { formatBytes, LIMITS, readTextBounded } from '../common/files.ts';
import type { SourceMap } from '../common/source.ts';
import { checkFiles, type CheckedModel } from '../compiler/check.ts';
import { compile } from '../compiler/codegen/compile.ts';
import { MissingKernel } from '../compiler/codegen/kernels.ts';
import { graphFlops } from '../compiler/flops.ts';
import { LoweringError } from '../compiler/lower.ts';
import { peakBytes } from '../compiler/passes/plan.ts';
import { displayPath, type ReadFile } from '../compiler/program.ts';
import { targetNamed, type Target } from '../compiler/targets/index.ts';
import { nominalDims } from './compile.ts';

/** One side of a diff: its root spec files and how to read them (and their imports). */
export interface DiffSide {
  roots: string[];
  readFile?: ReadFile;
  /** How the side is named in messages: a path, or `path at REV`. */
  label: string;
}

/** A contiguous change of one spec file: lines of the old side replaced by lines of the new. */
export interface SpecChange {
  id: number;
  /** The new side's file and the first line of the change there (for a deletion, the line the
   *  deleted lines stood before, or the last line). */
  file: string;
  line: number;
  lines: string[];
  was: { file: string; line: number; lines: string[] };
}

export interface KernelChange {
  change: 'added' | 'removed' | 'changed';
  /** Kernel names on the old and the new side. */
  a?: string;
  b?: string;
  op: string;
  /** The first line of the kernel's doc. */
  doc: string;
  /** The spec locations of the steps that call it (new side; old side for a removed kernel). */
  at: string[];
  /** The text of each of those spec lines. */
  lines: string[];
  steps: number;
  /** Ids of the spec changes that cause it. */
  causes: number[];
  /** The unified diff of its code (`@@` hunks only; a removed or added kernel's whole code). */
  hunks: { header: string; lines: string[] }[];
}

export interface ParamChange {
  name: string;
  change: 'added' | 'removed' | 'shape' | 'init' | 'decay';
  a?: { shape: (number | string)[]; init: string; decay: boolean };
  b?: { shape: (number | string)[]; init: string; decay: boolean };
  causes: number[];
}

export interface StepGroup {
  at: string;
  line: string;
  kernels: string[];
  steps: number;
}

export interface ModelDiff {
  model: string;
  /** The old side's name when the model was renamed (one model on each side). */
  was?: string;
  status: 'added' | 'removed' | 'changed' | 'identical';
  kernels: { unchanged: number; changes: KernelChange[] };
  params: { count: [number, number]; changes: ParamChange[] };
  steps: { count: [number, number]; added: StepGroup[]; removed: StepGroup[]; causes: number[] };
  kernelCount: [number, number];
  /** Training FLOPs per token (matmuls and attention, forward and backward) at batch 1 and the full context. */
  flopsPerToken: [number, number];
  /** Peak bytes of one training step at batch 1 and the full context, with buffer reuse. */
  peakBytes: [number, number];
  /** Bytes of the textures beside them (WebGPU: the matmuls read operands through textures);
   *  only for a target that has them. */
  textureBytes?: [number, number];
  /** Sections of program.json that differ beyond the kernel renames and moved spec lines. */
  programSections: string[];
}

export interface SpecDiff {
  target: string;
  a: string;
  b: string;
  identical: boolean;
  specChanges: SpecChange[];
  models: ModelDiff[];
}

/** Old-side files aligned with new-side files: which old line each new line continues. */
interface FileAlignment {
  a: string;
  b: string;
  aLines: string[];
  bLines: string[];
  /** Old line → new line (1-based) for lines that are unchanged. */
  aToB: Map<number, number>;
}

/** Reads a spec as it is at a git revision: `git show REV:./name`, run in the spec's folder
 *  (so any path works, from any working folder inside or outside the repository). */
export function gitReader(rev: string): ReadFile {
  return (path: string) => {
    try {
      const text = execFileSync('git', ['show', `${rev}:./${basename(path)}`], { cwd: dirname(resolve(path)), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: LIMITS.spec + 1 });
      if (text.length > LIMITS.spec) throw new TfmError('TFM5017', `spec \`${path}\` at ${rev} is over ${formatBytes(LIMITS.spec)}`);
      return text;
    } catch (e) {
      if (e instanceof TfmError) throw e;
      const why = String((e as { stderr?: string }).stderr || (e as Error).message).trim().split('\n')[0];
      throw new TfmError('TFM5006', `cannot read spec \`${path}\` at revision ${rev}: ${why}`);
    }
  };
}

/** Whether a spec exists at a git revision (one that the change adds does not); a revision
 *  git does not know, or a folder outside a repository, is an error. */
export function existsAt(rev: string, path: string): boolean {
  const cwd = dirname(resolve(path));
  try {
    execFileSync('git', ['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], { cwd, stdio: 'ignore' });
  } catch {
    throw new TfmError('TFM5006', `cannot compare \`${path}\` with revision \`${rev}\`: git knows no such commit there (or the spec is not in a git repository)`);
  }
  try {
    execFileSync('git', ['cat-file', '-e', `${rev}:./${basename(path)}`], { cwd, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const diskReader: ReadFile = (p) => readTextBounded(p, LIMITS.spec, 'spec');

interface SideModel {
  checked: CheckedModel;
  program: Program;
  kernels: Map<string, { doc: string; op: string }>;
  review?: Map<string, string>;
  flops: number;
  peak: number;
  textures?: number;
}

interface Compiled {
  models: Map<string, SideModel>;
  texts: Map<string, string>;
}

/** Checks and compiles one side; a spec with errors is an error of the diff (TFM1000). */
function compileSide(side: DiffSide, target: Target): Compiled {
  const result = checkFiles(side.roots, side.readFile ?? diskReader);
  const errors = result.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length) throw new TfmError('TFM1000', `${side.label} has errors`, undefined, { diagnostics: errors, sources: result.program.sources });
  const texts = new Map<string, string>();
  for (const f of result.program.files) texts.set(f.path, result.program.sources.get(f.path)?.text ?? '');
  const models = new Map<string, SideModel>();
  for (const m of result.models) {
    const c = compileModel(m, target, result.program.sources, true);
    if (c) models.set(m.model.name, c);
  }
  return { models, texts };
}

function compileModel(m: CheckedModel, target: Target, sources: SourceMap | undefined, full: boolean): SideModel | undefined {
  try {
    // The kernels' names hash the builders' kernel IR, before the target's schedule: a
    // signature of the variants needs no schedule and no rendering.
    const t: Target = full ? target : { ...target, schedule: [] };
    const c = compile(m, t, sources, { render: false });
    const ops = new Map(c.program.steps.map((s) => [s.kernel, s.op]));
    const kernels = new Map(c.kernels.map((k) => [k.name, { doc: k.doc.split('\n')[0], op: ops.get(k.name) ?? k.name.replace(/_[0-9a-f]{8,}$/, '') }]));
    if (!full) return { checked: m, program: c.program, kernels, flops: 0, peak: 0 };
    const dims = nominalDims(m);
    const tokens = (dims.tgt_seq ?? dims.seq) * dims.batch;
    return {
      checked: m,
      program: c.program,
      kernels,
      review: sources ? target.review(c.kernels, { header: [], sources }) : undefined,
      flops: graphFlops(c.graph, dims) / tokens,
      peak: peakBytes(c.program, c.program.memory, dims),
      textures: target.textureBytes?.(c.program, c.kernels, dims),
    };
  } catch (e) {
    if (e instanceof MissingKernel || e instanceof LoweringError) {
      if (!full) return undefined;
      throw new TfmError('TFM4001', `cannot compile \`${m.model.name}\` for ${target.name}: ${e.message}`);
    }
    throw e;
  }
}

/** Line alignment of two texts and their changes, by jsdiff's Myers diff of lines. */
function alignFiles(a: string, b: string, aText: string, bText: string, changes: SpecChange[]): FileAlignment {
  const aLines = splitLines(aText);
  const bLines = splitLines(bText);
  const aToB = new Map<number, number>();
  let i = 1;
  let j = 1;
  let open: SpecChange | undefined;
  for (const part of diffArrays(aLines, bLines)) {
    const n = part.count ?? part.value.length;
    if (!part.added && !part.removed) {
      for (let k = 0; k < n; k++) aToB.set(i + k, j + k);
      i += n;
      j += n;
      open = undefined;
      continue;
    }
    if (!open) {
      open = { id: changes.length, file: b, line: Math.min(j, Math.max(1, bLines.length)), lines: [], was: { file: a, line: i, lines: [] } };
      changes.push(open);
    }
    if (part.removed) {
      open.was.lines.push(...part.value);
      i += n;
    } else {
      open.lines.push(...part.value);
      j += n;
    }
  }
  return { a, b, aLines, bLines, aToB };
}

function splitLines(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** The text of a file with one change applied to its old side, or taken back from its new side. */
function patched(al: FileAlignment, c: SpecChange, direction: 'apply' | 'revert'): string {
  if (direction === 'apply') {
    const start = c.was.line - 1;
    return [...al.aLines.slice(0, start), ...c.lines, ...al.aLines.slice(start + c.was.lines.length)].join('\n') + '\n';
  }
  const start = c.lines.length ? c.line - 1 : newInsertionIndex(al, c);
  return [...al.bLines.slice(0, start), ...c.was.lines, ...al.bLines.slice(start + c.lines.length)].join('\n') + '\n';
}

/** Where in the new file a pure deletion's lines stood: after the new line of the last
 *  unchanged old line before them. */
function newInsertionIndex(al: FileAlignment, c: SpecChange): number {
  for (let l = c.was.line - 1; l >= 1; l--) {
    const b = al.aToB.get(l);
    if (b !== undefined) return b;
  }
  return 0;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Spec locations of the old side written as the new side's (`file:line:col`), where the line is unchanged. */
function locationMapper(aligns: FileAlignment[]): (text: string) => string {
  // (The old side's lines that changed keep the old file's name and line.)
  const rules = aligns.map((al) => ({ re: new RegExp(`${escapeRe(al.a)}:(\\d+):(\\d+)`, 'g'), al }));
  return (text) =>
    rules.reduce(
      (t, { re, al }) =>
        t.replace(re, (whole, line: string, col: string) => {
          const b = al.aToB.get(Number(line));
          return b === undefined ? whole : `${al.b}:${b}:${col}`;
        }),
      text,
    );
}

export interface DiffRequest {
  a: DiffSide;
  b: DiffSide;
  target: string;
  /** Most spec changes that are attributed one by one (each costs two compilations without rendering). */
  maxAttributed?: number;
}

export function diffSpecs(req: DiffRequest): SpecDiff {
  const target = targetNamed(req.target);
  const A = req.a.roots.length ? compileSide(req.a, target) : { models: new Map<string, SideModel>(), texts: new Map<string, string>() };
  const B = compileSide(req.b, target);

  // Align the roots pairwise, and every other file both sides read by its path.
  const specChanges: SpecChange[] = [];
  const aligns: FileAlignment[] = [];
  const pairs: [string, string][] = req.a.roots.map((a, i) => [displayPath(a), displayPath(req.b.roots[i])]);
  for (const path of B.texts.keys()) if (A.texts.has(path) && !pairs.some(([a, b]) => a === path || b === path)) pairs.push([path, path]);
  for (const path of B.texts.keys()) if (!A.texts.has(path) && !pairs.some(([, b]) => b === path)) pairs.push(['', path]);
  for (const [a, b] of pairs) aligns.push(alignFiles(a, b, A.texts.get(a) ?? '', B.texts.get(b) ?? '', specChanges));
  const mapText = locationMapper(aligns.filter((al) => al.a));
  // The spec line of a location: the new side's, or the old side's for an old line that changed.
  const lineAt = (at: string, old: boolean) => {
    const m = /^(.*):(\d+):\d+$/.exec(at);
    if (!m) return '';
    const al = old ? aligns.find((x) => x.a === m[1]) : aligns.find((x) => x.b === m[1]);
    return ((old ? al?.aLines : al?.bLines)?.[Number(m[2]) - 1] ?? '').trim();
  };
  const locate = (at: string, old: boolean) => {
    if (!old) return { at, line: lineAt(at, false) };
    const mapped = mapText(at);
    return { at: mapped, line: lineAt(mapped === at ? at : mapped, mapped === at) };
  };

  // Model pairs: by name, or the one model of each side.
  const modelPairs: [string | undefined, string | undefined][] = [];
  const aNames = [...A.models.keys()];
  const bNames = [...B.models.keys()];
  if (aNames.length === 1 && bNames.length === 1) modelPairs.push([aNames[0], bNames[0]]);
  else {
    for (const n of bNames) modelPairs.push([A.models.has(n) ? n : undefined, n]);
    for (const n of aNames) if (!B.models.has(n)) modelPairs.push([n, undefined]);
  }

  const models = modelPairs.map(([an, bn]) => diffModel(an ? A.models.get(an) : undefined, bn ? B.models.get(bn) : undefined, mapText, locate));

  // Attribution: each spec change applied alone to the old side, taken back alone from the new.
  const changed = models.filter((m) => m.status !== 'identical');
  if (specChanges.length === 1) for (const m of changed) attribute(m, () => [0]);
  else if (specChanges.length > 1 && changed.length) {
    const limit = req.maxAttributed ?? 16;
    const variants = specChanges.length > limit ? [] : specChanges.map((c) => {
      const al = aligns.find((x) => x.b === c.file && x.a === c.was.file)!;
      const side = (base: DiffSide, file: string, text: string, roots: string[]): DiffSide => ({ label: base.label, roots, readFile: (p) => (displayPath(p) === file ? text : (base.readFile ?? diskReader)(p)) });
      return {
        plus: al.a ? signatures(side(req.a, al.a, patched(al, c, 'apply'), req.a.roots), target) : undefined,
        minus: signatures(side(req.b, al.b, patched(al, c, 'revert'), req.b.roots), target),
      };
    });
    const aSig = sigOf(A.models);
    const bSig = sigOf(B.models);
    for (const m of changed) {
      const an = m.was ?? m.model;
      attribute(m, (test) => {
        const ids: number[] = [];
        variants.forEach((v, id) => {
          const plus = v.plus?.get(an) ?? (v.plus && v.plus.size === 1 && aSig.size === 1 ? [...v.plus.values()][0] : undefined);
          const minus = v.minus?.get(m.model) ?? (v.minus && v.minus.size === 1 && bSig.size === 1 ? [...v.minus.values()][0] : undefined);
          if (test({ plus, minus, a: aSig.get(an), b: bSig.get(m.model) })) ids.push(id);
        });
        // No change alone explains it (or there were too many to try): all of them together.
        return ids.length ? ids : specChanges.map((c) => c.id);
      });
    }
  }

  return {
    target: target.name,
    a: req.a.label,
    b: req.b.label,
    identical: models.every((m) => m.status === 'identical'),
    specChanges,
    models,
  };
}

/** What attribution compares of a compiled variant: kernel names, parameters, step kinds. */
interface Signature {
  kernels: Set<string>;
  params: Map<string, string>;
  steps: string;
}

function sigOf(models: Map<string, SideModel>): Map<string, Signature> {
  const out = new Map<string, Signature>();
  for (const [name, m] of models) {
    out.set(name, {
      kernels: new Set(m.kernels.keys()),
      params: new Map(m.program.params.map((p) => [p.name, JSON.stringify([p.shape, p.init, p.decay])])),
      steps: m.program.steps.map((s) => s.op).join(' '),
    });
  }
  return out;
}

function signatures(side: DiffSide, target: Target): Map<string, Signature> | undefined {
  let result;
  try {
    result = checkFiles(side.roots, side.readFile);
  } catch {
    return undefined;
  }
  if (result.diagnostics.some((d) => d.severity === 'error')) return undefined;
  const models = new Map<string, SideModel>();
  for (const m of result.models) {
    const c = compileModel(m, target, undefined, false);
    if (c) models.set(m.model.name, c);
  }
  return sigOf(models);
}

type Probe = { plus?: Signature; minus?: Signature; a?: Signature; b?: Signature };

function attribute(m: ModelDiff, causesOf: (test: (p: Probe) => boolean) => number[]): void {
  for (const k of m.kernels.changes) {
    k.causes = causesOf(({ plus, minus, a, b }) => {
      const fromPlus = plus && a && ((k.b !== undefined && plus.kernels.has(k.b) && !a.kernels.has(k.b)) || (k.a !== undefined && !plus.kernels.has(k.a)));
      const fromMinus = minus && b && ((k.b !== undefined && !minus.kernels.has(k.b)) || (k.a !== undefined && minus.kernels.has(k.a) && !b.kernels.has(k.a)));
      return Boolean(fromPlus || fromMinus);
    });
  }
  for (const p of m.params.changes) {
    p.causes = causesOf(({ plus, minus, a, b }) => Boolean((plus && a && plus.params.get(p.name) !== a.params.get(p.name)) || (minus && b && minus.params.get(p.name) !== b.params.get(p.name))));
  }
  if (m.steps.added.length || m.steps.removed.length) {
    m.steps.causes = causesOf(({ plus, minus, a, b }) => Boolean((plus && a && plus.steps !== a.steps) || (minus && b && minus.steps !== b.steps)));
  }
}

const paramCount = (p?: Program) => (p ? p.params.reduce((n, x) => n + numel(x.shape), 0) : 0);
const initText = (init: { kind: string; std?: number }) => (init.std === undefined ? init.kind : `${init.kind}(std ${+init.std.toPrecision(6)})`);

type Locate = (at: string, old: boolean) => { at: string; line: string };

function diffModel(A: SideModel | undefined, B: SideModel | undefined, mapText: (t: string) => string, locate: Locate): ModelDiff {
  const name = (B ?? A)!.checked.model.name;
  const usage = (m: SideModel, old: boolean) => {
    const out = new Map<string, { at: string[]; lines: string[]; steps: number; first: number }>();
    m.program.steps.forEach((s, i) => {
      const u = out.get(s.kernel) ?? { at: [], lines: [], steps: 0, first: i };
      u.steps++;
      if (s.at) {
        const where = locate(s.at, old);
        if (!u.at.includes(where.at)) {
          u.at.push(where.at);
          u.lines.push(where.line);
        }
      }
      out.set(s.kernel, u);
    });
    return out;
  };
  const uA = A ? usage(A, true) : new Map();
  const uB = B ? usage(B, false) : new Map();
  const onlyA = A ? [...A.kernels.keys()].filter((k) => !B?.kernels.has(k)) : [];
  const onlyB = B ? [...B.kernels.keys()].filter((k) => !A?.kernels.has(k)) : [];
  const unchanged = B ? [...B.kernels.keys()].filter((k) => A?.kernels.has(k)).length : 0;

  // Pair the kernels that exist on one side only: same kind, most spec locations in common,
  // then the rest of a kind in the order the program first calls them.
  const pairs: [string | undefined, string | undefined][] = [];
  const freeA = new Set(onlyA);
  const order = (u: Map<string, { first: number }>) => (x: string, y: string) => (u.get(x)?.first ?? 1e9) - (u.get(y)?.first ?? 1e9);
  const sortedB = [...onlyB].sort(order(uB));
  const unpairedB: string[] = [];
  for (const b of sortedB) {
    const op = B!.kernels.get(b)!.op;
    let best: string | undefined;
    let bestScore = 0;
    for (const a of [...freeA].sort(order(uA))) {
      if (A!.kernels.get(a)!.op !== op) continue;
      const atB = new Set(uB.get(b)?.at ?? []);
      const score = (uA.get(a)?.at ?? []).filter((x: string) => atB.has(x)).length;
      if (score > bestScore) [best, bestScore] = [a, score];
    }
    if (best) {
      freeA.delete(best);
      pairs.push([best, b]);
    } else unpairedB.push(b);
  }
  for (const b of unpairedB) {
    const op = B!.kernels.get(b)!.op;
    const a = [...freeA].sort(order(uA)).find((x) => A!.kernels.get(x)!.op === op);
    if (a) freeA.delete(a);
    pairs.push([a, b]);
  }
  for (const a of [...freeA].sort(order(uA))) pairs.push([a, undefined]);
  pairs.sort(([a1, b1], [a2, b2]) => (b1 ? uB.get(b1)?.first ?? 1e9 : 1e9 + (uA.get(a1!)?.first ?? 0)) - (b2 ? uB.get(b2)?.first ?? 1e9 : 1e9 + (uA.get(a2!)?.first ?? 0)));

  const changes: KernelChange[] = pairs.map(([a, b]) => {
    const aText = a ? mapText(A!.review?.get(a) ?? '') : '';
    const bText = b ? B!.review?.get(b) ?? '' : '';
    const patch = structuredPatch(a ?? '/dev/null', b ?? '/dev/null', aText ? `${aText}\n` : '', bText ? `${bText}\n` : '', '', '', { context: 3 });
    const u = b ? uB.get(b) : uA.get(a!);
    return {
      change: a && b ? 'changed' : b ? 'added' : 'removed',
      ...(a ? { a } : {}),
      ...(b ? { b } : {}),
      op: (b ? B!.kernels.get(b)! : A!.kernels.get(a!)!).op,
      doc: (b ? B!.kernels.get(b)! : A!.kernels.get(a!)!).doc,
      at: u?.at ?? [],
      lines: u?.lines ?? [],
      steps: u?.steps ?? 0,
      causes: [],
      hunks: patch.hunks.map((h) => ({ header: `@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`, lines: h.lines })),
    };
  });

  // Parameters by name.
  const params: ParamChange[] = [];
  const pA = new Map((A?.program.params ?? []).map((p) => [p.name, p]));
  const pB = new Map((B?.program.params ?? []).map((p) => [p.name, p]));
  const desc = (p: Program['params'][number]) => ({ shape: p.shape, init: initText(p.init), decay: p.decay });
  for (const [n, p] of pB) {
    const q = pA.get(n);
    if (!q) params.push({ name: n, change: 'added', b: desc(p), causes: [] });
    else {
      const change = JSON.stringify(q.shape) !== JSON.stringify(p.shape) ? 'shape' : initText(q.init) !== initText(p.init) ? 'init' : q.decay !== p.decay ? 'decay' : undefined;
      if (change) params.push({ name: n, change, a: desc(q), b: desc(p), causes: [] });
    }
  }
  for (const [n, q] of pA) if (!pB.has(n)) params.push({ name: n, change: 'removed', a: desc(q), causes: [] });

  // Steps: the sequence of kernel calls, the old side's kernels under their new names.
  const rename = new Map(pairs.filter(([a, b]) => a && b) as [string, string][]);
  const seqA = (A?.program.steps ?? []).map((s) => rename.get(s.kernel) ?? s.kernel);
  const seqB = (B?.program.steps ?? []).map((s) => s.kernel);
  const added: StepGroup[] = [];
  const removed: StepGroup[] = [];
  const group = (list: StepGroup[], steps: Program['steps'], from: number, n: number, old: boolean) => {
    for (let k = from; k < from + n; k++) {
      const where = steps[k].at ? locate(steps[k].at!, old) : { at: '', line: '' };
      let g = list.find((x) => x.at === where.at);
      if (!g) list.push((g = { ...where, kernels: [], steps: 0 }));
      g.steps++;
      if (!g.kernels.includes(steps[k].kernel)) g.kernels.push(steps[k].kernel);
    }
  };
  let i = 0;
  let j = 0;
  for (const part of diffArrays(seqA, seqB)) {
    const n = part.count ?? part.value.length;
    if (part.added) {
      group(added, B!.program.steps, j, n, false);
      j += n;
    } else if (part.removed) {
      group(removed, A!.program.steps, i, n, true);
      i += n;
    } else {
      i += n;
      j += n;
    }
  }

  // What else differs in program.json once renames and moved spec lines are accounted for.
  const programSections: string[] = [];
  if (A && B) {
    const norm = (p: Program, mapped: boolean) => JSON.parse(programJson({ ...p, spec: '', steps: p.steps.map((s) => ({ ...s, kernel: mapped ? rename.get(s.kernel) ?? s.kernel : s.kernel, ...(s.at ? { at: mapped ? mapText(s.at) : s.at } : {}) })), splittable: p.splittable.map((k) => (mapped ? rename.get(k) ?? k : k)).sort() }));
    const na = norm(A.program, true);
    const nb = norm(B.program, false);
    for (const key of Object.keys(nb)) {
      if (key === 'spec' || key === 'model' || JSON.stringify(na[key]) === JSON.stringify(nb[key])) continue;
      if (key === 'buffers' && na.buffers.length === nb.buffers.length) {
        const n = nb.buffers.filter((x: { shape: unknown }, i: number) => JSON.stringify(x.shape) !== JSON.stringify(na.buffers[i].shape)).length;
        programSections.push(n ? `buffers (${n} of other shapes)` : 'buffers');
      } else programSections.push(key);
    }
  }

  const status = !A ? 'added' : !B ? 'removed' : changes.length || params.length || added.length || removed.length || programSections.length ? 'changed' : 'identical';
  return {
    model: name,
    ...(A && B && A.checked.model.name !== B.checked.model.name ? { was: A.checked.model.name } : {}),
    status,
    kernels: { unchanged, changes },
    params: { count: [paramCount(A?.program), paramCount(B?.program)], changes: params },
    steps: { count: [A?.program.steps.length ?? 0, B?.program.steps.length ?? 0], added, removed, causes: [] },
    kernelCount: [A?.kernels.size ?? 0, B?.kernels.size ?? 0],
    flopsPerToken: [A?.flops ?? 0, B?.flops ?? 0],
    peakBytes: [A?.peak ?? 0, B?.peak ?? 0],
    ...(A?.textures !== undefined || B?.textures !== undefined ? { textureBytes: [A?.textures ?? 0, B?.textures ?? 0] as [number, number] } : {}),
    programSections,
  };
}

/** The two sides of `tfm diff <a> <b>` or `tfm diff <spec> --against <rev>` (the command line
 *  has checked that there are two specs, or one with a revision). */
export function diffSides(files: string[], against?: string): { a: DiffSide; b: DiffSide } {
  if (against !== undefined) {
    const [file] = files;
    if (!existsSync(file)) throw new TfmError('TFM5006', `cannot read spec \`${file}\`: no such file`);
    // A spec that the revision does not have yet: every model in it is new.
    const a: DiffSide = existsAt(against, file) ? { roots: [file], readFile: gitReader(against), label: `${displayPath(file)} at ${against}` } : { roots: [], label: `${displayPath(file)} at ${against} (absent)` };
    return { a, b: { roots: [file], label: displayPath(file) } };
  }
  for (const f of files) if (!existsSync(f)) throw new TfmError('TFM5006', `cannot read spec \`${f}\`: no such file`);
  return { a: { roots: [files[0]], label: displayPath(files[0]) }, b: { roots: [files[1]], label: displayPath(files[1]) } };
}
