/**
 * Packed training batches: several users' sequences share one row of length T, numbered by segment,
 * so short histories do not waste compute on padding (on Amazon-style data, where the median history
 * is a handful of items, a left-padded [B, 50] batch is ~80% padding). Attention masks come from the
 * segment ids; each token's position id is the one it would have if its sequence were left-padded
 * alone, so training and (unpacked) inference see the same positions.
 */
import { Rng, mix32 } from '../engine/index.js';
import type { Sequences } from '../data/batches.js';

export interface PackedBatch {
  /** Item tokens (item + 1), 0 = padding; [B, T]. */
  items: Int32Array;
  /** Next-item token of each input position, 0 = none. */
  targets: Int32Array;
  targetTypes: Uint8Array;
  types: Uint8Array;
  gaps: Float32Array;
  mask: Float32Array;
  /** Sequence number within the row (1-based), 0 = padding. */
  segments: Int32Array;
  /** Index into the position table. */
  positions: Int32Array;
}

export class PackedBatches {
  private readonly batch: PackedBatch;

  constructor(readonly seqs: Sequences, readonly batchSize: number, readonly maxLen: number, readonly seed: number) {
    const n = batchSize * maxLen;
    this.batch = {
      items: new Int32Array(n), targets: new Int32Array(n), targetTypes: new Uint8Array(n), types: new Uint8Array(n),
      gaps: new Float32Array(n), mask: new Float32Array(n), segments: new Int32Array(n), positions: new Int32Array(n),
    };
  }

  private order(epoch: number): Int32Array {
    const o = new Int32Array(this.seqs.count);
    for (let i = 0; i < o.length; i++) o[i] = i;
    return new Rng(mix32(this.seed, epoch + 1)).shuffle(o);
  }

  /** Inputs of sequence r (its events minus the last, capped at T). */
  private inputs(r: number): number {
    return Math.min(this.maxLen, this.seqs.ends[r]! - this.seqs.starts[r]! - 1);
  }

  /** Row assignment of an epoch (next-fit in shuffled order): the row index where each batch starts. */
  private rows(order: Int32Array): Int32Array {
    const rowOf = new Int32Array(order.length);
    let row = 0, fill = 0;
    for (let i = 0; i < order.length; i++) {
      const n = this.inputs(order[i]!);
      if (fill + n > this.maxLen) { row++; fill = 0; }
      rowOf[i] = row;
      fill += n;
    }
    return rowOf;
  }

  batchesIn(epoch: number): number {
    const rows = this.rows(this.order(epoch));
    return rows.length ? Math.ceil((rows[rows.length - 1]! + 1) / this.batchSize) : 0;
  }

  /** The batches of an epoch; the arrays are reused (consume each batch before asking for the next). */
  *epoch(epoch: number): Generator<PackedBatch> {
    const { batchSize: B, maxLen: T, seqs } = this;
    const inter = seqs.interactions;
    const order = this.order(epoch);
    const rowOf = this.rows(order);
    const b = this.batch;
    let i = 0;
    while (i < order.length) {
      const firstRow = rowOf[i]!;
      for (const a of Object.values(b)) a.fill(0);
      let fill = 0, row = -1, seg = 0;
      for (; i < order.length && rowOf[i]! < firstRow + B; i++) {
        if (rowOf[i] !== row) { row = rowOf[i]!; fill = 0; seg = 0; }
        const r = order[i]!, n = this.inputs(r), end = seqs.ends[r]!, start = end - n - 1;
        seg++;
        const base = (row - firstRow) * T + fill;
        for (let j = 0; j < n; j++) {
          const k = start + j, o = base + j;
          b.items[o] = inter.items[k]! + 1;
          b.types[o] = inter.types[k]! + 1;
          b.targets[o] = inter.items[k + 1]! + 1;
          b.targetTypes[o] = inter.types[k + 1]! + 1;
          const gap = j > 0 ? inter.timestamps[k]! - inter.timestamps[k - 1]! : 0;
          b.gaps[o] = gap === gap ? gap : 0;
          b.mask[o] = 1;
          b.segments[o] = seg;
          b.positions[o] = T - n + j;
        }
        fill += n;
      }
      yield b;
    }
  }
}

/**
 * Input augmentation: blank each real history position (mask 1 → 0) with probability p, so its item
 * embedding is dropped while its position and the targets stay. Returns how many were blanked.
 */
export function blankHistory(mask: Float32Array, p: number, rng: Rng): number {
  let n = 0;
  if (p > 0) for (let i = 0; i < mask.length; i++) if (mask[i]! > 0 && rng.next() < p) { mask[i] = 0; n++; }
  return n;
}
