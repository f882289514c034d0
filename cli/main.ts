// The `tfm` command line. Exit codes: 0 clean (warnings allowed), 1 errors in specs or in
// what a command reads, 2 usage errors (unknown flag, no file matched), 70 an internal error.
import { Command, CommanderError, Option } from 'commander';
import fg from 'fast-glob';
import { checkFiles, type CheckedModel } from '../compiler/check.ts';
import { NOWHERE, type Code, type Diagnostic } from '../common/diagnostics.ts';
import type { ErrorDetails } from '../common/errors.ts';
import type { ForwardOptions } from './weights.ts';
import { renderHumanList, visible } from '../compiler/render/human.ts';
import { renderGithub, renderJson, renderSarif } from '../compiler/render/machine.ts';
import { SourceFile, SourceMap, type Span } from '../common/source.ts';
import { readFileSync } from 'node:fs';
import { COMPILER_VERSION } from '../compiler/version.ts';
import { TARGET_ALIASES, TARGET_DESCRIPTIONS } from '../compiler/targets/names.ts';
import { formatParams } from './params-table.ts';
import { loadSource } from './lazy.ts';

const compileModule = () => loadSource<typeof import('./compile.ts')>('compile.ts');
const diffModule = () => loadSource<typeof import('./diff-command.ts')>('diff-command.ts');
const weightsModule = () => loadSource<typeof import('./weights.ts')>('weights.ts');
const trainModule = () => loadSource<typeof import('./train.ts')>('train.ts');
const serveModule = () => loadSource<typeof import('./serve.ts')>('serve.ts');
const evalModule = () => loadSource<typeof import('./eval.ts')>('eval.ts');
const generateModule = () => loadSource<typeof import('./generate.ts')>('generate.ts');
/** Optimizer options shared by tfm train and tfm scale (one default for both). */
const weightDecayOption = () => new Option('--weight-decay <x>', 'AdamW decoupled weight decay').default('0.1');
const maxNormOption = () => new Option('--max-norm <x>', 'clip gradients to this global norm (0: off)').default('1');
const scaleModule = () => loadSource<typeof import('./scale.ts')>('scale.ts');

/** The errors of the compile and run commands are TfmErrors (common/errors.ts) with a
 *  diagnostic code; matched by shape, not by class: those commands run from source while this
 *  module may run from the bundle, which holds its own copy of the class. */
type CodedError = Error & { code: string; span?: Span; details?: ErrorDetails };

function codedError(e: unknown): CodedError | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return e instanceof Error && typeof code === 'string' && /^TFM\d{4}$/.test(code) ? (e as CodedError) : undefined;
}

/** A coded error as diagnostics: the spec errors it carries, or itself (at its span, or at
 *  no place), with the sources to show them in. */
function asDiagnostics(e: CodedError): { diagnostics: Diagnostic[]; sources: SourceMap } {
  const self: Diagnostic = { code: e.code as Code, severity: 'error', message: e.message, primary: { span: e.span ?? NOWHERE }, secondary: [] };
  if (e.details) return { diagnostics: [...e.details.diagnostics, self], sources: e.details.sources };
  const sources = new SourceMap();
  if (e.span) {
    try {
      sources.add(new SourceFile(e.span.file, readFileSync(e.span.file, 'utf8')));
    } catch {
      // The spec is gone or unreadable: the diagnostic names the file without an excerpt.
    }
  }
  return { diagnostics: [self], sources };
}

class UsageError extends Error {}

function expand(patterns: string[]): string[] {
  const files: string[] = [];
  for (const p of patterns) {
    const matches = fg.isDynamicPattern(p) ? fg.sync(p, { onlyFiles: true, dot: false }).sort() : [p];
    if (matches.length === 0) throw new UsageError(`no file matches \`${p}\``);
    files.push(...matches);
  }
  return [...new Set(files)];
}

function printDiagnostics(diags: Diagnostic[], sources: SourceMap, format: string, color: boolean): void {
  if (format === 'json') console.log(renderJson(diags, sources));
  else if (format === 'sarif') console.log(renderSarif(diags, sources, COMPILER_VERSION));
  else if (format === 'github') {
    if (diags.length) console.log(renderGithub(diags, sources));
  } else {
    if (diags.length) console.error(renderHumanList(diags, sources, { color }));
  }
}

