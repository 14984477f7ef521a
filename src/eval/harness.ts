/**
 * The evaluation harness shared by every model (see ../shared/datasets/README.md for the protocol):
 * cases come from a split (leave-one-out: one per user), each is ranked over the FULL item catalogue,
 * and Recall/NDCG at 5/10/20 are computed twice — excluding the items already in the case's full history
 * (the primary figures) and including them.
 *
 * A model plugs in as a `Ranker`: given a batch of cases it returns the top-K item ids per case. Score
 * based models can use `scoreRanker`, which masks seen items and selects the top K in typed arrays.
 */
import { GenrecError } from '../engine/errors.js';
import { log } from '../engine/log.js';
import { evalBatches, type EvalBatch } from '../data/batches.js';
import { evalCases, type EvalCaseOptions, type Split } from '../data/split.js';
import { DEFAULT_KS, MetricAccumulator, NO_ITEM, type Metrics } from './metrics.js';
import { maskSeen, topKRows } from './topk.js';

/** A batch of evaluation cases as a ranker sees it. */
export interface RankBatch {
  /** The data layer's batch: the last `maxLen` history events per row as tokens (item id + 1, 0 = pad). */
  batch: EvalBatch;
  /** Real rows (rows ≥ this are padding in `batch`). */
  rows: number;
  numItems: number;
  /**
   * The full, uncapped history of row r is `items[historyStart[r] .. historyEnd[r])` (absolute CSR
   * indices into the split's interactions, oldest first): what "seen" means when excluding.
   */
  items: Int32Array;
  historyStart: Int32Array;
  historyEnd: Int32Array;
}

export interface Ranker {
  readonly name: string;
  /** History length the model reads (the batch's `maxLen`); default 50. */
  readonly maxLen?: number;
  /** Rows per batch the model wants (e.g. a compiled shape); default 256. */
  readonly batchSize?: number;
  /**
   * Top-k item ids (0-based, best first) per real row, row-major [rows, k], NO_ITEM (-1) padded. With
   * `excludeSeen`, items of the row's full history must not appear. Ids outside [0, numItems) other
   * than -1 count as invalid (generative models: a decoded ID no item has).
   */
  topK(b: RankBatch, k: number, excludeSeen: boolean): Promise<Int32Array>;
  /** Optional: both variants at once (score models compute the scores once). */
  topKBoth?(b: RankBatch, k: number): Promise<{ exclude: Int32Array; include: Int32Array }>;
}

export interface EvaluateOptions extends EvalCaseOptions {
  /** Cut-offs; default 5, 10, 20. */
  ks?: readonly number[];
  /** Also compute the seen-included figures; default true. */
  includeSeen?: boolean;
  /** Override the ranker's batch size / history length. */
  batchSize?: number;
  maxLen?: number;
  /** Evaluate only the first n cases (quick checks during development). */
  limit?: number;
}

export interface EvalResult {
  part: 'valid' | 'test';
  cases: number;
  /** Primary figures: items of the case's history excluded from the ranking. */
  exclude: Metrics;
  /** The same with seen items ranked like any other (empty when includeSeen is false). */
  include: Metrics;
  /** Fraction of returned ids that are not items (both variants pooled). */
  invalidRate: number;
  /** Returned ids (seen excluded) that were in the case's history: must be 0. */
  seenLeaks: number;
  seconds: number;
}

