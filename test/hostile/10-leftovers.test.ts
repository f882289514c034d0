// Defect 10: what killed runs and finished commands leave behind. Temporary folders of an
// interrupted checkpoint write are removed on the next start (those of a live process are
// kept); checkpoint names keep sorting past step 99,999,999; no command leaves a `tfm-*`
// folder in the temporary directory.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkpointName, listCheckpoints, removeStaleTemporaries } from '../../runtime/checkpoint.ts';
import { fresh, TINY_SPEC, tfm, trainArgs } from '../support/cli.ts';

/** A pid no process has: above the kernel's maximum. */
const DEAD = 4_194_304 + 17;

describe('leftovers', () => {
  it('the next tfm train removes a dead process’s temporary checkpoint folder and files', () => {
    const dir = fresh('leftover');
    writeFileSync(join(dir, 'tiny.tfm'), TINY_SPEC);
    const run = join(dir, 'run');
    mkdirSync(join(run, `ckpt-00000002.tmp-${DEAD}`), { recursive: true });
    writeFileSync(join(run, `ckpt-00000002.tmp-${DEAD}`, 'model.safetensors'), 'partial');
    writeFileSync(join(run, `tokenizer.json.tmp-${DEAD}`), 'partial');
    const live = `loss.svg.tmp-${process.pid}`;
    writeFileSync(join(run, live), 'being written by a live process');
    const r = tfm(trainArgs('tiny.tfm', 'run', ['--resume']), { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`removed what an interrupted run left behind: ckpt-00000002.tmp-${DEAD}, tokenizer.json.tmp-${DEAD}`);
    expect(readdirSync(run).filter((f) => f.includes('.tmp-'))).toEqual([live]);
  });

  it('removeStaleTemporaries keeps what a live process writes', () => {
    const dir = fresh('stale');
    writeFileSync(join(dir, `x.tmp-${process.pid}`), '');
    writeFileSync(join(dir, `y.tmp-${DEAD}`), '');
    expect(removeStaleTemporaries(dir)).toEqual([`y.tmp-${DEAD}`]);
    expect(existsSync(join(dir, `x.tmp-${process.pid}`))).toBe(true);
  });

  it('checkpoints past step 99,999,999 are listed, in step order', () => {
    const dir = fresh('names');
    for (const step of [99_999_999, 100_000_000, 7, 1_234_567_890]) mkdirSync(join(dir, checkpointName(step)));
    mkdirSync(join(dir, 'ckpt-0000001')); // seven digits: not a checkpoint name
    expect(listCheckpoints(dir)).toEqual(['ckpt-00000007', 'ckpt-99999999', 'ckpt-100000000', 'ckpt-1234567890']);
  });

  it('compile, forward, export and train leave nothing in the temporary directory', () => {
    const dir = fresh('tmpdir');
    const tmp = join(dir, 'tmp');
    mkdirSync(tmp);
    writeFileSync(join(dir, 'tiny.tfm'), TINY_SPEC);
    writeFileSync(join(dir, 'tokens.txt'), '1 2 3\n');
    const cache = join(dir, 'cache');
    const env = { TMPDIR: tmp, TFM_CACHE_DIR: cache };
    for (const args of [['export', 'tiny.tfm', '--seed', '1', '-o', 'w.safetensors'], ['forward', 'tiny.tfm', '-c', 'w.safetensors', '--tokens', 'tokens.txt'], trainArgs('tiny.tfm', 'run'), ['compile', 'tiny.tfm', '--emit', 'ts']]) {
      const r = tfm(args, { cwd: dir, env });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      // (tsx keeps one transpile cache there, `tsx-<uid>`, shared by every run: not a leftover.)
      expect(readdirSync(tmp).filter((f) => !/^tsx-\d+$/.test(f)), args.join(' ')).toEqual([]);
    }
    // Compiled programs live in the content-addressed cache: one folder per distinct program
    // (without dropout, this spec's training and evaluation programs are the same one), no
    // temporary folders left, and running again adds nothing.
    const entries = readdirSync(join(cache, 'programs'));
    expect(entries.filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(entries.filter((f) => /^[0-9a-f]{32}$/.test(f))).toHaveLength(1);
    const before = entries.length;
    expect(tfm(['forward', 'tiny.tfm', '-c', 'w.safetensors', '--tokens', 'tokens.txt'], { cwd: dir, env }).code).toBe(0);
    expect(readdirSync(join(cache, 'programs'))).toHaveLength(before);
  });
});
