/**
 * The generative recommender: reads a user's history and generates the next item's semantic ID
 * (c₁, …, c_L), one code at a time, decoded by beam search constrained to valid IDs.
 *
 * Two architectures share the input side and the code head:
 * - `causal` — a causal transformer over the history items (like SASRec); the hidden state at each
 *   position feeds a small autoregressive code head. Every position is a training target.
 * - `lazy` — the OneRec-V2 "lazy decoder-only" design: history items are only embedded and projected
 *   into keys/values once (no encoder over the context); the depth is in a decoder whose queries are the
 *   code tokens being generated (causal self-attention over the ≤ L code tokens + cross-attention to the
 *   history). Training still uses every position: the decoder for target t sees history ≤ t.
 *
 * A history item's input embedding is the sum of its code embeddings, plus optional item-id,
 * event-type and time-gap embeddings. Codes live in a flat token space: level l's code c is token
 * `offsets[l] + c`, token 0 is padding. The item → code table is an INPUT of the inference graphs, so
 * items added after training (codes from the tokenizer's incremental path) are usable at once.
 */
import { Embedding, Linear, Module, Parameter, RMSNorm, op, type Graph, type Tensor } from '../engine/index.js';
import { Block, CausalChunks, causalBias, HstuBlock, MLP, SelfAttention, attention, causalMask, lastRow, mergeHeads, splitHeads, type BlockConfig } from './layers.js';

export interface GeneratorConfig {
  arch: 'causal' | 'lazy';
  /** Codes per level (K_l), the dedup level included. */
  codeSizes: number[];
  /** Items known at training time (item-id embeddings cover these). */
  numItems: number;
  maxLen: number;
  dModel: number;
  nHead: number;
  /** Causal: encoder blocks; lazy: decoder blocks. */
  nLayer: number;
  dFF?: number;
  /** Add a learned per-item embedding to the code sum (items unseen in training rely on codes). */
  itemIdEmbedding: boolean;
  /** Number of event types (0 = no type embedding). */
  numEventTypes: number;
  /** Number of log-scale time-gap buckets (0 = none). */
  gapBuckets: number;
  dropout: number;
  /**
   * Second-level code embeddings specific to their first-level parent (K₀·K₁ vectors added to the
   * shared ones). Residual codes are shared across parents, so without this the second level can
   * only tell siblings apart through the shared vectors; default true.
   */
  parentCodes?: boolean;
  /**
   * Output prototypes per first-level code (M): the code's logit adds log Σₘ exp(z·pₘ), so a code
   * whose items form several groups in the model's space is not squeezed into one vector. 1 = off.
   */
  firstLevelPrototypes?: number;
  /**
   * Initial std of the code, item, pair and prototype tables (default 1/√dModel, as SASRec's item
   * table). Adam moves a weight by about lr per step whatever its size, so the initial scale sets how
   * fast the tables change relative to their values: at 0.02 they fitted fast and plateaued early
   * (docs/results.md G20).
   */
  embStd?: number;
  /**
   * One softmax over every (c₀, c₁) prefix in the catalogue instead of two chained ones: a prefix's
   * score is z·(e₀[c₀] + e₁[c₁] + pair[c₀, c₁]) from the first level's state, the first level's logit
   * is the log Σ exp over its children, and the second level normalises over the children of the chosen
   * code — so P(c₀)·P(c₁ | c₀) is exactly that softmax. Every prefix vector then learns against all
   * others (not only its siblings). Costs O(number of prefixes ≤ K₀·K₁), whatever the catalogue size.
   * Replaces the first-level prototypes. `trainGenerator` turns it on by default (it knows the
   * catalogue's prefixes); a config without it (e.g. bundles written before it existed) is the chained head.
   */
  pairSoftmax?: boolean;
  /**
   * With the pair softmax: the number of (c₀, c₁) prefixes in the training catalogue. The pair table
   * has one row per prefix (not K₀·K₁); prefixes that appear later (new items) have no row of their own
   * and score through their shared code vectors.
   */
  pairRows?: number;
  /**
   * With the pair softmax: a history item's input also gets its prefix's pair-table row, so input and
   * output share the prefix vector e₀ + e₁ + pair (as SASRec ties its item table). Default false.
   */
  pairInput?: boolean;
  /**
   * A third-level code also gets a vector specific to its (c₀, c₁, c₂) prefix, added to the shared code
   * vector, as the pair table does for the second level. Residual codes are shared across parents, so
   * without it the third level — which mostly tells apart items that share a (c₀, c₁) prefix — can only
   * do so through the shared vectors and the head state. `trainGenerator` turns it on by default and
   * sets `tripleRows`; a config without it (bundles written before it existed) has none.
   */
  tripleVectors?: boolean;
  /** With `tripleVectors`: the training catalogue's (c₀, c₁, c₂) prefix count (one table row each). */
  tripleRows?: number;
  /**
   * With `tripleVectors`: a history item's input also gets its (c₀, c₁, c₂) prefix's triple-table row, so
   * (with `pairInput`) an item enters the model as the same vectors that score it on the way out, as
   * SASRec ties its item table. Default false.
   */
  tripleInput?: boolean;
  /**
   * Pair softmax: score a prefix by the cosine of the head state and the prefix's output vector
   * (e₀ + e₁ + pair), divided by this temperature — HSTU's l2-normalised embeddings, which keep an
   * item's score from growing with its vector's norm. 0 or absent = off (a dot with the RMS-normed state).
   */
  pairTemperature?: number;
  /**
   * Causal arch: a learned attention bias per head for each distance between history positions, in this
   * many buckets (exact up to 16, log-spaced to maxLen), added to the history self-attention's scores —
   * recency the absolute position table only encodes indirectly (HSTU's relative attention bias, without
   * time). 0 or absent = off; `trainGenerator` sets 32 when the history cap is ≥ 50 (docs/results.md G51, section 6).
   */
  relativeBuckets?: number;
  /**
   * Causal arch: the history encoder's block — 'transformer' (softmax attention + SwiGLU MLP, the default)
   * or 'hstu' (HSTU's pointwise SiLU attention with a gated output and no MLP; `HstuBlock`).
   */
  block?: 'transformer' | 'hstu';
}

export const defaultGeneratorConfig = (codeSizes: number[], numItems: number, maxLen: number): GeneratorConfig => ({
  arch: 'causal', codeSizes, numItems, maxLen, dModel: 64, nHead: 2, nLayer: 2, itemIdEmbedding: true,
  numEventTypes: 0, gapBuckets: 0, dropout: 0.3, firstLevelPrototypes: 16,
});

/**
 * Bucket of each (query i, key j) distance max(0, i − j) in a [T, T] grid: exact below 16 (or below
 * `buckets` when fewer), then log-spaced up to `maxLen`, the last bucket holding everything beyond.
 */
export function distanceBuckets(T: number, maxLen: number, buckets: number): Int32Array {
  const exact = Math.min(16, buckets), logRange = Math.log(Math.max(maxLen, exact + 1) / exact);
  const ofDistance = Int32Array.from({ length: T }, (_, d) =>
    d < exact ? d : Math.min(buckets - 1, exact + Math.floor(Math.log(d / exact) / logRange * (buckets - exact))));
  const out = new Int32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) out[i * T + j] = ofDistance[Math.max(0, i - j)]!;
  return out;
}

/** Flat token offsets: level l's code c is token offsets[l] + c; token 0 is padding. */
export function codeOffsets(codeSizes: readonly number[]): Int32Array {
  const o = new Int32Array(codeSizes.length);
  let s = 1;
  codeSizes.forEach((k, l) => { o[l] = s; s += k; });
  return o;
}

/**
 * The item → flat-token table [numItems + 1, L] for the graphs: row i + 1 is item i's codes shifted by
 * the level offsets; row 0 (padding) holds each level's first token so gathers stay in range (its
 * losses are masked out).
 */
