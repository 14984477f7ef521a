/**
 * Batched beam search over semantic IDs, constrained by the code trie: only valid prefixes are ever
 * extended, so every result is a real item (0 invalid codes). Items to exclude (already seen, hidden)
 * are removed INSIDE the search: a subtree whose items are all excluded is never entered, so the search
 * returns k items whenever the catalogue has them. The per-user context is computed once by the caller;
 * `decode` only maps beam rows to their user (rowUser).
 */
import type { PrefixTrie } from '../tokenizer/index.js';
import type { NodeMass } from '../models/transitions.js';

/**
 * Logits of the next code for N rows (beam prefixes of their users), one array per ensemble member (the
 * search averages them at the few entries it reads): [N, K_level] over the level's codes, or with
 * `childWidth` set [N, childWidth] over each row's valid children in trie order (the rest padding).
 */
export interface DecodeOutput {
  logits: readonly Float32Array[];
  childWidth?: number;
}

/**
 * A model's decode step: `DecodeOutput`, or one [N, K_level] array. The search normalises the logits over
 * each prefix's valid children (a softmax over the trie, as in training). `rowNode` [N] is each row's
 * prefix node at depth `level` of the search's trie (0 = the root at level 0). Only prefixes with more than
 * one valid child are asked for: a single child's log-probability is 0 whatever the model says.
 */
export type DecodeFn = (level: number, rowUser: Int32Array, prefix: Int32Array, rows: number, rowNode: Int32Array) => Promise<Float32Array | DecodeOutput>;

export interface BeamOptions {
  beam: number;
  /** Results per user (≤ beam). */
  k: number;
  /** Flat-token offset of each level (token = offsets[l] + code). */
  offsets: Int32Array;
  /** Items to exclude for user u (seen, deleted), or null. */
  exclude?: (u: number) => ArrayLike<number> | null;
  /** Memorised transitions mixed into the model's distribution (see `BeamPrior`). */
  prior?: BeamPrior;
}

/**
 * Observed counts mixed with the model, item by item: P(item) = (n(item) + β·P_model(item)) / (N + β),
 * where n(item) is the count the user's `mass` puts on the item's leaf and N its total (transitions.ts).
 * Per level this is the exact conditional of that mixture, so the beam still ranks whole items by it.
 */
export interface BeamPrior {
  beta: number;
  /** User u's count mass below each trie node, per depth (depth 0 holds the root's total), or null for none. */
  mass: (u: number) => NodeMass[] | null;
}

export interface BeamResult {
  /** [users × k] item ids, −1 where fewer were found. */
  items: Int32Array;
  /** [users × k] log-probabilities of the items' full codes (softmax over valid children per level; with a prior, of the mixture). */
  scores: Float32Array;
}

/**
 * Per depth, how many of `items` lie below each touched node (sparse), so the search can skip
 * subtrees whose items are all excluded.
 */
export function excludedCounts(trie: PrefixTrie, items: ArrayLike<number>): Map<number, number>[] {
  const D = trie.depth;
  const out: Map<number, number>[] = Array.from({ length: D + 1 }, () => new Map());
  const seen = new Set<number>();
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    if (it < 0 || it >= trie.items || seen.has(it)) continue;
    seen.add(it);
    let node = trie.itemLeaf[it]!;
    for (let l = D; l >= 0; l--) {
      out[l]!.set(node, (out[l]!.get(node) ?? 0) + 1);
      if (l > 0) node = trie.parent[l - 1]![node]!;
    }
  }
  return out;
}

