/**
 * Non-neural baselines scored over the full catalogue: MostPop (training popularity) and item-kNN
 * (cosine item-item similarity from training co-occurrence). Both fill score rows [rows, numItems];
 * the evaluation harness masks seen items and selects the top K.
 */
import { GenrecError } from '../engine/errors.js';
import type { Split } from '../data/split.js';

export interface FitOptions {
  /** Also count the validation part (a final fit before testing); default false. */
  includeValid?: boolean;
}

/** The end (exclusive) of user u's fitting range. */
const fitEnd = (split: Split, u: number, includeValid: boolean) => (includeValid ? split.validEnd[u]! : split.trainEnd[u]!);

/** Item popularity: the number of training events per item. */
export function itemPopularity(split: Split, opts: FitOptions = {}): Float32Array {
  const inter = split.interactions;
  const counts = new Float32Array(inter.numItems);
  for (let u = 0; u < inter.numUsers; u++) {
    for (let k = inter.userOffsets[u]!, e = fitEnd(split, u, opts.includeValid ?? false); k < e; k++) counts[inter.items[k]!]!++;
  }
  return counts;
}

/** Ranks every item by its training popularity, the same list for everybody. */
export class MostPop {
  constructor(readonly counts: Float32Array) {}

  static fit(split: Split, opts: FitOptions = {}): MostPop {
    return new MostPop(itemPopularity(split, opts));
  }

  get numItems(): number { return this.counts.length; }

  /** Fills `out` [rows, numItems] with the popularity row. */
  score(rows: number, out: Float32Array): void {
    const n = this.counts.length;
    for (let r = 0; r < rows; r++) out.set(this.counts, r * n);
  }
}

export interface ItemKnnOptions extends FitOptions {
  /** Neighbours kept per item (the most similar ones). */
  neighbours: number;
  /** Shrinkage: sim(i, j) = co(i, j) / (√(n_i·n_j) + shrink), damping pairs seen by few users. */
  shrink: number;
  /**
   * Weight of a history item `d` steps before the most recent one: recency^d (1 = all equal). Sequential
   * data reward recent items; the value is chosen on validation like the others.
   */
  recency?: number;
}

/**
 * Item-based collaborative filtering. Similarities come from users' training histories (each user counts
 * once per item pair); a user's score for item j is Σ over history items h of w_h·sim(h, j). Items with no
 * neighbour evidence tie at 0 and are ordered by popularity (a 1e-6-scaled prior, so it only breaks ties).
 */
export class ItemKnn {
  private constructor(
    /** CSR of neighbours: item i's are ids[offsets[i] .. offsets[i+1]) with similarities sims[...]. */
    readonly offsets: Int32Array,
    readonly ids: Int32Array,
    readonly sims: Float32Array,
    readonly prior: Float32Array,
    readonly opts: ItemKnnOptions,
  ) {}

  get numItems(): number { return this.prior.length; }

  /** The same neighbourhoods scored with another recency decay (no refit). */
  withOptions(o: { recency?: number }): ItemKnn {
    return new ItemKnn(this.offsets, this.ids, this.sims, this.prior, { ...this.opts, ...o });
  }

