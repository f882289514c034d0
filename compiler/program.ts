// Loading a compilation: files and their imports, model declarations, and `extends`.
// A child model's statements override its parent's: `dims` merge by name, `input` by kind,
// and every other statement replaces the parent's statements of the same keyword.
import { TfmError } from '../common/errors.ts';
import { formatBytes, LIMITS, readTextBounded } from '../common/files.ts';
import { dirname, join, relative, isAbsolute } from 'node:path';
import type { Assignment, FileAst, Item, ModelDecl, Statement } from '../grammar/ast.ts';
import { parseTfm } from '../grammar/parse.ts';
import { DiagnosticBag, suggest, type Diagnostic } from '../common/diagnostics.ts';
import { RUNTIME_DIMS } from './model.ts';
import { SourceFile, SourceMap, type Span } from '../common/source.ts';

export type ReadFile = (path: string) => string;

export interface ModelSource {
  decl: ModelDecl;
  file: string;
}

export interface Program {
  sources: SourceMap;
  files: FileAst[];
  /** Files named on the command line (not those reached only through `import`). */
  roots: string[];
  models: Map<string, ModelSource>;
  /** Files with syntax errors: their models are not checked further, to avoid cascades. */
  syntaxErrors: Set<string>;
  diagnostics: DiagnosticBag;
}

export interface Resolved {
  ancestors: string[];
  dims: Assignment[];
  items: Item[];
  /** An ancestor is missing or the chain is cyclic: what it would have declared is unknown. */
  incomplete?: boolean;
}

const RESERVED = new Set<string>([...RUNTIME_DIMS, 'x', 'memory']);

export function loadProgram(paths: string[], readFile: ReadFile = (p) => readTextBounded(p, LIMITS.spec, 'spec')): Program {
  const program: Program = { sources: new SourceMap(), files: [], roots: paths.map(displayPath), models: new Map(), syntaxErrors: new Set(), diagnostics: new DiagnosticBag() };
  const seen = new Set<string>();
  let totalBytes = 0;
  /** Reads and parses one file; its imports are loaded next, and its models registered after
   *  them (an imported model is declared first). Iterative: an import chain of any length
   *  costs no stack. */
  const open = (path: string, from?: Span): { path: string; ast: FileAst; next: number } | undefined => {
    const key = displayPath(path);
    if (seen.has(key)) return undefined;
    seen.add(key);
    const where = (message: string) => (from ? { span: from, message } : { span: { file: key, start: 0, end: 0 } });
    let text: string;
    try {
      text = readFile(path);
    } catch (e) {
      const reason = e instanceof TfmError ? e.message.replace(/^(cannot read )?spec /, '$1') : `cannot read \`${key}\`: ${(e as NodeJS.ErrnoException).code ?? 'read error'}`;
      program.diagnostics.error('TFM2008', { reason }, where('imported here'));
      return undefined;
    }
    totalBytes += text.length;
    if (totalBytes > LIMITS.specTotal) {
      program.diagnostics.error('TFM2008', { reason: `\`${key}\` brings the spec text of this compilation over ${formatBytes(LIMITS.specTotal)}` }, where('imported here'));
      return undefined;
    }
    if (seen.size > MAX_FILES) {
      program.diagnostics.error('TFM2008', { reason: `\`${key}\` is file ${seen.size} of this compilation; the limit is ${MAX_FILES} files` }, where('imported here'));
      return undefined;
    }
    program.sources.add(new SourceFile(key, text));
    const { ast, syntaxErrors } = parseTfm(text, key, program.diagnostics);
    if (syntaxErrors) program.syntaxErrors.add(key);
    program.files.push(ast);
    return { path, ast, next: 0 };
  };
  const register = (ast: FileAst, key: string) => {
    for (const m of ast.models) {
      const prior = program.models.get(m.name.name);
      if (prior) {
        program.diagnostics.error('TFM2002', { what: 'model', name: m.name.name }, { span: m.name.span, message: 'declared again here' }, { secondary: [{ span: prior.decl.name.span, message: 'first declared here' }] });
        continue;
      }
      if (m.name.name.startsWith('__')) program.diagnostics.error('TFM2023', { name: m.name.name, reason: 'names starting with `__` are reserved for generated code' }, { span: m.name.span });
      program.models.set(m.name.name, { decl: m, file: key });
    }
  };
  for (const root of paths) {
    const first = open(root);
    const stack = first ? [first] : [];
    while (stack.length) {
      const top = stack[stack.length - 1];
      if (top.next < top.ast.imports.length) {
        const imp = top.ast.imports[top.next++];
        if (!imp.path.endsWith('.tfm') || isAbsolute(imp.path)) {
          program.diagnostics.error('TFM2008', { reason: `import \`${imp.path}\` must be a relative path to a \`.tfm\` file` }, { span: imp.span });
          continue;
        }
        const child = open(join(dirname(top.path), imp.path), imp.span);
        if (child) stack.push(child);
        continue;
      }
      stack.pop();
      register(top.ast, top.ast.path);
    }
  }
  return program;
}

/** Files one compilation may read (a spec and everything it imports, transitively). */
export const MAX_FILES = 1000;

/** A spec path as diagnostics and generated code show it: relative to the working folder when
 *  inside it, with forward slashes. */
export function displayPath(p: string): string {
  const rel = relative(process.cwd(), p);
  return (rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : p).split('\\').join('/');
}

