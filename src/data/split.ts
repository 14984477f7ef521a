/**
 * Train / validation / test splits. A split never copies events: for each user it records where the
 * validation part and the test part start inside the user's CSR range, so
 *   train = [userOffsets[u], trainEnd[u]),  valid = [trainEnd[u], validEnd[u]),  test = [validEnd[u], userOffsets[u+1]).
 */
import { GenrecError } from '../engine/errors.js';
import { Rng } from '../engine/random.js';
import type { Interactions } from './dataset.js';

export type SplitKind = 'leave-one-out' | 'temporal';
export type SplitPart = 'train' | 'valid' | 'test';

export interface Split {
  kind: SplitKind;
  interactions: Interactions;
  /** Absolute event index where user u's validation part starts. */
  trainEnd: Int32Array;
  /** Absolute event index where user u's test part starts. */
  validEnd: Int32Array;
  /** Temporal splits: the first validation and first test timestamp (epoch seconds). */
  cutoffs?: { valid: number; test: number };
}

export interface LeaveOneOutOptions {
  /**
   * Users with fewer events than this keep everything in train (no validation or test case).
   * Default 3: one history item, one validation target, one test target.
   */
  minEvents?: number;
}

/**
 * Per-user chronological leave-one-out: the last event is the test target, the one before it the
 * validation target, everything earlier is training history. Order is the CSR order (timestamp, then
 * sequence position), so it works with and without timestamps.
 */
export function leaveOneOut(inter: Interactions, opts: LeaveOneOutOptions = {}): Split {
  const minEvents = Math.max(3, opts.minEvents ?? 3);
  const { numUsers, userOffsets } = inter;
  const trainEnd = new Int32Array(numUsers), validEnd = new Int32Array(numUsers);
  for (let u = 0; u < numUsers; u++) {
    const a = userOffsets[u]!, b = userOffsets[u + 1]!;
    if (b - a >= minEvents) { trainEnd[u] = b - 2; validEnd[u] = b - 1; } else { trainEnd[u] = b; validEnd[u] = b; }
  }
  return { kind: 'leave-one-out', interactions: inter, trainEnd, validEnd };
}

export interface TemporalOptions {
  /** Fraction of all events (by time) in the validation period; default 0.1. Ignored when `validFrom` is set. */
  validFraction?: number;
  /** Fraction of all events (by time) in the test period; default 0.1. Ignored when `testFrom` is set. */
  testFraction?: number;
  /** Explicit cut times (epoch seconds). */
  validFrom?: number;
  testFrom?: number;
}

/** The q-quantile (0..1) of a Float64Array, via a sorted copy. */
function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const k = Math.min(sorted.length - 1, Math.max(0, Math.floor(q * sorted.length)));
  return sorted[k]!;
}

/** First index in [a, b) with timestamps[i] >= t (timestamps are sorted within a user). */
function lowerBound(ts: Float64Array, a: number, b: number, t: number): number {
  while (a < b) {
    const m = (a + b) >>> 1;
    if (ts[m]! < t) a = m + 1; else b = m;
  }
  return a;
}

/**
 * Global temporal split: one validation cut time and one test cut time for everybody; each user's events
 * before the first cut are train, between the cuts validation, after the second test. Needs timestamps.
 */
