/**
 * Training sequences and fixed-shape batches for the engine.
 *
 * Token convention: a batch carries `itemId + idShift` (default shift 1), so 0 is padding; event types
 * likewise carry `type + 1` with 0 for padding. Every batch has the full [batchSize × maxLen] shape (a short
 * last batch is padded with empty rows whose user is -1), so graphs see a few fixed shapes.
 */
import { Rng, mix32 } from '../engine/random.js';
import type { Interactions } from './dataset.js';
import { evalCases, type EvalCaseOptions, type Split } from './split.js';

/**
 * Rows of events by reference: row r is the event range [starts[r], ends[r]) of `interactions`
 * (absolute CSR indices), belonging to `users[r]`.
 */
export interface Sequences {
  interactions: Interactions;
  users: Int32Array;
  starts: Int32Array;
  ends: Int32Array;
  count: number;
}

export interface TrainingSequenceOptions {
  /** Model context length L: a row holds up to L + 1 events (L inputs, each with its next event as target). */
  maxLen: number;
  /**
   * `last` (default): one row per user, its most recent L + 1 training events (the usual capped history).
   * `all`: cut longer histories into consecutive windows overlapping by one event, so every training
   * transition is a target exactly once.
   */
  windows?: 'last' | 'all';
  /** Also train on the validation part (for a final fit before testing); default false. */
  includeValid?: boolean;
}

/** The per-user training rows of a split, capped at maxLen + 1 events (users with < 2 events have none). */
export function trainingSequences(split: Split, opts: TrainingSequenceOptions): Sequences {
  const { maxLen } = opts;
  if (!(Number.isInteger(maxLen) && maxLen >= 1)) throw new RangeError(`maxLen must be a positive integer, got ${maxLen}`);
  const inter = split.interactions;
  const span = maxLen + 1;
  const all = opts.windows === 'all';
  const end = (u: number) => (opts.includeValid ? split.validEnd[u]! : split.trainEnd[u]!);
  let n = 0;
  for (let u = 0; u < inter.numUsers; u++) {
    const len = end(u) - inter.userOffsets[u]!;
    if (len >= 2) n += all ? Math.ceil((len - 1) / maxLen) : 1;
  }
  const users = new Int32Array(n), starts = new Int32Array(n), ends = new Int32Array(n);
  let r = 0;
  for (let u = 0; u < inter.numUsers; u++) {
    const a = inter.userOffsets[u]!;
    let b = end(u);
    if (b - a < 2) continue;
    do {
      const s = Math.max(a, b - span);
      users[r] = u; starts[r] = s; ends[r] = b; r++;
      b = s + 1;
    } while (all && b - a >= 2);
  }
  return { interactions: inter, users, starts, ends, count: n };
}

export interface BatchOptions {
  batchSize: number;
  maxLen: number;
  /** Added to item ids (and 1 to event types) so 0 can mean padding; default 1. */
  idShift?: number;
  /** `left` (default): sequences end at the last column, the most recent event is at position L-1. */
  pad?: 'left' | 'right';
  /** Shuffle rows each epoch with a permutation derived from (seed, epoch); default true. */
  shuffle?: boolean;
  seed?: number;
  /** Drop a short last batch instead of padding it; default false. */
  dropLast?: boolean;
  /** Refill the same arrays for every batch (the consumer must not keep a batch); default false. */
  reuse?: boolean;
}

/** A next-item training batch; arrays are row-major [batchSize, maxLen]. */
export interface SequenceBatch {
  /** Real rows; rows from `rows` to `batchSize` are padding (user -1, all zeros). */
  rows: number;
  batchSize: number;
  maxLen: number;
  users: Int32Array;
  /** Input item tokens (item id + idShift), 0 = padding. */
  inputs: Int32Array;
  /** The next item's token at each input position, 0 where there is none. */
  targets: Int32Array;
  /** 1 where inputs (and so targets) are real, else 0. */
  mask: Float32Array;
  /** Input event types + 1, 0 = padding. */
  types: Uint8Array;
  /** Target event types + 1 (e.g. to weight or skip negative-feedback targets), 0 = none. */
  targetTypes: Uint8Array;
  /** Seconds since the previous event in the row (0 for the first, for padding and without timestamps). */
  gaps: Float32Array;
}

function allocBatch(batchSize: number, maxLen: number): SequenceBatch {
  const n = batchSize * maxLen;
  return {
    rows: 0, batchSize, maxLen, users: new Int32Array(batchSize).fill(-1),
    inputs: new Int32Array(n), targets: new Int32Array(n), mask: new Float32Array(n),
    types: new Uint8Array(n), targetTypes: new Uint8Array(n), gaps: new Float32Array(n),
  };
}

function clearBatch(b: SequenceBatch): void {
  b.users.fill(-1); b.inputs.fill(0); b.targets.fill(0); b.mask.fill(0); b.types.fill(0); b.targetTypes.fill(0); b.gaps.fill(0);
}

