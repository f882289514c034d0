// Masked-LM pretraining and fine-tuning from it through the command line: a few steps of
// bert_tiny on a small text, then bert_tiny_sentiment --init from its checkpoint (the backbone
// copied, the classifier fresh) and its refusal of a checkpoint whose backbone differs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors } from '../runtime/safetensors.ts';

const tfm = (args: string[]) => spawnSync(process.execPath, ['bin/tfm.js', ...args], { encoding: 'utf8' });

describe('masked-LM pretraining, then fine-tuning with --init', () => {
  it('bert_tiny pretrains on text; bert_tiny_sentiment starts from its backbone with a fresh head; a foreign backbone is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tfm-ft-'));
    const words = ['the', 'whale', 'ship', 'sea', 'captain', 'white', 'rope', 'deck', 'storm', 'harpoon'];
    const text = Array.from({ length: 400 }, (_, k) => words[Math.floor(Math.random() * words.length)] + (k % 9 === 8 ? '.' : '')).join(' ');
    writeFileSync(join(dir, 'text.txt'), text);
    const pre = join(dir, 'pre');
    const small = ['--batch', '2', '--seq', '16', '--threads', '1', '--eval-batches', '1'];
    const a = tfm(['train', 'specs/bert_tiny.tfm', '--data', join(dir, 'text.txt'), '--steps', '2', '--eval-every', '2', ...small, '--out', pre]);
    expect(a.status, a.stderr).toBe(0);
    expect(a.stderr).toMatch(/step 2: val loss \d+\.\d{4} \(unigram model \d+\.\d{3}\) \| val accuracy \d+\.\d\d% of \d+ \(always guessing "[a-z.]+": \d+\.\d\d%\)/);
    expect(JSON.parse(readFileSync(join(pre, 'tokenizer.json'), 'utf8')).kind).toBe('wordpiece');
    const ckpt = join(pre, 'ckpt-00000002');

    const ft = join(dir, 'ft');
    // Another seed than the pretraining run's, so that a fresh initialisation would differ.
    const b = tfm(['train', 'specs/bert_tiny_sentiment.tfm', '--init', ckpt, '--seed', '2', '--steps', '2', '--eval-every', '2', ...small, '--out', ft]);
    expect(b.status, b.stderr).toBe(0);
    expect(b.stderr).toContain(`initialised 39 of 41 tensors from ${ckpt} (model bert_tiny, step 2); fresh: head.classifier.weight, head.classifier.bias`);
    expect(b.stdout).toMatch(/held-out accuracy \d+\.\d\d% on all 600 test sentences/);
    // The fine-tuning run reads text as its pretraining did: the same tokenizer file.
    expect(readFileSync(join(ft, 'tokenizer.json'), 'utf8')).toBe(readFileSync(join(pre, 'tokenizer.json'), 'utf8'));
    // The run records where it started from, and its backbone is the pretrained one moved by
    // two small steps: AdamW moves each weight by at most about lr per step.
    const state = JSON.parse(readFileSync(join(ft, 'ckpt-00000002', 'state.json'), 'utf8'));
    expect(state.run.init).toBe(JSON.parse(readFileSync(join(ckpt, 'state.json'), 'utf8')).files['model.safetensors']);
    const pretrained = decodeSafetensors(readFileSync(join(ckpt, 'model.safetensors'))).tensors;
    const tuned = decodeSafetensors(readFileSync(join(ft, 'ckpt-00000002', 'model.safetensors'))).tensors;
    const e0 = pretrained.get('embed.tokens')!.data;
    const e1 = tuned.get('embed.tokens')!.data;
    let far = 0;
    for (let i = 0; i < e0.length; i++) if (Math.abs(e0[i] - e1[i]) > 2 * 3e-3 * 1.01) far++;
    expect(far).toBe(0);

    // tfm eval on the fine-tuned checkpoint: the run's held-out accuracy again, with the
    // misclassified sentences in the report.
    const ev = tfm(['eval', 'specs/bert_tiny_sentiment.tfm', '-c', join(ft, 'ckpt-00000002'), '--batch', '50']);
    expect(ev.status, ev.stderr).toBe(0);
    const accuracy = /held-out accuracy (\d+\.\d\d)%/.exec(b.stdout)![1];
    expect(ev.stdout).toContain(`over 600 examples, accuracy ${accuracy}%`);
    const report = JSON.parse(readFileSync(join(ft, 'eval-ckpt-00000002', 'report.json'), 'utf8'));
    for (const m of report.mistakes) expect(typeof m.text).toBe('string');

    const vit = tfm(['train', 'specs/vit_mnist.tfm', '--init', ckpt, '--steps', '1', '--out', join(dir, 'vit')]);
    expect(vit.status).toBe(1);
    expect(vit.stderr).toMatch(/error\[TFM5024\]: --init `.*ckpt-00000002` \(model bert_tiny\) holds `embed.positions` of shape \[128,128\]; this model's is \[17,64\]: the backbones differ/);
  }, 300_000);
});