export function itemTokenTable(codes: Int32Array, numItems: number, codeSizes: readonly number[]): Int32Array {
  const L = codeSizes.length;
  const off = codeOffsets(codeSizes);
  const t = new Int32Array((numItems + 1) * L);
  for (let l = 0; l < L; l++) t[l] = off[l]!;
  for (let i = 0; i < numItems; i++) for (let l = 0; l < L; l++) t[(i + 1) * L + l] = off[l]! + codes[i * L + l]!;
  return t;
}

/** Log-scale bucket of a time gap in seconds (0 = unknown / first event). */
export function gapBucket(seconds: number, buckets: number): number {
  if (!(seconds > 0)) return 0;
  return Math.min(buckets - 1, 1 + Math.floor(Math.log2(1 + seconds / 60)));
}

/** History inputs of a graph: [B, T] tensors, item tokens = item + 1 (0 = padding), left-padded. */
export interface HistoryInputs {
  items: Tensor;
  /** Float [B, T]: 1 where there is an item. */
  mask: Tensor;
  /** Int32 event type + 1 (0 = pad); used when numEventTypes > 0. */
  types?: Tensor;
  /** Int32 time-gap bucket; used when gapBuckets > 0. */
  gaps?: Tensor;
  /** Flat code tokens of every item [numItems + 1, L] (int32). */
  itemTokens: Tensor;
  /**
   * Packed training rows: several users' sequences share a row. `segments` [B, T] int32 numbers them
   * (0 = padding) so attention never crosses sequences; `positions` [B, T] int32 is each token's index
   * into the position table (as if its sequence were left-padded alone). Absent: one left-padded
   * sequence per row.
   */
  segments?: Tensor;
  positions?: Tensor;
  /** The pair table's row lookup [K₀·K₁] (see `PairHead.rowOf`); needed when `pairInput` is on. */
  pairRowOf?: Tensor;
  /** Each item's triple-table row [numItems + 1] (−1 = none; `itemTripleRows`); needed when `tripleInput` is on. */
  tripleRowOf?: Tensor;
}

/**
 * The valid children of each training target's true prefix at one level, padded to the level's largest
 * child count C: `codes` [N, C] int32 (codes within the level; padding repeats a valid one), `mask`
 * [N, C] additive (0 real, −1e9 padding), `target` [N] int32 (the slot holding the target's own code).
 */
export interface ChildSlots {
  codes: Tensor;
  mask: Tensor;
  target: Tensor;
  /** Third level with `tripleVectors`: each slot's row in the triple table [N, C]. */
  rows?: Tensor;
}

/**
 * Pair-softmax head inputs: `pairs` [P, 2] int32, the catalogue's (c₀, c₁) prefixes (codes within their
 * levels); `rowOf` [K₀·K₁] int32, the pair-table row of prefix c₀·K₁ + c₁ (`pairRows` = none, see
 * `pairRowTable`); `target` [N] int32, each training target's row in `pairs`.
 */
export interface PairHead {
  pairs: Tensor;
  rowOf: Tensor;
  target?: Tensor;
  /** Label smoothing of the prefix softmax in training (default 0). */
  labelSmoothing?: number;
}

/** The distinct (c₀, c₁) prefixes of a code table [count × L], in the trie's (sorted) order: [P × 2]. */
export function prefixPairs(trie: { nodeCount: Int32Array; tokens: Int32Array[]; parent: Int32Array[] }): Int32Array {
  const P = trie.nodeCount[2]!;
  const out = new Int32Array(P * 2);
  for (let j = 0; j < P; j++) {
    out[2 * j] = trie.tokens[0]![trie.parent[1]![j]!]!;
    out[2 * j + 1] = trie.tokens[1]![j]!;
  }
  return out;
}

/** Row of each prefix c₀·K₁ + c₁ among `pairs` (from `prefixPairs`), or P when it is not one of them. */
export function pairRowTable(pairs: Int32Array, K0: number, K1: number): Int32Array {
  const P = pairs.length / 2;
  const rowOf = new Int32Array(K0 * K1).fill(P);
  for (let j = 0; j < P; j++) rowOf[pairs[2 * j]! * K1 + pairs[2 * j + 1]!] = j;
  return rowOf;
}

/**
 * Decode-time tables of a pair-softmax model, [K₀, C] (C = the most children any first-level code has):
 * for each first-level code, its children's second-level codes, their pair-table rows and whether they
 * have one (`known`, float 1/0), and an additive `mask` (0 real, −1e9 padding). Built from the current
 * catalogue by `prefixChildren`, so items added after training are decodable at once.
 */
export interface PrefixChildren {
  codes: Tensor;
  rows: Tensor;
  known: Tensor;
  mask: Tensor;
}

/** C of the [K₀, C] decode tables: the most children any first-level code has (at least 1). */
function firstLevelWidth(trie: { tokens: Int32Array[]; childStart: Int32Array[] }): number {
  const cs = trie.childStart[1]!;
  let width = 1;
  for (let n = 0; n < trie.tokens[0]!.length; n++) width = Math.max(width, cs[n + 1]! - cs[n]!);
  return width;
}

/** `PrefixChildren` data from a trie (current catalogue) and the model's row lookup (`pairRowTable`). */
export function prefixChildren(trie: { tokens: Int32Array[]; childStart: Int32Array[] }, rowOf: Int32Array, pairRows: number, K0: number, K1: number): { width: number; codes: Int32Array; rows: Int32Array; known: Float32Array; mask: Float32Array } {
  const cs = trie.childStart[1]!, first = trie.tokens[0]!, second = trie.tokens[1]!, width = firstLevelWidth(trie);
  const codes = new Int32Array(K0 * width), rows = new Int32Array(K0 * width), known = new Float32Array(K0 * width), mask = new Float32Array(K0 * width).fill(-1e9);
  for (let n = 0; n < first.length; n++) {
    const c0 = first[n]!;
    for (let j = 0, k = cs[n]!; k < cs[n + 1]!; j++, k++) {
      const o = c0 * width + j, row = rowOf[c0 * K1 + second[k]!]!;
      codes[o] = second[k]!;
      mask[o] = 0;
      if (row < pairRows) { rows[o] = row; known[o] = 1; }
    }
  }
  return { width, codes, rows, known, mask };
}

/**
 * Decode-time table of a pair-softmax model's first level, one entry per (c₀, c₁) prefix of the current
 * catalogue [P] in trie order: its second-level code, pair-table row and whether it has one (`known`).
 * The P prefixes' scores form one [P, U] table (rows of U users), and a first-level code's log Σ over its
 * prefixes reads whole rows of it. The codes come in `groups` of similar child counts, each a padded
 * [codes, C_g] `index` of prefix positions with its additive `mask` (0 real, −1e9 padding); `order` [K₀]
 * is each code's row among the groups' rows, concatenated. One [K₀, C] table padded to the most children
 * any code has was 2.5–3 times the prefixes on Beauty (38,400 slots a user for P = 10,581), and that
 * padding was most of the first level's decode time.
 */
export interface FirstLevelPrefixes {
  codes: Tensor;
  rows: Tensor;
  known: Tensor;
  groups: { index: Tensor; mask: Tensor }[];
  order: Tensor;
}

/** How many child-count groups the first level's decode graph reads (`FirstLevelPrefixes`). */
export const FIRST_LEVEL_GROUPS = 6;
export const firstLevelGroupCount = (K0: number): number => Math.max(1, Math.min(FIRST_LEVEL_GROUPS, K0));

/**
 * Codes sorted by child count (then code), cut into `groups` consecutive runs that minimise the padded
 * slots Σ rows·(most children in the run): an exact dynamic programme. A cut inside a run of equal counts
 * never beats one at its end (the codes moved across it are no wider on the near side), so cuts are only
 * tried at those ends: O(groups·distinct counts²), re-run when the catalogue changes.
 */
