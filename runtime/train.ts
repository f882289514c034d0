// `tfm train`: pretraining a decoder spec on text with next-token prediction. The loop is
// thin — data, schedule, progress, validation, samples, checkpoints; every number of the
// model comes from its generated kernels. A run is a pure function of (spec, data, flags,
// seed): `--resume` continues bit-identically from the newest checkpoint.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import type { CheckedModel } from '../compiler/check.ts';
import { resolveShape } from '../compiler/ir.ts';
import { lowerModel } from '../compiler/lower.ts';
import { printGraph } from '../compiler/print.ts';
import { CheckpointError, listCheckpoints, readCheckpoint, writeAtomically, writeCheckpoint, type CheckpointState } from './checkpoint.ts';
import { exportGpt, importGpt } from './hf.ts';
import { initParams, Rng } from './init.ts';
import { compileExecutor } from './load.ts';
import { lossPlotSvg } from './plot.ts';
import type { NamedTensor } from './safetensors.ts';
import { learningRate } from './schedule.ts';
import { loadCorpus, sampleBatch, splitDocuments, tokenStream, unigramEntropy, validationBatches } from './text/data.ts';
import { bpeTokenizer, charTokenizer, gpt2Tokenizer, tokenizerFromJSON, type Tokenizer, type TokenizerKind } from './text/tokenizer.ts';

export class TrainError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface TrainOptions {
  data: string;
  tokenizer: TokenizerKind;
  steps: number;
  batch: number;
  seq?: number;
  lr: number;
  warmup: number;
  minLrRatio: number;
  weightDecay: number;
  maxNorm: number;
  evalEvery: number;
  evalBatches: number;
  checkpointEvery: number;
  keep: number;
  out: string;
  resume: boolean;
  seed: number;
  threads: number;
  /** Stop after this many seconds of training (checkpointing first). */
  maxSeconds?: number;
  sampleTokens: number;
  log: (line: string) => void;
}

export interface TrainResult {
  step: number;
  trainLoss: number;
  valLoss: number | null;
  unigramEntropy: number;
  tokensPerSecond: number;
  plot: string;
  sample: string;
  checkpoint: string | null;
}

/** The architecture's identity: its evaluation graph printed without source positions. */
export function specHash(m: CheckedModel): string {
  const { graph } = lowerModel(m, { train: false });
  return createHash('sha256').update(printGraph(graph)).digest('hex');
}

function buildTokenizer(kind: TokenizerKind, train: string[], vocab: number, specials: string[]): Tokenizer {
  if (kind === 'gpt2') return gpt2Tokenizer();
  if (kind === 'bpe') return bpeTokenizer(train, vocab, specials);
  return charTokenizer(train, vocab, specials);
}

