import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evalBatches, SequenceBatcher, trainingSequences } from './batches.js';
import { EventColumnsBuilder } from './columns.js';
import { datasetFromData } from './load.js';
import { leaveOneOut } from './split.js';

async function ds() {
  const b = new EventColumnsBuilder('t', { timestamps: true, values: false });
  for (let u = 0; u < 5; u++) for (let k = 0; k < 4 + u * 3; k++) b.add(`u${u}`, `i${(u + k) % 7}`, k % 3 === 2 ? 'like' : 'view', 100 * k + u);
  return datasetFromData({ label: 't', events: b.build() }, { catalog: 'all' });
}

describe('training sequences and batches', () => {
  it('caps each user at maxLen + 1 training events, or windows all of them', async () => {
    const d = await ds();
    const split = leaveOneOut(d.interactions);
    const last = trainingSequences(split, { maxLen: 4 });
    assert.equal(last.count, 5);
    for (let r = 0; r < last.count; r++) {
      assert.equal(last.ends[r], split.trainEnd[last.users[r]!]);
      assert.ok(last.ends[r]! - last.starts[r]! <= 5);
    }
    const all = trainingSequences(split, { maxLen: 4, windows: 'all' });
    // Every training transition is a target exactly once.
    let targets = 0;
    for (let r = 0; r < all.count; r++) targets += all.ends[r]! - all.starts[r]! - 1;
    let transitions = 0;
    for (let u = 0; u < 5; u++) transitions += split.trainEnd[u]! - d.interactions.userOffsets[u]! - 1;
    assert.equal(targets, transitions);
  });

  it('produces fixed-shape, left-padded, shifted batches, reproducibly shuffled per epoch', async () => {
    const d = await ds();
    const seqs = trainingSequences(leaveOneOut(d.interactions), { maxLen: 6 });
    const batcher = new SequenceBatcher(seqs, { batchSize: 2, maxLen: 6, seed: 7 });
    const batches = [...batcher.epoch(0)].map((b) => ({ ...b, inputs: b.inputs.slice(), users: b.users.slice() }));
    assert.equal(batches.length, 3);
    const lastBatch = batches[2]!;
    assert.equal(lastBatch.rows, 1);
    assert.equal(lastBatch.users[1], -1);
    assert.equal(lastBatch.inputs.length, 12);
    const first = [...batcher.epoch(0)][0]!;
    const row0 = first.users[0]!;
    const { userOffsets, items } = d.interactions;
    const end = seqs.ends[Array.from(seqs.users).indexOf(row0)]!;
    const len = Math.min(7, end - userOffsets[row0]!);
    // Left padding: the last input column is the second-to-last event of the row; its target the last.
    assert.equal(first.inputs[5], items[end - 2]! + 1);
    assert.equal(first.targets[5], items[end - 1]! + 1);
    assert.equal(first.mask[6 - (len - 1)], 1);
    if (len - 1 < 6) { assert.equal(first.inputs[0], 0); assert.equal(first.mask[0], 0); }
    assert.ok(first.types[5]! >= 1);
    assert.equal(first.gaps[5], 100);
    const again = [...new SequenceBatcher(seqs, { batchSize: 2, maxLen: 6, seed: 7 }).epoch(0)];
    assert.deepEqual(again.map((b) => Array.from(b.users)), batches.map((b) => Array.from(b.users)));
    const orders = new Set([0, 1, 2, 3, 4].map((e) => Array.from(batcher.order(e)).join()));
    assert.ok(orders.size > 1, 'epochs shuffle differently');
  });

  it('right padding puts sequences at the start', async () => {
    const d = await ds();
    const seqs = trainingSequences(leaveOneOut(d.interactions), { maxLen: 20 });
    const [b] = [...new SequenceBatcher(seqs, { batchSize: 8, maxLen: 20, shuffle: false, pad: 'right' }).epoch(0)];
    assert.equal(b!.inputs[0], d.interactions.items[0]! + 1);
    assert.equal(b!.mask[19], 0);
  });

  it('evaluation batches hold the capped history and the target', async () => {
    const d = await ds();
    const split = leaveOneOut(d.interactions);
    const bs = [...evalBatches(split, 'test', { batchSize: 4, maxLen: 3 })];
    assert.equal(bs.reduce((n, b) => n + b.rows, 0), 5);
    const b = bs[0]!;
    const u = b.users[0]!;
    const end = d.interactions.userOffsets[u + 1]!;
    assert.equal(b.targets[0], d.interactions.items[end - 1]! + 1);
    assert.deepEqual(Array.from(b.inputs.subarray(0, 3)), Array.from(d.interactions.items.subarray(end - 4, end - 1), (i) => i + 1));
    assert.equal(bs[1]!.cases[1], -1);
  });
});