function summary(diags: Diagnostic[], files: number, models: number): string {
  const errors = diags.filter((d) => d.severity === 'error').length;
  const warnings = diags.length - errors;
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  return `${errors ? 'failed' : 'ok'}: ${plural(files, 'file')}, ${plural(models, 'model')}, ${plural(errors, 'error')}, ${plural(warnings, 'warning')}`;
}

/** `--format` of the commands that compile or run: how their errors are printed (the same
 *  renderers as `tfm check`). */
const errorFormat = () => new Option('-f, --format <format>', 'how errors are printed').choices(['human', 'json', 'github', 'sarif']).default('human');

/** `--target` of the commands that run a model: a CPU target, or WebGPU. */
const runTarget = () => new Option('-t, --target <target>', `target to compile for and run on (cpu: the fastest CPU target, now ${TARGET_ALIASES.cpu}; ts: the readable TypeScript reference; webgpu: WGSL on a WebGPU device)`).choices(['cpu', 'wasm', 'ts', 'webgpu']).default('cpu');

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = new Command('tfm')
    .description('A compiler for Transformer models: .tfm specs, static shape checks, fused kernels.')
    .version(COMPILER_VERSION)
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  const useColor = () => process.stderr.isTTY === true && !process.env.NO_COLOR;
  // The format errors of the running command print in (its --format, where it has one).
  let format = 'human';
  program.hook('preAction', (_program, command) => {
    const f = command.opts().format;
    if (f === 'json' || f === 'github' || f === 'sarif') format = f;
  });

  program
    .command('check')
    .description('check specs for syntax, name and shape errors; exit 1 on errors')
    .argument('<files...>', 'spec files or globs, e.g. "specs/*.tfm"')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['human', 'json', 'github', 'sarif']).default('human'))
    .addHelpText(
      'after',
      `
Examples:
  tfm check specs/*.tfm
  tfm check --format github "specs/**/*.tfm"     # annotations in a GitHub Actions log
  tfm check --format sarif specs/*.tfm > tfm.sarif

Exit codes:
  0  no errors (warnings allowed)
  1  at least one error
  2  usage error (unknown option, no file matched)`,
    )
    .action((patterns: string[], opts: { format: string }) => {
      const files = expand(patterns);
      const result = checkFiles(files);
      printDiagnostics(result.diagnostics, result.program.sources, opts.format, useColor());
      if (opts.format === 'human') console.error(summary(result.diagnostics, files.length, result.models.length));
      exitCode = result.diagnostics.some((d) => d.severity === 'error') ? 1 : 0;
    });

  program
    .command('params')
    .description('print a per-component parameter table and totals for each model')
    .argument('<files...>', 'spec files or globs')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'json']).default('table'))
    .action((patterns: string[], opts: { format: string }) => {
      const files = expand(patterns);
      const result = checkFiles(files);
      const errors = result.diagnostics.filter((d) => d.severity === 'error');
      if (errors.length) {
        printDiagnostics(errors, result.program.sources, 'human', useColor());
        exitCode = 1;
        return;
      }
      const json = (m: CheckedModel) => ({ model: m.model.name, file: m.model.nameSpan.file, rows: m.params.rows, backbone: m.params.backbone, total: m.params.total });
      if (opts.format === 'json') console.log(JSON.stringify(result.models.map(json), null, 2));
      else console.log(result.models.map(formatParams).join('\n\n'));
    });

  program
    .command('compile')
    .description('compile specs to kernels: writes generated/<model>/<target>/ (the target\'s code and program.json)')
    .argument('<files...>', 'spec files or globs')
    .addOption(new Option('-t, --target <target>', `code generation target (${Object.entries(TARGET_DESCRIPTIONS).map(([k, d]) => `${k}: ${d}`).join('; ')}; cpu: the default CPU target, now ${TARGET_ALIASES.cpu}; torch: the forward pass and loss as a PyTorch module, model.py, for training with PyTorch)`).choices([...Object.keys(TARGET_DESCRIPTIONS), ...Object.keys(TARGET_ALIASES), 'torch']).default('cpu'))
    .addOption(new Option('--emit <what>', 'print instead of writing: the tensor IR, the kernel IR or the generated code (`ts`: the same as `code`)').choices(['ir', 'kernels', 'code', 'ts']))
    .addOption(new Option('--dump-after <pass>', 'print the tensor IR after a pass').choices(['lower', 'autodiff', 'fuse']))
    .option('-o, --out <dir>', 'output root', 'generated')
    .option('--bundle', 'with --target webgpu: also write tfm-webgpu.mjs, one ES module a web page imports (the runtime and the model)')
    .option('--cache', 'the inference program of a decoder with a key/value cache (prefill and decode; what tfm generate runs) instead of training: writes <out>/<model>/<target>-cache/')
    .addOption(errorFormat())
    .action(async (patterns: string[], opts: { target: string; emit?: string; dumpAfter?: string; out: string; bundle?: boolean; cache?: boolean }) => {
      const files = expand(patterns);
      exitCode = await (await compileModule()).compileCommand(files, opts);
    });

  program
    .command('diff')
    .description('what a spec change does to the generated code: kernels added, removed and changed (a unified diff of each, labelled with the spec change that causes it), then parameters, FLOPs per token, peak memory, kernel and step counts')
    .argument('<files...>', 'two specs (old, new), or one spec with --against <rev>')
    .option('--against <rev>', 'compare the spec with itself at a git revision (e.g. HEAD~1, origin/main)')
    .addOption(new Option('-t, --target <target>', 'whose generated code to compare').choices([...Object.keys(TARGET_DESCRIPTIONS), ...Object.keys(TARGET_ALIASES)]).default('cpu'))
    .addOption(new Option('-f, --format <format>', 'human: for a terminal; json: for tools; github: workflow commands that annotate the changed spec lines of a pull request').choices(['human', 'json', 'github']).default('human'))
    .addHelpText(
      'after',
      `
Examples:
  tfm diff specs/gpt_tiny.tfm specs/gpt_tiny_wide.tfm
  tfm diff specs/gpt_tiny.tfm --against HEAD~1 --target ts
  tfm diff specs/bert_tiny.tfm --against origin/main --format github

Exit codes:
  0  the generated code is identical (e.g. a comment-only change)
  1  it differs, or a spec has errors
  2  usage error`,
    )
    .action(async (files: string[], opts: { against?: string; target: string; format: string }) => {
      if (files.length !== (opts.against === undefined ? 2 : 1)) throw new UsageError(opts.against === undefined ? `tfm diff compares two specs (or one with --against <rev>); got ${files.length}` : `--against compares one spec with itself at a revision; got ${files.length} specs`);
      exitCode = (await diffModule()).diffCommand(files, opts, process.stdout.isTTY === true && !process.env.NO_COLOR);
    });

  program
    .command('forward')
    .description('run one forward pass (dropout off) and write the logits, and the loss when targets are given')
    .argument('<spec>', 'spec file')
    .requiredOption('-c, --checkpoint <file>', 'weights: safetensors with tfm names or Hugging Face names (GPT-2, GPT-1, BERT, ViT)')
    .option('--tokens <file>', 'token ids: JSON ([..] or [[..], ..]) or text (whitespace-separated, a row per line)')
    .option('--segments <file>', 'segment (token type) ids of the shape of the tokens, for models with a segment embedding (BERT); zeros when left out')
    .option('--image <file.npy>', 'images for a model with `input image`: a .npy array [C, H, W] or [batch, C, H, W] (one channel: also [H, W] or [batch, H, W]) of float32, float64 or uint8, fed as it is (training feeds (pixel - mean) / std)')
    .option('--pixels <file.json>', 'the same as --image, as nested JSON lists')
    .option('--src <file>', 'encoder-decoders: source token ids (as --tokens), read by the encoder')
    .option('--tgt <file>', 'encoder-decoders: the decoder\'s input ids (the target shifted right behind the start token)')
    .option('--targets <file>', 'for the loss: target ids of the shape of the tokens (of --tgt for an encoder-decoder), or one class per example for a classifier')
    .option('-o, --out <file>', 'write logits to .json or .npy')
    .addOption(runTarget())
    .addOption(errorFormat())
    .action(async (spec: string, opts: ForwardOptions) => (await weightsModule()).forwardCommand(spec, opts));

  program
    .command('train')
    .description('train a spec on its objective — a decoder on text (next-token prediction), an image classifier on MNIST: progress bar, validation (loss; accuracy for classifiers), loss plot, samples, checkpoints')
    .argument('<spec>', 'spec file')
    .option('--data <source>', 'text: a built-in corpus (moby-dick, the default for next-token prediction; sotu; moby-dick+sotu, the default for masked LM; wordnet, its definitions and examples; tasks, episodes of small in-context tasks for tfm eval --few-shot), a text file or a folder of .txt files; labelled sentences: sentiment (the default) or a JSON file of [{text, class}]; images: mnist (the default), fashion-mnist, or a folder of the four MNIST-layout IDX files')
    .addOption(new Option('--tokenizer <kind>', 'tokenizer of a text run: char, bpe, wordpiece or unigram (SentencePiece-style) trained on the text, or the shipped gpt2 (r50k) or bert (bert-base-uncased) vocabularies (default: char for next-token prediction; for encoders bert when the spec vocab is 30522, else wordpiece; unigram for encoder-decoders)').choices(['char', 'bpe', 'gpt2', 'bert', 'wordpiece', 'unigram']))
    .option('--steps <n>', 'training steps', '300')
    .option('--batch <n>', 'sequences per step', '16')
    .option('--seq <n>', 'tokens per sequence (default: the spec context)')
    .option('--lr <x>', 'peak learning rate', '3e-3')
    .option('--warmup <n>', 'warmup steps', '30')
    .addOption(weightDecayOption())
    .addOption(maxNormOption())
    .option('--eval-every <n>', 'validate, plot and sample every n steps', '50')
    .option('--eval-batches <n>', 'validation batches', '8')
    .option('--checkpoint-every <n>', 'write a checkpoint every n steps', '100')
    .option('--keep <n>', 'checkpoints to keep', '3')
    .option('-o, --out <dir>', 'run folder (default: runs/<model>)')
    .option('--resume', 'continue from the newest checkpoint in the run folder')
    .option('--init <checkpoint>', 'fine-tune: start from the weights of another run\'s checkpoint folder (a spec that extends the pretrained one; the new head starts fresh)')
    .option('--seed <n>', 'seed for initialisation, data order and dropout', '1')
    .option('--threads <n>', 'CPU threads (1 or 2)', '2')
    .addOption(runTarget())
    .option('--max-seconds <s>', 'stop (with a checkpoint) after this much training time')
    .option('--profile', 'time every kernel and print the time per step by op at the end (WebGPU: device timestamps)')
    .option('--torch-data <dir>', 'instead of training, write this run for the PyTorch target\'s train.py (tfm compile --target torch): every step\'s batch from the same data, tokenizer and seed, the initial weights and the settings; train.py\'s checkpoints then read with tfm forward and continue with tfm train --resume')
    .addOption(errorFormat())
    .action(async (spec: string, opts: Record<string, string | boolean | undefined>) => (await trainModule()).trainCommand(spec, opts));

  program
    .command('eval')
    .description('measure a checkpoint on its objective\'s held-out split: the metric, report.json, and for classifiers a confusion matrix (text and SVG, with the first misclassified images drawn)')
    .argument('<spec>', 'spec file')
    .requiredOption('-c, --checkpoint <folder>', 'checkpoint folder of tfm train (ckpt-<step>)')
    .option('--data <source>', 'held-out data as tfm train reads it (default: the objective\'s built-in)')
    .option('--batch <n>', 'examples per forward pass', '32')
    .option('--seq <n>', 'tokens per row (default: what the run recorded)')
    .option('--eval-batches <n>', 'language models: batches of validation text', '8')
    .option('--few-shot', 'a decoder: exact-match accuracy of 0-, 1- and k-shot prompts (GPT-3\'s task description, k solved examples, the query) on held-out queries; a table, few-shot.svg and report.json')
    .option('--tasks <names>', `--few-shot: built-in tasks, comma-separated (default: all of ${'first_letter,last_letter,reverse,to_digits,to_words,part_of_speech'})`)
    .option('--examples <pairs.tsv>', '--few-shot: your own task instead, one `input<TAB>answer` per line (one in five inputs held out by a hash)')
    .option('--task <text>', '--few-shot with --examples: the task description')
    .option('--shots <list>', '--few-shot: numbers of examples to compare, comma-separated', '0,1,4')
    .option('--queries <n>', '--few-shot, and text-to-text models: held-out queries per task', '100')
    .option('--no-description', '--few-shot: leave out the task description, so that only the examples say what the task is')
    .option('--seed <n>', '--few-shot: seed of the queries and examples drawn', '1')
    .option('-o, --out <dir>', 'report folder (default: eval-<checkpoint> beside the checkpoint; few-shot-<checkpoint> with --few-shot)')
    .addOption(new Option('--target <target>', 'where to run it').choices(['cpu', 'wasm', 'ts', 'webgpu']).default('cpu'))
    .addOption(errorFormat())
    .action(async (spec: string, opts: Record<string, string | boolean | undefined>) => (await evalModule()).evalCommand(spec, opts));

  const collect = (v: string, prev: string[] = []) => [...prev, v];
  program
    .command('generate')
    .description('continue prompts with a trained decoder: greedy or sampled (temperature, top-k, top-p, repetition penalty), seeded, with stop sequences; one prompt streams as it comes, several run as one batch. With an encoder-decoder: answer --src texts (a T5 task prefix such as "summarize: …" is part of the text) by greedy or beam search')
    .argument('<spec>', 'spec file')
    .requiredOption('-c, --checkpoint <folder>', 'checkpoint folder of tfm train (ckpt-<step>): its weights and tokenizer')
    .option('--prompt <text>', 'a prompt (repeat for several)', collect)
    .option('--prompt-file <file>', 'a prompt read from a file, newlines and all (repeat for several)', collect)
    .option('-n, --max-new-tokens <n>', 'tokens to add to each prompt at most', '64')
    .option('--temperature <t>', '0: greedy; otherwise the softmax temperature', '0.8')
    .option('--top-k <k>', 'sample among the k most likely tokens (0: all)', '40')
    .option('--top-p <p>', 'sample among the most likely tokens up to this probability mass (1: all)', '1')
    .option('--repetition-penalty <x>', 'divide the logits of tokens already present by x (1: off)', '1')
    .option('--stop <text>', 'stop a prompt\'s continuation where this text appears, which is left out (repeatable)', collect)
    .option('--seed <n>', 'seed of the sampler: the same seed, prompts and settings give the same text', '1')
    .option('--task <text>', 'few-shot mode: the task description, the prompt\'s first line (e.g. "Translate English to French:")')
    .option('--examples <pairs.tsv>', 'few-shot mode: solved examples, one `input<TAB>answer` per line, drawn at random (by --seed) for each query')
    .option('--shots <k>', 'few-shot mode: how many examples precede the query (default 0: zero-shot, the description alone)')
    .option('--query <text>', 'few-shot mode: the input to answer (repeat for several, run as one batch); the prompt ends `<query> =>` and the answer is the rest of that line', collect)
    .option('--src <text>', 'encoder-decoders: a source text to answer (repeat for several, run as one batch when greedy)', collect)
    .option('--beams <k>', 'encoder-decoders: beam search with k beams, printing the k best answers with their scores (1: greedy)', '1')
    .option('--length-penalty <x>', 'encoder-decoders: beams are ranked by log-probability / length^x', '1')
    .option('--no-cache', 'recompute each row\'s whole window for every new token instead of prefilling a key/value cache once and decoding one token per pass (slower; the window then slides one token at a time past the context)')
    .addOption(new Option('--target <target>', 'where to run it').choices(['cpu', 'wasm', 'ts', 'webgpu']).default('cpu'))
    .addOption(errorFormat())
    .action(async (spec: string, opts: import('./generate.ts').GenerateCommandOptions) => (await generateModule()).generateCommand(spec, opts));

  program
    .command('scale')
    .description('train a sweep of sizes of one spec (one dim changed per run) on the same data and tokens, fit loss = a·C^(−α) against training compute and against parameters, and plot it; a killed sweep continues where it stopped')
    .argument('<spec>', 'spec file (a decoder)')
    .requiredOption('--set <dim=v1,v2,…>', 'the dim to vary and its values, e.g. d_model=64,96,128,192 (at least 3)')
    .option('--steps <n>', 'training steps per size', '300')
    .option('--tokens <n>', 'training tokens per size instead of --steps')
    .option('--batch <n>', 'sequences per step', '16')
    .option('--seq <n>', 'tokens per sequence (default: the spec context)')
    .option('--lr <x>', 'peak learning rate', '3e-3')
    .option('--warmup <n>', 'warmup steps', '30')
    .addOption(weightDecayOption())
    .addOption(maxNormOption())
    .option('--eval-batches <n>', 'validation batches', '8')
    .option('--data <source>', 'training text, as tfm train reads it')
    .option('--seed <n>', 'seed of initialisation and batches (the same for every size)', '1')
    .option('-o, --out <dir>', 'sweep folder (default: runs/scale-<model>-<dim>)')
    .addOption(new Option('--target <target>', 'where to run it').choices(['cpu', 'wasm', 'ts', 'webgpu']).default('cpu'))
    .addOption(errorFormat())
    .action(async (spec: string, opts: Record<string, string | boolean | undefined>) => (await scaleModule()).scaleCommand(spec, opts));

  program
    .command('serve')
    .description('serve a web page that runs a trained decoder on WebGPU in the browser: continue a prompt, see the loss curve')
    .argument('<spec>', 'spec file')
    .argument('<run>', 'run folder of tfm train (its newest checkpoint is served)')
    .option('--port <n>', 'port on 127.0.0.1 (0: any free one)', '8080')
    .addOption(errorFormat())
    .action(async (spec: string, run: string, opts: { port: string }) => {
      await (await serveModule()).serveCommand(spec, run, opts);
    });

  for (const direction of ['export', 'import'] as const) {
    program
      .command(direction)
      .description(direction === 'export' ? 'write weights under Hugging Face names and layouts (GPT-2 or GPT-1, BERT, ViT, T5, BART: by the model)' : 'read weights under Hugging Face names into tfm names')
      .argument('<spec>', 'spec file')
      .option('-c, --checkpoint <file>', 'input safetensors')
      .option('--seed <n>', direction === 'export' ? 'export a freshly initialised model instead' : 'unused')
      .requiredOption('-o, --out <file>', 'output safetensors')
      .addOption(errorFormat())
      .action(async (spec: string, opts: { checkpoint?: string; seed?: string; out: string }) => (await weightsModule()).convertCommand(direction, spec, opts));
  }

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : 2;
    if (e instanceof UsageError) {
      console.error(`error: ${visible(e.message)}`);
      return 2;
    }
    const coded = codedError(e);
    if (coded) {
      const { diagnostics, sources } = asDiagnostics(coded);
      printDiagnostics(diagnostics, sources, format, useColor());
      return 1;
    }
    // A bug of tfm, not of the input: one line with a code, never a stack trace (set
    // TFM_DEBUG=1 to see it).
    console.error(`error[TFM9000]: internal error: ${visible((e instanceof Error ? `${e.name}: ${e.message}` : String(e)).split("\n")[0]).slice(0, 500)}`);
    console.error('  = note: this is a bug in tfm; please report it with the command you ran and its input (README: Reporting bugs)');
    if (process.env.TFM_DEBUG) console.error(e instanceof Error ? e.stack : e);
    return 70;
  }
  return exitCode;
}

if (process.argv[1]?.endsWith('cli/main.ts')) {
  process.exitCode = await main(process.argv.slice(2));
}
