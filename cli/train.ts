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
  if (m.model.layout?.value !== 'decoder' || m.model.objective?.kind.value !== 'clm') throw new TfmError('TFM4002', '`tfm train` pretrains decoder models with `objective clm` so far');
  const threads = int(o.threads, 'threads');
  const result = await train(trainModel(m, String(o.target ?? 'cpu')), {
    data: String(o.data),
    tokenizer: o.tokenizer as TokenizerKind,
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
  });
  console.log(
    [
      `${m.model.name}: ${result.step} steps`,
      `validation loss ${result.valLoss?.toFixed(4) ?? '-'} nats/token (unigram entropy of the validation text: ${result.unigramEntropy.toFixed(4)})`,
      Number.isNaN(result.trainLoss) ? `no step to train: the run is at step ${result.step} of --steps ${o.steps}` : `training loss ${result.trainLoss.toFixed(4)}, ${Math.round(result.tokensPerSecond)} tokens/s`,
      `loss plot: ${result.plot}`,
      `checkpoint: ${result.checkpoint ?? '-'}`,
    ].join('\n'),
  );
}
