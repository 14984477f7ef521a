/**
 * Ranking metrics for next-item evaluation with one target per case (leave-one-out and its temporal
 * variants): Recall@K (= HR@K, since each case has exactly one relevant item) and NDCG@K
 * (IDCG is 1, so a hit at 0-based rank r contributes 1/log2(r + 2)). All bulk data are typed arrays.
 */
import { GenrecError } from '../engine/errors.js';

/** The cut-offs reported by default. */
export const DEFAULT_KS: readonly number[] = [5, 10, 20];

/** Marks "no item here" in a top-K row (fewer than K candidates). */
export const NO_ITEM = -1;

/** `recall@K` and `ndcg@K` for each cut-off K. */
export type Metrics = Record<string, number>;

/**
 * Accumulates hits over batches of top-K lists. `add` takes a row-major [rows, k] list of item ids and
 * each row's target; ids outside [0, numItems) other than NO_ITEM count as invalid (a generative model
 * that decodes a code tuple no item has).
 */
export class MetricAccumulator {
  readonly ks: readonly number[];
  readonly maxK: number;
  /** Number of cases added. */
  count = 0;
  /** Returned ids (NO_ITEM padding excluded) and, of those, ids that are not items. */
  generated = 0;
  invalid = 0;
  /** Cases whose target appeared at each 0-based rank < maxK. */
  readonly rankHist: Float64Array;
  private readonly discount: Float64Array;

  constructor(readonly numItems: number, ks: readonly number[] = DEFAULT_KS) {
    if (ks.length === 0 || ks.some((k) => !(Number.isInteger(k) && k >= 1))) {
      throw new GenrecError('GENREC_E_USAGE', `metric cut-offs must be positive integers, got [${ks.join(', ')}]`, 'pass cut-offs such as 5, 10, 20');
    }
    this.ks = [...ks].sort((a, b) => a - b);
    this.maxK = this.ks[this.ks.length - 1]!;
    this.rankHist = new Float64Array(this.maxK);
    this.discount = Float64Array.from({ length: this.maxK }, (_, r) => 1 / Math.log2(r + 2));
  }

  /**
   * @param topk row-major [rows, k] item ids (k ≥ maxK columns are read: the first maxK of each row)
   * @param k columns per row in `topk`
   * @param targets each row's target item id
   */
  add(topk: Int32Array, k: number, targets: Int32Array, rows: number): void {
    if (k < this.maxK) throw new GenrecError('GENREC_E_USAGE', `top-${k} lists cannot give metrics at ${this.maxK}`, `return at least ${this.maxK} ids per case`);
    if (topk.length < rows * k) throw new GenrecError('GENREC_E_SHAPE', `top-K buffer holds ${topk.length} ids, expected ${rows}×${k}`, 'return a [rows, k] row-major Int32Array');
    const n = this.numItems, K = this.maxK;
    for (let r = 0; r < rows; r++) {
      const base = r * k, t = targets[r]!;
      let hitAt = -1;
      for (let j = 0; j < k; j++) {
        const id = topk[base + j]!;
        if (id === NO_ITEM) continue;
        this.generated++;
        if (id < 0 || id >= n) { this.invalid++; continue; }
        if (j < K && id === t && hitAt < 0) hitAt = j;
      }
      if (hitAt >= 0) this.rankHist[hitAt]!++;
    }
    this.count += rows;
  }

  /** Merges another accumulator's counts (same numItems and cut-offs). */
  merge(o: MetricAccumulator): void {
    this.count += o.count; this.generated += o.generated; this.invalid += o.invalid;
    for (let r = 0; r < this.maxK; r++) this.rankHist[r]! += o.rankHist[r]!;
  }

  /** recall@K and ndcg@K for each cut-off (0 when no case was added). */
  result(): Metrics {
    const out: Metrics = {};
    const c = Math.max(1, this.count);
    for (const K of this.ks) {
      let hits = 0, dcg = 0;
      for (let r = 0; r < K; r++) { hits += this.rankHist[r]!; dcg += this.rankHist[r]! * this.discount[r]!; }
      out[`recall@${K}`] = hits / c;
      out[`ndcg@${K}`] = dcg / c;
    }
    return out;
  }

  /** Fraction of returned ids that are not valid items (0 when nothing was returned). */
  invalidRate(): number {
    return this.generated === 0 ? 0 : this.invalid / this.generated;
  }
}

/** Metrics of one batch of top-K lists (a convenience over MetricAccumulator). */
export function rankingMetrics(topk: Int32Array, k: number, targets: Int32Array, numItems: number, ks: readonly number[] = DEFAULT_KS): Metrics {
  const acc = new MetricAccumulator(numItems, ks);
  acc.add(topk, k, targets, targets.length);
  return acc.result();
}

/** Mean and (sample) standard deviation of each key over runs; `<key>_std` is added for `stdKeys`. */
export function meanOverRuns(runs: readonly Record<string, number>[], stdKeys: readonly string[] = []): Record<string, number> {
  const out: Record<string, number> = {};
  if (runs.length === 0) return out;
  const keys = Object.keys(runs[0]!);
  for (const key of keys) {
    const xs = runs.map((r) => r[key]!).filter((v) => typeof v === 'number');
    const m = xs.reduce((s, v) => s + v, 0) / xs.length;
    out[key] = m;
    if (stdKeys.includes(key)) {
      const v = xs.length > 1 ? xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1) : 0;
      out[`${key}_std`] = Math.sqrt(v);
    }
  }
  return out;
}
