// Defect 9: escape sequences and bidirectional overrides in a spec never reach the terminal
// raw: diagnostics show them as <U+XXXX> in every place spec text appears (the message, the
// file name, the source line) and in GitHub annotations.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fresh, TINY_SPEC, tfm } from '../support/cli.ts';

const RAW = /[\u001b\u0007\u0008\u202a-\u202e\u2066-\u2069\u200b\u2028]/;

describe('terminal escape injection', () => {
  it('ESC sequences, BEL, backspace and RLO in an import, a file name and a source line are shown escaped', () => {
    const dir = fresh('term');
    const name = 'spec\u001b]0;pwned\u0007\u202e.tfm';
    const evil = TINY_SPEC.replace('heads = 4', 'heads = 5 # \u001b[2J\u001b[H\u0008\u0008 rm -rf \u202e\u2066 looks fine\u200b')
      .replace('model tiny', 'import "\u001b[31mred\u2028.tfm"\nmodel tiny');
    writeFileSync(join(dir, name), evil);
    for (const format of ['human', 'github']) {
      const r = tfm(['check', '--format', format, name], { cwd: dir, env: { FORCE_COLOR: '0' } });
      expect(r.code).toBe(1);
      const out = r.stdout + r.stderr;
      expect(out).toContain('TFM3001');
      expect(out).toContain('TFM2008');
      expect(out).not.toMatch(RAW);
      expect(out).toContain('<U+001B>');
      expect(out).toContain('<U+202E>');
    }
  });
});
