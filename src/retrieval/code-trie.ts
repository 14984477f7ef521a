/**
 * A flat prefix trie over items' semantic IDs, laid out for beam search: level l's nodes are numbered
 * 0..count_l−1 in code order, so node n's children are the level-(l+1) nodes childStart_l[n] ..
 * childStart_l[n+1]−1, and childCode_l holds each child's code. Every node knows how many items lie below it, so
 * a search can skip subtrees whose items are all excluded (seen, deleted) and still return n results.
 */
import { GenrecError } from '../engine/index.js';

export class CodeTrie {
  readonly levels: number;
  /** Per level: child ranges (length count_l + 1) and each level-(l+1) node's code. */
  readonly childStart: Int32Array[] = [];
  readonly childCode: Int32Array[] = [];
  /** Per level ≥ 1: parent node; per level: items below each node. */
  readonly parent: Int32Array[] = [];
  readonly itemCount: Int32Array[] = [];
  /** Leaf (level L node) → item, and item → leaf (−1 when the item has no code). */
  readonly leafItem: Int32Array;
  readonly itemLeaf: Int32Array;

  /** codes: [numItems × L] row-major; items whose `active` flag is 0 are left out. */
  constructor(codes: Int32Array, readonly numItems: number, readonly codeSizes: readonly number[], active?: Uint8Array) {
    const L = (this.levels = codeSizes.length);
    if (codes.length !== numItems * L) throw new GenrecError('GENREC_E_CODES', `code table has ${codes.length} entries, expected ${numItems}×${L}`, 'rebuild the tokenizer output');
    const order = Array.from({ length: numItems }, (_, i) => i).filter((i) => !active || active[i]);
    order.sort((a, b) => {
      for (let l = 0; l < L; l++) { const d = codes[a * L + l]! - codes[b * L + l]!; if (d) return d; }
      return a - b;
    });
    // Node ids per level by walking the sorted codes: a new node starts where the prefix changes.
    const nodeAt: Int32Array[] = Array.from({ length: L + 1 }, () => new Int32Array(order.length));
    const counts = new Array<number>(L + 1).fill(0);
    counts[0] = 1;
    for (let r = 0; r < order.length; r++) {
      let changed = r === 0;
      for (let l = 1; l <= L; l++) {
        if (!changed && codes[order[r]! * L + l - 1] !== codes[order[r - 1]! * L + l - 1]) changed = true;
        if (changed) counts[l]!++;
        nodeAt[l]![r] = counts[l]! - 1;
      }
    }
    for (let l = 1; l <= L; l++) {
      if (counts[l]! > 0 && l === L) {
        // A leaf must be one item: duplicate full codes would make two items indistinguishable.
        for (let r = 1; r < order.length; r++) {
          if (nodeAt[L]![r] === nodeAt[L]![r - 1]) {
            throw new GenrecError('GENREC_E_CODES', `items ${order[r - 1]} and ${order[r]} share the semantic ID ${Array.from(codes.subarray(order[r]! * L, order[r]! * L + L)).join('-')}`, 're-run the tokenizer with its de-duplication level');
          }
        }
      }
    }
    this.leafItem = new Int32Array(counts[L]!);
    this.itemLeaf = new Int32Array(numItems).fill(-1);
    for (let r = 0; r < order.length; r++) { this.leafItem[nodeAt[L]![r]!] = order[r]!; this.itemLeaf[order[r]!] = nodeAt[L]![r]!; }
    for (let l = 0; l <= L; l++) {
      const cnt = new Int32Array(counts[l]!);
      for (let r = 0; r < order.length; r++) cnt[nodeAt[l]![r]!]!++;
      this.itemCount.push(cnt);
    }
    for (let l = 0; l < L; l++) {
      const start = new Int32Array(counts[l]! + 1);
      const code = new Int32Array(counts[l + 1]!);
      const par = new Int32Array(counts[l + 1]!);
      for (let r = 0; r < order.length; r++) {
        const c = nodeAt[l + 1]![r]!;
        if (r > 0 && nodeAt[l + 1]![r - 1] === c) continue;
        const p = nodeAt[l]![r]!;
        start[p + 1]!++;
        code[c] = codes[order[r]! * L + l]!;
        par[c] = p;
      }
      for (let i = 0; i < counts[l]!; i++) start[i + 1]! += start[i]!;
      this.childStart.push(start); this.childCode.push(code); this.parent.push(par);
    }
  }

  /** Number of nodes at a level (level 0 is the root). */
  nodes(level: number): number {
    return this.itemCount[level]!.length;
  }

  /**
   * Per-level counts of excluded items below each node, for a set of items (sparse: only touched
   * nodes are listed). Used to skip subtrees whose items are all excluded.
   */
  excludedCounts(items: ArrayLike<number>): Map<number, number>[] {
    const out: Map<number, number>[] = Array.from({ length: this.levels + 1 }, () => new Map());
    const seen = new Set<number>();
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      if (it < 0 || it >= this.numItems || seen.has(it)) continue;
      seen.add(it);
      let node = this.itemLeaf[it]!;
      if (node < 0) continue;
      for (let l = this.levels; l >= 0; l--) {
        out[l]!.set(node, (out[l]!.get(node) ?? 0) + 1);
        if (l > 0) node = this.parent[l - 1]![node]!;
      }
    }
    return out;
  }
}
