// Symbolic shapes. A dim is either a run-time symbol (`batch`, `seq`, ...) or a folded
// constant that remembers the dim name and declaration it came from, so that a mismatch
// can point at both the offending use and the conflicting declaration.
import type { Num } from './model.ts';
import type { Span } from '../common/source.ts';

export type Dim = { sym: string } | { value: number; name?: string; decl?: Span };
export type Shape = Dim[];

export const sym = (name: string): Dim => ({ sym: name });
export const constDim = (n: Num): Dim => ({ value: n.value, name: n.origin?.name, decl: n.origin?.span });
export const lit = (value: number): Dim => ({ value });

export function dimEquals(a: Dim, b: Dim): boolean {
  if ('sym' in a || 'sym' in b) return 'sym' in a && 'sym' in b && a.sym === b.sym;
  return a.value === b.value;
}

export function dimText(d: Dim): string {
  if ('sym' in d) return d.sym;
  return d.name ? `${d.name}=${d.value}` : String(d.value);
}

export function shapeText(s: Shape): string {
  return `[${s.map(dimText).join(', ')}]`;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => dimEquals(d, b[i]));
}

/** Numpy-style broadcasting; undefined when the shapes do not broadcast. */
export function broadcast(a: Shape, b: Shape): Shape | undefined {
  const n = Math.max(a.length, b.length);
  const out: Shape = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i];
    const y = b[b.length - n + i];
    if (x === undefined) out.push(y);
    else if (y === undefined) out.push(x);
    else if (dimEquals(x, y)) out.push(x);
    else if (!('sym' in x) && x.value === 1) out.push(y);
    else if (!('sym' in y) && y.value === 1) out.push(x);
    else return undefined;
  }
  return out;
}

export const last = (s: Shape): Dim | undefined => s[s.length - 1];

export function constValue(d: Dim | undefined): number | undefined {
  return d && !('sym' in d) ? d.value : undefined;
}
