// The WebGPU target in a real browser: `tfm serve` serves a trained gpt_tiny checkpoint to its
// demo page, headless Chromium (WebGPU on SwiftShader, from a page on 127.0.0.1) loads it,
// runs a forward pass whose logits must equal the Node result (the Wasm target, `tfm
// forward`) within 1e-4, continues a prompt, and leaves a screenshot in out/test-artifacts/.
// Needs Debian's chromium (scripts/setup-webgpu.sh installs it) and playwright-core; without
// them the test skips with one line, except under TFM_REQUIRE_WEBGPU=1 (CI), where it fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fresh, ROOT, TFM, tfm } from './support/cli.ts';
import { relErr } from './support/compare.ts';

const CHROMIUM = '/usr/bin/chromium';
const missing = existsSync(CHROMIUM) ? undefined : `no ${CHROMIUM}`;
if (missing) {
  if (process.env.TFM_REQUIRE_WEBGPU === '1') throw new Error(`TFM_REQUIRE_WEBGPU=1 but ${missing}`);
  console.warn(`browser test skipped: ${missing}. To run it: sudo scripts/setup-webgpu.sh (installs Debian's chromium).`);
}

let server: ChildProcess | undefined;
afterAll(() => server?.kill());

describe.skipIf(missing)('the WebGPU demo page in headless Chromium', () => {
  it('runs a trained checkpoint on WebGPU: logits equal the Node result within 1e-4, and it continues a prompt', async () => {
    const dir = fresh('browser');
    const run = join(dir, 'run');
    const trained = tfm(['train', 'specs/gpt_tiny.tfm', '--steps', '3', '--batch', '2', '--seq', '16', '--eval-every', '3', '--out', run], { timeout: 300_000 });
    expect(trained.code, trained.stderr).toBe(0);
    const checkpoint = join(run, 'ckpt-00000003', 'model.safetensors');

    // A full row of the context (64 tokens), and the Node result for it.
    const ids = Array.from({ length: 64 }, () => 1 + Math.floor(Math.random() * 60));
    writeFileSync(join(dir, 'tokens.json'), JSON.stringify([ids]));
    const node = tfm(['forward', 'specs/gpt_tiny.tfm', '-c', checkpoint, '--tokens', join(dir, 'tokens.json'), '--target', 'wasm', '-o', join(dir, 'logits.json')]);
    expect(node.code, node.stderr).toBe(0);
    const want = JSON.parse(readFileSync(join(dir, 'logits.json'), 'utf8')).logits as number[];

    server = spawn(process.execPath, [TFM, 'serve', 'specs/gpt_tiny.tfm', run, '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      server!.stdout!.on('data', (c) => {
        out += c;
        const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(out);
        if (m) resolve(m[0]);
      });
      server!.on('exit', (code) => reject(new Error(`tfm serve exited (${code}): ${out}`)));
    });

    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Playwright starts the browser with a fresh profile of its own.
      args: ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(url);
      await page.waitForFunction(() => (window as unknown as { tfmReady?: boolean; tfmError?: string }).tfmReady || (window as unknown as { tfmError?: string }).tfmError, null, { timeout: 120_000 });
      expect(await page.evaluate(() => (window as unknown as { tfmError?: string }).tfmError ?? null), 'page error').toBeNull();
      const got = await page.evaluate((row) => (window as unknown as { tfmForward: (ids: number[]) => Promise<number[]> }).tfmForward(row), ids);
      expect(got.length).toBe(want.length);
      expect(relErr(got, want), 'browser logits against tfm forward --target wasm').toBeLessThan(1e-4);
      await page.click('#go');
      await page.waitForFunction(() => (window as unknown as { tfmContinued?: boolean }).tfmContinued, null, { timeout: 300_000 });
      const text = await page.evaluate(() => document.getElementById('out')!.textContent ?? '');
      expect(text.startsWith('Call me Ishmael. Some years ago')).toBe(true);
      expect(text.length).toBeGreaterThan('Call me Ishmael. Some years ago'.length);
      expect(await page.evaluate(() => document.getElementById('status')!.textContent)).toMatch(/on .+ — 60 tokens in/);
      mkdirSync(join(ROOT, 'out/test-artifacts'), { recursive: true });
      await page.screenshot({ path: join(ROOT, 'out/test-artifacts/browser-demo.png'), fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