export function childCountGroups(counts: Int32Array, groups: number): { sorted: Int32Array; cuts: [number, number][] } {
  const K = counts.length;
  const sorted = Int32Array.from({ length: K }, (_, c) => c).sort((a, b) => counts[a]! - counts[b]! || a - b);
  const width = (i: number) => Math.max(1, counts[sorted[i]!]!);
  const G = Math.min(groups, K);
  const at = [0];
  for (let j = 1; j <= K; j++) if (j === K || width(j) !== width(j - 1)) at.push(j);
  if (at.length - 1 <= G) {
    // No more runs of equal counts than groups: each run its own group pads nothing, and splitting the
    // longest runs (free within equal counts) makes up the number.
    const cuts: [number, number][] = at.slice(1).map((j, r) => [at[r]!, j]);
    while (cuts.length < G) {
      const r = cuts.reduce((best, c, i) => (c[1] - c[0] > cuts[best]![1] - cuts[best]![0] ? i : best), 0), [i, j] = cuts[r]!;
      cuts.splice(r, 1, [i, i + ((j - i) >> 1)], [i + ((j - i) >> 1), j]);
    }
    return { sorted, cuts };
  }
  const n = at.length;
  // cost[g][b]: the fewest slots for the sorted codes before at[b] in g runs; from[g][b]: where the last run starts.
  const cost = Array.from({ length: G + 1 }, () => new Float64Array(n).fill(Infinity));
  const from = Array.from({ length: G + 1 }, () => new Int32Array(n));
  cost[0]![0] = 0;
  for (let g = 1; g <= G; g++) {
    for (let b = g; b < n; b++) {
      for (let a = g - 1; a < b; a++) {
        const c = cost[g - 1]![a]! + (at[b]! - at[a]!) * width(at[b]! - 1);
        if (c < cost[g]![b]!) { cost[g]![b] = c; from[g]![b] = a; }
      }
    }
  }
  const cuts: [number, number][] = [];
  for (let g = G, b = n - 1; g > 0; g--) { const a = from[g]![b]!; cuts.unshift([at[a]!, at[b]!]); b = a; }
  return { sorted, cuts };
}

/** `FirstLevelPrefixes` data from a trie (current catalogue) and the model's row lookup (`pairRowTable`); `index` and `width` are the single padded [K₀, C] table that graphs exported before the groups read. */
export function firstLevelPrefixes(trie: { tokens: Int32Array[]; childStart: Int32Array[] }, rowOf: Int32Array, pairRows: number, K0: number, K1: number): {
  count: number; width: number; codes: Int32Array; rows: Int32Array; known: Float32Array; index: Int32Array;
  groups: { count: number; width: number; index: Int32Array; mask: Float32Array }[]; order: Int32Array;
} {
  const cs = trie.childStart[1]!, first = trie.tokens[0]!, second = trie.tokens[1]!, width = firstLevelWidth(trie);
  const count = cs[first.length]! - cs[0]!;
  const codes = new Int32Array(count), rows = new Int32Array(count), known = new Float32Array(count), index = new Int32Array(K0 * width);
  const children = new Int32Array(K0), start = new Int32Array(K0);
  for (let n = 0; n < first.length; n++) {
    children[first[n]!] = cs[n + 1]! - cs[n]!;
    start[first[n]!] = cs[n]! - cs[0]!;
    for (let j = 0, k = cs[n]!; k < cs[n + 1]!; j++, k++) {
      const p = k - cs[0]!, row = rowOf[first[n]! * K1 + second[k]!]!;
      codes[p] = second[k]!;
      index[first[n]! * width + j] = p;
      if (row < pairRows) { rows[p] = row; known[p] = 1; }
    }
  }
  const { sorted, cuts } = childCountGroups(children, firstLevelGroupCount(K0));
  const order = new Int32Array(K0);
  sorted.forEach((c, at) => { order[c] = at; });
  const groups = cuts.map(([i, j]) => {
    const w = Math.max(1, children[sorted[j - 1]!]!), gi = new Int32Array((j - i) * w), gm = new Float32Array((j - i) * w).fill(-1e9);
    for (let r = 0; r < j - i; r++) {
      const c = sorted[i + r]!;
      for (let k = 0; k < children[c]!; k++) { gi[r * w + k] = start[c]! + k; gm[r * w + k] = 0; }
    }
    return { count: j - i, width: w, index: gi, mask: gm };
  });
  return { count, width, codes, rows, known, index, groups, order };
}

/** The decode-time tables a decode step reads (which ones depends on the model and level; see buildDecodeGraph). */
export interface DecodeTables {
  children?: PrefixChildren;
  prefixes?: FirstLevelPrefixes;
  triples?: TripleChildren;
}

/**
 * Decode inputs of the third level with `tripleVectors`: for every depth-2 node of the current trie
 * [nodes, C] its children's codes, their rows in the triple table and whether they have one (prefixes
 * that appeared after training do not); `node` [rows] is each beam row's depth-2 node.
 */
export interface TripleChildren {
  node: Tensor;
  codes: Tensor;
  rows: Tensor;
  known: Tensor;
}

/**
 * `TripleChildren` tables for a trie (current catalogue); rows are the depth-3 nodes of `trained`, the
 * trie of the training catalogue (its depth-3 node order is the table's row order).
 */
export function tripleChildren(trie: PrefixTrieLike, trained: PrefixTrieLike): { width: number; nodes: number; codes: Int32Array; rows: Int32Array; known: Float32Array } {
  const cs = trie.childStart[2]!, nodes = cs.length - 1;
  let width = 1;
  for (let p = 0; p < nodes; p++) width = Math.max(width, cs[p + 1]! - cs[p]!);
  const codes = new Int32Array(nodes * width), rows = new Int32Array(nodes * width), known = new Float32Array(nodes * width);
  for (let p = 0; p < nodes; p++) {
    const q = trie.parent[1]![p]!;
    const t1 = trained.child(1, trained.child(0, 0, trie.tokens[0]![q]!), trie.tokens[1]![p]!);
    for (let j = 0, k = cs[p]!; k < cs[p + 1]!; j++, k++) {
      const o = p * width + j, c2 = trie.tokens[2]![k]!, row = trained.child(2, t1, c2);
      codes[o] = c2;
      if (row >= 0) { rows[o] = row; known[o] = 1; }
    }
  }
  return { width, nodes, codes, rows, known };
}

/**
 * The triple-table row of every item of a code table [count × L] (index = dense id + 1, as history
 * tokens; index 0 and items whose (c₀, c₁, c₂) prefix the training catalogue `trained` lacks: −1).
 */
export function itemTripleRows(trained: PrefixTrieLike, codes: Int32Array, count: number, L: number): Int32Array {
  const out = new Int32Array(count + 1).fill(-1);
  for (let i = 0; i < count; i++) {
    const o = i * L;
    out[i + 1] = trained.child(2, trained.child(1, trained.child(0, 0, codes[o]!), codes[o + 1]!), codes[o + 2]!);
  }
  return out;
}

/** The parts of a `PrefixTrie` the table builders read. */
export interface PrefixTrieLike {
  tokens: Int32Array[];
  childStart: Int32Array[];
  parent: Int32Array[];
  child(level: number, node: number, token: number): number;
}

/** What the encoder computes once per user and every decode step reuses. */
export type Context = { kind: 'causal'; h: Tensor } | { kind: 'lazy'; keys: Tensor[]; values: Tensor[]; bias: Tensor };

/** Cross-attention from code-token queries to a memory whose keys/values are computed once. */
class CrossAttention extends Module {
  readonly q: Linear;
  readonly kv: Linear;
  readonly proj: Linear;
  readonly qNorm: RMSNorm;
  readonly kNorm: RMSNorm;
  constructor(readonly c: BlockConfig) {
    super();
    this.q = new Linear(c.dModel, c.dModel, { bias: false });
    this.kv = new Linear(c.dModel, 2 * c.dModel, { bias: false });
    this.proj = new Linear(c.dModel, c.dModel, { bias: false });
    this.qNorm = new RMSNorm(c.dModel / c.nHead);
    this.kNorm = new RMSNorm(c.dModel / c.nHead);
  }
  /** Memory [B, T, d] → keys and values [B, H, T, dh]. */
  memory(m: Tensor): [Tensor, Tensor] {
    const d = this.c.dModel;
    const [k, v] = op.split(this.kv.forward(m), -1, [d, d]).map((t) => splitHeads(t, this.c.nHead)) as [Tensor, Tensor];
    return [this.kNorm.forward(k), v];
  }
  forward(x: Tensor, k: Tensor, v: Tensor, bias: Tensor | null): Tensor {
    const q = this.qNorm.forward(splitHeads(this.q.forward(x), this.c.nHead));
    return op.dropout(this.proj.forward(mergeHeads(attention(q, k, v, bias, x.graph.training, this.c.dropout))), this.c.dropout ?? 0, x.graph.training);
  }
}

