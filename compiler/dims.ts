// Constant folding of dim expressions. Dims may reference each other in any order; cycles,
// unknown names, run-time dims and division by zero are diagnostics, never exceptions.
import type { Assignment, Expr } from '../grammar/ast.ts';
import { exprRefs, exprText } from '../grammar/ast.ts';
import { suggest, type DiagnosticBag } from '../common/diagnostics.ts';
import { RUNTIME_DIMS, type DimEntry, type Num } from './model.ts';
import type { Span } from '../common/source.ts';

export const FUNCTIONS: Record<string, { arity: [number, number]; fn: (...xs: number[]) => number }> = {
  sqrt: { arity: [1, 1], fn: Math.sqrt },
  min: { arity: [1, 16], fn: Math.min },
  max: { arity: [1, 16], fn: Math.max },
  floor: { arity: [1, 1], fn: Math.floor },
  ceil: { arity: [1, 1], fn: Math.ceil },
};

/** Sizes are at most 2^24 (16,777,216): far above any real vocabulary, width or context, and
 *  small enough that one weight matrix's element count (a product of two sizes) is exact
 *  in float64 and that checker loops over divisors stay cheap. */
export const MAX_DIM = 2 ** 24;

/** Longest chain of dims folded by recursion (only a cycle can get there; see table()). */
const MAX_CHAIN = 1000;

export interface NumRules {
  /** What the value is, for messages: "`heads`", "patch size". */
  what: string;
  integer?: boolean;
  positive?: boolean;
  /** Allow zero when `positive` is off but negatives are still wrong. */
  nonNegative?: boolean;
  probability?: boolean;
}

export class DimEnv {
  private readonly entries = new Map<string, DimEntry & { expr: Expr; state: 'new' | 'busy' | 'done' }>();
  readonly used = new Set<string>();
  private readonly stack: string[] = [];

  constructor(
    assignments: Assignment[],
    private readonly diags: DiagnosticBag,
    /** Set when an ancestor model is missing: an unknown name may be one of its dims. */
    private readonly options: { unknownNamesSilent?: boolean } = {},
  ) {
    for (const a of assignments) {
      this.entries.set(a.target.name, { name: a.target.name, span: a.target.span, expr: a.value, state: 'new' });
    }
  }

  table(): Map<string, DimEntry> {
    // Fold in dependency order (an iterative depth-first walk), so that folding one dim never
    // recurses into another not yet folded: a chain of any length costs no stack. Only a
    // cycle recurses, and a cycle longer than MAX_CHAIN is reported instead of followed.
    for (const name of this.dependencyOrder()) this.valueOf(name);
    const out = new Map<string, DimEntry>();
    for (const [name, e] of this.entries) out.set(name, { name, span: e.span, value: this.valueOf(name) });
    return out;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Where dim `name` is declared. */
  span(name: string): Span | undefined {
    return this.entries.get(name)?.span;
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  /** Dims in an order where each comes after the dims it reads. Dims on a path into a cycle
   *  are left out: they are folded in declaration order, as written, so that a cycle is
   *  reported from where a reader meets it. */
  private dependencyOrder(): string[] {
    const order: string[] = [];
    const seen = new Set<string>();
    const onPath = new Set<string>();
    const cyclic = new Set<string>();
    for (const root of this.entries.keys()) {
      if (seen.has(root)) continue;
      seen.add(root);
      onPath.add(root);
      const stack: [string, string[]][] = [[root, [...exprRefs(this.entries.get(root)!.expr).names]]];
      while (stack.length) {
        const top = stack[stack.length - 1];
        const next = top[1].pop();
        if (next === undefined) {
          if (!cyclic.has(top[0])) order.push(top[0]);
          onPath.delete(top[0]);
          stack.pop();
        } else if (onPath.has(next) || cyclic.has(next)) {
          for (const [n] of stack) cyclic.add(n);
        } else if (this.entries.has(next) && !seen.has(next)) {
          seen.add(next);
          onPath.add(next);
          stack.push([next, [...exprRefs(this.entries.get(next)!.expr).names]]);
        }
      }
    }
    return order;
  }

  private valueOf(name: string): number | undefined {
    const e = this.entries.get(name)!;
    if (e.state === 'done') return e.value;
    if (e.state === 'busy') return undefined;
    if (this.stack.length >= MAX_CHAIN) {
      this.diags.error('TFM1007', { what: `dims refer to each other in a cycle through more than ${MAX_CHAIN} dims (at \`${name}\`)`, limit: MAX_CHAIN }, { span: e.span, message: 'here' });
      e.state = 'done';
      return undefined;
    }
    e.state = 'busy';
    this.stack.push(name);
    e.value = this.evaluate(e.expr);
    this.stack.pop();
    e.state = 'done';
    return e.value;
  }

  /** Folds an expression to a number, reporting why when it cannot. */
  evaluate(expr: Expr): number | undefined {
    switch (expr.kind) {
      case 'number':
        return expr.value;
      case 'name': {
        const entry = this.entries.get(expr.name);
        if (!entry) {
          if ((RUNTIME_DIMS as readonly string[]).includes(expr.name)) {
            this.diags.error('TFM2023', { name: expr.name, reason: 'it is a run-time dim with no value at compile time' }, { span: expr.span });
          } else if (!this.options.unknownNamesSilent) {
            const near = suggest(expr.name, this.entries.keys());
            this.diags.error('TFM2001', { what: 'dim', name: expr.name }, { span: expr.span, message: 'not declared in `dims`' }, { help: near ? `did you mean \`${near}\`?` : undefined });
          }
          return undefined;
        }
        this.used.add(expr.name);
        if (entry.state === 'busy') {
          const from = this.stack.indexOf(expr.name);
          const cycle = [...this.stack.slice(from), expr.name].map((n) => `\`${n}\``).join(' → ');
          this.diags.error('TFM2024', { name: expr.name, cycle }, { span: expr.span, message: 'refers back to the dim being computed' }, { secondary: [{ span: entry.span, message: `\`${expr.name}\` declared here` }] });
          return undefined;
        }
        return this.valueOf(expr.name);
      }
      case 'unary': {
        const v = this.evaluate(expr.operand);
        return v === undefined ? undefined : -v;
      }
      case 'binary': {
        const l = this.evaluate(expr.left);
        const r = this.evaluate(expr.right);
        if (l === undefined || r === undefined) return undefined;
        if (expr.op === '/' && r === 0) {
          this.diags.error('TFM2017', {}, { span: expr.right.span, message: `\`${exprText(expr.right)}\` is 0` });
          return undefined;
        }
        const v = expr.op === '+' ? l + r : expr.op === '-' ? l - r : expr.op === '*' ? l * r : expr.op === '/' ? l / r : l ** r;
        if (!Number.isFinite(v)) {
          this.diags.error('TFM1006', { text: exprText(expr) }, { span: expr.span, message: 'overflows or is undefined' });
          return undefined;
        }
        return v;
      }
      case 'call': {
        const f = FUNCTIONS[expr.callee.name];
        if (!f) {
          this.diags.error('TFM2027', { name: expr.callee.name, context: 'a dim expression' }, { span: expr.callee.span }, { help: `dim expressions may call ${Object.keys(FUNCTIONS).map((k) => `\`${k}\``).join(', ')}` });
          return undefined;
        }
        const named = expr.args.find((a) => a.name);
        if (named || expr.args.length < f.arity[0] || expr.args.length > f.arity[1]) {
          this.diags.error('TFM2016', { message: `\`${expr.callee.name}\` takes ${f.arity[0] === f.arity[1] ? f.arity[0] : `${f.arity[0]} to ${f.arity[1]}`} positional argument(s)` }, { span: expr.span });
          return undefined;
        }
        const xs = expr.args.map((a) => this.evaluate(a.value));
        if (xs.some((x) => x === undefined)) return undefined;
        const v = f.fn(...(xs as number[]));
        if (!Number.isFinite(v)) {
          this.diags.error('TFM1006', { text: exprText(expr) }, { span: expr.span, message: 'is undefined' });
          return undefined;
        }
        return v;
      }
      case 'special':
      case 'string':
      case 'list':
        this.diags.error('TFM2028', { what: 'a dim expression', expected: 'a number', found: describeExpr(expr) }, { span: expr.span });
        return undefined;
    }
  }

