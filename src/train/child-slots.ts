/**
 * Per-batch feeds for the generator's below-first-level softmax: for every target, the valid children of
 * its true prefix at level l, padded to the level's largest child count (see `ChildSlots` in the model).
 * The first level keeps a dense [N, K₀] mask — the root's children are (nearly) every code.
 */
import type { PrefixTrie } from '../tokenizer/index.js';

export class ChildSlotFeeds {
  /** Largest child count of a depth-l node, per level (index 0 unused). */
  readonly width: number[];
  /** ancestors[l][item]: the item's node at depth l (0 ≤ l ≤ L; depth L is its leaf). */
  private readonly ancestors: Int32Array[];
  readonly codes: Int32Array[];
  readonly mask: Float32Array[];
  readonly target: Int32Array[];
  /** Each slot's node at depth l + 1 (the row of a per-node table such as the generator's triple table). */
  readonly nodes: Int32Array[];

  constructor(private readonly trie: PrefixTrie, numItems: number, readonly rows: number) {
    const L = trie.depth;
    this.ancestors = Array.from({ length: L + 1 }, () => new Int32Array(numItems));
    for (let i = 0; i < numItems; i++) {
      let node = trie.itemLeaf[i]!;
      this.ancestors[L]![i] = node;
      for (let l = L - 1; l >= 0; l--) { node = trie.parent[l]![node]!; this.ancestors[l]![i] = node; }
    }
    this.width = Array.from({ length: L }, (_, l) => {
      const cs = trie.childStart[l]!;
      let w = 1;
      for (let p = 0; p + 1 < cs.length; p++) w = Math.max(w, cs[p + 1]! - cs[p]!);
      return w;
    });
    this.codes = this.width.map((w) => new Int32Array(rows * w));
    this.mask = this.width.map((w) => new Float32Array(rows * w));
    this.target = this.width.map(() => new Int32Array(rows));
    this.nodes = this.width.map((w) => new Int32Array(rows * w));
  }

  /** The depth-l node of each target (item token, 0 = none → -1), e.g. for a dense mask. */
  prefixNodes(level: number, targets: Int32Array, out: Int32Array): Int32Array {
    const a = this.ancestors[level]!;
    for (let i = 0; i < this.rows; i++) out[i] = targets[i]! > 0 ? a[targets[i]! - 1]! : -1;
    return out;
  }

  /** Fill level l's slots (l ≥ 1) for targets [rows] (item tokens, 0 = none: one valid slot, weight 0). */
  fill(level: number, targets: Int32Array): void {
    const C = this.width[level]!, cs = this.trie.childStart[level]!, tok = this.trie.tokens[level]!;
    const up = this.ancestors[level]!, down = this.ancestors[level + 1]!;
    const codes = this.codes[level]!, mask = this.mask[level]!, target = this.target[level]!, nodes = this.nodes[level]!;
    for (let i = 0; i < this.rows; i++) {
      const t = targets[i]!;
      const p = t > 0 ? up[t - 1]! : 0;
      const start = cs[p]!, n = t > 0 ? cs[p + 1]! - start : 1;
      for (let j = 0; j < C; j++) {
        codes[i * C + j] = tok[start + Math.min(j, n - 1)]!;
        nodes[i * C + j] = start + Math.min(j, n - 1);
        mask[i * C + j] = j < n ? 0 : -1e9;
      }
      target[i] = t > 0 ? down[t - 1]! - start : 0;
    }
  }
}
