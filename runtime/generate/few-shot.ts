// GPT-3's in-context prompts, built from parts: a task description, k solved examples and the
// query, one per line, as the paper's figure 2.1 writes them —
//
//   Translate English to French:
//   sea otter => loutre de mer
//   cheese =>
//
// The model is not updated: it continues the text after the last `=>`, and the answer is that
// continuation up to the end of its line. Zero-shot is the description and the query alone.
import { TfmError } from '../../common/errors.ts';
import type { Rng } from '../init.ts';

export interface Pair {
  input: string;
  answer: string;
}

/** The separator between an example's input and its answer. */
export const ARROW = ' =>';

/**
 * Pairs from tab-separated text: one `input<TAB>answer` per line; blank lines and lines that
 * start with `#` are skipped. A line without exactly one tab, or with an empty side or a side
 * that holds a line break, is TFM5011 naming `source` and the line.
 */
export function parsePairs(text: string, source: string): Pair[] {
  const out: Pair[] = [];
  text.split('\n').forEach((raw, k) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#')) return;
    const parts = line.split('\t');
    if (parts.length !== 2) throw new TfmError('TFM5011', `${source}:${k + 1}: a pair is \`input<TAB>answer\`, this line has ${parts.length - 1} tabs`);
    const [input, answer] = parts.map((p) => p.trim());
    if (!input || !answer) throw new TfmError('TFM5011', `${source}:${k + 1}: the ${input ? 'answer' : 'input'} is empty`);
    out.push({ input, answer });
  });
  if (out.length === 0) throw new TfmError('TFM5011', `${source} holds no pairs (\`input<TAB>answer\` per line)`);
  return out;
}

/** `k` examples for `query`, drawn without repetition by `rng` from `pool` minus any pair
 *  whose input is the query's (GPT-3 draws each query's examples at random from the
 *  training split). Fewer when the pool is smaller. */
export function drawExamples(pool: Pair[], k: number, query: string, rng: Rng): Pair[] {
  const candidates = pool.filter((p) => p.input !== query);
  const picked: Pair[] = [];
  for (let i = 0; i < k && candidates.length > 0; i++) picked.push(candidates.splice(rng.int(candidates.length), 1)[0]);
  return picked;
}

/** The prompt: the task description (if any) on its own line, each example as `input =>
 *  answer`, then `query =>`, which the model continues. */
export function fewShotPrompt(task: string | undefined, examples: Pair[], query: string): string {
  const lines = [...(task ? [task] : []), ...examples.map((e) => `${e.input}${ARROW} ${e.answer}`), `${query}${ARROW}`];
  return lines.join('\n');
}

/** The answer in a continuation: its first line, trimmed. */
export function answerOf(continuation: string): string {
  return continuation.split('\n')[0].trim();
}

/** Exact-match normalisation: lower case, inner whitespace collapsed, trailing punctuation
 *  and surrounding quotes dropped. */
export function normalise(s: string): string {
  return s
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^["'“‘]+|["'”’.,;:!?]+$/g, '')
    .trim();
}
