// Writes a compiled program to `generated/<model>/<target>/`: the target's files and
// program.json, byte-identical on every compile (stable ordering, no timestamps, no absolute
// paths), each written atomically.
import { join } from 'node:path';
import { makeFolder, writeAtomically } from '../../common/files.ts';
import { programJson } from '../../common/program.ts';
import type { Compiled } from './compile.ts';

export function emit(compiled: Compiled, outDir: string): string[] {
  makeFolder(outDir, 'compile output folder');
  const written: string[] = [];
  for (const [name, text] of Object.entries(compiled.files)) {
    written.push(join(outDir, name));
    writeAtomically(join(outDir, name), text, 'generated code');
  }
  written.push(join(outDir, 'program.json'));
  writeAtomically(join(outDir, 'program.json'), programJson(compiled.program), 'generated program');
  return written;
}
