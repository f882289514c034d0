// `tfm train`: pretraining a decoder spec on text with next-token prediction. The loop is
// thin — data, schedule, progress, validation, samples, checkpoints; every number of the
// model comes from its generated kernels. A run is a pure function of (spec, data, flags,
// seed): `--resume` continues bit-identically from the newest checkpoint.
import { TfmError } from '../common/errors.ts';
import { statSync } from 'node:fs';
import { exists, LIMITS, makeFolder, readTextBounded, writeAtomically } from '../common/files.ts';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { resolveShape, sameShape } from '../common/program.ts';
import type { ModelRunner } from './executor.ts';
import { checkpointName, listCheckpoints, readCheckpoint, removeStaleTemporaries, writeCheckpoint, type CheckpointState } from './checkpoint.ts';
import { exportGpt, importGpt } from './hf.ts';
import { initParams, Rng } from './init.ts';
import { lossPlotSvg } from './plot.ts';
import type { NamedTensor } from './safetensors.ts';
import { learningRate } from './schedule.ts';
import { corpusDigest, loadCorpus, sampleBatch, splitDocuments, tokenStream, unigramEntropy, validationBatches } from './text/data.ts';
import { bertTokenizer, bpeTokenizer, charTokenizer, gpt2Tokenizer, tokenizerFromJSON, TokenizerError, type Tokenizer, type TokenizerKind } from './text/tokenizer.ts';

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
  /** Time every kernel (after the first step, which compiles and warms up) and log the time
   *  per step by op at the end. */
  profile?: boolean;
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

/** What training needs of a model: its vocabulary and context, and executors of its
 *  compiled program (the command line compiles; the runtime imports nothing of the compiler). */
export interface TrainModel {
  name: string;
  vocab: number;
  context?: number;
  specials: string[];
  /** The architecture's identity, recorded in checkpoints. */
  specHash: string;
  executor(dims: Record<string, number>, opts: { train: boolean; threads?: number }): Promise<ModelRunner>;
}

/** The settings that give a run its meaning, recorded in every checkpoint. `data` is the
 *  digest of the training text (the same text under another path is the same run). */
export type RunSettings = Record<string, string | number>;

const FLAG: Record<string, string> = { data: '--data (its text)', tokenizer: '--tokenizer', batch: '--batch', seq: '--seq', lr: '--lr', warmup: '--warmup', minLrRatio: 'the minimum learning-rate ratio', weightDecay: '--weight-decay', maxNorm: '--max-norm', seed: '--seed', steps: '--steps', evalBatches: '--eval-batches' };

/** A resume may change only what keeps the run the same run: the total of steps (the cosine
 *  schedule is stretched to the new total from here on) and the number of validation batches
 *  (later validation losses use the new count). Anything else is refused, with every
 *  difference listed. Returns the notes to print for accepted changes. */
export function compareSettings(recorded: RunSettings | undefined, now: RunSettings, checkpoint: string): string[] {
  if (!recorded) return [`note: ${checkpoint} was written by an older tfm and records no run settings; they are not compared`];
  const show = (v: string | number | undefined) => (v === undefined ? '(not recorded)' : typeof v === 'string' && /^[0-9a-f]{64}$/.test(v) ? `text ${v.slice(0, 12)}…` : String(v));
  const changed = Object.keys(FLAG).filter((k) => recorded[k] !== now[k]);
  const refused = changed.filter((k) => k !== 'steps' && k !== 'evalBatches');
  if (refused.length) {
    throw new TfmError('TFM5022', `--resume with settings that differ from the run in ${checkpoint}: ${refused.map((k) => `${FLAG[k]} was ${show(recorded[k])}, now ${show(now[k])}`).join('; ')}. Continue with the recorded settings, or start a new run in another --out folder`);
  }
  return changed.map((k) =>
    k === 'steps'
      ? `note: --steps changed from ${recorded.steps} to ${now.steps}: the learning-rate schedule now decays to step ${now.steps} (the run differs from one trained with --steps ${now.steps} from the start)`
      : `note: --eval-batches changed from ${recorded.evalBatches} to ${now.evalBatches}: validation losses from here on use ${now.evalBatches} batches`,
  );
}

const finite = (a: Float32Array) => a.every(Number.isFinite);

function buildTokenizer(kind: TokenizerKind, train: string[], vocab: number, specials: string[]): Tokenizer {
  switch (kind) {
    case 'gpt2':
      return gpt2Tokenizer();
    case 'bert':
      return bertTokenizer(specials);
    case 'bpe':
      return bpeTokenizer(train, vocab, specials);
    case 'char':
      return charTokenizer(train, vocab, specials);
  }
}

