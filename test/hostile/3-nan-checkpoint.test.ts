// Defect 3: weights that are not finite are never checkpointed. `--lr 1e39` makes every
// weight infinite after the first update: the run stops with TFM6001 before saving, so any
// checkpoint that exists — the one TFM6001 names as the last good one — passed that check.
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectCoded, fresh, TINY_SPEC, tfm, trainArgs } from '../support/cli.ts';

describe('no NaN checkpoints', () => {
  it('--lr 1e39 --steps 1 --checkpoint-every 1: TFM6001, exit 1, no checkpoint written', () => {
    const dir = fresh('nan');
    const spec = join(dir, 'tiny.tfm');
    writeFileSync(spec, TINY_SPEC);
    const run = join(dir, 'run');
    const r = tfm(trainArgs(spec, run, ['--lr', '1e39', '--steps', '1', '--checkpoint-every', '1', '--eval-every', '1']));
    expectCoded(r, 'TFM6001');
    expect(r.stderr).toMatch(/holds NaN\/Inf|validation loss is NaN/);
    expect(r.stderr).toContain('was not written');
    expect(readdirSync(run).filter((f) => f.startsWith('ckpt-'))).toEqual([]);
  });
});
