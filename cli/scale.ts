// `tfm scale <spec> --set d_model=64,96,128,192`: a sweep of sizes of one spec, each trained on
// the same data for the same number of tokens, then the scaling law fitted to the results —
// what GPT-3 (after Kaplan et al. 2020) shows of loss against compute and parameters.
//
// Each size is a spec of its own, written into the sweep folder (`<dim>-<value>.tfm`: the
// spec `extends`'d with one dim changed), trained into `<dim>-<value>/` like `tfm train
// --resume`, and recorded in `<dim>-<value>/result.json` once done. Run again after a kill,
// the sweep skips the sizes that have a result and resumes the one that was cut short from its
// newest checkpoint.
import { existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { compile } from '../compiler/codegen/compile.ts';
import { graphFlops } from '../compiler/flops.ts';
import { targetNamed } from '../compiler/targets/index.ts';
import { TfmError } from '../common/errors.ts';
import { makeFolder, writeAtomically } from '../common/files.ts';
import { numel } from '../common/program.ts';
import { scaleSvg } from '../runtime/plot.ts';
import { train } from '../runtime/train.ts';
import { trainModel } from './driver.ts';
import { count as int, decimal as num } from './flags.ts';
import { checkedModel } from './weights.ts';

export interface ScalePoint {
  value: number;
  model: string;
  params: number;
  /** Training FLOPs of the whole run (compiler/flops.ts: matmuls and attention). */
  flops: number;
  tokens: number;
  steps: number;
  valLoss: number;
}

/** A power law L = a·x^(−α) fitted by least squares in log-log space, with the standard error
 *  of α and the root-mean-square residual (in log L). */
export interface PowerFit {
  a: number;
  alpha: number;
  alphaError: number;
  rms: number;
}

export function fitPowerLaw(x: number[], y: number[]): PowerFit {
  const n = x.length;
  if (n < 3) throw new Error('a fit with an error needs at least 3 points');
  const lx = x.map(Math.log);
  const ly = y.map(Math.log);
  const mx = lx.reduce((s, v) => s + v, 0) / n;
  const my = ly.reduce((s, v) => s + v, 0) / n;
  const sxx = lx.reduce((s, v) => s + (v - mx) ** 2, 0);
  const slope = lx.reduce((s, v, k) => s + (v - mx) * (ly[k] - my), 0) / sxx;
  const intercept = my - slope * mx;
  const ssr = lx.reduce((s, v, k) => s + (ly[k] - intercept - slope * v) ** 2, 0);
  return { a: Math.exp(intercept), alpha: -slope, alphaError: Math.sqrt(ssr / (n - 2) / sxx), rms: Math.sqrt(ssr / n) };
}

export async function scaleCommand(spec: string, o: Record<string, string | boolean | undefined>): Promise<void> {
  const base = checkedModel(spec);
  const set = String(o.set ?? '');
  const match = /^([A-Za-z_][A-Za-z0-9_]*)=(\d+(?:,\d+)+)$/.exec(set);
  if (!match) throw new TfmError('TFM5008', `--set takes one dim and at least two sizes, e.g. \`--set d_model=64,96,128,192\`; got \`${set}\``);
  const dim = match[1];
  const values = [...new Set(match[2].split(',').map(Number))].sort((a, b) => a - b);
  if (!base.model.dims.has(dim)) throw new TfmError('TFM5008', `${base.model.name} has no dim \`${dim}\`: its dims are ${[...base.model.dims.keys()].join(', ')}`);
  if (values.length < 3) throw new TfmError('TFM5008', `--set ${dim}: give at least 3 sizes (a fit with an error needs 3 points)`);
  const batch = int(o.batch, 'batch');
  const seq = int(o.seq ?? base.model.inputs.tokens?.context?.value ?? 64, 'seq', 2);
  const steps = o.tokens !== undefined ? Math.ceil(int(o.tokens, 'tokens') / (batch * seq)) : int(o.steps, 'steps');
  const out = typeof o.out === 'string' ? o.out : join('runs', `scale-${base.model.name}-${dim}`);
  makeFolder(out, 'sweep folder');
  const target = String(o.target ?? 'cpu');

  const points: ScalePoint[] = [];
  for (const value of values) {
    const name = `${base.model.name}_${dim}_${value}`;
    const file = join(out, `${dim}-${value}.tfm`);
    const text = `# ${base.model.name} with ${dim} = ${value}, written by \`tfm scale\`.\nimport "${relative(resolve(out), resolve(spec)).split('\\').join('/')}"\n\nmodel ${name} extends ${base.model.name} {\n  dims { ${dim} = ${value} }\n}\n`;
    if (!existsSync(file) || readFileSync(file, 'utf8') !== text) writeAtomically(file, text, 'sweep spec');
    const m = checkedModel(file);
    const runDir = join(out, `${dim}-${value}`);
    const resultFile = join(runDir, 'result.json');
    if (existsSync(resultFile)) {
      const done = JSON.parse(readFileSync(resultFile, 'utf8')) as ScalePoint;
      if (done.steps === steps) {
        console.error(`${dim} = ${value}: done before (validation loss ${done.valLoss.toFixed(4)})`);
        points.push(done);
        continue;
      }
      throw new TfmError('TFM5022', `\`${resultFile}\` is a run of ${done.steps} steps, this sweep asks for ${steps}: use another --out`);
    }
    console.error(`${dim} = ${value}: training ${name} for ${steps} steps of ${batch} × ${seq} tokens`);
    const result = await train(trainModel(m, target), {
      data: typeof o.data === 'string' ? o.data : undefined,
      steps,
      batch,
      seq,
      lr: num(o.lr, 'lr'),
      warmup: int(o.warmup, 'warmup', 0),
      minLrRatio: 0.1,
      weightDecay: num(o.weightDecay, 'weight-decay'),
      maxNorm: num(o.maxNorm, 'max-norm'),
      evalEvery: Math.max(1, Math.round(steps / 4)),
      evalBatches: int(o.evalBatches, 'eval-batches'),
      checkpointEvery: Math.max(1, Math.round(steps / 4)),
      keep: 1,
      out: runDir,
      resume: true,
      seed: int(o.seed, 'seed', 0),
      threads: 2,
      sampleTokens: 0,
      log: (line) => console.error(line),
      tty: process.stderr.isTTY === true,
    });
    if (result.valLoss === null) throw new TfmError('TFM5009', `${name} ended without a validation loss`);
    // Parameters and FLOPs from the compiled training program.
    const compiled = compile(m, targetNamed(target));
    const point: ScalePoint = {
      value,
      model: name,
      params: compiled.program.params.reduce((s, p) => s + numel(p.shape), 0),
      flops: graphFlops(compiled.graph, { batch, seq }) * steps,
      tokens: steps * batch * seq,
      steps,
      valLoss: result.valLoss,
    };
    writeAtomically(resultFile, JSON.stringify(point, null, 1) + '\n', 'sweep result');
    points.push(point);
  }

  const byCompute = fitPowerLaw(points.map((p) => p.flops), points.map((p) => p.valLoss));
  const byParams = fitPowerLaw(points.map((p) => p.params), points.map((p) => p.valLoss));
  writeAtomically(join(out, 'scale.json'), JSON.stringify({ spec, dim, steps, batch, seq, points, fit: { compute: byCompute, params: byParams } }, null, 1) + '\n', 'sweep');
  const title = `${base.model.name}: ${dim} = ${values.join(', ')}, ${points[0].tokens.toLocaleString('en-US')} tokens each`;
  writeAtomically(join(out, 'scale.svg'), scaleSvg(points, byCompute, byParams, title), 'sweep plot');
  const e = (x: number) => x.toExponential(2);
  const rows = points.map((p) => `${String(p.value).padStart(8)}  ${p.params.toLocaleString('en-US').padStart(12)}  ${e(p.flops).padStart(10)}  ${p.tokens.toLocaleString('en-US').padStart(12)}  ${p.valLoss.toFixed(4).padStart(8)}`);
  console.log(
    [
      title,
      '',
      `${dim.padStart(8)}  ${'parameters'.padStart(12)}  ${'FLOPs'.padStart(10)}  ${'tokens'.padStart(12)}  ${'val loss'.padStart(8)}`,
      ...rows,
      '',
      `L = ${byCompute.a.toPrecision(4)} · C^(−${byCompute.alpha.toFixed(4)} ± ${byCompute.alphaError.toFixed(4)})   (compute C in FLOPs; rms residual ${byCompute.rms.toFixed(4)} in ln L)`,
      `L = ${byParams.a.toPrecision(4)} · N^(−${byParams.alpha.toFixed(4)} ± ${byParams.alphaError.toFixed(4)})   (N parameters; rms residual ${byParams.rms.toFixed(4)} in ln L)`,
      '',
      `plot: ${join(out, 'scale.svg')}`,
      `results: ${join(out, 'scale.json')}`,
    ].join('\n'),
  );
}