  static fit(split: Split, opts: ItemKnnOptions): ItemKnn {
    if (!(Number.isInteger(opts.neighbours) && opts.neighbours >= 1) || !(opts.shrink >= 0)) {
      throw new GenrecError('GENREC_E_CONFIG', `item-kNN needs neighbours ≥ 1 and shrink ≥ 0, got ${opts.neighbours} and ${opts.shrink}`, 'pass e.g. neighbours 100, shrink 10');
    }
    const inter = split.interactions;
    const n = inter.numItems, U = inter.numUsers;
    const includeValid = opts.includeValid ?? false;
    // Per-user distinct items (CSR), then the transpose: item → users.
    const stamp = new Int32Array(n).fill(-1);
    const uOff = new Int32Array(U + 1);
    let total = 0;
    for (let u = 0; u < U; u++) {
      for (let k = inter.userOffsets[u]!, e = fitEnd(split, u, includeValid); k < e; k++) {
        const it = inter.items[k]!;
        if (stamp[it] !== u) { stamp[it] = u; total++; }
      }
      uOff[u + 1] = total;
    }
    const uItems = new Int32Array(total);
    stamp.fill(-1);
    for (let u = 0, w = 0; u < U; u++) {
      for (let k = inter.userOffsets[u]!, e = fitEnd(split, u, includeValid); k < e; k++) {
        const it = inter.items[k]!;
        if (stamp[it] !== u) { stamp[it] = u; uItems[w++] = it; }
      }
    }
    const deg = new Int32Array(n);
    for (let k = 0; k < total; k++) deg[uItems[k]!]!++;
    const iOff = new Int32Array(n + 1);
    for (let i = 0; i < n; i++) iOff[i + 1] = iOff[i]! + deg[i]!;
    const iUsers = new Int32Array(total);
    const fill = iOff.slice(0, n);
    for (let u = 0; u < U; u++) for (let k = uOff[u]!; k < uOff[u + 1]!; k++) iUsers[fill[uItems[k]!]!++] = u;

    // Co-occurrence row of each item over a dense scratch, then its top neighbours.
    const K = opts.neighbours;
    const co = new Float32Array(n);
    const touched = new Int32Array(n);
    const offsets = new Int32Array(n + 1);
    let ids = new Int32Array(Math.min(n * K, 1 << 20)), sims = new Float32Array(ids.length);
    const sqrtDeg = Float32Array.from(deg, (d) => Math.sqrt(d));
    const cand = new Float32Array(n), candId = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let nt = 0;
      for (let a = iOff[i]!; a < iOff[i + 1]!; a++) {
        const u = iUsers[a]!;
        for (let b = uOff[u]!; b < uOff[u + 1]!; b++) {
          const j = uItems[b]!;
          if (j === i) continue;
          if (co[j] === 0) touched[nt++] = j;
          co[j]!++;
        }
      }
      for (let t = 0; t < nt; t++) {
        const j = touched[t]!;
        cand[t] = co[j]! / (sqrtDeg[i]! * sqrtDeg[j]! + opts.shrink);
        candId[t] = j;
        co[j] = 0;
      }
      const keep = Math.min(K, nt);
      const order = selectTop(cand, candId, nt, keep);
      const start = offsets[i]!;
      if (start + keep > ids.length) {
        const cap = Math.max(start + keep, Math.min(n * K, ids.length * 2));
        const ni = new Int32Array(cap); ni.set(ids); ids = ni;
        const ns = new Float32Array(cap); ns.set(sims); sims = ns;
      }
      for (let t = 0; t < keep; t++) { ids[start + t] = candId[order[t]!]!; sims[start + t] = cand[order[t]!]!; }
      offsets[i + 1] = start + keep;
    }
    const m = offsets[n]!;
    const pop = new Float32Array(n);
    let maxDeg = 1;
    for (let i = 0; i < n; i++) maxDeg = Math.max(maxDeg, deg[i]!);
    for (let i = 0; i < n; i++) pop[i] = (1e-6 * deg[i]!) / maxDeg;
    return new ItemKnn(offsets, ids.slice(0, m), sims.slice(0, m), pop, opts);
  }

  /**
   * Fills `out` [rows, numItems]: row r scores the history `items[starts[r] .. ends[r])` (oldest first).
   */
  score(items: Int32Array, starts: Int32Array, ends: Int32Array, rows: number, out: Float32Array): void {
    const n = this.prior.length;
    const decay = this.opts.recency ?? 1;
    for (let r = 0; r < rows; r++) {
      const base = r * n;
      out.set(this.prior, base);
      let w = 1;
      for (let k = ends[r]! - 1; k >= starts[r]!; k--, w *= decay) {
        const h = items[k]!;
        if (h < 0 || h >= n) continue;
        for (let t = this.offsets[h]!, e = this.offsets[h + 1]!; t < e; t++) out[base + this.ids[t]!]! += w * this.sims[t]!;
      }
    }
  }
}

/** Indices (into cand[0..count)) of the `keep` largest values, best first; ties → lower id first. */
function selectTop(cand: Float32Array, ids: Int32Array, count: number, keep: number): Int32Array {
  const idx = new Int32Array(count);
  for (let t = 0; t < count; t++) idx[t] = t;
  // Candidate lists are short next to the catalogue; a sort of indices is simple and exact.
  idx.sort((a, b) => (cand[b]! - cand[a]!) || (ids[a]! - ids[b]!));
  return idx.subarray(0, keep);
}