/** Keeps the `cap` best (score, payload) pairs seen: a min-heap on score. */
class TopK {
  readonly score: Float32Array;
  readonly a: Int32Array;
  readonly b: Int32Array;
  private readonly order: Int32Array;
  size = 0;
  constructor(readonly cap: number) {
    this.score = new Float32Array(cap); this.a = new Int32Array(cap); this.b = new Int32Array(cap); this.order = new Int32Array(cap);
  }
  reset(): void { this.size = 0; }
  push(s: number, a: number, b: number): void {
    if (this.size < this.cap) {
      let i = this.size++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (this.score[p]! <= s) break;
        this.move(i, p); i = p;
      }
      this.set(i, s, a, b);
    } else if (s > this.score[0]!) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i, ms = s;
        if (l < this.size && this.score[l]! < ms) { m = l; ms = this.score[l]!; }
        if (r < this.size && this.score[r]! < ms) { m = r; }
        if (m === i) break;
        this.move(i, m); i = m;
      }
      this.set(i, s, a, b);
    }
  }
  /** Indices into the heap arrays, best first (ties in heap order, as a stable sort keeps them): `size` entries of `order`. */
  sorted(): Int32Array {
    // Insertion sort: a beam is a few dozen entries, sorted once per user and level (Array#sort with a
    // comparator allocated and called through a closure was a tenth of a validation pass's JS time).
    const o = this.order, s = this.score;
    for (let i = 0; i < this.size; i++) {
      const x = s[i]!;
      let j = i;
      while (j > 0 && s[o[j - 1]!]! < x) { o[j] = o[j - 1]!; j--; }
      o[j] = i;
    }
    return o;
  }
  private move(to: number, from: number): void {
    this.score[to] = this.score[from]!; this.a[to] = this.a[from]!; this.b[to] = this.b[from]!;
  }
  private set(i: number, s: number, a: number, b: number): void {
    this.score[i] = s; this.a[i] = a; this.b[i] = b;
  }
}

/**
 * The prior's conditional at one prefix: child i's log-probability under the mixture, given the model's
 * `logp` (overwritten; kept in `model` from `at`), the count mass `parentMass` below the prefix and
 * `childMass` below each child, and log(β · P_model(prefix)) = `logBetaPrefix`:
 * log(n_c + β·P(prefix)·p(c|prefix)) − log(n_prefix + β·P(prefix)). Without mass below the prefix it is the
 * model's own.
 */
function mixPrior(logp: Float64Array, n: number, model: Float64Array, at: number, parentMass: number, childMass: NodeMass, c0: number, logBetaPrefix: number): void {
  for (let i = 0; i < n; i++) model[at + i] = logp[i]!;
  if (parentMass <= 0) return;
  const norm = logAddExp(Math.log(parentMass), logBetaPrefix);
  // The children are nodes c0 … c0 + n − 1: one walk along the sorted nodes that have mass.
  const nodes = childMass.nodes;
  let k = childMass.lowerBound(c0);
  for (let i = 0; i < n; i++) {
    let c = 0;
    if (k < nodes.length && nodes[k] === c0 + i) c = childMass.mass[k++]!;
    // Without mass below the child, logAddExp(−∞, x) is x itself: skip its exp and log.
    logp[i] = (c > 0 ? logAddExp(Math.log(c), logBetaPrefix + logp[i]!) : logBetaPrefix + logp[i]!) - norm;
  }
}

function logAddExp(a: number, b: number): number {
  const m = Math.max(a, b);
  return m === -Infinity ? m : m + Math.log(Math.exp(a - m) + Math.exp(b - m));
}

