/**
 * Memorised transitions: how often item b directly followed item a in the training sequences (or came
 * within `span` items after it, nearer ones weighing more), as a sparse table (CSR). The generator
 * generalises over semantic IDs, and in doing so it blurs pairs that users consume together almost
 * deterministically: on amazon-scientific it ranked first only 58% of the
 * test targets that had followed the user's last item 5+ times in training, where item-kNN ranked 97%
 * (docs/results.md, section 26). The beam search therefore mixes the model with these counts — Wide &
 * Deep's memorisation, done as a Dirichlet-smoothed cache (kNN-LM-style interpolation):
 *
 *   P(item | history) = (n(recent → item) + β · P_model(item | history)) / (N(recent) + β)
 *
 * n counts the transitions out of the user's last few items (weights decay^w for the w-th most recent),
 * and, weighted by `reverse`, the transitions into them (items bought together come in either order: on
 * amazon-scientific 70 of 71 such pairs were also seen reversed); N is their total, and β (tuned on
 * validation) says how many observed transitions outweigh the model. A user whose recent items were never
 * followed or preceded in training gets exactly the model's distribution.
 *
 * With `shares`, each recent item's transitions count as shares of one (n(a → b) / N(a)): on ml-1m a
 * popular last item has hundreds of successors and its raw counts drown both the model and the user's
 * other recent items, while its successors' shares are what predicts (a count-only ranker on ml-1m's
 * validation: NDCG@10 0.124 with counts, 0.133 with shares over 10 recent items; docs/results.md section 29).
 * β is then in recent items' worth of evidence, so it has its own grid.
 *
 * A server adds the transitions its live events make (`add`) on top of the trained table, so a pair that
 * starts happening after training — new items included — is memorised at once, until the next bundle.
 */
import { GenrecError } from '../engine/index.js';
import type { Interactions, Split } from '../data/index.js';
import type { PrefixTrie } from '../tokenizer/index.js';

export interface MemoryOptions {
  /** Pseudo-count of the model's distribution (larger trusts the model more). */
  beta: number;
  /** How many of the most recent history items look up their successors. */
  window: number;
  /** Weight of the w-th most recent item's successors: decay^w. */
  decay: number;
  /** Weight of an item's predecessors (b → a read as a → b) against its successors; 0 = order kept. */
  reverse: number;
  /** Each recent item's transitions as shares of its total (true) or raw counts (false, or absent: bundles before it). */
  shares?: boolean;
  /** How far after an item its table counts successors (the table's `span`; absent: 1). */
  span?: number;
}

export const DEFAULT_MEMORY_WINDOW = 3;
export const DEFAULT_MEMORY_DECAY = 0.5;
/** Shares read further back: a popular item's row no longer drowns the older ones (section 29's probe). */
export const SHARES_MEMORY_WINDOW = 10;
export const SHARES_MEMORY_DECAY = 0.8;
/** Weight of an item d places later as a successor: SPAN_GAIN^(d−1) (tables with span > 1). */
export const SPAN_GAIN = 0.8;

type Row = Map<number, number>;

/**
 * The count mass below the trie nodes of one depth that have any, as two arrays sorted by node id. A
 * node's children are consecutive ids, so the beam search reads a prefix's children in one forward walk
 * (`lowerBound` once); the Maps it replaced cost the sweep more in their building and collection than the
 * beam search spent mixing.
 */
export class NodeMass {
  constructor(readonly nodes: Int32Array, readonly mass: Float64Array) {}
  get size(): number { return this.nodes.length; }
  /** The first position whose node is ≥ `node`. */
  lowerBound(node: number): number {
    let lo = 0, hi = this.nodes.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (this.nodes[mid]! < node) lo = mid + 1; else hi = mid; }
    return lo;
  }
  /** The mass below `node`, or undefined where it has none. */
  get(node: number): number | undefined {
    const i = this.lowerBound(node);
    return this.nodes[i] === node ? this.mass[i]! : undefined;
  }
  keys(): IterableIterator<number> { return this.nodes.values(); }
}

