// Source files and spans. A span is a half-open byte range [start, end) in one file;
// line and column are derived on demand so that every phase can carry spans cheaply.
import { basename, isAbsolute } from 'node:path';

export interface Span {
  file: string;
  start: number;
  end: number;
}

export interface Position {
  line: number; // 1-based
  col: number; // 1-based
}

export class SourceFile {
  readonly lineStarts: number[];
  constructor(
    readonly path: string,
    readonly text: string,
  ) {
    this.lineStarts = [0];
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
  }

  position(offset: number): Position {
    const clamped = Math.max(0, Math.min(offset, this.text.length));
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid] <= clamped) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: clamped - this.lineStarts[lo] + 1 };
  }

  lineText(line: number): string {
    const start = this.lineStarts[line - 1] ?? this.text.length;
    const next = this.lineStarts[line];
    const end = next === undefined ? this.text.length : next - 1;
    return this.text.slice(start, end).replace(/\r$/, '');
  }

  get lineCount(): number {
    return this.lineStarts.length;
  }
}

/** All source files of one compilation, by path. */
export class SourceMap {
  private readonly files = new Map<string, SourceFile>();
  add(file: SourceFile): SourceFile {
    this.files.set(file.path, file);
    return file;
  }
  get(path: string): SourceFile | undefined {
    return this.files.get(path);
  }
}

export function spanOf(file: string, start: number, end: number): Span {
  return { file, start, end: Math.max(start, end) };
}

export function joinSpans(a: Span, b: Span): Span {
  return { file: a.file, start: Math.min(a.start, b.start), end: Math.max(a.end, b.end) };
}

/** Spec paths as generated code shows them: relative to the working folder as given, or for
 *  a file outside it its name alone — never an absolute path of the machine that compiled. */
export function sourcePath(file: string): string {
  return isAbsolute(file) ? basename(file) : file;
}

/** Where a span starts, as generated code names it (`specs/gpt_tiny.tfm:24:5`), when its
 *  file is among the sources. */
export function spanAt(span: Span | undefined, sources: SourceMap | undefined): string | undefined {
  const f = span && sources?.get(span.file);
  if (!f) return undefined;
  const p = f.position(span!.start);
  return `${sourcePath(span!.file)}:${p.line}:${p.col}`;
}