/** Lazy-decoder block: self-attention over the code tokens of one target, cross-attention to history, MLP. */
class DecoderBlock extends Module {
  readonly norm1: RMSNorm;
  readonly self: SelfAttention;
  readonly norm2: RMSNorm;
  readonly cross: CrossAttention;
  readonly norm3: RMSNorm;
  readonly mlp: MLP;
  constructor(c: BlockConfig) {
    super();
    this.norm1 = new RMSNorm(c.dModel);
    this.self = new SelfAttention(c);
    this.norm2 = new RMSNorm(c.dModel);
    this.cross = new CrossAttention(c);
    this.norm3 = new RMSNorm(c.dModel);
    this.mlp = new MLP(c);
  }
  /**
   * x [B, Q·S, d]: Q targets × S code tokens each. Self-attention runs within each target's S tokens
   * (reshaped to [B·Q, S, d]); cross-attention sees the memory through `crossBias`.
   */
  forward(x: Tensor, S: number, k: Tensor, v: Tensor, crossBias: Tensor | null): Tensor {
    const [b, n, d] = x.shape as [number | string, number, number];
    const q = n / S;
    const selfIn = this.norm1.forward(x).reshape([-1, S, d]);
    x = x.add(this.self.forward(selfIn, S > 1 ? causalMask(x.graph, S) : null).reshape([b, q * S, d]));
    x = x.add(this.cross.forward(this.norm2.forward(x), k, v, crossBias));
    return x.add(this.mlp.forward(this.norm3.forward(x)));
  }
}

export class Generator extends Module {
  readonly codeEmb: Embedding;
  readonly prefixEmb: Embedding;
  readonly levelEmb: Parameter;
  readonly itemEmb: Embedding | null;
  readonly typeEmb: Embedding | null;
  readonly gapEmb: Embedding | null;
  readonly pos: Parameter;
  readonly encoder: (Block | HstuBlock)[];
  readonly encNorm: RMSNorm;
  readonly decoder: DecoderBlock[];
  readonly headNorm: RMSNorm;
  readonly headMlp: MLP;
  readonly outNorm: RMSNorm;
  readonly pairEmb: Parameter | null;
  readonly tripleEmb: Parameter | null;
  readonly protoEmb: Parameter | null;
  readonly relBias: Parameter | null;
  readonly offsets: Int32Array;

  constructor(readonly c: GeneratorConfig) {
    super();
    const block: BlockConfig = { dModel: c.dModel, nHead: c.nHead, dFF: c.dFF ?? 4 * c.dModel, norm: 'rms', mlp: 'swiglu', qkNorm: true, bias: false, dropout: c.dropout };
    const L = c.codeSizes.length;
    const vocab = 1 + c.codeSizes.reduce((a, b) => a + b, 0);
    this.offsets = codeOffsets(c.codeSizes);
    const std = c.embStd ?? 1 / Math.sqrt(c.dModel);
    this.codeEmb = new Embedding(vocab, c.dModel, { std });
    this.prefixEmb = new Embedding(vocab, c.dModel, { std });
    this.levelEmb = new Parameter([L, c.dModel], { init: { kind: 'normal', std: 0.02 } });
    this.itemEmb = c.itemIdEmbedding ? new Embedding(c.numItems + 1, c.dModel, { std }) : null;
    this.typeEmb = c.numEventTypes > 0 ? new Embedding(c.numEventTypes + 1, c.dModel) : null;
    this.gapEmb = c.gapBuckets > 0 ? new Embedding(c.gapBuckets, c.dModel) : null;
    this.pos = new Parameter([c.maxLen, c.dModel], { init: { kind: 'normal', std: 0.02 } });
    const causal = c.arch === 'causal';
    if (c.block !== undefined && c.block !== 'transformer' && c.block !== 'hstu') throw new Error(`block must be 'transformer' or 'hstu', got '${String(c.block)}'`);
    this.encoder = causal ? Array.from({ length: c.nLayer }, () => (c.block === 'hstu' ? new HstuBlock(block, c.maxLen) : new Block(block))) : [];
    this.encNorm = new RMSNorm(c.dModel);
    this.decoder = causal ? [] : Array.from({ length: c.nLayer }, () => new DecoderBlock(block));
    this.headNorm = new RMSNorm(c.dModel);
    this.headMlp = new MLP(block);
    this.outNorm = new RMSNorm(c.dModel);
    const M = c.firstLevelPrototypes ?? 1;
    this.protoEmb = M > 1 && !this.pairHead ? new Parameter([c.codeSizes[0]! * M, c.dModel], { init: { kind: 'normal', std } }) : null;
    if (c.pairTemperature !== undefined && c.pairTemperature !== 0 && !(this.pairHead && c.pairTemperature > 0)) throw new Error(`pairTemperature must be a positive number on a pair-softmax generator, got ${c.pairTemperature}`);
    if (this.pairHead && !(c.pairRows! > 0)) throw new Error('a pair-softmax generator needs pairRows (the training catalogue\'s prefix count)');
    const pairTableRows = this.pairHead ? c.pairRows! : c.codeSizes[0]! * (c.codeSizes[1] ?? 0);
    this.pairEmb = c.parentCodes !== false && L > 1 ? new Parameter([pairTableRows, c.dModel], { init: { kind: 'normal', std } }) : null;
    if (c.tripleVectors && L > 2 && !(c.tripleRows! > 0)) throw new Error('a generator with tripleVectors needs tripleRows (the training catalogue\'s (c₀, c₁, c₂) prefix count)');
    this.tripleEmb = c.tripleVectors && L > 2 ? new Parameter([c.tripleRows!, c.dModel], { init: { kind: 'normal', std } }) : null;
    const nb = c.relativeBuckets ?? 0;
    if (!(Number.isInteger(nb) && nb >= 0)) throw new Error(`relativeBuckets must be a non-negative integer, got ${nb}`);
    this.relBias = causal && nb > 0 ? new Parameter([nb, c.nHead], { init: { kind: 'zeros' }, decay: false }) : null;
  }

  get levels(): number { return this.c.codeSizes.length; }

  /** Whether the first two levels share one softmax over the catalogue's prefixes (`pairSoftmax`). */
  get pairHead(): boolean { return this.c.pairSoftmax === true && this.c.codeSizes.length > 1; }

  /** Input embedding of each history position [B, T, d]: Σ code embeddings (+ item, type, gap) + position. */
  embedHistory(h: HistoryInputs): Tensor {
    const g = h.items.graph;
    const T = h.items.dim(1) as number;
    const toks = op.gather(h.itemTokens, h.items); // [B, T, L]
    let x = this.codeEmb.forward(toks).sum(2);
    if (this.pairHead && this.c.pairInput && this.pairEmb) {
      if (!h.pairRowOf) throw new Error('a generator with pairInput needs the pair-row lookup in its history inputs');
      const level = (l: number) => op.squeeze(op.slice(toks, 2, l, l + 1), 2).sub(g.scalar(this.offsets[l]!, 'int32'));
      const { rows, known } = this.pairRows(level(0).mul(g.scalar(this.c.codeSizes[1]!, 'int32')).add(level(1)), h.pairRowOf);
      x = x.add(op.gather(this.pairEmb.on(g), rows).mul(op.unsqueeze(known, -1)));
    }
    if (this.tripleEmb && this.c.tripleInput) {
      if (!h.tripleRowOf) throw new Error('a generator with tripleInput needs the item → triple-row lookup in its history inputs');
      const rows = op.gather(h.tripleRowOf, h.items), known = op.greaterOrEqual(rows, g.scalar(0, 'int32'));
      const v = op.gather(this.tripleEmb.on(g), op.where(known, rows, g.scalar(0, 'int32')));
      x = x.add(v.mul(op.unsqueeze(op.cast(known, 'float32'), -1)));
    }
    if (this.itemEmb) {
      // Items added after training have no id embedding: they map to the zero-masked padding row.
      const known = op.where(op.greater(h.items, g.scalar(this.c.numItems, 'int32')), g.scalar(0, 'int32'), h.items);
      x = x.add(this.itemEmb.forward(known));
    }
    if (this.typeEmb && h.types) x = x.add(this.typeEmb.forward(h.types));
    if (this.gapEmb && h.gaps) x = x.add(this.gapEmb.forward(h.gaps));
    x = x.mul(op.unsqueeze(h.mask, -1)).add(this.positionRows(h, T));
    return op.dropout(x, this.c.dropout, g.training);
  }