export class TransitionTable {
  /** The transpose (predecessors of each item), built on first use. */
  private before: { start: Int32Array; prev: Int32Array; count: Float32Array } | null = null;
  /** Live transitions added after training (a → b → count), and the same read backwards. */
  private readonly liveNext = new Map<number, Row>();
  private readonly livePrev = new Map<number, Row>();

  private constructor(
    /** Items the table indexes (ids ≥ this have no successors: items added after training). */
    readonly numItems: number,
    /** Successors of item a: next[start[a] .. start[a+1]-1], with their counts. */
    readonly start: Int32Array,
    readonly next: Int32Array,
    readonly count: Float32Array,
    /** How far after an item a transition reaches (1: the next item only). */
    readonly span = 1,
  ) {}

  /**
   * From users' sequences: user u's events are items[offsets[u] .. ends[u]-1] in time order (`ends`
   * stops at the training part, so validation and test targets are never counted). With `span` > 1, an
   * item d places after a counts as an a → b transition weighing SPAN_GAIN^(d−1) (ml-1m's ratings of one
   * sitting come in no real order, so the next item alone is a noisy successor; docs/results.md section 29).
   */
  static fromSequences(items: Int32Array, offsets: ArrayLike<number>, ends: ArrayLike<number>, numItems: number, span = 1): TransitionTable {
    // Each item's occurrences as a source (position, and where its user's sequence ends), grouped by
    // item, so each row is summed in one dense scratch array: no hash map over millions of pairs.
    const at = new Int32Array(numItems + 1);
    for (let u = 0; u < ends.length; u++) for (let k = offsets[u]!; k + 1 < ends[u]!; k++) at[items[k]! + 1]!++;
    for (let a = 0; a < numItems; a++) at[a + 1]! += at[a]!;
    const pos = new Int32Array(at[numItems]!), stop = new Int32Array(pos.length), fill = at.slice(0, numItems);
    for (let u = 0; u < ends.length; u++) {
      for (let k = offsets[u]!; k + 1 < ends[u]!; k++) { const i = fill[items[k]!]!++; pos[i] = k; stop[i] = ends[u]!; }
    }
    const weight = Float64Array.from({ length: span }, (_, d) => SPAN_GAIN ** d);
    const scratch = new Float64Array(numItems), touched: number[] = [], next: number[] = [], count: number[] = [];
    const start = new Int32Array(numItems + 1);
    for (let a = 0; a < numItems; a++) {
      for (let i = at[a]!; i < at[a + 1]!; i++) {
        for (let d = 1, k = pos[i]!; d <= span && k + d < stop[i]!; d++) {
          const b = items[k + d]!;
          if (scratch[b] === 0) touched.push(b);
          scratch[b]! += weight[d - 1]!;
        }
      }
      touched.sort((x, y) => x - y);
      for (const b of touched) { next.push(b); count.push(scratch[b]!); scratch[b] = 0; }
      touched.length = 0;
      start[a + 1] = next.length;
    }
    return new TransitionTable(numItems, start, Int32Array.from(next), Float32Array.from(count), span);
  }

  /**
   * What is known when `part`'s targets come: the training part for validation; for the test, the
   * validation events too, which every test user's history already holds (as live events reach a
   * server's table). No target of `part` is ever in it. The datasets' protocol scores both parts with
   * the training part; `bench quality --refit-valid true` scores the test with this.
   */
  static knownBefore(split: { interactions: Pick<Interactions, 'items' | 'userOffsets' | 'numItems'> } & Pick<Split, 'trainEnd' | 'validEnd'>, part: 'valid' | 'test', span = 1): TransitionTable {
    const x = split.interactions;
    return TransitionTable.fromSequences(x.items, x.userOffsets, part === 'valid' ? split.trainEnd : split.validEnd, x.numItems, span);
  }

  /** Every transition of the interactions (what a served model remembers). */
  static fromAll(x: Pick<Interactions, 'items' | 'userOffsets' | 'numItems'>, span = 1): TransitionTable {
    return TransitionTable.fromSequences(x.items, x.userOffsets, x.userOffsets.subarray(1), x.numItems, span);
  }

