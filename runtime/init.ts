// Seeded, deterministic parameter initialisation from the program's per-parameter rule:
// normal(0, std) (GPT-2 / BERT: 0.02, residual projections 0.02/sqrt(2·layers)), zeros, ones.
import type { ModelRunner } from './executor.ts';

/** A small, fast, seeded PRNG (sfc32) with Box–Muller normals. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let k = 0; k < 15; k++) this.next();
  }
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }
  /** The generator's state, to save in a checkpoint and restore exactly. */
  get state(): [number, number, number, number] {
    return [this.a >>> 0, this.b >>> 0, this.c >>> 0, this.d >>> 0];
  }
  set state(s: [number, number, number, number]) {
    [this.a, this.b, this.c, this.d] = s.map((x) => x | 0) as [number, number, number, number];
  }
  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Shuffles `a` in place (Fisher–Yates, from the last element down) and returns it. */
  shuffle<T extends { length: number; [i: number]: unknown }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
}

export function initParams(ex: Pick<ModelRunner, 'program' | 'param'>, seed: number): void {
  const rng = new Rng(seed);
  for (const p of ex.program.params) {
    const buf = ex.param(p.name);
    if (p.init.kind === 'normal') for (let k = 0; k < buf.length; k++) buf[k] = rng.normal() * p.init.std!;
    else buf.fill(p.init.kind === 'ones' ? 1 : 0);
  }
}