/** Runs a ranker over the `part` cases of a split. */
export async function evaluate(ranker: Ranker, split: Split, part: 'valid' | 'test', opts: EvaluateOptions = {}): Promise<EvalResult> {
  const t0 = performance.now();
  const ks = opts.ks ?? DEFAULT_KS;
  const k = Math.max(...ks);
  const includeSeen = opts.includeSeen ?? true;
  const batchSize = opts.batchSize ?? ranker.batchSize ?? 256;
  const maxLen = opts.maxLen ?? ranker.maxLen ?? 50;
  const caseOpts: EvalCaseOptions = {
    ...(opts.firstOnly !== undefined ? { firstOnly: opts.firstOnly } : {}), ...(opts.requireHistory !== undefined ? { requireHistory: opts.requireHistory } : {}),
    ...(opts.sample !== undefined ? { sample: opts.sample, sampleSeed: opts.sampleSeed ?? 1 } : {}),
  };
  const cases = evalCases(split, part, caseOpts);
  const inter = split.interactions;
  const numItems = inter.numItems;
  const excl = new MetricAccumulator(numItems, ks), incl = new MetricAccumulator(numItems, ks);
  const historyStart = new Int32Array(batchSize), historyEnd = new Int32Array(batchSize), targets = new Int32Array(batchSize);
  const stamp = new Int32Array(numItems).fill(-1);
  let seenLeaks = 0, done = 0;
  const limit = opts.limit ?? Infinity;
  for (const batch of evalBatches(split, part, { ...caseOpts, batchSize, maxLen })) {
    if (done >= limit) break;
    const rows = Math.min(batch.rows, limit - done);
    for (let r = 0; r < rows; r++) {
      const c = batch.cases[r]!;
      historyStart[r] = inter.userOffsets[cases.users[c]!]!;
      historyEnd[r] = cases.historyEnd[c]!;
      targets[r] = cases.targets[c]!;
    }
    const rb: RankBatch = { batch, rows, numItems, items: inter.items, historyStart, historyEnd };
    let ex: Int32Array, inc: Int32Array | null = null;
    if (includeSeen && ranker.topKBoth) ({ exclude: ex, include: inc } = await ranker.topKBoth(rb, k));
    else {
      ex = await ranker.topK(rb, k, true);
      if (includeSeen) inc = await ranker.topK(rb, k, false);
    }
    checkTopK(ex, rows, k, ranker.name);
    if (inc) checkTopK(inc, rows, k, ranker.name);
    excl.add(ex, k, targets, rows);
    if (inc) incl.add(inc, k, targets, rows);
    // The exclusion contract, checked (cheap: history + k per row).
    for (let r = 0; r < rows; r++) {
      const c = done + r;
      for (let j = historyStart[r]!; j < historyEnd[r]!; j++) stamp[inter.items[j]!] = c;
      for (let j = 0; j < k; j++) {
        const id = ex[r * k + j]!;
        if (id >= 0 && id < numItems && stamp[id] === c) seenLeaks++;
      }
    }
    done += rows;
  }
  if (seenLeaks > 0) log.warn({ ranker: ranker.name, seenLeaks }, 'ranker returned seen items although asked to exclude them');
  const generated = excl.generated + incl.generated;
  return {
    part, cases: done, exclude: excl.result(), include: includeSeen ? incl.result() : {},
    invalidRate: generated === 0 ? 0 : (excl.invalid + incl.invalid) / generated,
    seenLeaks, seconds: (performance.now() - t0) / 1000,
  };
}

/**
 * The flat record reported by `bench quality`: primary metrics, `<metric>_incl_seen` beside them, and
 * `invalid_rate`.
 */
export function flatMetrics(r: EvalResult): Record<string, number> {
  const out: Record<string, number> = { ...r.exclude };
  for (const [key, v] of Object.entries(r.include)) out[`${key}_incl_seen`] = v;
  out.invalid_rate = r.invalidRate;
  return out;
}

/**
 * A Ranker over a score function: `score(b, out)` fills `out` [b.rows, numItems] with a score per item
 * (higher is better; -Infinity removes an item). Both variants come from one scoring pass.
 */
export function scoreRanker(name: string, score: (b: RankBatch, out: Float32Array) => void | Promise<void>, opts: { maxLen?: number; batchSize?: number } = {}): Ranker {
  let buf = new Float32Array(0);
  const scoresOf = async (b: RankBatch) => {
    const need = b.rows * b.numItems;
    if (buf.length < need) buf = new Float32Array(need);
    const s = buf.subarray(0, need);
    await score(b, s);
    return s;
  };
  const ranker: Ranker = {
    name,
    ...(opts.maxLen !== undefined ? { maxLen: opts.maxLen } : {}),
    ...(opts.batchSize !== undefined ? { batchSize: opts.batchSize } : {}),
    async topK(b, k, excludeSeen) {
      const s = await scoresOf(b);
      if (excludeSeen) maskSeen(s, b.rows, b.numItems, b.items, b.historyStart, b.historyEnd);
      return topKRows(s, b.rows, b.numItems, k);
    },
    async topKBoth(b, k) {
      const s = await scoresOf(b);
      const include = topKRows(s, b.rows, b.numItems, k);
      maskSeen(s, b.rows, b.numItems, b.items, b.historyStart, b.historyEnd);
      return { include, exclude: topKRows(s, b.rows, b.numItems, k) };
    },
  };
  return ranker;
}

/** Checks a ranker's output shape (for rankers written outside genrec). */
export function checkTopK(ids: Int32Array, rows: number, k: number, name: string): void {
  if (ids.length < rows * k) {
    throw new GenrecError('GENREC_E_SHAPE', `ranker '${name}' returned ${ids.length} ids for ${rows} rows × ${k}`, `return a row-major Int32Array of ${rows * k} ids, padded with ${NO_ITEM}`);
  }
}