  /** Position embeddings of the history tokens: [B, T, d] when packed, else [T, d]. */
  private positionRows(h: HistoryInputs, T: number): Tensor {
    const table = this.pos.on(h.items.graph);
    return h.positions ? op.gather(table, h.positions) : op.slice(table, 0, this.c.maxLen - T, this.c.maxLen);
  }

  /** Packed rows: bias [B, T, T] letting token i see token j iff same segment and j ≤ i. */
  private segmentBias(segments: Tensor): Tensor {
    const g = segments.graph;
    const T = segments.dim(1) as number;
    const same = op.equal(op.unsqueeze(segments, 2), op.unsqueeze(segments, 1));
    const causal = op.greaterOrEqual(g.constant(Int32Array.from({ length: T * T }, (_, k) => Math.floor(k / T) - (k % T)), [T, T], 'int32'), g.scalar(0, 'int32'));
    return op.where(g.node('And', [same, op.expand(causal, [1, T, T])], [['bool', same.shape]])[0]!, 0, -1e9);
  }

  /** Additive attention bias [B, 1, 1, T] that hides padded history positions. */
  private keyPadding(mask: Tensor): Tensor {
    return op.unsqueeze(op.unsqueeze(op.sub(1, mask).mul(-1e9), 1), 1);
  }

  /**
   * The relative bias [H, T, T] for query i and key j at distance i − j. A sequence's tokens are
   * contiguous in a row, packed or left-padded, so the row distance is the distance in the history
   * (pairs across sequences are masked anyway).
   */
  private relativeBias(g: Graph, T: number): Tensor {
    const buckets = distanceBuckets(T, this.c.maxLen, this.relBias!.shape[0]!);
    return op.gather(this.relBias!.on(g), g.constant(buckets, [T, T], 'int32')).transpose([2, 0, 1]);
  }

  /**
   * Causal arch: hidden state at every history position [B, T, d], or with `lastOnly` at the last one
   * [B, 1, d]: the last block's `forwardLast` (a transformer block computes that position alone).
   */
  encode(h: HistoryInputs, lastOnly = false): Tensor {
    let x = this.embedHistory(h);
    const T = h.items.dim(1) as number;
    const terms = [h.segments ? op.unsqueeze(this.segmentBias(h.segments), 1) : causalMask(x.graph, T).add(this.keyPadding(h.mask))];
    if (this.relBias) terms.push(this.relativeBias(x.graph, T));
    // A training step (every position, transformer blocks) takes the bias in query chunks: the same result
    // for less score work.
    const chunkable = !lastOnly && this.encoder.every((b) => b instanceof Block);
    const bias = chunkable ? causalBias(x.graph, terms, T) : terms.reduce((a, b) => a.add(b));
    if (bias instanceof CausalChunks) {
      for (const b of this.encoder as Block[]) x = b.forward(x, bias);
      return this.encNorm.forward(x);
    }
    const last = lastOnly ? this.encoder.at(-1) : undefined;
    for (const b of lastOnly ? this.encoder.slice(0, -1) : this.encoder) x = b.forward(x, bias);
    if (lastOnly) x = last ? last.forwardLast(x, bias) : lastRow(x, 1);
    return this.encNorm.forward(x);
  }

  /** Per-layer keys/values of the history for the lazy decoder. */
  memory(h: HistoryInputs): { keys: Tensor[]; values: Tensor[] } {
    const m = this.embedHistory(h);
    const keys: Tensor[] = [], values: Tensor[] = [];
    for (const d of this.decoder) {
      const [k, v] = d.cross.memory(m);
      keys.push(k); values.push(v);
    }
    return { keys, values };
  }

  /** Level embedding rows [l1 - l0, d]. */
  private levelRows(g: Graph, l0: number, l1: number): Tensor {
    return op.slice(this.levelEmb.on(g), 0, l0, l1);
  }

  /** Causal-arch head: states for the next code given h [..., d] and Σ of the prefix embeddings. */
  private head(u: Tensor): Tensor {
    return u.add(this.headMlp.forward(this.headNorm.forward(u)));
  }

  /** Additive bias [T·S, T]: the S code tokens of target t see history positions ≤ t. */
  private targetCausalBias(g: Graph, T: number, S: number): Tensor {
    const m = new Float32Array(T * S * T);
    for (let t = 0; t < T; t++) for (let s = 0; s < S; s++) for (let j = t + 1; j < T; j++) m[(t * S + s) * T + j] = -1e9;
    return g.constant(m, [T * S, T], 'float32');
  }

  /**
   * Training loss: the sum over levels of the mean cross-entropy of each target's code at that level,
   * with teacher forcing (the true prefix). targets: [B, T] item tokens (0 = none); weights [B, T];
   * levelMasks[l]: [B·T, K_l] additive masks (0 for the valid children of the true prefix, −1e9 else).
   * slots[l], when given, replaces level l's mask: the softmax then runs over the few valid children
   * only (the same loss for a fraction of the work below the first level, where a prefix has ~K/8 children).
   */
  loss(h: HistoryInputs, targets: Tensor, weights: Tensor, levelMasks?: Tensor[], slots?: (ChildSlots | null)[], pairHead?: PairHead): Tensor {
    const g = targets.graph;
    const [B, T] = targets.shape as [number, number];
    const L = this.levels, d = this.c.dModel;
    const tgt = op.gather(h.itemTokens, targets); // [B, T, L]
    const P = this.prefixEmb.forward(tgt); // [B, T, L, d]
    // The levels whose states the causal head computes: with the pair softmax the second level shares
    // the first's state, so its own is never computed (a quarter of the head's work at four levels).
    const causal = this.c.arch === 'causal';
    const read = Array.from({ length: L }, (_, l) => l).filter((l) => !(causal && this.pairHead && l === 1));
    let Z: Tensor; // [B, T, read.length, d] states that predict the levels in `read`
    if (causal) {
      const hs = op.unsqueeze(this.encode(h), 2); // [B, T, 1, d]
      const pieces: Tensor[] = [];
      let acc: Tensor = hs;
      for (let l = 0; l < L; l++) {
        if (l > 0) acc = acc.add(op.slice(P, 2, l - 1, l));
        if (read.includes(l)) pieces.push(acc.add(this.levelRows(g, l, l + 1)));
      }
      Z = this.head(op.concat(pieces, 2));
    } else {
      const { keys, values } = this.memory(h);
      const shifted = L > 1 ? op.concat([op.zerosLike(op.slice(P, 2, 0, 1)), op.slice(P, 2, 0, L - 1)], 2) : op.zerosLike(P);
      // Each target's code tokens carry the position of its last history item (the most recent one).
      const posT = op.unsqueeze(this.positionRows(h, T), -2); // [B, T, 1, d] or [T, 1, d]
      let x = shifted.add(this.levelRows(g, 0, L)).add(posT).reshape([B, T * L, d]);
      const bias = h.segments
        ? op.unsqueeze(op.expand(op.unsqueeze(this.segmentBias(h.segments), 2), [B, T, L, T]).reshape([B, T * L, T]), 1)
        : this.targetCausalBias(g, T, L).add(this.keyPadding(h.mask));
      this.decoder.forEach((blk, i) => { x = blk.forward(x, L, keys[i]!, values[i]!, bias); });
      Z = x.reshape([B, T, L, d]);
    }
    const state = (l: number) => op.slice(Z, 2, read.indexOf(l), read.indexOf(l) + 1).reshape([B * T, d]);
    const w = weights.reshape([B * T]);
    let total: Tensor | null = null;
    let first = 0;
    if (this.pairHead) {
      // Levels 0 and 1 as one softmax over the catalogue's prefixes, from the first level's state.
      if (!pairHead?.target) throw new Error('a pair-softmax generator needs the prefix table and each target\'s prefix row');
      const { query, vectors } = this.pairOperands(state(0), pairHead);
      total = op.linearCrossEntropy(query, vectors, pairHead.target, { weights: w, labelSmoothing: pairHead.labelSmoothing ?? 0 });
      first = 2;
    }
    for (let l = first; l < L; l++) {
      const zl = state(l);
      const cls = op.slice(tgt, 2, l, l + 1).reshape([B * T]).sub(g.scalar(this.offsets[l]!, 'int32'));
      // With masks, level l's softmax runs over the valid children of the true prefix only (a
      // hierarchical softmax over the trie), so log P(item) is the sum of the levels' log-probs.
      const parent = l === 1 ? op.slice(tgt, 2, 0, 1).reshape([B * T]) : null;
      const slot = slots?.[l];
      let slotLogits = slot ? this.levelLogits(zl, l, parent, slot.codes) : null;
      if (slot && l === 2 && this.tripleEmb) {
        if (!slot.rows) throw new Error('a generator with tripleVectors needs each third-level slot\'s table row');
        slotLogits = slotLogits!.add(tableDots(this.tripleEmb.on(g), this.outNorm.forward(zl), slot.rows));
      }
      const ce = slot
        ? op.crossEntropy(slotLogits!.add(slot.mask), slot.target, { weights: w })
        : op.crossEntropy(levelMasks ? this.levelLogits(zl, l, parent).add(levelMasks[l]!) : this.levelLogits(zl, l, parent), cls, { weights: w });
      total = total ? total.add(ce) : ce;
    }
    return total!;
  }

