// Writes a compiled CPU program to `generated/<spec>/cpu/`: kernels.ts and program.json,
// both byte-identical on every compile (stable ordering, no timestamps, no absolute paths).
import { makeFolder, writeAtomically } from '../../common/files.ts';
import { join } from 'node:path';
import type { CompiledCpu } from './compile.ts';

export function emitCpu(compiled: CompiledCpu, outDir: string): string[] {
  makeFolder(outDir, 'compile output folder');
  const files = [join(outDir, 'kernels.ts'), join(outDir, 'program.json')];
  writeAtomically(files[0], compiled.source, 'generated kernels');
  writeAtomically(files[1], JSON.stringify(compiled.program, null, 1) + '\n', 'generated program');
  return files;
}