  /** Evaluates and validates a value used as a size, count, rate, ... */
  num(expr: Expr, rules: NumRules): Num | undefined {
    const value = this.evaluate(expr);
    if (value === undefined) return undefined;
    const origin = expr.kind === 'name' ? this.entries.get(expr.name) : undefined;
    const num: Num = { value, span: expr.span, origin: origin ? { name: origin.name, span: origin.span } : undefined };
    const declared = origin ? [{ span: origin.span, message: `\`${origin.name}\` declared here` }] : [];
    const shown = formatNumber(value);
    if (rules.integer && !Number.isInteger(value)) {
      const lo = Math.floor(value);
      this.diags.error('TFM2018', { what: rules.what, value: shown }, { span: expr.span, message: 'not a whole number' }, { secondary: declared, help: `use ${lo > 0 ? `${lo} or ` : ''}${lo + 1}` });
      return undefined;
    }
    if (rules.integer && value > MAX_DIM) {
      this.diags.error('TFM2031', { what: rules.what, value: shown, max: MAX_DIM }, { span: expr.span, message: 'too large' }, { secondary: declared });
      return undefined;
    }
    if (rules.positive && value <= 0) {
      this.diags.error('TFM2019', { what: rules.what, value: shown }, { span: expr.span, message: rules.integer ? 'must be at least 1' : 'must be greater than 0' }, { secondary: declared });
      return undefined;
    }
    if (rules.nonNegative && value < 0) {
      this.diags.error('TFM2019', { what: rules.what, value: shown }, { span: expr.span, message: 'must not be negative' }, { secondary: declared });
      return undefined;
    }
    if (rules.probability && (value < 0 || value > 1)) {
      this.diags.error('TFM2022', { what: rules.what, rule: 'lie in [0, 1]', value: shown }, { span: expr.span }, { secondary: declared });
      return undefined;
    }
    return num;
  }
}

export function describeExpr(e: Expr): string {
  switch (e.kind) {
    case 'special':
      return `special token \`${e.name}\``;
    case 'string':
      return 'a string';
    case 'list':
      return 'a list';
    case 'call':
      return `\`${e.callee.name}(...)\``;
    default:
      return `\`${exprText(e)}\``;
  }
}

export function formatNumber(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(6)));
}
