// Tokenizers: our byte-level BPE encoder loaded with GPT-2's shipped vocabulary gives the same
// ids as the gpt-tokenizer package's r50k on shipped text; BPE training is deterministic;
// every tokenizer round-trips through its saved JSON.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { loadCorpus, splitDocuments, tokenStream } from '../runtime/text/data.ts';
import { bertTokenizer, bpeTokenizer, charTokenizer, gpt2Tokenizer, tokenizerFromJSON, wordPieceTokenizer } from '../runtime/text/tokenizer.ts';
import { basicTokens, bertVocab } from '../runtime/text/wordpiece.ts';

const require = createRequire(import.meta.url);
const moby = loadCorpus('moby-dick').documents;

describe('tokenizers', () => {
  it('GPT-2 r50k: same ids as gpt-tokenizer on Moby-Dick (random chapters each run)', () => {
    const { encode } = require('gpt-tokenizer/cjs/encoding/r50k_base') as { encode: (t: string) => number[] };
    const tok = gpt2Tokenizer();
    const picks = Array.from({ length: 6 }, () => moby[Math.floor(Math.random() * moby.length)]);
    for (const text of [...picks, 'Hello world! Call me Ishmael', "  spaces\n\n\tand 'quotes' — ünïcödé 123,456.78 😀"]) {
      const ours = tok.encode(text);
      expect(ours).toEqual(encode(text));
      expect(tok.decode(ours)).toBe(text);
    }
    expect(tok.encode('Hello world! Call me Ishmael').slice(0, 6)).toEqual([15496, 995, 0, 4889, 502, 1148]);
  });

  it('BPE training is deterministic and saved/reloaded tokenizers encode identically', () => {
    const { train } = splitDocuments(moby);
    const sample = train.slice(0, 40);
    const a = bpeTokenizer(sample, 700, ['<bos>', '<eos>']);
    const b = bpeTokenizer(sample, 700, ['<bos>', '<eos>']);
    expect(JSON.stringify(a.toJSON())).toBe(JSON.stringify(b.toJSON()));
    const reloaded = tokenizerFromJSON(JSON.parse(JSON.stringify(a.toJSON())));
    const text = moby[120].slice(0, 3000);
    expect(reloaded.encode(text)).toEqual(a.encode(text));
    expect(a.decode(a.encode(text))).toBe(text);
    expect(a.vocabSize).toBeLessThanOrEqual(700);
    expect(a.specials.get('<eos>')).toBe(a.vocabSize - 1);
  });

  it('char tokenizer: most frequent characters, the rest <unk>, specials first; document boundaries', () => {
    const tok = charTokenizer(moby, 65, ['<bos>', '<eos>', '<unk>']);
    expect(tok.vocabSize).toBe(65);
    expect([...tok.specials]).toEqual([['<bos>', 0], ['<eos>', 1], ['<unk>', 2]]);
    const ids = tok.encode('the whale');
    expect(tok.decode(ids)).toBe('the whale');
    expect(tokenizerFromJSON(tok.toJSON()).encode('Call me Ishmael.')).toEqual(tok.encode('Call me Ishmael.'));
    const stream = tokenStream(['ab', 'c'], tok);
    expect(stream[0]).toBe(0);
    expect(stream[3]).toBe(1);
    expect(stream[4]).toBe(0);
    expect(stream[stream.length - 1]).toBe(1);
  });

  it('rejects a malformed tokenizer file', () => {
    expect(() => tokenizerFromJSON({ kind: 'bpe', specials: [], merges: [['a']] })).toThrow(/not a valid tfm tokenizer/);
    expect(() => tokenizerFromJSON(null)).toThrow();
  });
});

