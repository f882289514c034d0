// Helpers of the CLI and hostile-input tests: run the `tfm` command as a user would (in a folder of
// the test's own), fresh folders, and the check that no output holds a JavaScript stack trace.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { expect } from 'vitest';

export const ROOT = resolve(import.meta.dirname, '../..');
export const TFM = join(ROOT, 'bin/tfm.js');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function tfm(args: string[], opts: { cwd?: string; env?: Record<string, string>; timeout?: number; input?: string } = {}): Run {
  const r = spawnSync(process.execPath, [TFM, ...args], {
    cwd: opts.cwd ?? ROOT,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', TMPDIR: opts.env?.TMPDIR ?? process.env.TMPDIR ?? tmpdir(), ...opts.env },
    timeout: opts.timeout ?? 120_000,
    input: opts.input,
    maxBuffer: 64 * 2 ** 20,
  });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export const fresh = (name: string) => mkdtempSync(join(tmpdir(), `tfm-hostile-${name}-`));

/** A JavaScript stack frame: `at f (file:line:col)` or `at file:line:col`. */
export const STACK = /^\s+at .*(\(.*:\d+:\d+\)|:\d+:\d+)$/m;

/** The run ended with the coded error `code`, exit 1, and no stack trace. */
export function expectCoded(r: Run, code: string): void {
  const out = r.stdout + r.stderr;
  expect(out, out).toContain(`error[${code}]`);
  expect(out).not.toMatch(STACK);
  expect(out).not.toContain('internal error');
  expect(r.code, out).toBe(1);
}

/** A spec small enough to compile and train in a second: the GPT-mini layout, 2 layers of 32. */
export const TINY_SPEC = readFileSync(join(ROOT, 'specs/gpt_tiny.tfm'), 'utf8')
  .replace('d_model = 128', 'd_model = 32')
  .replace('layers = 4', 'layers = 2')
  .replace('ctx = 64', 'ctx = 16')
  .replace('model gpt_tiny', 'model tiny');

/** Every file under `dir` with its digest and modification time: equal snapshots mean a
 *  command changed nothing on disk. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(dir, p)] = `${createHash('sha256').update(readFileSync(p)).digest('hex')} ${statSync(p).mtimeMs}`;
    }
  };
  walk(dir);
  return out;
}

/** `tfm train` of a spec for a couple of steps, small and single-threaded. */
export function trainArgs(spec: string, out: string, extra: string[] = []): string[] {
  return ['train', spec, '--steps', '2', '--batch', '2', '--eval-every', '2', '--eval-batches', '1', '--checkpoint-every', '2', '--threads', '1', '--out', out, ...extra];
}
