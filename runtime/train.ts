// `tfm train`: one training loop for every objective. The objective (runtime/objectives/)
// brings the data, fills each batch and measures validation; the loop is the same for all —
// schedule, AdamW, NaN guards, progress, plot, checkpoints. Every number of the model comes
// from its generated kernels. A run is a pure function of (spec, data, flags, seed):
// `--resume` continues bit-identically from the newest checkpoint.
import { TfmError } from '../common/errors.ts';
import { renameSync, rmSync, statSync } from 'node:fs';
import { exists, fsyncFolder, makeFolder, writeAtomically, writeFileSynced } from '../common/files.ts';
import { join } from 'node:path';
import { resolveShape, sameShape } from '../common/program.ts';
import type { ModelRunner } from './executor.ts';
import { checkpointName, listCheckpoints, readCheckpoint, removeStaleTemporaries, writeCheckpoint, type HistoryRow, type LoadedCheckpoint } from './checkpoint.ts';
import { exportTensors, setCheckpointWeights, toHf } from './weights.ts';
import { initParams, Rng } from './init.ts';
import { lossPlotSvg } from './plot.ts';
import { encodeChunks, type NamedTensor } from './safetensors.ts';
import { progress } from './progress.ts';
import { learningRate } from './schedule.ts';
import type { TokenizerKind } from './text/tokenizer.ts';
import { clmData } from './objectives/clm.ts';
import { mlmData } from './objectives/mlm.ts';
import { spanCorruptionData } from './objectives/span-corruption.ts';
import { denoiseData } from './objectives/denoise.ts';
import { textToTextData } from './objectives/text-to-text.ts';
import type { DenoiseSettings } from './text/denoise.ts';
import { imageClassifyData } from './objectives/classify-image.ts';
import { textClassifyData } from './objectives/classify-text.ts';
import type { Metrics, ObjectiveData, RunSettings } from './objectives/objective.ts';

export interface TrainOptions {
  /** Text or images, by the objective; undefined: its built-in default (moby-dick, mnist). */
  data?: string;
  /** Undefined: the objective's default (char for clm; for encoders bert with a vocabulary of
   *  30,522, else wordpiece). */
  tokenizer?: TokenizerKind;
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
  /** A checkpoint folder of another run whose weights start this one (fine-tuning): every
   *  parameter it has by name, the rest (the new head) freshly initialised. */
  init?: string;
  /** Stop after this many seconds of training (checkpointing first). */
  maxSeconds?: number;
  sampleTokens: number;
  /** Time every kernel (after the first step, which compiles and warms up) and log the time
   *  per step by op at the end. */
  profile?: boolean;
  log: (line: string) => void;
  /** Progress as a bar redrawn in place (a terminal), else as a plain line every few steps. */
  tty?: boolean;
  /** Instead of training, write the run for the PyTorch target's train.py into this folder
   *  (exportTorchData): every step's batch, the initial weights, the settings, the tokenizer. */
  torchData?: string;
}

export interface TrainResult {
  step: number;
  trainLoss: number;
  valLoss: number | null;
  /** Classifiers: the last validation accuracy. */
  valAccuracy: number | null;
  /** Classifiers: loss and accuracy on the whole held-out split at the end of the run. */
  heldOut?: Metrics;
  /** The objective's comparison line (language models: the validation text's unigram entropy). */
  reference?: { label: string; value: number };
  /** What a loss is averaged over and the speed counts: `token`, `image`. */
  per: string;
  perSecond: number;
  plot: string;
  sample: string;
  checkpoint: string | null;
}

/** What training needs of a model: its objective and inputs, and executors of its compiled
 *  program (the command line compiles; the runtime imports nothing of the compiler). */
export interface TrainModel {
  name: string;
  objective: 'clm' | 'mlm' | 'classify' | 'span_corruption' | 'denoise' | 'text_to_text';
  /** Masked-LM models: the share of tokens chosen and their mask/random/keep split. */
  mlm?: { maskProb: number; split: [number, number, number] };
  /** Span corruption: T5's noise density, mean span length, and the sentinels the vocabulary
   *  holds (named `<extra_id_k>` among `specials`). */
  spans?: { noiseDensity: number; meanSpanLength: number; sentinels: number };
  /** Denoising: the spec's noises. */
  noise?: DenoiseSettings;
  /** Encoder-decoders: the decoder's length (`input targets context`). */
  targetContext?: number;
  /** Text models. */
  vocab?: number;
  context?: number;
  specials: string[];
  /** Image classifiers: the spec's `input image` and its classes. */
  image?: { channels: number; height: number; width: number };
  classes?: number;
  /** The architecture's identity, recorded in checkpoints. */
  specHash: string;
  executor(dims: Record<string, number>, opts: { train: boolean; threads?: number }): Promise<ModelRunner>;
}