/** Writes events [a, b) of `inter` as inputs into row `row` (left- or right-aligned) of `batch`. */
function fillInputs(batch: SequenceBatch, row: number, inter: Interactions, a: number, b: number, shift: number, left: boolean): number {
  const L = batch.maxLen;
  const len = b - a;
  const base = row * L + (left ? L - len : 0);
  const { items, types, timestamps } = inter;
  for (let j = 0; j < len; j++) {
    const k = a + j, o = base + j;
    batch.inputs[o] = items[k]! + shift;
    batch.types[o] = types[k]! + 1;
    batch.mask[o] = 1;
    const gap = j > 0 ? timestamps[k]! - timestamps[k - 1]! : 0;
    batch.gaps[o] = gap === gap ? gap : 0;
  }
  return base;
}

/** Shuffled fixed-shape batches over training sequences; `epoch(e)` is reproducible from (seed, e). */
export class SequenceBatcher {
  readonly seqs: Sequences;
  readonly opts: Required<BatchOptions>;

  constructor(seqs: Sequences, opts: BatchOptions) {
    this.seqs = seqs;
    this.opts = { idShift: 1, pad: 'left', shuffle: true, seed: 0, dropLast: false, reuse: false, ...opts };
    if (!(this.opts.batchSize >= 1 && this.opts.maxLen >= 1)) throw new RangeError('batchSize and maxLen must be ≥ 1');
  }

  get numBatches(): number {
    const { count } = this.seqs, { batchSize, dropLast } = this.opts;
    return dropLast ? Math.floor(count / batchSize) : Math.ceil(count / batchSize);
  }

  /** Row order of an epoch. */
  order(epoch: number): Int32Array {
    const order = new Int32Array(this.seqs.count);
    for (let i = 0; i < order.length; i++) order[i] = i;
    if (this.opts.shuffle) new Rng(mix32(this.opts.seed, epoch + 1)).shuffle(order);
    return order;
  }

  *epoch(epoch = 0): Generator<SequenceBatch> {
    const { batchSize, maxLen, idShift, pad, reuse } = this.opts;
    const { interactions: inter, users, starts, ends } = this.seqs;
    const order = this.order(epoch);
    const left = pad === 'left';
    let batch = allocBatch(batchSize, maxLen);
    for (let bi = 0; bi < this.numBatches; bi++) {
      if (bi > 0) { if (reuse) clearBatch(batch); else batch = allocBatch(batchSize, maxLen); }
      const from = bi * batchSize, to = Math.min(order.length, from + batchSize);
      batch.rows = to - from;
      for (let i = from; i < to; i++) {
        const row = i - from, r = order[i]!;
        const a = starts[r]!, b = ends[r]!;
        batch.users[row] = users[r]!;
        // Inputs are events [a, b-1), targets events [a+1, b).
        const base = fillInputs(batch, row, inter, a, b - 1, idShift, left);
        for (let j = 0; j < b - 1 - a; j++) {
          batch.targets[base + j] = inter.items[a + 1 + j]! + idShift;
          batch.targetTypes[base + j] = inter.types[a + 1 + j]! + 1;
        }
      }
      yield batch;
    }
  }
}

/** An evaluation batch: the last maxLen history events of each case, and its target. */
export interface EvalBatch {
  rows: number;
  batchSize: number;
  maxLen: number;
  /** Index of each row's case in the EvalCases (-1 for padding rows). */
  cases: Int32Array;
  users: Int32Array;
  inputs: Int32Array;
  mask: Float32Array;
  types: Uint8Array;
  gaps: Float32Array;
  /** Target item tokens (item id + idShift). */
  targets: Int32Array;
}

export interface EvalBatchOptions extends EvalCaseOptions {
  batchSize: number;
  maxLen: number;
  idShift?: number;
  pad?: 'left' | 'right';
}

/**
 * Batches of evaluation cases in case order (no shuffling). The full, uncapped history of case c is
 * [userOffsets[users[c]], historyEnd[c]) of the split's interactions, e.g. to exclude seen items.
 */
export function* evalBatches(split: Split, part: 'valid' | 'test', opts: EvalBatchOptions): Generator<EvalBatch> {
  const { batchSize, maxLen } = opts;
  const shift = opts.idShift ?? 1;
  const left = (opts.pad ?? 'left') === 'left';
  const cases = evalCases(split, part, opts);
  const inter = split.interactions;
  for (let from = 0; from < cases.count; from += batchSize) {
    const seq = allocBatch(batchSize, maxLen);
    const out: EvalBatch = {
      rows: Math.min(batchSize, cases.count - from), batchSize, maxLen, cases: new Int32Array(batchSize).fill(-1),
      users: seq.users, inputs: seq.inputs, mask: seq.mask, types: seq.types, gaps: seq.gaps, targets: new Int32Array(batchSize),
    };
    for (let row = 0; row < out.rows; row++) {
      const c = from + row, u = cases.users[c]!, b = cases.historyEnd[c]!;
      const a = Math.max(inter.userOffsets[u]!, b - maxLen);
      out.cases[row] = c; out.users[row] = u; out.targets[row] = cases.targets[c]! + shift;
      fillInputs(seq, row, inter, a, b, shift, left);
    }
    yield out;
  }
}
