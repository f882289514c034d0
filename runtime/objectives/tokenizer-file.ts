// The tokenizer of a text run: the one the checkpoint resumed from was trained with; else the
// run folder's (a run stopped before its first checkpoint, or an older checkpoint); else that
// of the checkpoint a fine-tuning run starts from (--init); else built from the training text. Saved in the run folder and in every checkpoint.
import { TfmError } from '../../common/errors.ts';
import { exists, LIMITS, readTextBounded } from '../../common/files.ts';
import { join } from 'node:path';
import { bertTokenizer, bpeTokenizer, charTokenizer, gpt2Tokenizer, parseTokenizer, TokenizerError, unigramTokenizer, wordPieceTokenizer, type Tokenizer, type TokenizerKind } from '../text/tokenizer.ts';
import type { OpenContext } from './objective.ts';

function buildTokenizer(kind: TokenizerKind, train: string[], vocab: number, specials: string[]): Tokenizer {
  switch (kind) {
    case 'gpt2':
      return gpt2Tokenizer();
    case 'bert':
      return bertTokenizer(specials);
    case 'bpe':
      return bpeTokenizer(train, vocab, specials);
    case 'char':
      return charTokenizer(train, vocab, specials);
    case 'wordpiece':
      return wordPieceTokenizer(train, vocab, specials);
    case 'unigram':
      return unigramTokenizer(train, vocab, specials);
  }
}

export function openTokenizer(ctx: OpenContext, kind: TokenizerKind, train: string[], vocab: number, specials: string[]): { tok: Tokenizer; text: string; folderFiles: Record<string, string> } {
  const tokPath = join(ctx.out, 'tokenizer.json');
  const onDisk = exists(tokPath) ? readTextBounded(tokPath, LIMITS.tokenizer, 'tokenizer') : undefined;
  let tokText = ctx.checkpoint?.files['tokenizer.json'];
  if (tokText !== undefined && onDisk !== undefined && onDisk !== tokText) {
    throw new TfmError('TFM5013', `\`${tokPath}\` differs from the tokenizer checkpoint \`${ctx.checkpoint!.name}\` was trained with (recorded in its state.json): restore it from \`${join(ctx.out, ctx.checkpoint!.name, 'tokenizer.json')}\``);
  }
  if (tokText === undefined && ctx.resume) tokText = onDisk;
  // A fine-tuning run reads text as the run it starts from did.
  if (tokText === undefined) tokText = ctx.initTokenizer;
  let tok: Tokenizer;
  if (tokText !== undefined) {
    tok = parseTokenizer(tokText, `\`${tokPath}\``);
  } else {
    try {
      tok = buildTokenizer(kind, train, vocab, specials);
    } catch (e) {
      if (e instanceof TokenizerError) throw new TfmError('TFM5014', `cannot build the ${kind} tokenizer: ${e.message}`);
      throw e;
    }
    tokText = JSON.stringify(tok.toJSON()) + '\n';
  }
  if (tok.vocabSize > vocab) throw new TfmError('TFM5014', `the ${tok.kind} tokenizer has ${tok.vocabSize} tokens but the spec's vocabulary is ${vocab}: use a larger \`vocab\` or another --tokenizer`);
  const text = tokText;
  return { tok, text, folderFiles: onDisk !== text ? { 'tokenizer.json': text } : {} };
}

/** The id of a special token an objective needs (`<cls>`, `<mask>`, …), or a coded error
 *  saying which is missing and for what. */
export function specialId(tok: Tokenizer, name: string, purpose: string): number {
  const id = tok.specials.get(name);
  if (id === undefined) throw new TfmError('TFM5014', `${purpose} needs the special token \`${name}\` (\`vocabulary specials\` of the spec, and in the ${tok.kind} tokenizer)`);
  return id;
}