  /** How many distinct (a, b) transitions the trained table holds (live ones not included). */
  get size(): number { return this.next.length; }

  /** How many live transitions were added (`add`), in all. */
  liveCount = 0;

  /**
   * Count a transition seen after training (a live event): b followed a, weighing c (SPAN_GAIN^(d−1) for
   * b d events on). Any item ids ≥ 0. A negative c takes live counts back (a deleted user's events);
   * trained counts are never touched.
   */
  add(a: number, b: number, c = 1): void {
    if (!(a >= 0 && b >= 0 && c !== 0)) return;
    const bump = (m: Map<number, Row>, x: number, y: number): number => {
      let row = m.get(x);
      if (!row) m.set(x, (row = new Map()));
      // Weights below 1e-6 are what fractional weights taken back leave in rounding: gone.
      const was = row.get(y) ?? 0, now = was + c > 1e-6 ? was + c : 0;
      if (now > 0) row.set(y, now); else { row.delete(y); if (!row.size) m.delete(x); }
      return now - was;
    };
    this.liveCount += bump(this.liveNext, a, b);
    bump(this.livePrev, b, a);
  }

  /** How often b followed a (trained and live counts; weighted by distance with a span above 1). */
  times(a: number, b: number): number {
    let n = this.liveNext.get(a)?.get(b) ?? 0;
    if (a >= 0 && a < this.numItems) {
      // Each row's successors are sorted (the table is built from sorted keys): binary search.
      let lo = this.start[a]!, hi = this.start[a + 1]!;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.next[mid]! < b) lo = mid + 1; else hi = mid;
      }
      if (lo < this.start[a + 1]! && this.next[lo] === b) n += this.count[lo]!;
    }
    return n;
  }

  /**
   * The successor mass below each trie node, per depth (sparse), for a user whose most recent items are
   * `recent` (most recent first): what the beam search reads. Empty maps when none of them has successors.
   */
  prefixMass(trie: PrefixTrie, recent: ArrayLike<number>, o: Pick<MemoryOptions, 'decay' | 'reverse' | 'shares'>): NodeMass[] {
    // Successors are summed per item in a dense scratch array first and only then carried up the trie:
    // ten recent items of a span-10 table on ml-1m reach a few thousand distinct items through tens of
    // thousands of row entries, and a Map update per entry and depth made the lookup the sweep's bulk.
    const D = trie.depth, sc = this.scratchFor(trie), leaf = sc.acc[D]!, seen = sc.touched[D]!;
    const add = (b: number, c: number) => {
      if (b >= trie.items) return;
      const node = trie.itemLeaf[b]!;
      if (leaf[node] === 0) seen.push(node);
      leaf[node]! += c;
    };
    const before = o.reverse > 0 ? this.predecessors() : null;
    for (let w = 0, weight = 1; w < recent.length; w++, weight *= o.decay) {
      const a = recent[w]!;
      if (a < 0) continue;
      let wt = weight;
      if (o.shares) {
        const total = this.rowTotal(a, o.reverse);
        if (!(total > 0)) continue;
        wt /= total;
      }
      if (a < this.numItems) {
        for (let i = this.start[a]!; i < this.start[a + 1]!; i++) add(this.next[i]!, this.count[i]! * wt);
        if (before) for (let i = before.start[a]!; i < before.start[a + 1]!; i++) add(before.prev[i]!, before.count[i]! * wt * o.reverse);
      }
      this.liveNext.get(a)?.forEach((c, b) => add(b, c * wt));
      if (o.reverse > 0) this.livePrev.get(a)?.forEach((c, b) => add(b, c * wt * o.reverse));
    }
    const out: NodeMass[] = new Array(D + 1);
    for (let l = D; l >= 0; l--) {
      const acc = sc.acc[l]!, nodes = sc.touched[l]!, up = l > 0 ? sc.acc[l - 1]! : null, upNodes = l > 0 ? sc.touched[l - 1]! : null;
      const kept = new Int32Array(nodes.length);
      let n = 0;
      // Carried up in the order the nodes were reached (the sums, to the bit, of the Maps this replaced).
      for (const node of nodes) {
        const m = acc[node]!;
        if (!(m > 0)) { acc[node] = 0; continue; } // a weight that cancelled to 0 (never negative: counts are positive)
        kept[n++] = node;
        if (up) {
          const p = trie.parent[l - 1]![node]!;
          if (up[p] === 0) upNodes!.push(p);
          up[p]! += m;
        }
      }
      nodes.length = 0;
      const sorted = kept.subarray(0, n).sort(), mass = new Float64Array(n);
      for (let i = 0; i < n; i++) { mass[i] = acc[sorted[i]!]!; acc[sorted[i]!] = 0; }
      out[l] = new NodeMass(sorted, mass);
    }
    return out;
  }

  /** Per-depth accumulators for `prefixMass`, sized to the trie it reads (a new trie gets new ones). */
  private scratch: { trie: PrefixTrie; acc: Float64Array[]; touched: number[][] } | null = null;
  private scratchFor(trie: PrefixTrie): { acc: Float64Array[]; touched: number[][] } {
    if (this.scratch?.trie !== trie) {
      this.scratch = { trie, acc: Array.from(trie.nodeCount, (n) => new Float64Array(n)), touched: Array.from(trie.nodeCount, () => []) };
    }
    return this.scratch;
  }

  /** Each item's trained transitions out and in, summed once (shares read them on every request). */
  private totals: { out: Float64Array; in: Float64Array } | null = null;

  /** Item a's transitions out (trained and live), plus `reverse` × those into it. */
  private rowTotal(a: number, reverse: number): number {
    if (!this.totals) {
      const out = new Float64Array(this.numItems), into = new Float64Array(this.numItems);
      for (let x = 0; x < this.numItems; x++) {
        for (let i = this.start[x]!; i < this.start[x + 1]!; i++) { out[x]! += this.count[i]!; into[this.next[i]!]! += this.count[i]!; }
      }
      this.totals = { out, in: into };
    }
    const trained = a < this.numItems;
    let n = trained ? this.totals.out[a]! : 0;
    this.liveNext.get(a)?.forEach((c) => { n += c; });
    if (reverse > 0) {
      let p = trained ? this.totals.in[a]! : 0;
      this.livePrev.get(a)?.forEach((c) => { p += c; });
      n += reverse * p;
    }
    return n;
  }

  /** The table transposed: for each item, the items that preceded it and how often. */
  private predecessors(): { start: Int32Array; prev: Int32Array; count: Float32Array } {
    if (this.before) return this.before;
    const n = this.numItems, start = new Int32Array(n + 1), prev = new Int32Array(this.next.length), count = new Float32Array(this.next.length);
    for (let i = 0; i < this.next.length; i++) start[this.next[i]! + 1]!++;
    for (let b = 0; b < n; b++) start[b + 1]! += start[b]!;
    const fill = start.slice(0, n);
    for (let a = 0; a < n; a++) {
      for (let i = this.start[a]!; i < this.start[a + 1]!; i++) {
        const at = fill[this.next[i]!]!++;
        prev[at] = a;
        count[at] = this.count[i]!;
      }
    }
    return (this.before = { start, prev, count });
  }

  /** The trained table as three arrays (a bundle stores them in safetensors; live transitions are not kept). */
  toArrays(): { start: Int32Array; next: Int32Array; count: Float32Array } {
    return { start: this.start, next: this.next, count: this.count };
  }

  static fromArrays(start: Int32Array, next: Int32Array, count: Float32Array, span = 1): TransitionTable {
    const n = start.length - 1, nnz = next.length;
    let ok = n >= 0 && count.length === nnz && start[0] === 0 && start[n] === nnz;
    for (let a = 0; ok && a < n; a++) ok = start[a]! <= start[a + 1]!;
    for (let i = 0; ok && i < nnz; i++) ok = next[i]! >= 0 && next[i]! < n && count[i]! > 0;
    if (!ok) throw new GenrecError('GENREC_E_BUNDLE', 'the transition table is malformed (offsets out of order or successors out of range)', 'the bundle is damaged: train it again');
    return new TransitionTable(n, start, next, count, span);
  }
}