export function temporalSplit(inter: Interactions, opts: TemporalOptions = {}): Split {
  if (!inter.hasTimestamps) {
    throw new GenrecError('GENREC_E_SPLIT_NO_TIMESTAMPS', 'a global temporal split needs timestamps, and these events have none',
      'use the leave-one-out split (it orders by sequence position), or import a source with timestamps', {});
  }
  const validFraction = opts.validFraction ?? 0.1, testFraction = opts.testFraction ?? 0.1;
  if (!(validFraction >= 0 && testFraction >= 0 && validFraction + testFraction < 1)) {
    throw new GenrecError('GENREC_E_USAGE', `bad split fractions valid=${validFraction} test=${testFraction}`,
      'use fractions ≥ 0 whose sum is below 1, e.g. 0.1 and 0.1', { validFraction, testFraction });
  }
  let sorted: Float64Array | null = null;
  const q = (p: number) => quantile(sorted ??= inter.timestamps.slice().sort(), p);
  const testFrom = opts.testFrom ?? q(1 - testFraction);
  const validFrom = Math.min(opts.validFrom ?? q(1 - testFraction - validFraction), testFrom);
  const { numUsers, userOffsets, timestamps } = inter;
  const trainEnd = new Int32Array(numUsers), validEnd = new Int32Array(numUsers);
  for (let u = 0; u < numUsers; u++) {
    const a = userOffsets[u]!, b = userOffsets[u + 1]!;
    trainEnd[u] = lowerBound(timestamps, a, b, validFrom);
    validEnd[u] = lowerBound(timestamps, trainEnd[u]!, b, testFrom);
  }
  return { kind: 'temporal', interactions: inter, trainEnd, validEnd, cutoffs: { valid: validFrom, test: testFrom } };
}

/** The absolute event range [start, end) of user u's part. */
export function partRange(split: Split, part: SplitPart, u: number): [number, number] {
  const a = split.interactions.userOffsets[u]!, b = split.interactions.userOffsets[u + 1]!;
  if (part === 'train') return [a, split.trainEnd[u]!];
  if (part === 'valid') return [split.trainEnd[u]!, split.validEnd[u]!];
  return [split.validEnd[u]!, b];
}

/**
 * Evaluation cases of a part: one per event in it (exactly one per eligible user under leave-one-out).
 * Case c predicts `targets[c]` for `users[c]` from the history [userOffsets[u], historyEnd[c]): every
 * earlier event of that user, so a temporal test case also sees the user's validation events.
 */
export interface EvalCases {
  users: Int32Array;
  targets: Int32Array;
  /** Absolute index where the case's history ends (exclusive); the target is the event at this index. */
  historyEnd: Int32Array;
  count: number;
}

export interface EvalCaseOptions {
  /** Only the first event of each user's part (temporal splits); default false. */
  firstOnly?: boolean;
  /** Skip cases whose history is empty; default true. */
  requireHistory?: boolean;
  /**
   * Keep a seeded random sample of this many cases (in their original order). User ids often follow
   * some order of the source (sign-up, activity), so the first n cases are not a fair sample.
   */
  sample?: number;
  sampleSeed?: number;
}

export function evalCases(split: Split, part: 'valid' | 'test', opts: EvalCaseOptions = {}): EvalCases {
  const { numUsers, userOffsets, items } = split.interactions;
  const requireHistory = opts.requireHistory ?? true;
  let n = 0;
  for (let u = 0; u < numUsers; u++) {
    const [a, b] = partRange(split, part, u);
    for (let k = a; k < b; k++) if (!requireHistory || k > userOffsets[u]!) { n++; if (opts.firstOnly) break; }
  }
  const users = new Int32Array(n), targets = new Int32Array(n), historyEnd = new Int32Array(n);
  let c = 0;
  for (let u = 0; u < numUsers; u++) {
    const [a, b] = partRange(split, part, u);
    for (let k = a; k < b; k++) {
      if (requireHistory && k === userOffsets[u]!) continue;
      users[c] = u; targets[c] = items[k]!; historyEnd[c] = k; c++;
      if (opts.firstOnly) break;
    }
  }
  if (opts.sample !== undefined && opts.sample < n) return sampleCases({ users, targets, historyEnd, count: n }, opts.sample, opts.sampleSeed ?? 1);
  return { users, targets, historyEnd, count: n };
}

function sampleCases(c: EvalCases, k: number, seed: number): EvalCases {
  const idx = new Int32Array(c.count);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  const keep = new Rng(seed).shuffle(idx).subarray(0, Math.max(0, k)).sort();
  return {
    users: Int32Array.from(keep, (i) => c.users[i]!), targets: Int32Array.from(keep, (i) => c.targets[i]!),
    historyEnd: Int32Array.from(keep, (i) => c.historyEnd[i]!), count: keep.length,
  };
}
