// The `tfm` command as a user runs it: exit codes, output formats, help.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tfm as run } from './support/cli.ts';

const tfm = (...args: string[]) => run(args);

const bad = 'test/diagnostics/cases/TFM3001-heads-do-not-divide.tfm';

describe('tfm check', () => {
  it('exits 0 on the reference specs (glob expanded by tfm itself)', () => {
    const r = tfm('check', 'specs/*.tfm');
    expect(r.stderr).toMatch(/^ok: \d+ files, \d+ models, 0 errors, 0 warnings/m);
    expect(r.code).toBe(0);
  });

  it('exits 1 and prints the rustc-style diagnostic on a wrong spec', () => {
    const r = tfm('check', bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error[TFM3001]: `heads` (12) must divide the model dim (`d_model` = 100)');
    expect(r.stderr).toContain(`--> ${bad}:18:26`);
    expect(r.stderr).toContain('= help: use `heads = 10` or `heads = 20`, or set `d_model = 96`');
  });

  it('exits 0 when there are only warnings', () => {
    const r = tfm('check', 'test/diagnostics/cases/TFM2026-unused-dim.tfm');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('warning[TFM2026]');
  });

  it('exits 2 on usage errors: unknown flag, bad format, no matching file, no arguments', () => {
    expect(tfm('check', '--bogus', 'specs/gpt1.tfm').code).toBe(2);
    expect(tfm('check', '--format', 'xml', 'specs/gpt1.tfm').code).toBe(2);
    const none = tfm('check', 'nothing/*.tfm');
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no file matches');
    expect(tfm('check').code).toBe(2);
    expect(tfm('frobnicate').code).toBe(2);
  });

  it('--format json lists diagnostics with codes and 1-based positions', () => {
    const r = tfm('check', '--format', 'json', bad);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.errors).toBe(1);
    expect(out.diagnostics[0]).toMatchObject({ code: 'TFM3001', severity: 'error', primary: { file: bad, line: 18, col: 26 } });
    expect(out.diagnostics[0].secondary.map((s: { line: number }) => s.line)).toEqual([7, 8]);
  });

  it('--format github prints workflow annotations', () => {
    const r = tfm('check', '--format', 'github', bad);
    expect(r.code).toBe(1);
    expect(r.stdout.trim()).toMatch(new RegExp(`^::error file=${bad.replace(/\./g, '\\.')},line=18,col=26,endLine=18,endColumn=31,title=TFM3001::\`heads\` \\(12\\) must divide`));
    expect(r.stdout).toContain('%0Ahelp: use');
  });

  it('--format sarif writes SARIF 2.1.0 with rules and locations', () => {
    const r = tfm('check', '--format', 'sarif', bad, 'specs/gpt1.tfm');
    expect(r.code).toBe(1);
    const sarif = JSON.parse(r.stdout);
    expect(sarif.version).toBe('2.1.0');
    const run = sarif.runs[0];
    expect(run.tool.driver.name).toBe('tfm');
    expect(run.results).toHaveLength(1);
    const result = run.results[0];
    expect(result.ruleId).toBe('TFM3001');
    expect(run.tool.driver.rules[result.ruleIndex].id).toBe('TFM3001');
    expect(result.level).toBe('error');
    expect(result.locations[0].physicalLocation).toEqual({ artifactLocation: { uri: bad }, region: { startLine: 18, startColumn: 26, endLine: 18, endColumn: 31 } });
    expect(result.relatedLocations).toHaveLength(2);
  });
});

describe('tfm params', () => {
  it('prints the per-component table and totals', () => {
    const r = tfm('params', 'specs/gpt2_small.tfm');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/embed\.tokens\s+38,597,376/);
    expect(r.stdout).toMatch(/block × 12\s+7,087,872\s+85,054,464/);
    expect(r.stdout).toMatch(/total\s+124,439,808/);
  });

  it('--format json gives rows and totals', () => {
    const r = tfm('params', '--format', 'json', 'specs/t5_small.tfm');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({ model: 't5_small', total: 60_506_624 });
  });

  it('refuses a spec with errors, printing them', () => {
    const r = tfm('params', bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('TFM3001');
  });
});

