// What an objective brings to the training loop (runtime/train.ts): its data, how a batch
// fills the model's inputs, and how validation measures the model. The loop itself — the
// schedule, AdamW, NaN guards, checkpoints, --resume, progress and the plot — is the same
// for every objective.
import type { ModelRunner } from '../executor.ts';
import type { Rng } from '../init.ts';

/** The settings that give a run its meaning, recorded in every checkpoint. */
export type RunSettings = Record<string, string | number>;

export interface Metrics {
  /** Mean loss per token (language models) or per example (classifiers). */
  loss: number;
  /** Classifiers: the share of examples whose argmax is their label. */
  accuracy?: number;
  /** Examples (or tokens) the metric is over. */
  count: number;
  /** Classifiers: counts by [true class][predicted class]. */
  confusion?: number[][];
  /** Classifiers: the first misclassified examples (their index in the held-out split). */
  mistakes?: { index: number; label: number; predicted: number }[];
}

/** Tallies classifier predictions: the confusion matrix and the first `keep` mistakes. */
export class Tally {
  readonly confusion: number[][];
  readonly mistakes: { index: number; label: number; predicted: number }[] = [];
  correct = 0;
  count = 0;
  constructor(classes: number, private readonly keep = 16) {
    this.confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  }
  add(index: number, label: number, predicted: number): void {
    this.confusion[label][predicted]++;
    this.count++;
    if (label === predicted) this.correct++;
    else if (this.mistakes.length < this.keep) this.mistakes.push({ index, label, predicted });
  }
}

/** An objective's data, loaded and checked before anything is compiled or written. */
export interface ObjectiveData {
  /** Recorded in checkpoints; a --resume with other values is refused (train.ts FLAG). */
  settings: RunSettings;
  /** The run-time dims of the training executor (`batch`, and `seq` for text). */
  dims: Record<string, number>;
  /** Opens the objective on the training executor; `recorded` is the checkpoint resumed
   *  from, if any (its extra files, such as the tokenizer). */
  open(ctx: OpenContext): Promise<Objective>;
}

export interface OpenContext {
  train: ModelRunner;
  /** Another executor of the model's evaluation program. */
  executor(dims: Record<string, number>): Promise<ModelRunner>;
  out: string;
  resume: boolean;
  /** The checkpoint resumed from: its folder name and the files recorded with it. */
  checkpoint?: { name: string; files: Record<string, string | undefined> };
  /** The tokenizer of the checkpoint a fine-tuning run starts from (--init), if it has one. */
  initTokenizer?: string;
}

export interface Objective {
  /** What the run trains on, for the plot's title: `moby-dick (char tokens)`. */
  title: string;
  /** What a loss is averaged over (`token`, `image`), and what the speed counts (`tokens`, `images`). */
  per: string;
  perStep: number;
  /** A line drawn on the plot for comparison (the unigram entropy of the validation text). */
  reference?: { label: string; value: number };
  /** A context-free accuracy to compare validation accuracy with, for the log. */
  baseline?: string;
  /** How checkpoints name the parameters. */
  naming: 'internal' | 'hf-gpt2' | 'hf-vit';
  /** Files kept in every checkpoint (the tokenizer). */
  files: Record<string, string>;
  /** Files to write into the run folder itself once the command writes (those that are not
   *  already there as they should be). */
  folderFiles: Record<string, string>;
  /** Fills the training executor's inputs with the next batch, drawn by `rng`. */
  fill(rng: Rng): void;
  /** Validation on the held-out batches, with the training executor's current weights. */
  evaluate(): Promise<Metrics>;
  /** The same on the whole held-out split (classifiers, at the end of a run). */
  evaluateAll?(): Promise<Metrics>;
  /** Classifiers: the classes' names by label, where the data names them (reports show them). */
  classNames?: string[];
  /** Classifiers: a held-out example by its index, to show a mistake (its text, or its pixels). */
  example?(index: number): { text?: string; pixels?: { data: Uint8Array; width: number; height: number } };
  /** What the model does now, shown after validation (a greedy text continuation). */
  sample?(): Promise<string>;
  close(): void;
}

/** The index of the largest of `n` logits from `o` (the first on ties). */
export function argmax(logits: Float32Array, o: number, n: number): number {
  let best = 0;
  for (let c = 1; c < n; c++) if (logits[o + c] > logits[o + best]) best = c;
  return best;
}

/** Copies the training executor's current weights to another executor of the model. */
export async function copyWeights(from: ModelRunner, to: ModelRunner): Promise<void> {
  await from.pull();
  to.paramArena.set(from.paramArena);
  to.push();
}
