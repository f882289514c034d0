// Writes a compiled CPU program to `generated/<spec>/cpu/`: kernels.ts and program.json,
// both byte-identical on every compile (stable ordering, no timestamps, no absolute paths).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CompiledCpu } from './compile.ts';

export function emitCpu(compiled: CompiledCpu, outDir: string): string[] {
  mkdirSync(outDir, { recursive: true });
  const files = [join(outDir, 'kernels.ts'), join(outDir, 'program.json')];
  writeFileSync(files[0], compiled.source);
  writeFileSync(files[1], JSON.stringify(compiled.program, null, 1) + '\n');
  return files;
}