  /** Inference: the per-user context, computed once per request. */
  context(h: HistoryInputs): Context {
    if (this.c.arch === 'causal') {
      return { kind: 'causal', h: op.squeeze(this.encode(h, true), 1) };
    }
    const { keys, values } = this.memory(h);
    return { kind: 'lazy', keys, values, bias: this.keyPadding(h.mask) };
  }

  /**
   * Inference decode step for `level`: logits [N, K_level] of the next code for N beam rows (the beam
   * search normalises them over the valid children of each row's prefix, as training does).
   * rowUser [N] picks each row's user context (so the context is never recomputed per beam);
   * prefix [N, level] holds the flat tokens decoded so far (null at level 0).
   */
  decodeStep(ctx: Context, rowUser: Tensor, prefix: Tensor | null, level: number, tables: DecodeTables = {}): Tensor {
    const { children, prefixes, triples } = tables;
    if (level === 2 && this.tripleEmb) {
      // z·e₂ for every code, plus the triple term at the row's prefix's children only.
      if (!triples) throw new Error('a generator with tripleVectors decodes its third level from the triple-children tables');
      const z = this.decodeState(ctx, rowUser, prefix, 2);
      return addChildDots(this.levelLogits(z, 2), this.tripleEmb.on(rowUser.graph), this.outNorm.forward(z), triples, triples.node);
    }
    if (!(this.pairHead && level < 2)) return this.levelLogits(this.decodeState(ctx, rowUser, prefix, level), level, level === 1 && prefix ? op.slice(prefix, 1, 0, 1).reshape([-1]) : null);
    if (this.c.pairTemperature) {
      if (!children) throw new Error('a cosine pair softmax decodes its first two levels from the prefix-children tables');
      return this.cosinePairStep(this.pairQuery(this.decodeState(ctx, rowUser, null, 0)), prefix, level, children);
    }
    if (level === 0) {
      if (!prefixes) throw new Error('a pair-softmax generator decodes its first level from the first-level prefix table');
      return this.firstLevel(ctx, rowUser, prefixes).logits;
    }
    if (!children) throw new Error('a pair-softmax generator decodes its second level from the prefix-children tables');
    return this.secondLevel(ctx, rowUser, prefix!, children, false);
  }

  /**
   * A (dot-product) pair softmax's first level: logits [N, K0] (z·e₀ + log Σ over each code's prefixes of
   * z·(e₁ + pair)), and the per-user score tables the second level reads, `codeScores` z·e₁ [U, K1] and
   * `pairScores` z·pair [U, R] (outputs of the first level's decode graph, so the second does not compute
   * them again: for one user that would read the whole pair table a second time).
   */
  firstLevel(ctx: Context, rowUser: Tensor, prefixes: FirstLevelPrefixes): { logits: Tensor; codeScores: Tensor; pairScores: Tensor | null } {
    const g = rowUser.graph;
    // The state depends on the user only: scored once per user and gathered to the rows. Normalising it once
    // per graph, not once per use as levelLogits would, measured ~30% faster (17 vs 23 ms, 64 users).
    const zu = this.outNorm.forward(this.decodeState(ctx, null, null, 0));
    // Score tables of all codes [K1, U] and all pair rows [R, U], a column per user; every prefix's score [P, U]
    // is its code's row plus its pair row's.
    const e1 = op.gemm(this.codeVectors(g, 1), zu, false, true);
    const pair = this.pairEmb ? op.gemm(this.pairEmb.on(g), zu, false, true) : null;
    let s = op.gather(e1, prefixes.codes);
    if (pair) s = s.add(op.gather(pair, prefixes.rows).mul(op.unsqueeze(prefixes.known, -1)));
    // Each group's codes' prefixes' rows [codes, C_g, U] (padding masked), log Σ over them, back in code order → [U, K0].
    const parts = prefixes.groups.map((t) => op.logSumExp(op.gather(s, t.index).add(op.unsqueeze(t.mask, -1)), 1));
    const lse = op.transposeLast(op.gather(op.concat(parts, 0), prefixes.order));
    const s0 = op.gemm(zu, this.codeVectors(g, 0), false, true); // [U, K0]
    return { logits: op.gather(s0.add(lse), rowUser), codeScores: op.transposeLast(e1), pairScores: pair ? op.transposeLast(pair) : null };
  }

  /**
   * A pair softmax's second level at each row's children only: [N, C], entry (r, i) the logit of the
   * i-th child (trie order) of row r's first-level code, −1e9 past its last child. It is what the beam
   * search reads, without scattering the pair terms into [N, K₁] rows of which it reads a few (the
   * `child_logits` output of the second level's decode graph).
   */
  secondLevelChildLogits(ctx: Context, rowUser: Tensor, prefix: Tensor, children: PrefixChildren, scores?: { codeScores: Tensor; pairScores: Tensor | null }): Tensor {
    return this.secondLevel(ctx, rowUser, prefix, children, true, scores);
  }

