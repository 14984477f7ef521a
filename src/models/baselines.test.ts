import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ItemKnn, MostPop } from './baselines.js';
import { splitFromSequences } from '../eval/fixtures.js';

// Users' sequences; leave-one-out keeps all but the last two events for training.
const seqs = [
  [0, 1, 2, 9, 9], // train 0 1 2
  [0, 1, 3, 9, 9], // train 0 1 3
  [1, 2, 9, 9],    // train 1 2
  [4, 9, 9],       // train 4
];

test('MostPop counts training events only', () => {
  const split = splitFromSequences(seqs, 10);
  const mp = MostPop.fit(split);
  assert.deepEqual([...mp.counts], [2, 3, 2, 1, 1, 0, 0, 0, 0, 0]);
  const out = new Float32Array(20);
  mp.score(2, out);
  assert.deepEqual([...out.subarray(10)], [...mp.counts]);
});

test('item-kNN: cosine with shrinkage, neighbourhood size, recency', () => {
  const split = splitFromSequences(seqs, 10);
  const knn = ItemKnn.fit(split, { neighbours: 10, shrink: 0 });
  // Users per item: 0 {u0,u1}, 1 {u0,u1,u2}, 2 {u0,u2}, 3 {u1}, 4 {u3}.
  const sim = (i: number, j: number) => {
    for (let t = knn.offsets[i]!; t < knn.offsets[i + 1]!; t++) if (knn.ids[t] === j) return knn.sims[t]!;
    return 0;
  };
  assert.ok(Math.abs(sim(0, 1) - 2 / Math.sqrt(6)) < 1e-6);
  assert.ok(Math.abs(sim(1, 2) - 2 / Math.sqrt(6)) < 1e-6);
  assert.ok(Math.abs(sim(0, 2) - 1 / 2) < 1e-6);
  assert.ok(Math.abs(sim(2, 3)) < 1e-9);
  assert.equal(knn.offsets[5]! - knn.offsets[4]!, 0, 'item 4 has no co-occurring items');
  // Neighbours of item 1, best first: 0 and 2 tie (2/√6) → lower id first, then 3 (1/√3).
  assert.deepEqual([...knn.ids.subarray(knn.offsets[1]!, knn.offsets[2]!)], [0, 2, 3]);
  const small = ItemKnn.fit(split, { neighbours: 1, shrink: 0 });
  assert.deepEqual([...small.ids.subarray(small.offsets[1]!, small.offsets[2]!)], [0]);
  const shrunk = ItemKnn.fit(split, { neighbours: 10, shrink: 1 });
  const s01 = shrunk.sims[shrunk.offsets[0]!]!;
  assert.ok(Math.abs(s01 - 2 / (Math.sqrt(6) + 1)) < 1e-6);

  // Scores of history [0, 3] (3 most recent): sim(0, j) + sim(3, j); recency 0.5 halves item 0's votes.
  const out = new Float32Array(10);
  knn.score(Int32Array.from([0, 3]), Int32Array.from([0]), Int32Array.from([2]), 1, out);
  assert.ok(Math.abs(out[1]! - (2 / Math.sqrt(6) + 1 / Math.sqrt(3))) < 1e-5);
  const decayed = knn.withOptions({ recency: 0.5 });
  decayed.score(Int32Array.from([0, 3]), Int32Array.from([0]), Int32Array.from([2]), 1, out);
  assert.ok(Math.abs(out[1]! - (0.5 * 2 / Math.sqrt(6) + 1 / Math.sqrt(3))) < 1e-5);
  // Zero-evidence items are ordered by popularity (item 4 was seen once, items 5..9 never).
  assert.ok(out[4]! > out[5]! && out[4]! < 1e-5);
});
