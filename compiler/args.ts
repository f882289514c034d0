// Reads a statement's arguments against what the statement accepts: leading positional
// words and numbers, then `key value` attributes and flags. Every mismatch is a coded
// diagnostic with a did-you-mean; nothing here throws.
import type { Arg, CallArg, Expr, Name, Statement } from '../grammar/ast.ts';
import { exprText } from '../grammar/ast.ts';
import { suggest, type DiagnosticBag } from '../common/diagnostics.ts';
import { describeExpr, FUNCTIONS, type DimEnv, type NumRules } from './dims.ts';
import type { Num, Word } from './model.ts';
import type { Span } from '../common/source.ts';

/** A word argument, possibly written as a call: `local(128)`, `mlm(mask_prob = 0.15)`. */
export interface WordArg<T extends string = string> extends Word<T> {
  call?: CallArg[];
}

export type KeySpec =
  | { kind: 'num'; rules: Omit<NumRules, 'what'> }
  | { kind: 'flag' }
  | { kind: 'onoff' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'specials' }
  | { kind: 'expr' };

export const int: KeySpec = { kind: 'num', rules: { integer: true, positive: true } };
export const num: KeySpec = { kind: 'num', rules: { positive: true } };
export const prob: KeySpec = { kind: 'num', rules: { probability: true } };
export const flag: KeySpec = { kind: 'flag' };
export const onoff: KeySpec = { kind: 'onoff' };
export const oneOf = (values: readonly string[]): KeySpec => ({ kind: 'enum', values });

export interface KeyValue {
  key: Name;
  num?: Num;
  flag?: boolean;
  word?: WordArg;
  specials?: Word[];
  expr?: Expr;
}

export class ArgReader {
  private i = 0;
  constructor(
    readonly stmt: Statement,
    private readonly env: DimEnv,
    private readonly diags: DiagnosticBag,
  ) {}

  private get args(): Arg[] {
    return this.stmt.args;
  }

  private peek(): Arg | undefined {
    return this.args[this.i];
  }

  private get keyword(): string {
    return this.stmt.keyword.name;
  }

  /** The next argument as a word (or word call) from `values`. */
  word<T extends string>(values: readonly T[], what: string, optional = false): WordArg<T> | undefined {
    const a = this.peek();
    const w = a?.kind === 'expr' ? wordOf(a.expr) : undefined;
    if (w && (values as readonly string[]).includes(w.name.name)) {
      this.i++;
      return { value: w.name.name as T, span: a!.span, call: w.call };
    }
    if (optional) return undefined;
    const at = a?.span ?? this.endSpan();
    const found = a ? (a.kind === 'expr' ? describeExpr(a.expr) : a.kind === 'arrow' ? '`->`' : '`*`') : 'nothing';
    const near = w ? suggest(w.name.name, values) : undefined;
    if (a) this.i++;
    this.diags.error(
      'TFM2004',
      { what, value: a ? (a.kind === 'expr' ? exprText(a.expr) : found) : '' },
      { span: at, message: a ? `expected one of ${list(values)}` : `expected one of ${list(values)} here` },
      { help: near ? `did you mean \`${near}\`?` : undefined },
    );
    return undefined;
  }

  /** True when the next argument is a value rather than a `key` of `keys` (or nothing). */
  hasValue(keys: Record<string, KeySpec> = {}): boolean {
    const a = this.peek();
    return a?.kind === 'expr' && !(a.expr.kind === 'name' && a.expr.name in keys && !this.env.has(a.expr.name));
  }

  /** The next argument as a folded number, if it is an expression that is not a key. */
  number(rules: NumRules, keys: Record<string, KeySpec> = {}, optional = false): Num | undefined {
    const a = this.peek();
    if (a?.kind === 'expr' && this.hasValue(keys)) {
      this.i++;
      if (a.expr.kind === 'call' && !(a.expr.callee.name in FUNCTIONS)) {
        this.diags.error('TFM2028', { what: `${rules.what} in \`${this.keyword}\``, expected: 'a number', found: describeExpr(a.expr) }, { span: a.span });
        return undefined;
      }
      return this.env.num(a.expr, rules);
    }
    if (!optional) this.diags.error('TFM2005', { what: `${rules.what} in \`${this.keyword}\`` }, { span: a?.span ?? this.endSpan(), message: 'expected a number here' });
    return undefined;
  }

  arrow(): boolean {
    const a = this.peek();
    if (a?.kind === 'arrow') {
      this.i++;
      return true;
    }
    this.diags.error('TFM1002', { expected: '`->`', found: a ? 'an argument' : 'end of statement' }, { span: a?.span ?? this.endSpan() });
    return false;
  }