  /**
   * Second level of a (dot-product) pair softmax: z·e₁ for every code, plus the pair term at the chosen
   * code's children only. Both read the first level's state, which depends on the user only: z·e₁ and
   * z·pair are computed once per user and read per row (flattened: user·K₁ + code, user·R + row).
   */
  private secondLevel(ctx: Context, rowUser: Tensor, prefix: Tensor, children: PrefixChildren, byChild: boolean, scores?: { codeScores: Tensor; pairScores: Tensor | null }): Tensor {
    const g = rowUser.graph, K1 = this.c.codeSizes[1]!;
    const zu = scores ? null : this.outNorm.forward(this.decodeState(ctx, null, null, 0));
    const s1 = scores?.codeScores ?? op.gemm(zu!, this.codeVectors(g, 1), false, true); // [U, K1]
    const pairScores = scores ? scores.pairScores : this.pairEmb ? op.gemm(zu!, this.pairEmb.on(g), false, true) : null; // [U, R]
    const parent = op.slice(prefix, 1, 0, 1).reshape([-1]).sub(g.scalar(this.offsets[0]!, 'int32'));
    const codes = op.gather(children.codes, parent); // [N, C]
    const perRow = (t: Tensor, width: number, at: Tensor) => op.gather(t.reshape([-1]), op.unsqueeze(rowUser.mul(g.scalar(width, 'int32')), -1).add(at));
    const dots = pairScores && this.pairEmb
      ? perRow(pairScores, this.pairEmb.shape[0]!, op.gather(children.rows, parent)).mul(op.gather(children.known, parent))
      : null;
    if (byChild) {
      const own = perRow(s1, K1, codes).add(op.gather(children.mask, parent));
      return dots ? own.add(dots) : own;
    }
    return dots ? op.scatterElementsAdd(op.gather(s1, rowUser), codes, dots, 1) : op.gather(s1, rowUser);
  }

  /**
   * `decodeStep` for levels 0 and 1 of a cosine pair softmax. A prefix's logit is q·ŵ (q the scaled unit
   * state, ŵ the prefix's unit vector), which does not split into per-code terms, so level 0 is
   * log Σ over a code's children of q·ŵ and level 1 is q·ŵ at the chosen code's children (0 elsewhere:
   * the search normalises over valid children only).
   */
  private cosinePairStep(q: Tensor, prefix: Tensor | null, level: number, children: PrefixChildren): Tensor {
    const g = q.graph, K1 = this.c.codeSizes[1]!;
    const w = this.childUnitVectors(children); // [K0, C, d]
    if (level === 0) {
      const s = op.matmul(w, op.transposeLast(q)).add(op.unsqueeze(children.mask, -1)); // [K0, C, N]
      return op.transposeLast(op.logSumExp(s, 1)); // [N, K0]
    }
    const parent = op.slice(prefix!, 1, 0, 1).reshape([-1]).sub(g.scalar(this.offsets[0]!, 'int32'));
    const valid = op.cast(op.greater(op.gather(children.mask, parent), g.scalar(-1)), 'float32'); // [N, C]
    const dots = op.squeeze(op.gather(w, parent).matmul(op.unsqueeze(q, -1)), -1).mul(valid);
    const base = op.zerosLike(op.slice(q, 1, 0, 1)).add(g.constant(new Float32Array(K1), [K1], 'float32')); // [N, K1]
    return op.scatterElementsAdd(base, op.gather(children.codes, parent), dots, 1);
  }

  /**
   * Head state [N, d] that predicts `level`'s code given the prefix (with the pair softmax, the second
   * level reads the first level's state: the two share one softmax). `rowUser` null: one row per user of
   * the context, in its order.
   */
  decodeState(ctx: Context, rowUser: Tensor | null, prefix: Tensor | null, level: number): Tensor {
    const rowsOf = (t: Tensor) => (rowUser ? op.gather(t, rowUser) : t);
    if (ctx.kind === 'causal') {
      const g = ctx.h.graph;
      let u = rowsOf(ctx.h).add(this.levelRows(g, level, level + 1));
      if (prefix) u = u.add(this.prefixEmb.forward(prefix).sum(1));
      return this.head(u);
    } else {
      const g = ctx.bias.graph;
      const S = level + 1;
      const lastPos = op.slice(this.pos.on(g), 0, this.c.maxLen - 1, this.c.maxLen); // [1, d]
      const bias = rowsOf(ctx.bias); // [N, 1, 1, T]
      let x = this.levelRows(g, 0, S).add(lastPos); // [S, d]
      if (prefix) {
        const P = this.prefixEmb.forward(prefix); // [N, level, d]
        x = op.concat([op.zerosLike(op.slice(P, 1, 0, 1)), P], 1).add(x);
      } else {
        // One BOS token per row: broadcast [1, 1, d] against a [rows, 1, 1] zero tensor.
        x = op.unsqueeze(x, 0).add(op.zerosLike(op.squeeze(op.slice(bias, 3, 0, 1), -1)));
      }
      this.decoder.forEach((blk, i) => {
        x = blk.forward(x, S, rowsOf(ctx.keys[i]!), rowsOf(ctx.values[i]!), bias);
      });
      return op.squeeze(op.slice(x, 1, S - 1, S), 1);
    }
  }

  /** Level `level`'s code vectors [K_level, d]: its rows of the shared code table. */
  private codeVectors(g: Graph, level: number): Tensor {
    const off = this.offsets[level]!;
    return op.slice(this.codeEmb.table(g), 0, off, off + this.c.codeSizes[level]!);
  }

  /** Pair softmax: logits [N, P] of the prefixes `pairs` [P, 2] from first-level states z [N, d]. */
  pairLogits(z: Tensor, head: PairHead): Tensor {
    const { query, vectors } = this.pairOperands(z, head);
    return op.gemm(query, vectors, false, true);
  }

  /** The pair softmax's operands: its query [N, d] and the prefixes' output vectors [P, d] (logits = query · vectorsᵀ). */
  private pairOperands(z: Tensor, head: PairHead): { query: Tensor; vectors: Tensor } {
    const g = z.graph;
    const K1 = this.c.codeSizes[1]!;
    const c0 = op.slice(head.pairs, 1, 0, 1).reshape([-1]), c1 = op.slice(head.pairs, 1, 1, 2).reshape([-1]);
    const table = this.codeEmb.table(g);
    let w = op.gather(table, c0.add(g.scalar(this.offsets[0]!, 'int32'))).add(op.gather(table, c1.add(g.scalar(this.offsets[1]!, 'int32'))));
    if (this.pairEmb) {
      const { rows, known } = this.pairRows(c0.mul(g.scalar(K1, 'int32')).add(c1), head.rowOf);
      const v = op.gather(this.pairEmb.on(g), rows);
      w = w.add(v.mul(op.unsqueeze(known, -1)));
    }
    return { query: this.pairQuery(z), vectors: this.c.pairTemperature ? l2Normalize(w) : w };
  }

  /** The head state as the pair softmax reads it: RMS-normed, or unit-length / temperature (`pairTemperature`). */
  private pairQuery(z: Tensor): Tensor {
    const tau = this.c.pairTemperature;
    return tau ? l2Normalize(z).mul(1 / tau) : this.outNorm.forward(z);
  }

  /**
   * Cosine pair softmax at inference: unit output vectors [K₀, C, d] of every first-level code's C
   * child prefixes (e₀ + e₁ + pair; a prefix newer than the pair table, e₀ + e₁).
   */
  private childUnitVectors(children: PrefixChildren): Tensor {
    const g = children.codes.graph, table = this.codeEmb.table(g);
    const first = op.unsqueeze(this.codeVectors(g, 0), 1); // [K0, 1, d]
    let w = first.add(op.gather(table, children.codes.add(g.scalar(this.offsets[1]!, 'int32')))); // [K0, C, d]
    if (this.pairEmb) w = w.add(op.gather(this.pairEmb.on(g), children.rows).mul(op.unsqueeze(children.known, -1)));
    return l2Normalize(w);
  }

  /**
   * Compact pair-table rows of flat prefixes c₀·K₁ + c₁ (any shape): rowOf[prefix], and `known` (float,
   * same shape) 0 for a prefix without a row — its pair term must be zeroed.
   */
  private pairRows(flat: Tensor, rowOf: Tensor): { rows: Tensor; known: Tensor } {
    const g = flat.graph;
    const rows = op.gather(rowOf, flat), inTable = op.less(rows, g.scalar(this.c.pairRows!, 'int32'));
    return { rows: op.where(inTable, rows, g.scalar(0, 'int32')), known: op.cast(inTable, 'float32') };
  }



