// `tfm params` totals against the published parameter counts of the reference models
// (Hugging Face implementations; see PLATFORM.md).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { checkFiles } from '../compiler/check.ts';
import { formatParams } from '../cli/params-table.ts';

function report(spec: string) {
  const result = checkFiles([`specs/${spec}.tfm`]);
  expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  const m = result.models.find((x) => x.model.name === spec);
  expect(m, `model ${spec} in specs/${spec}.tfm`).toBeDefined();
  return m!.params;
}

describe('parameter counts match the published models', () => {
  it.each([
    ['gpt2_small', 124_439_808], // gpt2
    ['t5_small', 60_506_624], // t5-small, tied head
    ['vit_base_patch16', 86_567_656], // vit-base-patch16-224 with its 1000-class head
    ['bart_base', 139_420_416], // facebook/bart-base
    ['gpt1', 116_534_784], // openai-gpt
  ])('%s totals %i', (spec, count) => {
    expect(report(spec).total).toBe(count);
  });

  it('bert_base backbone (embeddings + encoder + pooler, as bert-base-uncased publishes) is 109,482,240', () => {
    const p = report('bert_base');
    expect(p.backbone).toBe(109_482_240);
    // The masked-LM head adds its transform (768² + 768 + LN 2·768) and the vocabulary bias; the decoder is tied.
    expect(p.total - p.backbone).toBe(768 * 768 + 768 + 2 * 768 + 30522);
  });

  it('bert_base_sst2 (extends bert_base) is BertForSequenceClassification: backbone + 2-class classifier', () => {
    const p = report('bert_base_sst2');
    expect(p.backbone).toBe(109_482_240);
    expect(p.total).toBe(109_482_240 + 768 * 2 + 2);
  });

  it('gpt_tiny is the GPT-mini benchmark model of PLATFORM.md (818,176)', () => {
    expect(report('gpt_tiny').total).toBe(818_176);
  });

  it('gpt3_small is GPT-2 small with a 2048 context: 125,226,240', () => {
    expect(report('gpt3_small').total).toBe(124_439_808 + 1024 * 768);
  });

  it('per-layer rows multiply by their repeat count', () => {
    const p = report('gpt2_small');
    const block = p.rows.find((r) => r.component.startsWith('block'))!;
    expect(block.repeat).toBe(12);
    expect(block.params).toBe(7_087_872);
    expect(p.rows.reduce((s, r) => s + r.params * (r.repeat ?? 1), 0)).toBe(p.total);
  });
});

describe('a ViT’s patch arithmetic is visible in tfm params', () => {
  it('a 64×64 image in 16×16 patches is 16 patch tokens + <cls> = 17 positions', () => {
    const src = readFileSync('specs/vit_mnist.tfm', 'utf8').replace('image = 28', 'image = 64').replace('patch = 7', 'patch = 16');
    const r = checkFiles(['vit64.tfm'], (path) => (path.endsWith('vit64.tfm') ? src : readFileSync(path, 'utf8')));
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const table = formatParams(r.models[0]);
    expect(table.split('\n')[1]).toBe('image 1×64×64 in 16×16 patches: 4 × 4 = 16 patch tokens + <cls> = 17 positions');
    // The learned positions cover exactly those 17 rows.
    expect(r.models[0].params.rows.find((x) => x.component === 'embed.positions')?.params).toBe(17 * 64);
    // A text model has no such line.
    expect(formatParams(checkFiles(['specs/gpt_tiny.tfm']).models[0])).not.toMatch(/patch/);
  });
});