  /** The remaining arguments as `key value` pairs and flags; then nothing may be left. */
  keys(spec: Record<string, KeySpec>): Map<string, KeyValue> {
    const out = new Map<string, KeyValue>();
    while (this.i < this.args.length) {
      const a = this.args[this.i++];
      const key = a.kind === 'expr' && a.expr.kind === 'name' ? a.expr : undefined;
      const s = key ? spec[key.name] : undefined;
      if (!key || !s) {
        const text = a.kind === 'expr' ? exprText(a.expr) : a.kind === 'arrow' ? '->' : '*';
        const names = Object.keys(spec);
        const near = key ? suggest(key.name, names) : undefined;
        this.diags.error(
          'TFM2016',
          { message: `unexpected argument \`${text}\` for \`${this.keyword}\`` },
          { span: a.span, message: names.length ? `expected one of ${list(names)}` : `\`${this.keyword}\` takes no more arguments` },
          { help: near ? `did you mean \`${near}\`?` : undefined },
        );
        // An unknown key's value would only produce a second, echoing error.
        const next = this.peek();
        if (key && next?.kind === 'expr' && !(next.expr.kind === 'name' && next.expr.name in spec)) this.i++;
        continue;
      }
      if (out.has(key.name)) {
        this.diags.error('TFM2002', { what: `attribute of \`${this.keyword}\``, name: key.name }, { span: key.span }, { secondary: [{ span: out.get(key.name)!.key.span, message: 'first given here' }] });
      }
      const kv: KeyValue = { key };
      if (s.kind === 'flag') kv.flag = true;
      else {
        const v = this.peek();
        const missing = !v || v.kind !== 'expr';
        if (missing) {
          this.diags.error('TFM2005', { what: `value of \`${key.name}\`` }, { span: key.span, message: 'expects a value after it' });
          continue;
        }
        this.i++;
        if (s.kind === 'num') {
          if (v.expr.kind === 'name' && v.expr.name in spec && !this.env.has(v.expr.name)) {
            this.i--;
            this.diags.error('TFM2005', { what: `value of \`${key.name}\`` }, { span: key.span, message: 'expects a value after it' });
            continue;
          }
          kv.num = this.env.num(v.expr, { ...s.rules, what: `\`${key.name}\`` });
        } else if (s.kind === 'onoff') {
          const w = v.expr.kind === 'name' ? v.expr.name : undefined;
          if (w === 'on' || w === 'off') kv.flag = w === 'on';
          else this.diags.error('TFM2004', { what: `value for \`${key.name}\``, value: exprText(v.expr) }, { span: v.span, message: 'expected `on` or `off`' });
        } else if (s.kind === 'enum') {
          const w = wordOf(v.expr);
          if (w && s.values.includes(w.name.name)) kv.word = { value: w.name.name, span: v.span, call: w.call };
          else {
            const near = w ? suggest(w.name.name, s.values) : undefined;
            this.diags.error('TFM2004', { what: `value for \`${key.name}\``, value: exprText(v.expr) }, { span: v.span, message: `expected one of ${list(s.values)}` }, { help: near ? `did you mean \`${near}\`?` : undefined });
          }
        } else if (s.kind === 'specials') {
          this.i--;
          kv.specials = [];
          while (this.peek()?.kind === 'expr' && (this.peek() as { expr: Expr }).expr.kind === 'special') {
            const t = this.args[this.i++] as { expr: Expr; span: Span };
            kv.specials.push({ value: (t.expr as { name: string }).name, span: t.span });
          }
          if (kv.specials.length === 0) this.diags.error('TFM2005', { what: `special tokens after \`${key.name}\`` }, { span: key.span, message: 'expected tokens such as `<pad>` `<eos>`' });
        } else kv.expr = v.expr;
      }
      out.set(key.name, kv);
    }
    return out;
  }

  private endSpan(): Span {
    const last = this.args[this.args.length - 1];
    const anchor = last?.span ?? this.stmt.keyword.span;
    return { file: anchor.file, start: anchor.end, end: anchor.end + 1 };
  }
}

export function wordOf(e: Expr): { name: Name; call?: CallArg[] } | undefined {
  if (e.kind === 'name') return { name: e };
  if (e.kind === 'call') return { name: e.callee, call: e.args };
  return undefined;
}

export function list(values: readonly string[]): string {
  return values.map((v) => `\`${v}\``).join(', ');
}