  /**
   * Logits [N, K_level] of level `level`'s codes from head states z [N, d]: dot products with the
   * level's code embeddings (tied to the input ones), plus — at the second level — the embeddings of
   * the code under its first-level parent (`parentToken`: the parent's flat token [N]). With
   * `children` [N, C] (codes within the level) only those C logits per row are returned.
   */
  levelLogits(z: Tensor, level: number, parentToken: Tensor | null = null, children: Tensor | null = null): Tensor {
    const g = z.graph;
    const K = this.c.codeSizes[level]!;
    const zn = this.outNorm.forward(z);
    let logits = op.gemm(zn, this.codeVectors(g, level), false, true);
    if (level === 0 && this.protoEmb) {
      // + log Σₘ exp(sₘ) over the M prototype scores of each code.
      const s = op.gemm(zn, this.protoEmb.on(g), false, true).reshape([zn.dim(0), K, this.c.firstLevelPrototypes!]);
      logits = logits.add(op.logSumExp(s, -1));
    }
    if (children) logits = op.gatherElements(logits, children, 1);
    if (level !== 1 || !this.pairEmb || !parentToken) return logits;
    // Rows parent·K + c for each candidate c: [N, C] indices → [N, C, d] vectors → batched mat-vec with z.
    const first = parentToken.sub(g.scalar(this.offsets[0]!, 'int32')).mul(g.scalar(K, 'int32'));
    const candidates = children ?? g.constant(Int32Array.from({ length: K }, (_, i) => i), [K], 'int32');
    return logits.add(tableDots(this.pairEmb.on(g), zn, op.unsqueeze(first, -1).add(candidates)));
  }
}

/** x / |x| over the last axis. */
function l2Normalize(x: Tensor): Tensor {
  return x.mul(op.rsqrt(op.sum(x.mul(x), -1, true).add(1e-12)));
}

/** zn [N, d] · table[rows] for table rows [N, C] → [N, C]: scores of a few per-row candidate vectors. */
function tableDots(table: Tensor, zn: Tensor, rows: Tensor): Tensor {
  return op.squeeze(op.gather(table, rows).matmul(op.unsqueeze(zn, -1)), -1);
}

/**
 * Decode: `base` [N, K] code scores plus zn·table[row] at each beam row's children, read from per-key
 * children tables [keys, C] (`codes`, `rows`, `known` 1/0) by each row's key [N] — a first-level code
 * for the pair table, a depth-2 trie node for the triple table. Unknown children (no table row) add 0.
 */
function addChildDots(base: Tensor, table: Tensor, zn: Tensor, children: { codes: Tensor; rows: Tensor; known: Tensor }, key: Tensor): Tensor {
  const dots = tableDots(table, zn, op.gather(children.rows, key)).mul(op.gather(children.known, key));
  return op.scatterElementsAdd(base, op.gather(children.codes, key), dots, 1);
}

/** Names of the context tensors passed from the encode graph to the decode graphs. */
export function contextNames(c: GeneratorConfig): string[] {
  if (c.arch === 'causal') return ['ctx_h'];
  return [...Array.from({ length: c.nLayer }, (_, i) => [`ctx_k${i}`, `ctx_v${i}`]).flat(), 'ctx_bias'];
}

/**
 * Inference graphs of a generator: `encode` (history → context, once per user) and one `decode` per
 * level (context rows + prefix → log-probs of the next code). Users and beam rows are dynamic dims.
 */
export function buildEncodeGraph(model: Generator, g: Graph): Record<string, Tensor> {
  const c = model.c, T = c.maxLen, L = c.codeSizes.length;
  const h: HistoryInputs = {
    items: g.input('items', 'int32', ['users', T]),
    mask: g.input('mask', 'float32', ['users', T]),
    itemTokens: g.input('item_tokens', 'int32', ['catalog', L]),
    ...(c.numEventTypes > 0 ? { types: g.input('types', 'int32', ['users', T]) } : {}),
    ...(c.gapBuckets > 0 ? { gaps: g.input('gaps', 'int32', ['users', T]) } : {}),
    ...(model.pairHead && c.pairInput ? { pairRowOf: g.input('pair_rows', 'int32', [c.codeSizes[0]! * c.codeSizes[1]!]) } : {}),
    ...(model.tripleEmb && c.tripleInput ? { tripleRowOf: g.input('item_triple_rows', 'int32', ['catalog']) } : {}),
  };
  const ctx = model.context(h);
  const names = contextNames(c);
  if (ctx.kind === 'causal') return { [names[0]!]: ctx.h };
  const out: Record<string, Tensor> = {};
  ctx.keys.forEach((k, i) => { out[`ctx_k${i}`] = k; out[`ctx_v${i}`] = ctx.values[i]!; });
  out.ctx_bias = ctx.bias;
  return out;
}

export function buildDecodeGraph(model: Generator, g: Graph, level: number): Record<string, Tensor> {
  const c = model.c, d = c.dModel, T = c.maxLen, H = c.nHead;
  let ctx: Context;
  if (c.arch === 'causal') ctx = { kind: 'causal', h: g.input('ctx_h', 'float32', ['users', d]) };
  else {
    const keys: Tensor[] = [], values: Tensor[] = [];
    for (let i = 0; i < c.nLayer; i++) {
      keys.push(g.input(`ctx_k${i}`, 'float32', ['users', H, T, d / H]));
      values.push(g.input(`ctx_v${i}`, 'float32', ['users', H, T, d / H]));
    }
    ctx = { kind: 'lazy', keys, values, bias: g.input('ctx_bias', 'float32', ['users', 1, 1, T]) };
  }
  const rowUser = g.input('row_user', 'int32', ['rows']);
  const prefix = level > 0 ? g.input('prefix', 'int32', ['rows', level]) : null;
  const K0 = c.codeSizes[0]!;
  const tables: DecodeTables = {};
  // A pair softmax's first level reads the flat prefix table (the cosine one: the padded children).
  if (model.pairHead && level === 0 && !c.pairTemperature) {
    tables.prefixes = {
      codes: g.input('prefix_codes', 'int32', ['prefixes']), rows: g.input('prefix_rows', 'int32', ['prefixes']), known: g.input('prefix_known', 'float32', ['prefixes']),
      groups: Array.from({ length: firstLevelGroupCount(K0) }, (_, i) => ({ index: g.input(`prefix_index_${i}`, 'int32', [`codes_${i}`, `width_${i}`]), mask: g.input(`prefix_mask_${i}`, 'float32', [`codes_${i}`, `width_${i}`]) })),
      order: g.input('prefix_order', 'int32', [K0]),
    };
  } else if (model.pairHead && level < 2) {
    tables.children = { codes: g.input('child_codes', 'int32', [K0, 'width']), rows: g.input('child_rows', 'int32', [K0, 'width']), known: g.input('child_known', 'float32', [K0, 'width']), mask: g.input('child_mask', 'float32', [K0, 'width']) };
  }
  if (level === 2 && model.tripleEmb) {
    tables.triples = { node: g.input('triple_node', 'int32', ['rows']), codes: g.input('triple_codes', 'int32', ['nodes', 'twidth']), rows: g.input('triple_rows', 'int32', ['nodes', 'twidth']), known: g.input('triple_known', 'float32', ['nodes', 'twidth']) };
  }
  if (model.pairHead && !c.pairTemperature && level < 2) {
    // A dot-product pair softmax: the first level also returns the users' score tables, which the second
    // level reads (with its logits at each row's children only).
    const K1 = c.codeSizes[1]!, R = model.pairEmb?.shape[0];
    if (level === 0) {
      const f = model.firstLevel(ctx, rowUser, tables.prefixes!);
      return { logits: f.logits, user_code_scores: f.codeScores, ...(f.pairScores ? { user_pair_scores: f.pairScores } : {}) };
    }
    const scores = { codeScores: g.input('user_code_scores', 'float32', ['users', K1]), pairScores: R ? g.input('user_pair_scores', 'float32', ['users', R]) : null };
    return { child_logits: model.secondLevelChildLogits(ctx, rowUser, prefix!, tables.children!, scores) };
  }
  return { logits: model.decodeStep(ctx, rowUser, prefix, level, tables) };
}