describe('BERT WordPiece (bert-base-uncased)', () => {
  const tok = bertTokenizer(['<pad>', '<unk>', '<cls>', '<sep>', '<mask>']);
  const vocab = bertVocab();
  const pieces = (text: string) => tok.encode(text).map((id) => vocab[id]);

  it('splits known words as BERT does: unaffable → una ##ffa ##ble = 14477 20961 3468', () => {
    expect(tok.encode('unaffable')).toEqual([14477, 20961, 3468]);
    expect(tok.encode('hello world')).toEqual([7592, 2088]);
    expect(tok.vocabSize).toBe(30522);
    // Hugging Face's course examples for bert-base-uncased.
    expect(pieces('I have a new GPU!')).toEqual(['i', 'have', 'a', 'new', 'gp', '##u', '!']);
    expect(pieces('Using a Transformer network is simple')).toEqual(['using', 'a', 'transform', '##er', 'network', 'is', 'simple']);
  });

  it('the basic tokenizer: lower case, accents stripped, punctuation and CJK ideographs split off, control characters dropped', () => {
    expect(basicTokens('Héllo,\tWORLD!! 中文 a\u0000b $5')).toEqual(['hello', ',', 'world', '!', '!', '中', '文', 'ab', '$', '5']);
    expect(tok.encode('Café')).toEqual(tok.encode('cafe'));
    // No piece for it, or longer than 100 characters: [UNK].
    expect(tok.encode('😀')).toEqual([100]);
    expect(tok.encode('a'.repeat(101))).toEqual([100]);
  });

  it('maps the spec’s specials to [PAD] [UNK] [CLS] [SEP] [MASK], refuses others, decodes, and reloads from its JSON', () => {
    expect(Object.fromEntries(tok.specials)).toEqual({ '<pad>': 0, '<unk>': 100, '<cls>': 101, '<sep>': 102, '<mask>': 103 });
    expect(() => bertTokenizer(['<bos>'])).toThrow(/no `<bos>`/);
    expect(tok.decode([101, ...tok.encode('The unaffable whale, Moby-Dick.'), 102])).toBe('the unaffable whale , moby - dick .');
    const again = tokenizerFromJSON(JSON.parse(JSON.stringify(tok.toJSON())));
    const text = moby[Math.floor(Math.random() * moby.length)].slice(0, 5000);
    expect(again.encode(text)).toEqual(tok.encode(text));
  });
});

describe('WordPiece trained on the corpus', () => {
  it('merges the most frequent pair first, continuation pieces keep ##, and encodes greedily longest-first', () => {
    // Pairs: ##u ##g ×4 (hug ×3, pug), h ##u ×3, then h ##ug ×3, then ##u ##n ×2 (pun, bun); the rest occur once.
    const tok = wordPieceTokenizer(['hug hug hug pug pun bun'], 26, ['<pad>', '<unk>']);
    expect((tok.toJSON() as { pieces: string[] }).pieces).toEqual(['##g', '##n', '##u', 'b', 'h', 'p', '##ug', 'hug', '##un']);
    expect(tok.encode('Hug pun bug')).toEqual([9, 7, 10, 5, 8]);
    expect(tok.encode('hux')).toEqual([1]); // x is not in the alphabet: the word is <unk>
    expect(tok.decode([9, 7, 10, 5, 8])).toBe('hug pun bug');
  });

  it('is deterministic, sized to the spec, and reloads from its JSON unchanged', () => {
    const docs = splitDocuments(loadCorpus('moby-dick').documents).train.slice(0, 20);
    const specials = ['<pad>', '<unk>', '<cls>', '<sep>', '<mask>'];
    const a = wordPieceTokenizer(docs, 2000, specials);
    const b = wordPieceTokenizer(docs, 2000, specials);
    expect(a.vocabSize).toBe(2000);
    expect(JSON.stringify(a.toJSON())).toBe(JSON.stringify(b.toJSON()));
    const again = tokenizerFromJSON(JSON.parse(JSON.stringify(a.toJSON())));
    const text = 'Call me Ishmael. Some years ago—never mind how long precisely—having little or no money in my purse.';
    expect(again.encode(text)).toEqual(a.encode(text));
    expect(a.specials.get('<mask>')).toBe(4);
    expect(a.decode(a.encode(text))).toBe('call me ishmael . some years ago — never mind how long precisely — having little or no money in my purse .');
  });
});