/** Resolutions already computed for a program, with the diagnostics they produced (replayed
 *  into every bag that asks again): each model of an `extends` chain is merged once, so a
 *  chain of n models resolves in O(n), not O(n²). */
const resolutions = new WeakMap<Program, Map<string, { resolved: Resolved; diags: Diagnostic[] }>>();

/** The statements a model stands for once its `extends` chain is applied. Iterative: a
 *  chain of any length costs no stack. */
export function resolveModel(program: Program, name: string, diags: DiagnosticBag): Resolved {
  let memo = resolutions.get(program);
  if (!memo) resolutions.set(program, (memo = new Map()));
  const chain: string[] = [];
  const onChain = new Set<string>();
  const found = new DiagnosticBag();
  let base: Resolved = { ancestors: [], dims: [], items: [] };
  let baseDiags: Diagnostic[] = [];
  let cyclic = false;
  for (let n = name; ; ) {
    const hit = memo.get(n);
    if (hit) {
      base = { ...hit.resolved, ancestors: [n, ...hit.resolved.ancestors] };
      baseDiags = hit.diags;
      break;
    }
    chain.push(n);
    onChain.add(n);
    const decl = program.models.get(n)!.decl;
    if (!decl.parent) break;
    const p = decl.parent.name;
    if (onChain.has(p)) {
      const cycle = [...chain.slice(chain.indexOf(p)), p].map((x) => `\`${x}\``).join(' extends ');
      found.error('TFM2006', { cycle }, { span: decl.parent.span, message: 'closes the cycle' });
      base = { ...base, incomplete: true };
      cyclic = true;
      break;
    }
    if (!program.models.has(p)) {
      const near = suggest(p, program.models.keys());
      found.error('TFM2001', { what: 'model', name: p }, { span: decl.parent.span, message: 'no model of this name is declared or imported' }, { help: near ? `did you mean \`${near}\`?` : 'declare it or `import` the file that does' });
      base = { ...base, incomplete: true };
      break;
    }
    n = p;
  }
  let all = [...baseDiags, ...found.items];
  let resolved = base;
  for (let k = chain.length - 1; k >= 0; k--) {
    if (k < chain.length - 1) resolved = { ...resolved, ancestors: [chain[k + 1], ...resolved.ancestors] };
    const own = new DiagnosticBag();
    resolved = merge(resolved, program.models.get(chain[k])!.decl, own);
    all = own.items.length ? [...all, ...own.items] : all;
    // A cycle reads differently from each of its models: those resolutions are not reused.
    if (!cyclic) memo.set(chain[k], { resolved, diags: all });
  }
  for (const d of all) diags.add(d);
  return resolved;
}

/** Merges done since the process started: the measure, independent of the machine, that the
 *  test keeping `extends` resolution linear reads. */
export let mergeCount = 0;

function merge(base: Resolved, decl: ModelDecl, diags: DiagnosticBag): Resolved {
  mergeCount++;
  const ownDims = new Map<string, Assignment>();
  for (const item of decl.items) {
    if (item.kind !== 'statement' || item.keyword.name !== 'dims') continue;
    for (const d of dimAssignments(item)) {
      const prior = ownDims.get(d.target.name);
      if (prior) diags.error('TFM2002', { what: 'dim', name: d.target.name }, { span: d.target.span, message: 'declared again here' }, { secondary: [{ span: prior.target.span, message: 'first declared here' }] });
      else if (RESERVED.has(d.target.name)) diags.error('TFM2023', { name: d.target.name, reason: d.target.name === 'x' || d.target.name === 'memory' ? 'it names a tensor in block bodies' : 'it is a run-time dim given at execution' }, { span: d.target.span });
      else if (d.target.name.startsWith('__')) diags.error('TFM2023', { name: d.target.name, reason: 'names starting with `__` are reserved for generated code' }, { span: d.target.span });
      else ownDims.set(d.target.name, d);
    }
  }
  const dims = [...base.dims.filter((d) => !ownDims.has(d.target.name)), ...ownDims.values()];
  const keyOf = (s: Statement) => (s.keyword.name === 'input' ? `input:${firstWord(s) ?? ''}` : s.keyword.name);
  const ownStatements = decl.items.filter((i): i is Statement => i.kind === 'statement' && i.keyword.name !== 'dims');
  const overridden = new Set(ownStatements.map(keyOf));
  const items: Item[] = [
    ...base.items.filter((i) => i.kind !== 'statement' || !overridden.has(keyOf(i))),
    ...decl.items.filter((i) => i.kind !== 'statement' || i.keyword.name !== 'dims'),
    ...decl.items.filter((i) => i.kind === 'statement' && i.keyword.name === 'dims'),
  ];
  return { ancestors: base.ancestors, dims, items, incomplete: base.incomplete };
}

/** The dims a `dims { }` statement declares. `d_model 768` (no `=`) is reported where the
 *  statement is interpreted and still declares `d_model`, so later uses do not cascade. */
export function dimAssignments(dims: Statement): Assignment[] {
  return (dims.body ?? []).flatMap((d): Assignment[] => {
    if (d.kind === 'assign') return [d];
    const only = d.args.length === 1 && d.args[0].kind === 'expr' && !d.body ? d.args[0].expr : undefined;
    return only ? [{ kind: 'assign', target: d.keyword, value: only, span: d.span }] : [];
  });
}

function firstWord(s: Statement): string | undefined {
  const a = s.args[0];
  return a?.kind === 'expr' && a.expr.kind === 'name' ? a.expr.name : undefined;
}
