/**
 * Semantic IDs for items inserted while serving (and items the loaded bundle does not know), behind the
 * `NewItemCoder` seam. models.ts picks the coder per loaded bundle:
 *
 * - `TokenizerCoder` (tokenizer-coder.ts) when the bundle carries `tokenizer.safetensors` (`genrec train`
 *   writes it): the item's metadata is embedded by the fitted item embedder and coded by the tokenizer's
 *   incremental path (`ResidualTokenizer.extend`), i.e. the quantiser codes training would have given it.
 * - `OverlapCoder` (below) for bundles without one (written before bundles carried it, or by tools that
 *   do not save it), and as the fallback when the tokenizer file cannot be used (damaged, no token
 *   vocabulary, text model missing): logged, then every later new item of that model is coded here.
 *
 * OverlapCoder:
 *   1. find the model item whose metadata overlaps the new item's most (categories weigh 2, labels 1,
 *      title words 0.5; ties go to the lower model id, so the choice is deterministic);
 *      an item with no overlap at all borrows from the most popular item (it is shown where traffic is);
 *   2. keep that item's code prefix and take the first free code below it: first a free last-level
 *      (de-duplication) code under the full L−1 prefix, else a free pair under the L−2 prefix, and so on.
 *
 * Coders are called one item at a time, in the order the items entered the online state (models.ts),
 * and a code depends only on the item's metadata and the codes taken before it; so a restart, which
 * rebuilds the state in the same order (store snapshot, then log replay) and codes its new items again,
 * gives them the same codes (OverlapCoder's popular-item fallback aside: popularity moves with time).
 *
 * How the new item enters the beam: `GenerativeModel.addItems` appends its code to the trie and to the
 * item→token table, so beam search can reach it through its shared prefix (it competes with its
 * neighbours, and the decoder's score for the last code decides among siblings), and in a history its
 * embedding is the sum of its code embeddings (it has no learned item-id row).
 */
import { GenrecError } from '../engine/errors.js';

/** What serve knows of an item: Gorse's Categories, Labels, Title and Comment (its description). */
export interface ItemMeta { categories: readonly string[]; labels: readonly string[]; title: string; comment?: string }

export interface NewItemCoder {
  /**
   * A unique code (L values) for a new item, registered as taken: the item becomes model item `count`
   * (the bundle's items, then the items coded so far). A coder may be asynchronous; calls never overlap.
   */
  assign(meta: ItemMeta): Int32Array | Promise<Int32Array>;
  /** The code of model item m (bundle or added). */
  codeOf(m: number): Int32Array;
  /** Free what the coder holds (ORT sessions). */
  release?(): Promise<void>;
}

const words = (title: string) => title.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => w.length > 2);

function tokensOf(m: ItemMeta): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const c of m.categories) out.push([`c:${c}`, 2]);
  for (const l of m.labels) out.push([`l:${l}`, 1]);
  for (const w of new Set(words(m.title))) out.push([`w:${w}`, 0.5]);
  return out;
}

/** Most candidates any one prefix search looks at before trying a shorter prefix. */
const SEARCH_CAP = 1 << 20;

export class OverlapCoder implements NewItemCoder {
  private readonly L: number;
  private readonly strides: number[];
  private readonly used = new Set<number>();
  private readonly postings = new Map<string, number[]>();
  private codes: Int32Array;
  private count: number;

  /**
   * codes: [count × L] codes of the model's items; meta(m): metadata of model item m (null if unknown);
   * popular(): a model item to borrow from when nothing overlaps.
   */
  constructor(codes: Int32Array, count: number, readonly codeSizes: readonly number[], meta: (m: number) => ItemMeta | null, private readonly popular: () => number) {
    this.L = codeSizes.length;
    this.strides = [];
    let s = 1;
    for (let l = this.L - 1; l >= 0; l--) { this.strides[l] = s; s *= codeSizes[l]!; }
    this.codes = codes.slice();
    this.count = count;
    for (let m = 0; m < count; m++) {
      this.used.add(this.key(this.codes, m * this.L));
      const md = meta(m);
      if (md) this.index(m, md);
    }
  }

  private key(c: ArrayLike<number>, off: number): number {
    let k = 0;
    for (let l = 0; l < this.L; l++) k += c[off + l]! * this.strides[l]!;
    return k;
  }

  private index(m: number, md: ItemMeta): void {
    for (const [t] of tokensOf(md)) {
      let p = this.postings.get(t);
      if (!p) this.postings.set(t, (p = []));
      p.push(m);
    }
  }

  /** The model item whose metadata overlaps most, or −1. */
  nearest(md: ItemMeta): number {
    const score = new Map<number, number>();
    for (const [t, w] of tokensOf(md)) for (const m of this.postings.get(t) ?? []) score.set(m, (score.get(m) ?? 0) + w);
    let best = -1, bs = 0;
    for (const [m, s] of score) if (s > bs || (s === bs && m < best)) { best = m; bs = s; }
    return best;
  }

  assign(md: ItemMeta): Int32Array {
    let src = this.nearest(md);
    if (src < 0) src = this.popular();
    const L = this.L, code = new Int32Array(L);
    if (src >= 0) code.set(this.codes.subarray(src * L, src * L + L));
    for (let p = L - 1; p >= 0; p--) {
      if (this.firstFree(code, p)) {
        this.register(code, md);
        return code;
      }
    }
    throw new GenrecError('GENREC_E_CODES_FULL', 'no free semantic ID left for a new item', 'retrain with a larger code space (genrec tokenize with more codes or levels)');
  }

  /** Search completions of code[0..p) in lexicographic order; writes the first free one into `code`. */
  private firstFree(code: Int32Array, p: number): boolean {
    const L = this.L;
    const c = Int32Array.from(code);
    for (let l = p; l < L; l++) c[l] = 0;
    for (let tried = 0; tried < SEARCH_CAP; tried++) {
      if (!this.used.has(this.key(c, 0))) { code.set(c); return true; }
      let l = L - 1;
      while (l >= p && ++c[l]! >= this.codeSizes[l]!) { c[l] = 0; l--; }
      if (l < p) return false;
    }
    return false;
  }

  private register(code: Int32Array, md: ItemMeta): void {
    const m = this.count++;
    if ((m + 1) * this.L > this.codes.length) {
      const b = new Int32Array(Math.max((m + 1) * this.L, this.codes.length * 2));
      b.set(this.codes);
      this.codes = b;
    }
    this.codes.set(code, m * this.L);
    this.used.add(this.key(code, 0));
    this.index(m, md);
  }

  /** The code of model item m (bundle or added). */
  codeOf(m: number): Int32Array { return this.codes.subarray(m * this.L, m * this.L + this.L); }
}