describe('help', () => {
  it('tfm --help and tfm <cmd> --help exit 0 and describe the commands', () => {
    const top = tfm('--help');
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/check \[options\] <files\.\.\.>/);
    expect(top.stdout).toMatch(/params/);
    const check = tfm('check', '--help');
    expect(check.code).toBe(0);
    expect(check.stdout).toMatch(/--format <format>/);
    expect(check.stdout).toMatch(/"human", "json", "github",\s+"sarif"/);
    expect(check.stdout).toMatch(/Exit codes:/);
    expect(tfm('--version').stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('tfm export / import / forward', () => {
  it('round-trips weights through Hugging Face names and runs a forward pass from either', async () => {
    const { mkdtempSync, writeFileSync, readFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(`${tmpdir()}/tfm-cli-`);
    const seed = String(Math.floor(Math.random() * 1e6));
    expect(tfm('export', 'specs/gpt_tiny.tfm', '--seed', seed, '-o', `${dir}/hf.safetensors`).code).toBe(0);
    const file = readFileSync(`${dir}/hf.safetensors`);
    const header = file.subarray(8, 8 + Number(file.readBigUInt64LE(0))).toString('utf8');
    expect(header).toContain('"h.0.attn.c_attn.weight"');
    expect(header).toContain('"lm_head.weight"');
    expect(tfm('import', 'specs/gpt_tiny.tfm', '-c', `${dir}/hf.safetensors`, '-o', `${dir}/tfm.safetensors`).code).toBe(0);
    writeFileSync(`${dir}/tokens.json`, JSON.stringify([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]));
    const a = tfm('forward', 'specs/gpt_tiny.tfm', '-c', `${dir}/hf.safetensors`, '--tokens', `${dir}/tokens.json`, '--targets', `${dir}/tokens.json`, '-o', `${dir}/a.json`);
    const b = tfm('forward', 'specs/gpt_tiny.tfm', '-c', `${dir}/tfm.safetensors`, '--tokens', `${dir}/tokens.json`, '--targets', `${dir}/tokens.json`, '-o', `${dir}/b.json`);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const la = JSON.parse(readFileSync(`${dir}/a.json`, 'utf8'));
    const lb = JSON.parse(readFileSync(`${dir}/b.json`, 'utf8'));
    expect(la.shape).toEqual([2, 5, 65]);
    expect(la.logits).toEqual(lb.logits);
    expect(la.loss).toBeGreaterThan(3.5); // ≈ ln 65 at initialisation
    expect(la.loss).toBeLessThan(5);
  });

  it.each([
    ['vit_mnist', 'ViT', { 'vit.embeddings.patch_embeddings.projection.weight': [64, 1, 7, 7], 'vit.encoder.layer.3.attention.attention.query.weight': [64, 64], 'classifier.weight': [10, 64] }],
    ['bert_tiny', 'BERT', { 'bert.embeddings.token_type_embeddings.weight': [2, 128], 'bert.encoder.layer.1.output.LayerNorm.bias': [128], 'cls.predictions.bias': [8192], 'bert.pooler.dense.weight': [128, 128] }],
    ['bert_tiny_sentiment', 'BERT', { 'bert.encoder.layer.0.attention.self.key.weight': [128, 128], 'classifier.weight': [2, 128] }],
    ['../test/torch/gpt1_tiny', 'GPT-1', { 'tokens_embed.weight': [97, 64], 'positions_embed.weight': [32, 64], 'h.1.ln_2.bias': [64] }],
    ['t5_tiny', 'T5', { 'shared.weight': [2048, 128], 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight': [32, 4], 'decoder.block.1.layer.1.EncDecAttention.o.weight': [128, 128], 'decoder.block.1.layer.2.DenseReluDense.wi_0.weight': [256, 128], 'decoder.final_layer_norm.weight': [128] }],
    ['bart_tiny', 'BART', { 'model.shared.weight': [2048, 128], 'model.encoder.embed_positions.weight': [130, 128], 'model.decoder.layers.1.encoder_attn.out_proj.bias': [128], 'model.decoder.layernorm_embedding.weight': [128], final_logits_bias: [1, 2048] }],
  ])('%s: export writes Hugging Face %s names; import and export again give the same file', async (spec, family, shapes) => {
    const { mkdtempSync, readFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(`${tmpdir()}/tfm-cli-`);
    const seed = String(Math.floor(Math.random() * 1e6));
    const exported = tfm('export', `specs/${spec}.tfm`, '--seed', seed, '-o', `${dir}/hf.safetensors`);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout).toContain(`Hugging Face ${family} names`);
    const file = readFileSync(`${dir}/hf.safetensors`);
    const header = JSON.parse(file.subarray(8, 8 + Number(file.readBigUInt64LE(0))).toString('utf8'));
    for (const [name, shape] of Object.entries(shapes)) expect(header[name]?.shape, name).toEqual(shape);
    expect(tfm('import', `specs/${spec}.tfm`, '-c', `${dir}/hf.safetensors`, '-o', `${dir}/tfm.safetensors`).code).toBe(0);
    expect(tfm('export', `specs/${spec}.tfm`, '-c', `${dir}/tfm.safetensors`, '-o', `${dir}/again.safetensors`).code).toBe(0);
    expect(readFileSync(`${dir}/again.safetensors`).equals(file)).toBe(true);
  });

  it('forward runs an encoder-decoder from --src and --tgt: logits [batch, tgt, vocab] and the loss of --targets over them', async () => {
    const { mkdtempSync, writeFileSync, readFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(`${tmpdir()}/tfm-cli-`);
    expect(tfm('export', 'specs/bart_tiny.tfm', '--seed', String(Math.floor(Math.random() * 1e6)), '-o', `${dir}/bart.safetensors`).code).toBe(0);
    const ids = (rows: number, n: number) => Array.from({ length: rows }, () => Array.from({ length: n }, () => 5 + Math.floor(Math.random() * 2000)));
    const targets = ids(2, 4);
    targets[1][3] = -100;
    writeFileSync(`${dir}/src.json`, JSON.stringify(ids(2, 9)));
    writeFileSync(`${dir}/tgt.json`, JSON.stringify(ids(2, 4)));
    writeFileSync(`${dir}/targets.json`, JSON.stringify(targets));
    const r = tfm('forward', 'specs/bart_tiny.tfm', '-c', `${dir}/bart.safetensors`, '--src', `${dir}/src.json`, '--tgt', `${dir}/tgt.json`, '--targets', `${dir}/targets.json`, '-o', `${dir}/out.json`);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(readFileSync(`${dir}/out.json`, 'utf8'));
    expect(out.shape).toEqual([2, 4, 2048]);
    // The loss is the mean cross-entropy of the written logits at the targets (7 of 8 positions).
    let sum = 0;
    let n = 0;
    targets.flat().forEach((t, p) => {
      if (t === -100) return;
      const row = out.logits.slice(p * 2048, (p + 1) * 2048) as number[];
      const max = Math.max(...row);
      sum += max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0)) - row[t];
      n++;
    });
    expect(Math.abs(out.loss - sum / n) / (sum / n)).toBeLessThan(1e-5);
    writeFileSync(`${dir}/one.json`, JSON.stringify(ids(1, 4)));
    expect(tfm('forward', 'specs/bart_tiny.tfm', '-c', `${dir}/bart.safetensors`, '--src', `${dir}/src.json`, '--tgt', `${dir}/one.json`).stderr).toMatch(/TFM5008.*one decoder row per source/);
    expect(tfm('forward', 'specs/bart_tiny.tfm', '-c', `${dir}/bart.safetensors`, '--tokens', `${dir}/src.json`).stderr).toMatch(/TFM5008.*encoder-decoder: give --src/);
  });

  it('forward runs any family: BERT with --segments, ViT from --image (.npy) or --pixels (JSON), a classifier\'s loss from one class per example', async () => {
    const { mkdtempSync, writeFileSync, readFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { encodeNpy } = await import('../common/npy.ts');
    const dir = mkdtempSync(`${tmpdir()}/tfm-cli-`);
    const seed = String(Math.floor(Math.random() * 1e6));
    expect(tfm('export', 'specs/bert_tiny.tfm', '--seed', seed, '-o', `${dir}/bert.safetensors`).code).toBe(0);
    const tokens = [[2, 10, 11, 12, 3, 20, 21, 3], [2, 30, 31, 3, 40, 41, 42, 3]];
    writeFileSync(`${dir}/tokens.json`, JSON.stringify(tokens));
    writeFileSync(`${dir}/segments.json`, JSON.stringify([[0, 0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 1, 1, 1, 1]]));
    writeFileSync(`${dir}/zeros.json`, JSON.stringify(tokens.map((r) => r.map(() => 0))));
    const run = (...args: string[]) => {
      const r = tfm('forward', ...args);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout);
    };
    const withSeg = run('specs/bert_tiny.tfm', '-c', `${dir}/bert.safetensors`, '--tokens', `${dir}/tokens.json`, '--segments', `${dir}/segments.json`);
    const zeros = run('specs/bert_tiny.tfm', '-c', `${dir}/bert.safetensors`, '--tokens', `${dir}/tokens.json`, '--segments', `${dir}/zeros.json`);
    const none = run('specs/bert_tiny.tfm', '-c', `${dir}/bert.safetensors`, '--tokens', `${dir}/tokens.json`);
    expect(withSeg.shape).toEqual([2, 8, 8192]);
    expect(zeros.logits).toEqual(none.logits); // segments default to 0
    expect(withSeg.logits).not.toEqual(none.logits); // and they reach the logits
    writeFileSync(`${dir}/badseg.json`, JSON.stringify([[0, 0, 0, 0, 0, 1, 1, 2], [0, 0, 0, 0, 1, 1, 1, 1]]));
    expect(tfm('forward', 'specs/bert_tiny.tfm', '-c', `${dir}/bert.safetensors`, '--tokens', `${dir}/tokens.json`, '--segments', `${dir}/badseg.json`).stderr).toMatch(/TFM5008.*segment id 2 is outside the model's 2 segment types/);

    expect(tfm('export', 'specs/vit_mnist.tfm', '--seed', seed, '-o', `${dir}/vit.safetensors`).code).toBe(0);
    const images = Float32Array.from({ length: 2 * 28 * 28 }, () => Math.random() * 2 - 1);
    writeFileSync(`${dir}/images.npy`, encodeNpy(images, [2, 1, 28, 28]));
    const nested = [0, 1].map((b) => Array.from({ length: 28 }, (_, y) => Array.from(images.subarray(b * 784 + y * 28, b * 784 + y * 28 + 28))));
    writeFileSync(`${dir}/pixels.json`, JSON.stringify(nested));
    writeFileSync(`${dir}/labels.json`, '[3, 7]');
    const fromNpy = run('specs/vit_mnist.tfm', '-c', `${dir}/vit.safetensors`, '--image', `${dir}/images.npy`, '--targets', `${dir}/labels.json`, '-o', `${dir}/vit.npy`);
    const fromJson = run('specs/vit_mnist.tfm', '-c', `${dir}/vit.safetensors`, '--pixels', `${dir}/pixels.json`, '--targets', `${dir}/labels.json`);
    expect(fromNpy.shape).toEqual([2, 10]);
    expect(fromJson.loss).toBe(fromNpy.loss);
    expect(fromNpy.loss).toBeGreaterThan(0);
    const { decodeNpy } = await import('../common/npy.ts');
    const written = decodeNpy(readFileSync(`${dir}/vit.npy`), 'vit.npy');
    expect(written.shape).toEqual([2, 10]);
    expect(Array.from(written.data.subarray(0, 8))).toEqual(fromJson.logits);
    writeFileSync(`${dir}/wrong.npy`, encodeNpy(images.subarray(0, 27 * 28), [27, 28]));
    expect(tfm('forward', 'specs/vit_mnist.tfm', '-c', `${dir}/vit.safetensors`, '--image', `${dir}/wrong.npy`).stderr).toMatch(/TFM5008.*shape \[27, 28\]; the model takes images of 1 × 28 × 28/);
    expect(tfm('forward', 'specs/vit_mnist.tfm', '-c', `${dir}/vit.safetensors`, '--tokens', `${dir}/tokens.json`).stderr).toMatch(/TFM5008.*takes an image/);
  });

  it('refuses a missing or corrupt checkpoint with a coded error and exit 1', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(`${tmpdir()}/tfm-cli-`);
    writeFileSync(`${dir}/tokens.json`, '[1, 2, 3]');
    const missing = tfm('forward', 'specs/gpt_tiny.tfm', '-c', `${dir}/none.safetensors`, '--tokens', `${dir}/tokens.json`);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/error\[TFM5006\]: cannot read checkpoint/);
    const bytes = new Uint8Array(64);
    new DataView(bytes.buffer).setBigUint64(0, 1n << 40n, true); // a header length far beyond the file
    writeFileSync(`${dir}/bad.safetensors`, bytes);
    const bad = tfm('forward', 'specs/gpt_tiny.tfm', '-c', `${dir}/bad.safetensors`, '--tokens', `${dir}/tokens.json`);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/error\[TFM5002\]: .*header length/);
    writeFileSync(`${dir}/ids.json`, '[1, 2, 999]');
    expect(tfm('forward', 'specs/gpt_tiny.tfm', '-c', `${dir}/bad.safetensors`, '--tokens', `${dir}/ids.json`).stderr).toMatch(/TFM5008.*outside the vocabulary/);
  });

  it('prints run-time errors and a spec\'s errors through the check renderers (--format json, sarif, github)', () => {
    // A run-time error has no place in a spec: no location.
    const missing = tfm('forward', 'specs/gpt_tiny.tfm', '-c', 'nothing/none.safetensors', '--tokens', 'nothing/tokens.json', '--format', 'json');
    expect(missing.code).toBe(1);
    const json = JSON.parse(missing.stdout) as { diagnostics: { code: string; primary: unknown }[]; errors: number };
    expect(json.errors).toBe(1);
    expect(json.diagnostics[0]).toMatchObject({ code: 'TFM5006', primary: null });
    // A spec with errors: its diagnostics at their places, then the command's own error.
    const sarif = tfm('train', bad, '--format', 'sarif');
    expect(sarif.code).toBe(1);
    const results = (JSON.parse(sarif.stdout) as { runs: { results: { ruleId: string; locations: { physicalLocation: { region: { startLine: number } } }[] }[] }[] }).runs[0].results;
    expect(results.map((r) => r.ruleId)).toEqual(['TFM3001', 'TFM1000']);
    expect(results[0].locations[0].physicalLocation.region.startLine).toBe(18);
    expect(results[1].locations).toEqual([]);
    const github = tfm('compile', bad, '--format', 'github');
    expect(github.code).toBe(1);
    expect(github.stdout).toContain(`::error file=${bad},line=18,`);
    expect(github.stdout).toMatch(/^::error title=TFM1000::/m);
  });
});

describe('the compiled bundle (npm run build)', () => {
  it('prints exactly what the TypeScript sources print, for check, params and a lazily loaded command', () => {
    // Beside dist/tfm.mjs, so that its `../cli/` lazy imports resolve as they do from there.
    const outfile = join('dist', `test-${process.pid}.mjs`);
    try {
      const built = spawnSync(process.execPath, ['scripts/build.mjs', '--outfile', outfile], { encoding: 'utf8' });
      expect(built.status, built.stderr).toBe(0);
      // The code generators load lazily, not with `tfm check`: the Wasm target's binaryen
      // (15 MB) in the bundle made every `tfm check` start in 2.4 s instead of 0.5 s.
      expect(readFileSync(outfile, 'utf8')).not.toContain('BinaryenModuleCreate');
      const env = { ...process.env, NO_COLOR: '1' };
      const viaBundle = (args: string[]) => spawnSync(process.execPath, ['-e', `import(${JSON.stringify(resolve(outfile))}).then(async (m) => { process.exitCode = await m.main(${JSON.stringify(args)}); })`], { encoding: 'utf8', env });
      const viaSource = (args: string[]) => spawnSync(process.execPath, ['--import', './bin/tsx.mjs', 'cli/main.ts', ...args], { encoding: 'utf8', env });
      for (const args of [
        ['check', 'test/diagnostics/cases/TFM3002-kv-heads-and-matmul.tfm', 'test/diagnostics/cases/TFM3001-child-dims-break-parent-heads.tfm'],
        ['check', '--format', 'json', 'specs/*.tfm'],
        ['params', 'specs/t5_small.tfm'],
        ['compile', 'specs/gpt_tiny.tfm', '--emit', 'ir'],
      ]) {
        const a = viaBundle(args);
        const b = viaSource(args);
        expect(a.stderr, args.join(' ')).toBe(b.stderr);
        expect(a.stdout, args.join(' ')).toBe(b.stdout);
        expect(a.status, args.join(' ')).toBe(b.status);
      }
    } finally {
      rmSync(outfile, { force: true });
    }
  });
});