export async function beamSearch(trie: PrefixTrie, users: number, decode: DecodeFn, opts: BeamOptions): Promise<BeamResult> {
  const L = trie.depth, W = opts.beam, k = Math.min(opts.k, W);
  const excluded = Array.from({ length: users }, (_, u) => {
    const items = opts.exclude?.(u);
    return items && items.length ? excludedCounts(trie, items) : null;
  });
  // Beam state: per user up to W rows of (node at current level, score, tokens so far).
  let count = new Int32Array(users).fill(1);
  let node = new Int32Array(users * W);
  let score = new Float32Array(users * W);
  let tokens = new Int32Array(users * W * L);
  const heap = new TopK(W);
  // With a prior: each user's count mass, and each slot's log-probability under the model alone.
  const mass = opts.prior ? Array.from({ length: users }, (_, u) => { const m = opts.prior!.mass(u); return m && (m[0]!.get(0) ?? 0) > 0 ? m : null; }) : null;
  const logBeta = Math.log(opts.prior?.beta ?? 1);
  let modelScore = new Float64Array(mass ? users * W : 0);

  for (let level = 0; level < L; level++) {
    const start = trie.childStart[level]!, codeOf = trie.tokens[level]!, leaves = trie.leafStart[level + 1]!;
    // Rows to decode: the beam slots whose prefix has more than one child (on real catalogues most
    // deeper prefixes have one, so most of the deeper levels' work is skipped).
    let rows = 0, live = 0, widest = 1;
    for (let u = 0; u < users; u++) {
      live += count[u]!;
      for (let j = 0; j < count[u]!; j++) {
        const p = node[u * W + j]!, n = start[p + 1]! - start[p]!;
        if (n > 1) rows++;
        if (n > widest) widest = n;
      }
    }
    if (live === 0) break;
    const rowUser = new Int32Array(rows), rowNode = new Int32Array(rows);
    const prefix = new Int32Array(rows * level);
    const rowOf = new Int32Array(users * W).fill(-1);
    let r = 0;
    for (let u = 0; u < users; u++) {
      for (let j = 0; j < count[u]!; j++) {
        const slot = u * W + j, p = node[slot]!;
        if (start[p + 1]! - start[p]! < 2) continue;
        rowUser[r] = u;
        rowNode[r] = p;
        rowOf[slot] = r;
        for (let l = 0; l < level; l++) prefix[r * level + l] = tokens[slot * L + l]!;
        r++;
      }
    }
    const out: DecodeOutput = rows === 0 ? { logits: [] } : await decode(level, rowUser, prefix, rows, rowNode).then((o) => (o instanceof Float32Array ? { logits: [o] } : o));
    const members = out.logits, byChild = out.childWidth !== undefined;
    const K = rows > 0 ? members[0]!.length / rows : 0;
    const child = new Float64Array(widest); // one slot's children's log-probabilities (members' logits averaged)
    const modelChild = new Float64Array(mass ? W * widest : 0); // per beam slot, before the prior

    const nCount = new Int32Array(users), nNode = new Int32Array(users * W), nScore = new Float32Array(users * W), nTokens = new Int32Array(users * W * L);
    const nModelScore = new Float64Array(modelScore.length);
    for (let u = 0; u < users; u++) {
      heap.reset();
      // A subtree can be all excluded only if it holds no more items than the user excludes in all.
      const ex = excluded[u]?.[level + 1], exTotal = excluded[u]?.[0]!.get(0) ?? 0, userMass = mass?.[u];
      for (let j = 0; j < count[u]!; j++) {
        const slot = u * W + j, row = rowOf[slot]!, parent = node[slot]!;
        const c0 = start[parent]!, n = start[parent + 1]! - c0;
        if (row >= 0) {
          const o = row * K;
          let m = -Infinity;
          for (let i = 0; i < n; i++) {
            let x = 0;
            const at = o + (byChild ? i : codeOf[c0 + i]!);
            for (const lg of members) x += lg[at]!;
            child[i] = x / members.length;
            m = Math.max(m, child[i]!);
          }
          let z = 0;
          for (let i = 0; i < n; i++) z += Math.exp(child[i]! - m);
          const norm = m + Math.log(z);
          for (let i = 0; i < n; i++) child[i] = child[i]! - norm;
        } else child[0] = 0; // the only child: log-probability 0 (under the mixture too: it holds its parent's mass)
        if (userMass && row >= 0) mixPrior(child, n, modelChild, j * widest, userMass[level]!.get(parent) ?? 0, userMass[level + 1]!, c0, logBeta + modelScore[slot]!);
        for (let i = 0; i < n; i++) {
          const c = c0 + i;
          const below = leaves[c + 1]! - leaves[c]!;
          if (ex && below <= exTotal && below - (ex.get(c) ?? 0) <= 0) continue;
          heap.push(score[slot]! + child[i]!, c, j);
        }
      }
      const best = heap.sorted();
      nCount[u] = heap.size;
      for (let i = 0; i < heap.size; i++) {
        const h = best[i]!, slot = u * W + i, from = (u * W + heap.b[h]!) * L;
        nNode[slot] = heap.a[h]!;
        nScore[slot] = heap.score[h]!;
        if (mass) {
          const from = u * W + heap.b[h]!, parent = node[from]!;
          nModelScore[slot] = modelScore[from]! + (rowOf[from]! >= 0 ? modelChild[heap.b[h]! * widest + heap.a[h]! - start[parent]!]! : 0);
        }
        for (let l = 0; l < level; l++) nTokens[slot * L + l] = tokens[from + l]!;
        nTokens[slot * L + level] = opts.offsets[level]! + codeOf[heap.a[h]!]!;
      }
    }
    count = nCount; node = nNode; score = nScore; tokens = nTokens; modelScore = nModelScore;
  }

  const items = new Int32Array(users * k).fill(-1), scores = new Float32Array(users * k).fill(-Infinity);
  for (let u = 0; u < users; u++) {
    for (let j = 0; j < Math.min(k, count[u]!); j++) {
      items[u * k + j] = trie.leafItem[node[u * W + j]!]!;
      scores[u * k + j] = score[u * W + j]!;
    }
  }
  return { items, scores };
}
