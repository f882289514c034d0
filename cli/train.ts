// `tfm train`: flag parsing and the closing summary around runtime/train.ts.
import { TfmError } from '../common/errors.ts';
import { join } from 'node:path';
import { train } from '../runtime/train.ts';
import { trainModel } from './driver.ts';
import type { TokenizerKind } from '../runtime/text/tokenizer.ts';
import { count as int, decimal as num } from './flags.ts';
import { checkedModel } from './weights.ts';

export async function trainCommand(spec: string, o: Record<string, string | boolean | undefined>): Promise<void> {
  const m = checkedModel(spec);
  const objective = m.model.objective?.kind.value;
  const clm = m.model.layout?.value === 'decoder' && objective === 'clm';
  const images = objective === 'classify' && m.model.inputs.image !== undefined && m.model.head?.classes !== undefined;
  const mlm = m.model.layout?.value === 'encoder' && objective === 'mlm' && m.model.inputs.tokens !== undefined;
  const sentences = m.model.layout?.value === 'encoder' && objective === 'classify' && m.model.inputs.tokens !== undefined && m.model.head?.classes !== undefined;
  const spans = m.model.layout?.value === 'encoder_decoder' && (objective === 'span_corruption' || objective === 'denoise' || objective === 'text_to_text') && m.model.inputs.targets?.context !== undefined;
  if (!clm && !images && !mlm && !sentences && !spans) {
    throw new TfmError('TFM4002', `\`tfm train\` runs decoders with \`objective clm\`, encoders with \`objective mlm\` or \`objective classify\` (sentences), image classifiers (\`input image\`, \`objective classify\`) and encoder-decoders with \`objective span_corruption\`, \`denoise\` or \`text_to_text\` and \`input targets context N\` so far; ${m.model.name} is ${m.model.layout?.value ?? 'a model'} with \`objective ${objective ?? '(none)'}\`${m.model.inputs.image ? '' : m.model.inputs.tokens ? ' on tokens' : ''}`);
  }
  if (images && o.tokenizer !== undefined) throw new TfmError('TFM5008', `--tokenizer is for text; ${m.model.name} reads images`);
  const threads = int(o.threads, 'threads');
  const result = await train(trainModel(m, String(o.target ?? 'cpu')), {
    data: typeof o.data === 'string' ? o.data : undefined,
    init: typeof o.init === 'string' ? o.init : undefined,
    tokenizer: o.tokenizer as TokenizerKind | undefined,
    steps: int(o.steps, 'steps'),
    batch: int(o.batch, 'batch'),
    seq: o.seq === undefined ? undefined : int(o.seq, 'seq', 2),
    lr: num(o.lr, 'lr'),
    warmup: int(o.warmup, 'warmup', 0),
    minLrRatio: 0.1,
    weightDecay: num(o.weightDecay, 'weight-decay'),
    maxNorm: num(o.maxNorm, 'max-norm'),
    evalEvery: int(o.evalEvery, 'eval-every'),
    evalBatches: int(o.evalBatches, 'eval-batches'),
    checkpointEvery: int(o.checkpointEvery, 'checkpoint-every'),
    keep: int(o.keep, 'keep'),
    out: typeof o.out === 'string' ? o.out : join('runs', m.model.name),
    resume: o.resume === true,
    seed: int(o.seed, 'seed', 0),
    threads: Math.min(threads, 2),
    maxSeconds: o.maxSeconds === undefined ? undefined : num(o.maxSeconds, 'max-seconds'),
    sampleTokens: 80,
    profile: o.profile === true,
    log: (line) => console.error(line),
    tty: process.stderr.isTTY === true,
    torchData: typeof o.torchData === 'string' ? o.torchData : undefined,
  });
  if (typeof o.torchData === 'string') return;
  const per = result.per;
  const ref = result.reference ? ` (${result.reference.label})` : '';
  const pct = (a: number) => `${(100 * a).toFixed(2)}%`;
  console.log(
    [
      `${m.model.name}: ${result.step} steps`,
      `validation loss ${result.valLoss?.toFixed(4) ?? '-'} nats/${per}${ref}${result.valAccuracy !== null ? `, accuracy ${pct(result.valAccuracy)}` : ''}`,
      ...(result.heldOut ? [`held-out accuracy ${pct(result.heldOut.accuracy!)} on all ${result.heldOut.count} test ${per}s (loss ${result.heldOut.loss.toFixed(4)})`] : []),
      Number.isNaN(result.trainLoss) ? `no step to train: the run is at step ${result.step} of --steps ${o.steps}` : `training loss ${result.trainLoss.toFixed(4)}, ${Math.round(result.perSecond)} ${per}s/s`,
      `loss plot: ${result.plot}`,
      `checkpoint: ${result.checkpoint ?? '-'}`,
    ].join('\n'),
  );
}