/** The settings that give a run its meaning, recorded in every checkpoint. `data` is the
 *  digest of the training data (the same text under another path is the same run). */
export type { RunSettings };

const FLAG: Record<string, string> = { init: '--init (its weights)', data: '--data (its contents)', tokenizer: '--tokenizer', batch: '--batch', seq: '--seq', lr: '--lr', warmup: '--warmup', minLrRatio: 'the minimum learning-rate ratio', weightDecay: '--weight-decay', maxNorm: '--max-norm', seed: '--seed', steps: '--steps', evalBatches: '--eval-batches' };

/** A resume may change only what keeps the run the same run: the total of steps (the cosine
 *  schedule is stretched to the new total from here on) and the number of validation batches
 *  (later validation losses use the new count). Anything else is refused, with every
 *  difference listed. Returns the notes to print for accepted changes. */
export function compareSettings(recorded: RunSettings | undefined, now: RunSettings, checkpoint: string): string[] {
  if (!recorded) return [`note: ${checkpoint} was written by an older tfm and records no run settings; they are not compared`];
  const show = (v: string | number | undefined) => (v === undefined ? '(not recorded)' : typeof v === 'string' && /^[0-9a-f]{64}$/.test(v) ? `digest ${v.slice(0, 12)}…` : String(v));
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


/** A text encoder's default tokenizer: bert-base-uncased's vocabulary for a spec sized for it
 *  (30,522), else a WordPiece vocabulary trained on the text to the spec's size. */
const encoderTokenizer = (model: TrainModel): TokenizerKind => (model.vocab === 30522 ? 'bert' : 'wordpiece');

/** The objective's data, loaded and checked before anything is compiled or written. */
export function objectiveData(model: TrainModel, opts: Pick<TrainOptions, 'data' | 'tokenizer' | 'batch' | 'seq' | 'evalBatches' | 'sampleTokens'>, seq: number): ObjectiveData {
  switch (model.objective) {
    case 'clm':
      return clmData({ data: opts.data ?? 'moby-dick', tokenizer: opts.tokenizer ?? 'char', batch: opts.batch, seq, evalBatches: opts.evalBatches, vocab: model.vocab!, specials: model.specials, sampleTokens: opts.sampleTokens });
    case 'mlm':
      return mlmData({ data: opts.data ?? 'moby-dick+sotu', tokenizer: opts.tokenizer ?? encoderTokenizer(model), batch: opts.batch, seq, evalBatches: opts.evalBatches, vocab: model.vocab!, specials: model.specials, maskProb: model.mlm!.maskProb, split: model.mlm!.split });
    case 'span_corruption':
      return spanCorruptionData({ data: opts.data ?? 'moby-dick+sotu', tokenizer: opts.tokenizer ?? 'unigram', batch: opts.batch, srcSeq: seq, tgtContext: model.targetContext!, evalBatches: opts.evalBatches, vocab: model.vocab!, specials: model.specials, ...model.spans! });
    case 'denoise':
      return denoiseData({ data: opts.data ?? 'moby-dick+sotu', tokenizer: opts.tokenizer ?? 'unigram', batch: opts.batch, seq, tgtContext: model.targetContext!, evalBatches: opts.evalBatches, vocab: model.vocab!, specials: model.specials, noise: model.noise! });
    case 'text_to_text':
      return textToTextData({ data: opts.data, tokenizer: opts.tokenizer ?? 'unigram', batch: opts.batch, srcSeq: seq, tgtContext: model.targetContext!, evalBatches: opts.evalBatches, vocab: model.vocab!, specials: model.specials });
    case 'classify':
      if (model.image) return imageClassifyData({ data: opts.data ?? 'mnist', batch: opts.batch, evalBatches: opts.evalBatches, image: model.image, classes: model.classes! });
      return textClassifyData({ data: opts.data ?? 'sentiment', tokenizer: opts.tokenizer ?? encoderTokenizer(model), batch: opts.batch, seq: opts.seq, context: model.context, vocab: model.vocab!, specials: model.specials, classes: model.classes! });
  }
}

export async function train(model: TrainModel, opts: TrainOptions): Promise<TrainResult> {
  const ctx = model.context;
  const seq = opts.seq ?? ctx ?? 64;
  if (ctx && seq > ctx) throw new TfmError('TFM5008', `--seq ${seq} exceeds the context of ${ctx}`);

  // Every check that can refuse the command runs before anything is written: a refused
  // command leaves the run folder exactly as it was.
  if (exists(opts.out) && !statSync(opts.out).isDirectory()) throw new TfmError('TFM5020', `--out \`${opts.out}\` is a file; a run folder is a folder`);
  const latest = listCheckpoints(opts.out).at(-1);
  if (!opts.resume && latest) throw new TfmError('TFM5015', `\`${opts.out}\` already holds checkpoints: pass --resume to continue that run, or choose another --out`);
  const data = objectiveData(model, opts, seq);
  // The checkpoint a fine-tuning run starts from, read (its digests verified) up front and
  // recorded by the digest of its weights; a resumed run has its own weights and only checks
  // that it was started from the same ones.
  const init = opts.init !== undefined ? readCheckpoint(opts.init, null) : undefined;
  const run: RunSettings = {
    ...data.settings,
    ...(init ? { init: init.state.files['model.safetensors'] } : {}),
    batch: opts.batch,
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
  const ex = await model.executor(data.dims, { train: true, threads: opts.threads });
  let closeAll = () => ex.close();
  try {
    const shapes = new Map(ex.program.params.map((p) => [p.name, resolveShape(p.shape, {})]));
    const paramBytes = 4 * [...shapes.values()].reduce((n, sh) => n + sh.reduce((a, b) => a * b, 1), 0);
    const ck = opts.resume && latest ? readCheckpoint(join(opts.out, latest), hash, { model: paramBytes + 2 ** 24, optimizer: 8 * ex.mem.m.length + 2 ** 20 }) : undefined;
    if (ck) for (const note of compareSettings(ck.state.run, run, join(opts.out, latest!))) opts.log(note);
    const task = await data.open({
      train: ex,
      executor: (dims) => model.executor(dims, { train: false }),
      out: opts.out,
      resume: opts.resume,
      checkpoint: ck ? { name: latest!, files: { 'tokenizer.json': ck.tokenizer } } : undefined,
      initTokenizer: init?.tokenizer,
    });
    closeAll = () => {
      ex.close();
      task.close();
    };

    if (opts.torchData !== undefined) {
      if (opts.resume) throw new TfmError('TFM5008', '--torch-data writes a new run for train.py; it does not take --resume');
      initParams(ex, opts.seed);
      if (init) opts.log(startFrom(init, opts.init!, shapes, ex));
      const dir = exportTorchData(opts.torchData, { model, run, task, ex, shapes, dims: data.dims, opts });
      opts.log(`wrote ${opts.steps} steps of ${task.title} for train.py → ${dir}`);
      return { step: 0, trainLoss: NaN, valLoss: null, valAccuracy: null, per: task.per, perSecond: 0, plot: '', sample: '', checkpoint: null };
    }

    // From here on the command writes.
    makeFolder(opts.out, 'run folder');
    const stale = removeStaleTemporaries(opts.out);
    if (stale.length) opts.log(`removed what an interrupted run left behind: ${stale.join(', ')}`);
    for (const [name, text] of Object.entries(task.folderFiles)) writeAtomically(join(opts.out, name), text, name);
    const rng = new Rng(opts.seed ^ 0x5eed);
    let step = 0;
    let history: HistoryRow[] = [];

    if (ck) {
      if (ck.state.naming !== task.naming && ck.state.naming !== 'internal') throw new TfmError('TFM5011', `checkpoint \`${latest}\` names its weights ${ck.state.naming}, which this objective does not use`);
      setCheckpointWeights(ex, ck.model, ck.state.naming, latest!);
      const [mm, vv] = [ck.optimizer.get('m'), ck.optimizer.get('v')];
      if (!mm || !vv || mm.data.length !== ex.mem.m.length || vv.data.length !== ex.mem.v.length) throw new TfmError('TFM5007', `checkpoint \`${latest}\` has no optimizer state for this model`);
      ex.mem.m.set(mm.data);
      ex.mem.v.set(vv.data);
      ex.steps = ck.state.optimizerSteps;
      rng.state = ck.state.rng;
      step = ck.state.step;
      history = ck.state.history;
      opts.log(`resumed from ${join(opts.out, latest!)} at step ${step}`);
    } else {
      initParams(ex, opts.seed);
      if (init) opts.log(startFrom(init, opts.init!, shapes, ex));
    }
    ex.push();

    /** Writes a checkpoint of the current step, once the guard has passed. */
    const checkpoint = async () => {
      await guard(`checkpoint ${checkpointName(step)}`);
      const params = new Map<string, NamedTensor>([...shapes].map(([name, shape]) => [name, { shape, data: ex.param(name) }]));
      return writeCheckpoint(
        opts.out,
        { model: model.name, specHash: hash, step, optimizerSteps: ex.steps, rng: rng.state, naming: task.naming, history, run },
        task.naming === 'internal' ? params : toHf(task.naming, params, ex.program),
        new Map([
          ['m', { shape: [ex.mem.m.length], data: ex.mem.m }],
          ['v', { shape: [ex.mem.v.length], data: ex.mem.v }],
        ]),
        opts.keep,
        task.files,
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

    const pct = (a: number) => `${(100 * a).toFixed(2)}%`;
    /** Validates, records the result in the history row of this step, and says so. */
    const validate = async (row: HistoryRow) => {
      const m = await task.evaluate();
      valLoss = m.loss;
      valAccuracy = m.accuracy ?? null;
      await guard('no checkpoint');
      row[2] = valLoss;
      if (valAccuracy !== null) row[3] = valAccuracy;
      plot();
      sampleText = task.sample ? await task.sample() : '';
      const ref = task.reference ? ` (${task.reference.label})` : '';
      opts.log(`step ${step}: val loss ${valLoss.toFixed(4)}${ref}${valAccuracy !== null ? ` | val accuracy ${pct(valAccuracy)} of ${m.count}${task.baseline ? ` (${task.baseline})` : ''}` : ''}${task.sample ? ` | sample: ${JSON.stringify(sampleText)}` : ''}`);
    };

    const plotPath = join(opts.out, 'loss.svg');
    const plot = () => writeAtomically(plotPath, lossPlotSvg(history, `${model.name} on ${task.title}`, task.reference, task.per));
    const settings = { lr: opts.lr, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: opts.weightDecay, maxNorm: opts.maxNorm };
    const seedInput = ex.hasInput('seed') ? (ex.input('seed') as Int32Array) : undefined;
    const unit = task.per === 'token' ? 'tok' : task.per === 'image' ? 'img' : task.per;
    const bar = progress(`step {value}/{total} |{bar}| loss {loss} | val {val} | {speed} ${unit}/s | ETA {eta_formatted}`, { tty: opts.tty === true, every: Math.max(1, Math.round(opts.steps / 50)), write: opts.log });
    const showVal = () => (valLoss === null ? '-' : valAccuracy !== null ? `${valLoss.toFixed(3)} acc ${pct(valAccuracy)}` : valLoss.toFixed(3));
    bar.start(opts.steps, step, { loss: '-', val: '-', speed: '-' });
    const started = performance.now();
    const startStep = step;
    const perOp = new Map<string, number>();
    let profiled = 0;
    let lastCheckpoint: string | null = latest ? join(opts.out, latest) : null;
    let trainLoss = NaN;
    const lastVal = [...history].reverse().find((h) => h[2] !== null);
    let valLoss: number | null = lastVal?.[2] ?? null;
    let valAccuracy: number | null = lastVal?.[3] ?? null;
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
        task.fill(rng);
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
        const row: HistoryRow = [step, loss, null];
        history.push(row);
        const speed = () => Math.round(((step - startStep) * task.perStep) / ((performance.now() - started) / 1000));
        if (step % opts.evalEvery === 0 || step === opts.steps) {
          bar.stop();
          await validate(row);
          if (step < opts.steps) bar.start(opts.steps, step, { loss: loss.toFixed(3), val: showVal(), speed: speed() });
        } else bar.update(step, { loss: loss.toFixed(3), val: showVal(), speed: speed() });
        if (step % opts.checkpointEvery === 0 || step === opts.steps) lastCheckpoint = await checkpoint();
      }
      if (step < opts.steps && step > startStep) {
        // Stopped by --max-seconds: validate where it stands, then checkpoint.
        const last = history[history.length - 1];
        if (last[2] === null) await validate(last);
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
    const perSecond = ((step - startStep) * task.perStep) / Math.max(seconds, 1e-9);
    const heldOut = task.evaluateAll ? await task.evaluateAll() : undefined;
    return { step, trainLoss, valLoss, valAccuracy, heldOut, reference: task.reference, per: task.per, perSecond, plot: plotPath, sample: sampleText, checkpoint: lastCheckpoint };
  } finally {
    closeAll();
  }
}

/** Copies a pretrained checkpoint's weights into a fine-tuning run's executor: every parameter
 *  the checkpoint has by name (of the same shape); those it lacks must be the new head's
 *  (`head.…`), which keep their fresh initialisation. Anything else means the backbones
 *  differ: refused, naming what differs. Returns the line to log. */
/** The run of `tfm train` handed to the PyTorch target's train.py (generated/<model>/torch/):
 *  - batches.safetensors: each input [steps, ...] in the order tfm train would feed them, from
 *    the same objective, data, tokenizer and seed;
 *  - weights.safetensors: the initial weights under the names the PyTorch module stores;
 *  - run.json: the spec hash, the run settings a checkpoint records (so that `tfm train
 *    --resume` accepts train.py's checkpoints), the optimizer's settings, the parameters in
 *    the optimizer's order with their weight decay, and the data generator's state after
 *    each step (what a checkpoint at that step records);
 *  - the objective's checkpoint files (tokenizer.json).
 *  Written into a temporary folder, then renamed. */
function exportTorchData(dir: string, c: { model: TrainModel; run: RunSettings; task: Awaited<ReturnType<ObjectiveData['open']>>; ex: ModelRunner; shapes: Map<string, number[]>; dims: Record<string, number>; opts: TrainOptions }): string {
  const { ex, opts } = c;
  const rng = new Rng(opts.seed ^ 0x5eed);
  const names = ex.program.inputs.map((i) => i.name).filter((n) => n !== 'seed');
  const per = new Map(names.map((n) => [n, [] as (Int32Array | Float32Array)[]]));
  const states: number[][] = [];
  for (let step = 0; step < opts.steps; step++) {
    c.task.fill(rng);
    for (const n of names) per.get(n)!.push((ex.input(n) as Int32Array | Float32Array).slice());
    states.push([...rng.state]);
  }
  const batches = new Map<string, NamedTensor>(
    names.map((n) => {
      const rows = per.get(n)!;
      const one = rows[0];
      const data = one instanceof Int32Array ? new Int32Array(one.length * rows.length) : new Float32Array(one.length * rows.length);
      rows.forEach((r, k) => data.set(r, k * one.length));
      const shape = resolveShape(ex.program.buffers[ex.program.inputs.find((i) => i.name === n)!.buffer].shape, c.dims);
      return [n, { shape: [rows.length, ...shape], data }];
    }),
  );
  const params = new Map<string, NamedTensor>([...c.shapes].map(([name, shape]) => [name, { shape, data: ex.param(name).slice() }]));
  const settings = {
    format: 'tfm-torch-data',
    version: 1,
    model: c.model.name,
    specHash: c.model.specHash,
    steps: opts.steps,
    batch: opts.batch,
    seed: opts.seed,
    run: c.run,
    optimizer: { lr: opts.lr, warmup: opts.warmup, minLrRatio: opts.minLrRatio, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: opts.weightDecay, maxNorm: opts.maxNorm },
    params: ex.program.params.map((p) => ({ name: p.name, shape: c.shapes.get(p.name), decay: p.decay })),
    inputs: names,
    files: Object.keys(c.task.files),
    rng: states,
  };
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  makeFolder(tmp, 'torch data folder');
  writeFileSynced(join(tmp, 'batches.safetensors'), encodeChunks(batches));
  writeFileSynced(join(tmp, 'weights.safetensors'), encodeChunks(exportTensors(params, ex.program), { format: 'pt' }));
  for (const [name, text] of Object.entries(c.task.files)) writeFileSynced(join(tmp, name), text);
  writeFileSynced(join(tmp, 'run.json'), JSON.stringify(settings, null, 1) + '\n');
  fsyncFolder(tmp);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return dir;
}

export function startFrom(init: LoadedCheckpoint, path: string, shapes: Map<string, number[]>, ex: ModelRunner): string {
  if (init.state.naming !== 'internal') throw new TfmError('TFM5024', `--init \`${path}\` names its weights ${init.state.naming}; --init reads checkpoints under tfm names (masked-LM pretraining runs write them)`);
  const missing: string[] = [];
  const fresh: string[] = [];
  let copied = 0;
  for (const [name, shape] of shapes) {
    const t = init.model.get(name);
    if (!t) (name.startsWith('head.') ? fresh : missing).push(name);
    else if (!sameShape(t.shape, shape)) throw new TfmError('TFM5024', `--init \`${path}\` (model ${init.state.model}) holds \`${name}\` of shape [${t.shape}]; this model's is [${shape}]: the backbones differ`);
    else {
      ex.param(name).set(t.data);
      copied++;
    }
  }
  if (missing.length) throw new TfmError('TFM5024', `--init \`${path}\` (model ${init.state.model}) has no ${missing.slice(0, 4).map((n) => `\`${n}\``).join(', ')}${missing.length > 4 ? ` (and ${missing.length - 4} more)` : ''}: the backbones differ`);
  return `initialised ${copied} of ${shapes.size} tensors from ${path} (model ${init.state.model}, step ${init.state.step})${fresh.length ? `; fresh: ${fresh.join(', ')}` : ''}`;
}
