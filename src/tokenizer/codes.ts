/**
 * The code table: item i's semantic ID is codes[i·D .. i·D + D), D = levels + 1. The last position is
 * the de-duplication code: items whose L quantiser codes coincide are numbered 0, 1, 2, ... in the order
 * they arrived, so every full code is unique and new items extend a group without renumbering old ones.
 */
import { GenrecError } from '../engine/errors.js';
import { log } from '../engine/log.js';
import { PrefixTrie } from './trie.js';

/** Packs an L-code prefix into one exact integer key (needs K^L ≤ 2^53, checked by the tokenizer). */
export function packKey(codes: Int32Array, off: number, levels: number, k: number): number {
  let key = 0;
  for (let l = 0; l < levels; l++) key = key * k + codes[off + l]!;
  return key;
}

export class SemanticIds {
  /** Rows × D codes; grows (amortised doubling) as items are added. */
  private buf: Int32Array;
  private n = 0;
  /** Items per base code: the next free de-duplication number. */
  private readonly fill = new Map<number, number>();
  private cachedTrie: PrefixTrie | null = null;
  /** Items whose base codes collided with an earlier item when the table was built (before dedup). */
  collisions = 0;
  maxGroup = 0;

  constructor(readonly levels: number, readonly k: number, public dedupCapacity: number, capacity = 16) {
    this.buf = new Int32Array(Math.max(1, capacity) * (levels + 1));
  }

  get depth(): number { return this.levels + 1; }
  get count(): number { return this.n; }
  /** The code table (count × depth), a view. */
  get codes(): Int32Array { return this.buf.subarray(0, this.n * this.depth); }
  /** Vocabulary size of each position (K for the quantiser levels, dedupCapacity for the last). */
  get sizes(): Int32Array {
    const s = new Int32Array(this.depth).fill(this.k);
    s[this.levels] = this.dedupCapacity;
    return s;
  }
  code(item: number): Int32Array { return this.buf.subarray(item * this.depth, (item + 1) * this.depth); }

  /** Free de-duplication slots left under a base code. */
  room(base: Int32Array, off = 0): number {
    return this.dedupCapacity - (this.fill.get(packKey(base, off, this.levels, this.k)) ?? 0);
  }

  private reserve(extra: number): void {
    const need = (this.n + extra) * this.depth;
    if (need <= this.buf.length) return;
    let cap = this.buf.length;
    while (cap < need) cap *= 2;
    const b = new Int32Array(cap);
    b.set(this.buf.subarray(0, this.n * this.depth));
    this.buf = b;
  }

  /**
   * Append items with base codes (n × levels). Returns the rows that found their group full (to be
   * re-coded by the caller); those rows are not appended. With `grow`, a full group instead widens the
   * de-duplication vocabulary (used when fitting, where a unique code matters more than a fixed vocabulary).
   */
  append(base: Int32Array, n: number, grow = false): Int32Array {
    const L = this.levels, D = this.depth, k = this.k;
    this.reserve(n);
    const overflow: number[] = [];
    const widenedFrom = this.dedupCapacity;
    for (let i = 0; i < n; i++) {
      const key = packKey(base, i * L, L, k);
      const used = this.fill.get(key) ?? 0;
      if (used >= this.dedupCapacity) {
        if (!grow) { overflow.push(i); continue; }
        this.dedupCapacity = used + 1;
      }
      if (used > 0) this.collisions++;
      this.fill.set(key, used + 1);
      if (used + 1 > this.maxGroup) this.maxGroup = used + 1;
      const o = this.n * D;
      for (let l = 0; l < L; l++) this.buf[o + l] = base[i * L + l]!;
      this.buf[o + L] = used;
      this.n++;
    }
    if (this.dedupCapacity > widenedFrom) {
      log.warn({ from: widenedFrom, to: this.dedupCapacity }, 'tokenizer: a base code holds more items than the de-duplication level has codes; widened it (duplicate vectors?)');
    }
    this.cachedTrie = null;
    return Int32Array.from(overflow);
  }

  /** Restore a table from full codes (count × depth), e.g. after loading. Validates uniqueness. */
  static fromCodes(codes: Int32Array, count: number, levels: number, k: number, dedupCapacity: number): SemanticIds {
    const ids = new SemanticIds(levels, k, dedupCapacity, count);
    const D = levels + 1;
    ids.buf.set(codes.subarray(0, count * D));
    ids.n = count;
    for (let i = 0; i < count; i++) {
      const key = packKey(codes, i * D, levels, k);
      const next = Math.max(ids.fill.get(key) ?? 0, codes[i * D + levels]! + 1);
      ids.fill.set(key, next);
      if (next > ids.maxGroup) ids.maxGroup = next;
    }
    ids.trie(); // throws on out-of-range or duplicate codes
    return ids;
  }

  /** The prefix trie of all current codes (built once, rebuilt after items are added). */
  trie(): PrefixTrie {
    if (!this.cachedTrie) this.cachedTrie = PrefixTrie.build(this.buf, this.n, this.depth, this.sizes);
    return this.cachedTrie;
  }

  /** Item of a full code, or -1. */
  itemOf(code: ArrayLike<number>): number { return this.trie().lookup(code); }

  /**
   * Share of items whose (c₀, c₁) prefix holds no other item: the generator's joint softmax over those
   * prefixes then names them on its own. 1 with a single level (no pair to share).
   */
  soloPairShare(): number {
    if (this.levels < 2 || this.n === 0) return 1;
    // The trie's depth-2 nodes are the (c₀, c₁) prefixes; leafStart gives each one's item range.
    const t = this.trie(), leaves = t.leafStart[2]!;
    let solo = 0;
    for (let p = 0; p < t.nodeCount[2]!; p++) if (leaves[p + 1]! - leaves[p]! === 1) solo++;
    return solo / this.n;
  }

  /** Per-level counts of each code over all items (levels × K) for utilisation and entropy. */
  levelCounts(): Int32Array {
    const L = this.levels, D = this.depth, k = this.k;
    const counts = new Int32Array(L * k);
    for (let i = 0; i < this.n; i++) for (let l = 0; l < L; l++) counts[l * k + this.buf[i * D + l]!]!++;
    return counts;
  }
}

/** Codes of the same items under two tokenizers: a code from `from` maps to the item's code in `to`. */
export class CodeMapping {
  constructor(readonly from: SemanticIds, readonly to: SemanticIds) {
    if (to.count < from.count) throw new GenrecError('GENREC_E_TOKENIZER_REFIT', `the new table has ${to.count} items, the old one ${from.count}`, 'refit on all old items plus the new ones');
  }
  /** Map `count` old codes (row-major, old depth) to new codes; unknown codes map to a row of -1. */
  map(codes: Int32Array, count: number): Int32Array {
    const Dn = this.to.depth, Do = this.from.depth;
    const out = new Int32Array(count * Dn).fill(-1);
    const trie = this.from.trie();
    for (let b = 0; b < count; b++) {
      const item = trie.lookup(codes.subarray(b * Do, (b + 1) * Do));
      if (item >= 0) out.set(this.to.code(item), b * Dn);
    }
    return out;
  }
  /** For every old item, its new code (count × new depth). */
  table(): Int32Array { return this.to.codes.slice(0, this.from.count * this.to.depth); }
}