export async function train(model: TrainModel, opts: TrainOptions): Promise<TrainResult> {
  const vocab = model.vocab;
  const ctx = model.context;
  const seq = opts.seq ?? ctx ?? 64;
  if (ctx && seq > ctx) throw new TfmError('TFM5008', `--seq ${seq} exceeds the context of ${ctx}`);

  // Every check that can refuse the command runs before anything is written: a refused
  // command leaves the run folder exactly as it was.
  if (exists(opts.out) && !statSync(opts.out).isDirectory()) throw new TfmError('TFM5020', `--out \`${opts.out}\` is a file; a run folder is a folder`);
  const latest = listCheckpoints(opts.out).at(-1);
  if (!opts.resume && latest) throw new TfmError('TFM5015', `\`${opts.out}\` already holds checkpoints: pass --resume to continue that run, or choose another --out`);
  const corpus = loadCorpus(opts.data);
  const split = splitDocuments(corpus.documents);
  const run: RunSettings = {
    data: corpusDigest(corpus),
    tokenizer: opts.tokenizer,
    batch: opts.batch,
    seq,
    lr: opts.lr,
    warmup: opts.warmup,
    minLrRatio: opts.minLrRatio,
    weightDecay: opts.weightDecay,
    maxNorm: opts.maxNorm,
    seed: opts.seed,
    steps: opts.steps,
    evalBatches: opts.evalBatches,
  };
  const hash = model.specHash;
  const ex = await model.executor({ batch: opts.batch, seq }, { train: true, threads: opts.threads });
  let closeAll = () => ex.close();
  try {
    const evalEx = await model.executor({ batch: opts.batch, seq }, { train: false });
    const sampler = await model.executor({ batch: 1, seq }, { train: false });
    closeAll = () => {
      ex.close();
      evalEx.close();
      sampler.close();
    };
    const shapes = new Map(ex.program.params.map((p) => [p.name, resolveShape(p.shape, {})]));
    const paramBytes = 4 * [...shapes.values()].reduce((n, sh) => n + sh.reduce((a, b) => a * b, 1), 0);
    const ck = opts.resume && latest ? readCheckpoint(join(opts.out, latest), hash, { model: paramBytes + 2 ** 24, optimizer: 8 * ex.mem.m.length + 2 ** 20 }) : undefined;
    if (ck) for (const note of compareSettings(ck.state.run, run, join(opts.out, latest!))) opts.log(note);

    // Tokenizer: the one the checkpoint was trained with; else the run folder's (a run stopped
    // before its first checkpoint, or an older checkpoint); else built from the training text.
    const tokPath = join(opts.out, 'tokenizer.json');
    const onDisk = exists(tokPath) ? readTextBounded(tokPath, LIMITS.tokenizer, 'tokenizer') : undefined;
    let tokText: string | undefined = ck?.tokenizer;
    if (tokText !== undefined && onDisk !== undefined && onDisk !== tokText) {
      throw new TfmError('TFM5013', `\`${tokPath}\` differs from the tokenizer checkpoint \`${latest}\` was trained with (recorded in its state.json): restore it from \`${join(opts.out, latest!, 'tokenizer.json')}\``);
    }
    if (tokText === undefined && opts.resume) tokText = onDisk;
    let tok: Tokenizer;
    if (tokText !== undefined) {
      try {
        tok = tokenizerFromJSON(JSON.parse(tokText));
      } catch (e) {
        throw new TfmError('TFM5011', `\`${tokPath}\` is not a valid tokenizer: ${(e as Error).message}`);
      }
    } else {
      try {
        tok = buildTokenizer(opts.tokenizer, split.train, vocab, model.specials);
      } catch (e) {
        if (e instanceof TokenizerError) throw new TfmError('TFM5014', `cannot build the ${opts.tokenizer} tokenizer: ${e.message}`);
        throw e;
      }
      tokText = JSON.stringify(tok.toJSON()) + '\n';
    }
    if (tok.vocabSize > vocab) throw new TfmError('TFM5014', `the ${tok.kind} tokenizer has ${tok.vocabSize} tokens but the spec's vocabulary is ${vocab}: use a larger \`vocab\` or another --tokenizer`);
    const trainStream = tokenStream(split.train, tok);
    const valStream = tokenStream(split.val, tok);
    const entropy = unigramEntropy(valStream);
    const valBatches = validationBatches(valStream, opts.batch, seq, opts.evalBatches);

    // From here on the command writes.
    makeFolder(opts.out, 'run folder');
    const stale = removeStaleTemporaries(opts.out);
    if (stale.length) opts.log(`removed what an interrupted run left behind: ${stale.join(', ')}`);
    if (onDisk !== tokText) writeAtomically(tokPath, tokText, 'tokenizer');
    const rng = new Rng(opts.seed ^ 0x5eed);
    let step = 0;
    let history: CheckpointState['history'] = [];

    if (ck) {
      const params = ck.state.naming === 'hf-gpt2' ? importGpt(ck.model, shapes) : ck.model;
      for (const [name, shape] of shapes) {
        const t = params.get(name);
        if (!t || !sameShape(t.shape, shape)) throw new TfmError('TFM5007', `checkpoint \`${latest}\` lacks \`${name}\` of shape [${shape}]`);
        ex.param(name).set(t.data);
      }
      const [mm, vv] = [ck.optimizer.get('m'), ck.optimizer.get('v')];
      if (!mm || !vv || mm.data.length !== ex.mem.m.length || vv.data.length !== ex.mem.v.length) throw new TfmError('TFM5007', `checkpoint \`${latest}\` has no optimizer state for this model`);
      ex.mem.m.set(mm.data);
      ex.mem.v.set(vv.data);
      ex.steps = ck.state.optimizerSteps;
      rng.state = ck.state.rng;
      step = ck.state.step;
      history = ck.state.history;
      opts.log(`resumed from ${join(opts.out, latest!)} at step ${step}`);
    } else initParams(ex, opts.seed);
    ex.push();

    const naming = 'hf-gpt2' as const;
    /** Writes a checkpoint of the current step, once the guard has passed. */
    const checkpoint = async () => {
      await guard(`checkpoint ${checkpointName(step)}`);
      const params = new Map<string, NamedTensor>([...shapes].map(([name, shape]) => [name, { shape, data: ex.param(name) }]));
      return writeCheckpoint(
        opts.out,
        { model: model.name, specHash: hash, step, optimizerSteps: ex.steps, rng: rng.state, naming, history, run },
        exportGpt(params),
        new Map([
          ['m', { shape: [ex.mem.m.length], data: ex.mem.m }],
          ['v', { shape: [ex.mem.v.length], data: ex.mem.v }],
        ]),
        opts.keep,
        { 'tokenizer.json': tokText! },
      );
    };

    /** Refuses to go on (and to save) once a weight, an Adam moment or the validation loss is
     *  not finite: the last checkpoint on disk stays the last good one. */
    const guard = async (what: string) => {
      await ex.pull();
      const param = ex.program.params.find((p) => !finite(ex.param(p.name)))?.name;
      const moment = !finite(ex.mem.m) || !finite(ex.mem.v);
      const loss = valLoss !== null && !Number.isFinite(valLoss);
      if (!param && !moment && !loss) return;
      const found = param ? `parameter \`${param}\` holds NaN/Inf` : moment ? 'the optimizer state holds NaN/Inf' : `the validation loss is ${valLoss}`;
      throw new TfmError('TFM6001', `${found} after step ${step} (the learning rate ${opts.lr} may be too high); ${what} was not written${lastCheckpoint ? `; the last good checkpoint is ${lastCheckpoint}` : ''}`);
    };

    const evaluate = async (): Promise<number> => {
      await ex.pull();
      evalEx.paramArena.set(ex.paramArena);
      evalEx.push();
      let total = 0;
      for (const b of valBatches) {
        evalEx.input('tokens').set(b.tokens);
        evalEx.input('targets').set(b.targets);
        total += await evalEx.forward();
      }
      return total / valBatches.length;
    };

    /** Greedy continuation of the start of the validation text (argmax at the last position). */
    const sample = async (n: number): Promise<string> => {
      await ex.pull();
      sampler.paramArena.set(ex.paramArena);
      sampler.push();
      const ids = Array.from(valStream.subarray(0, Math.min(16, valStream.length)));
      const prompt = ids.length;
      const tokens = sampler.input('tokens') as Int32Array;
      (sampler.input('targets') as Int32Array).fill(-100);
      for (let k = 0; k < n; k++) {
        const window = ids.slice(-seq);
        tokens.fill(0);
        tokens.set(window);
        await sampler.forward();
        const logits = (await sampler.read('logits')) as Float32Array;
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
    const perOp = new Map<string, number>();
    let profiled = 0;
    let lastCheckpoint: string | null = latest ? join(opts.out, latest) : null;
    let trainLoss = NaN;
    let valLoss: number | null = [...history].reverse().find((h) => h[2] !== null)?.[2] ?? null;
    let sampleText = '';
    try {
      while (step < opts.steps) {
        if (opts.maxSeconds !== undefined && (performance.now() - started) / 1000 > opts.maxSeconds) break;
        if (opts.profile && step > startStep) {
          profiled++;
          ex.onKernel ??= (k, ms) => {
            const op = ex.program.steps[k]?.op ?? 'optimizer';
            perOp.set(op, (perOp.get(op) ?? 0) + ms);
          };
        }
        sampleBatch(trainStream, opts.batch, seq, rng, tokens, targets);
        if (seedInput) seedInput[0] = (Math.imul(opts.seed, 1_000_003) + step) | 0;
        const loss = await ex.forward();
        await ex.backward();
        const norm = await ex.gradientNorm(settings.maxNorm);
        if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
          // Name the first tensor that holds a NaN/Inf: a weight, else a gradient, else the loss.
          await ex.pull();
          const badParam = ex.program.params.find((p) => !finite(ex.param(p.name)))?.name;
          let badGrad: string | undefined;
          for (const p of ex.program.params) if (!badGrad && !finite((await ex.read(`grad:${p.name}`)) as Float32Array)) badGrad = p.name;
          const what = badParam ? `parameter \`${badParam}\`` : badGrad ? `the gradient of \`${badGrad}\`` : 'the loss';
          throw new TfmError('TFM6001', `NaN/Inf in ${what} at step ${step + 1}; no update was applied and nothing was saved${lastCheckpoint ? `; the last good checkpoint is ${lastCheckpoint}` : ''}`);
        }
        await ex.applyUpdate({ ...settings, lr: learningRate(step, { peak: opts.lr, warmupSteps: opts.warmup, totalSteps: opts.steps, minRatio: opts.minLrRatio }) });
        step++;
        trainLoss = loss;
        const evalNow = step % opts.evalEvery === 0 || step === opts.steps;
        if (evalNow) {
          valLoss = await evaluate();
          await guard('no checkpoint');
        }
        history.push([step, loss, evalNow ? valLoss : null]);
        const elapsed = (performance.now() - started) / 1000;
        bar.update(step, { loss: loss.toFixed(3), val: valLoss?.toFixed(3) ?? '-', tps: Math.round(((step - startStep) * tokensPerStep) / elapsed) });
        if (evalNow) {
          plot();
          sampleText = await sample(opts.sampleTokens);
          bar.stop();
          opts.log(`step ${step}: val loss ${valLoss!.toFixed(4)} (unigram entropy ${entropy.toFixed(4)}) | sample: ${JSON.stringify(sampleText)}`);
          if (step < opts.steps) bar.start(opts.steps, step, { loss: loss.toFixed(3), val: valLoss!.toFixed(3), tps: Math.round(((step - startStep) * tokensPerStep) / elapsed) });
        }
        if (step % opts.checkpointEvery === 0 || step === opts.steps) lastCheckpoint = await checkpoint();
      }
      if (step < opts.steps && step > startStep) {
        // Stopped by --max-seconds: validate where it stands, then checkpoint.
        if (history.length && history[history.length - 1][2] === null) {
          valLoss = await evaluate();
          await guard('no checkpoint');
          history[history.length - 1][2] = valLoss;
          sampleText = await sample(opts.sampleTokens);
          opts.log(`step ${step}: val loss ${valLoss.toFixed(4)} (unigram entropy ${entropy.toFixed(4)}) | sample: ${JSON.stringify(sampleText)}`);
        }
        lastCheckpoint = await checkpoint();
      }
    } catch (e) {
      // The device went away mid-run: say what is safe on disk.
      if (e instanceof TfmError && e.code === 'TFM7003') throw new TfmError('TFM7003', `${e.message} during step ${step + 1}; nothing of that step was saved${lastCheckpoint ? `; the last good checkpoint is ${lastCheckpoint}` : ''}`);
      throw e;
    } finally {
      bar.stop();
    }
    plot();
    if (opts.profile) {
      ex.onKernel = undefined;
      if (!ex.kernelClock) opts.log('--profile: this executor cannot time its kernels (a WebGPU adapter without timestamp queries)');
      else if (!profiled) opts.log('--profile: no step after the first to time');
      else {
        const total = [...perOp.values()].reduce((a, b) => a + b, 0);
        opts.log(`time per training step by op, mean of ${profiled} steps (${ex.kernelClock}; validation and samples not included):`);
        for (const [op, ms] of [...perOp].sort((a, b) => b[1] - a[1])) opts.log(`  ${op.padEnd(24)} ${(ms / profiled).toFixed(2).padStart(10)} ms  ${((100 * ms) / total).toFixed(1).padStart(5)}%`);
        opts.log(`  ${'total'.padEnd(24)} ${(total / profiled).toFixed(2).padStart(10)} ms`);
      }
    }
    const seconds = (performance.now() - started) / 1000;
    return { step, trainLoss, valLoss, unigramEntropy: entropy, tokensPerSecond: ((step - startStep) * tokensPerStep) / Math.max(seconds, 1e-9), plot: plotPath, sample: sampleText, checkpoint: lastCheckpoint };
  } finally {
    closeAll();
  }
}
