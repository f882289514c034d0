// Loading a compilation: files and their imports, model declarations, and `extends`.
// A child model's statements override its parent's: `dims` merge by name, `input` by kind,
// and every other statement replaces the parent's statements of the same keyword.
import { readFileSync } from 'node:fs';
import { dirname, join, relative, isAbsolute } from 'node:path';
import type { Assignment, FileAst, Item, ModelDecl, Statement } from '../grammar/ast.ts';
import { parseTfm } from '../grammar/parse.ts';
import { DiagnosticBag, suggest } from './diagnostics.ts';
import { RUNTIME_DIMS } from './model.ts';
import { SourceFile, SourceMap, type Span } from './source.ts';

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

export function loadProgram(paths: string[], readFile: ReadFile = (p) => readFileSync(p, 'utf8')): Program {
  const program: Program = { sources: new SourceMap(), files: [], roots: paths.map(displayPath), models: new Map(), syntaxErrors: new Set(), diagnostics: new DiagnosticBag() };
  const seen = new Set<string>();
  const load = (path: string, from?: Span): void => {
    const key = displayPath(path);
    if (seen.has(key)) return;
    seen.add(key);
    let text: string;
    try {
      text = readFile(path);
    } catch (e) {
      const reason = `cannot read \`${key}\`: ${(e as NodeJS.ErrnoException).code ?? 'read error'}`;
      if (from) program.diagnostics.error('TFM2008', { reason }, { span: from, message: 'imported here' });
      else program.diagnostics.error('TFM2008', { reason }, { span: { file: key, start: 0, end: 0 } });
      return;
    }
    program.sources.add(new SourceFile(key, text));
    const { ast, syntaxErrors } = parseTfm(text, key, program.diagnostics);
    if (syntaxErrors) program.syntaxErrors.add(key);
    program.files.push(ast);
    for (const imp of ast.imports) {
      if (!imp.path.endsWith('.tfm') || isAbsolute(imp.path)) {
        program.diagnostics.error('TFM2008', { reason: `import \`${imp.path}\` must be a relative path to a \`.tfm\` file` }, { span: imp.span });
        continue;
      }
      load(join(dirname(path), imp.path), imp.span);
    }
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
  for (const p of paths) load(p);
  return program;
}

function displayPath(p: string): string {
  const rel = relative(process.cwd(), p);
  return (rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : p).split('\\').join('/');
}

/** The statements a model stands for once its `extends` chain is applied. */
export function resolveModel(program: Program, name: string, diags: DiagnosticBag): Resolved {
  const chain: string[] = [];
  const resolve = (n: string): Resolved => {
    const src = program.models.get(n)!;
    const decl = src.decl;
    chain.push(n);
    let base: Resolved = { ancestors: [], dims: [], items: [] };
    if (decl.parent) {
      const p = decl.parent.name;
      if (chain.includes(p)) {
        const cycle = [...chain.slice(chain.indexOf(p)), p].map((x) => `\`${x}\``).join(' extends ');
        diags.error('TFM2006', { cycle }, { span: decl.parent.span, message: 'closes the cycle' });
        base = { ...base, incomplete: true };
      } else if (!program.models.has(p)) {
        const near = suggest(p, program.models.keys());
        diags.error('TFM2001', { what: 'model', name: p }, { span: decl.parent.span, message: 'no model of this name is declared or imported' }, { help: near ? `did you mean \`${near}\`?` : 'declare it or `import` the file that does' });
        base = { ...base, incomplete: true };
      } else {
        base = resolve(p);
        base = { ...base, ancestors: [p, ...base.ancestors] };
      }
    }
    chain.pop();
    return merge(base, decl, diags);
  };
  return resolve(name);
}

function merge(base: Resolved, decl: ModelDecl, diags: DiagnosticBag): Resolved {
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