export async function train(m: CheckedModel, opts: TrainOptions): Promise<TrainResult> {
  const model = m.model;
  if (model.layout?.value !== 'decoder' || model.objective?.kind.value !== 'clm') throw new TrainError('TFM4002', '`tfm train` pretrains decoder models with `objective clm` so far');
  const vocab = model.embed!.tokens!.vocab.value;
  const ctx = model.inputs.tokens?.context?.value ?? model.embed?.positions?.length?.value;
  const seq = opts.seq ?? ctx ?? 64;
  if (ctx && seq > ctx) throw new TrainError('TFM5008', `--seq ${seq} exceeds the context of ${ctx}`);
  mkdirSync(opts.out, { recursive: true });

  // Tokenizer: reused from the run folder on resume, else built from the training text.
  const corpus = loadCorpus(opts.data);
  const split = splitDocuments(corpus.documents);
  const tokPath = join(opts.out, 'tokenizer.json');
  const specials = model.vocabulary.specials.map((s) => s.value);
  let tok: Tokenizer;
  if (opts.resume && existsSync(tokPath)) {
    try {
      tok = tokenizerFromJSON(JSON.parse(readFileSync(tokPath, 'utf8')));
    } catch (e) {
      throw new TrainError('TFM5011', `\`${tokPath}\` is not a valid tokenizer: ${(e as Error).message}`);
    }
  } else {
    tok = buildTokenizer(opts.tokenizer, split.train, vocab, specials);
    writeAtomically(tokPath, JSON.stringify(tok.toJSON()) + '\n');
  }
  if (tok.vocabSize > vocab) throw new TrainError('TFM5014', `the ${opts.tokenizer} tokenizer has ${tok.vocabSize} tokens but the spec's vocabulary is ${vocab}: use a larger \`vocab\` or another --tokenizer`);
  const trainStream = tokenStream(split.train, tok);
  const valStream = tokenStream(split.val, tok);
  const entropy = unigramEntropy(valStream);
  const valBatches = validationBatches(valStream, opts.batch, seq, opts.evalBatches);

  const hash = specHash(m);
  const ex = await compileExecutor(m, { batch: opts.batch, seq }, { train: true, threads: opts.threads });
  const evalEx = await compileExecutor(m, { batch: opts.batch, seq }, { train: false });
  const sampler = await compileExecutor(m, { batch: 1, seq }, { train: false });
  const rng = new Rng(opts.seed ^ 0x5eed);
  let step = 0;
  let history: CheckpointState['history'] = [];
  const shapes = new Map(ex.program.params.map((p) => [p.name, resolveShape(p.shape, {})]));

  const latest = listCheckpoints(opts.out).at(-1);
  if (opts.resume && latest) {
    const ck = readCheckpoint(join(opts.out, latest), hash);
    const params = ck.state.naming === 'hf-gpt2' ? importGpt(ck.model, shapes) : ck.model;
    for (const [name, shape] of shapes) {
      const t = params.get(name);
      if (!t || t.shape.join() !== shape.join()) throw new CheckpointError('TFM5007', `checkpoint \`${latest}\` lacks \`${name}\` of shape [${shape}]`);
      ex.param(name).set(t.data);
    }
    const [mm, vv] = [ck.optimizer.get('m'), ck.optimizer.get('v')];
    if (!mm || !vv || mm.data.length !== ex.mem.m.length || vv.data.length !== ex.mem.v.length) throw new CheckpointError('TFM5007', `checkpoint \`${latest}\` has no optimizer state for this model`);
    ex.mem.m.set(mm.data);
    ex.mem.v.set(vv.data);
    ex.steps = ck.state.optimizerSteps;
    rng.state = ck.state.rng;
    step = ck.state.step;
    history = ck.state.history;
    opts.log(`resumed from ${join(opts.out, latest)} at step ${step}`);
  } else {
    if (!opts.resume && latest) throw new TrainError('TFM5015', `\`${opts.out}\` already holds checkpoints: pass --resume to continue that run, or choose another --out`);
    initParams(ex, opts.seed);
  }

  const naming = 'hf-gpt2' as const;
  const checkpoint = () => {
    const params = new Map<string, NamedTensor>([...shapes].map(([name, shape]) => [name, { shape, data: ex.param(name) }]));
    return writeCheckpoint(
      opts.out,
      { model: model.name, specHash: hash, step, optimizerSteps: ex.steps, rng: rng.state, naming, history },
      exportGpt(params),
      new Map([
        ['m', { shape: [ex.mem.m.length], data: ex.mem.m }],
        ['v', { shape: [ex.mem.v.length], data: ex.mem.v }],
      ]),
      opts.keep,
    );
  };

  const evaluate = (): number => {
    evalEx.paramArena.set(ex.paramArena);
    let total = 0;
    for (const b of valBatches) {
      evalEx.input('tokens').set(b.tokens);
      evalEx.input('targets').set(b.targets);
      total += evalEx.forward();
    }
    return total / valBatches.length;
  };

  /** Greedy continuation of the start of the validation text (argmax at the last position). */
  const sample = (n: number): string => {
    sampler.paramArena.set(ex.paramArena);
    const ids = Array.from(valStream.subarray(0, Math.min(16, valStream.length)));
    const prompt = ids.length;
    const tokens = sampler.input('tokens') as Int32Array;
    (sampler.input('targets') as Int32Array).fill(-100);
    for (let k = 0; k < n; k++) {
      const window = ids.slice(-seq);
      tokens.fill(0);
      tokens.set(window);
      sampler.forward();
      const logits = sampler.output('logits') as Float32Array;
      const row = logits.subarray((window.length - 1) * tok.vocabSize, window.length * tok.vocabSize);
      let best = 0;
      for (let c = 1; c < tok.vocabSize; c++) if (row[c] > row[best]) best = c;
      ids.push(best);
    }
    return `${tok.decode(ids.slice(0, prompt))}⟨${tok.decode(ids.slice(prompt))}⟩`;
  };

  const plotPath = join(opts.out, 'loss.svg');
  const plot = () => writeAtomically(plotPath, lossPlotSvg(history, `${model.name} on ${corpus.name} (${tok.kind} tokens)`, { label: `unigram entropy ${entropy.toFixed(3)}`, value: entropy }));
  const settings = { lr: opts.lr, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: opts.weightDecay, maxNorm: opts.maxNorm };
  const tokens = ex.input('tokens') as Int32Array;
  const targets = ex.input('targets') as Int32Array;
  const seedInput = ex.hasInput('seed') ? (ex.input('seed') as Int32Array) : undefined;
  const tokensPerStep = opts.batch * seq;
  const bar = new cliProgress.SingleBar({ format: 'step {value}/{total} |{bar}| loss {loss} | val {val} | {tps} tok/s | ETA {eta_formatted}', hideCursor: true, noTTYOutput: true, notTTYSchedule: 10_000, etaBuffer: 20 }, cliProgress.Presets.shades_classic);
  bar.start(opts.steps, step, { loss: '-', val: '-', tps: '-' });
  const started = performance.now();
  const startStep = step;
  let lastCheckpoint: string | null = latest ? join(opts.out, latest) : null;
  let trainLoss = NaN;
  let valLoss: number | null = [...history].reverse().find((h) => h[2] !== null)?.[2] ?? null;
  let sampleText = '';
  try {
    while (step < opts.steps) {
      if (opts.maxSeconds !== undefined && (performance.now() - started) / 1000 > opts.maxSeconds) break;
      sampleBatch(trainStream, opts.batch, seq, rng, tokens, targets);
      if (seedInput) seedInput[0] = (Math.imul(opts.seed, 1_000_003) + step) | 0;
      const loss = ex.forward();
      ex.backward();
      const norm = ex.gradientNorm(settings.maxNorm);
      if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
        // Name the first tensor that holds a NaN/Inf: a weight, else a gradient, else the loss.
        const finite = (a: Float32Array) => a.every(Number.isFinite);
        const badParam = ex.program.params.find((p) => !finite(ex.param(p.name)))?.name;
        const badGrad = ex.program.params.find((p) => !finite(ex.grad(p.name)))?.name;
        const what = badParam ? `parameter \`${badParam}\`` : badGrad ? `the gradient of \`${badGrad}\`` : 'the loss';
        throw new TrainError('TFM6001', `NaN/Inf in ${what} at step ${step + 1}; no update was applied and nothing was saved${lastCheckpoint ? `; the last good checkpoint is ${lastCheckpoint}` : ''}`);
      }
      ex.applyUpdate({ ...settings, lr: learningRate(step, { peak: opts.lr, warmupSteps: opts.warmup, totalSteps: opts.steps, minRatio: opts.minLrRatio }) });
      step++;
      trainLoss = loss;
      const evalNow = step % opts.evalEvery === 0 || step === opts.steps;
      if (evalNow) valLoss = evaluate();
      history.push([step, loss, evalNow ? valLoss : null]);
      const elapsed = (performance.now() - started) / 1000;
      bar.update(step, { loss: loss.toFixed(3), val: valLoss?.toFixed(3) ?? '-', tps: Math.round(((step - startStep) * tokensPerStep) / elapsed) });
      if (evalNow) {
        plot();
        sampleText = sample(opts.sampleTokens);
        bar.stop();
        opts.log(`step ${step}: val loss ${valLoss!.toFixed(4)} (unigram entropy ${entropy.toFixed(4)}) | sample: ${JSON.stringify(sampleText)}`);
        if (step < opts.steps) bar.start(opts.steps, step, { loss: loss.toFixed(3), val: valLoss!.toFixed(3), tps: Math.round(((step - startStep) * tokensPerStep) / elapsed) });
      }
      if (step % opts.checkpointEvery === 0 || step === opts.steps) lastCheckpoint = checkpoint();
    }
    if (step < opts.steps && step > startStep) {
      // Stopped by --max-seconds: validate where it stands, then checkpoint.
      if (history.length && history[history.length - 1][2] === null) {
        valLoss = evaluate();
        history[history.length - 1][2] = valLoss;
        sampleText = sample(opts.sampleTokens);
        opts.log(`step ${step}: val loss ${valLoss.toFixed(4)} (unigram entropy ${entropy.toFixed(4)}) | sample: ${JSON.stringify(sampleText)}`);
      }
      lastCheckpoint = checkpoint();
    }
  } finally {
    bar.stop();
    ex.close();
  }
  plot();
  const seconds = (performance.now() - started) / 1000;
  return { step, trainLoss, valLoss, unigramEntropy: entropy, tokensPerSecond: ((step - startStep) * tokensPerStep) / Math.max(seconds, 1e-9), plot: plotPath, sample: sampleText, checkpoint: lastCheckpoint };
}
