import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitFromSequences } from './fixtures.js';
import { evaluate, flatMetrics, scoreRanker, type Ranker } from './harness.js';

// Leave-one-out: test target = last item, validation target = second to last.
const seqs = [
  [0, 1, 2, 3], // test target 3, history 0 1 2
  [4, 0, 3, 0], // test target 0, already in the history
  [1, 2],       // too short: no case
];
const split = splitFromSequences(seqs, 6);

test('full-catalogue ranking with and without seen items', async () => {
  // Fixed scores: item 0 best, then 3, 1, 2, 4, 5.
  const order = [0, 3, 1, 2, 4, 5];
  const ranker = scoreRanker('fixed', (b, out) => {
    for (let r = 0; r < b.rows; r++) order.forEach((it, rank) => { out[r * 6 + it] = 6 - rank; });
  });
  const r = await evaluate(ranker, split, 'test', { ks: [1, 2] });
  assert.equal(r.cases, 2);
  // Included: user 0 ranks 3 at position 1, user 1 ranks 0 at position 0.
  assert.equal(r.include['recall@1'], 0.5);
  assert.equal(r.include['recall@2'], 1);
  assert.ok(Math.abs(r.include['ndcg@2']! - (1 + 1 / Math.log2(3)) / 2) < 1e-12);
  // Excluded: user 0's seen {0,1,2} go, so 3 is first; user 1's target 0 is seen, so it cannot be hit.
  assert.equal(r.exclude['recall@1'], 0.5);
  assert.equal(r.exclude['recall@2'], 0.5);
  assert.equal(r.exclude['ndcg@2'], 0.5);
  assert.equal(r.seenLeaks, 0);
  const flat = flatMetrics(r);
  assert.equal(flat['recall@1_incl_seen'], 0.5);
  assert.equal(flat.invalid_rate, 0);
});

test('validation cases see only the training history; invalid ids and leaks are counted', async () => {
  let histories: number[][] = [];
  const ranker: Ranker = {
    name: 'probe',
    async topK(b, k) {
      histories = Array.from({ length: b.rows }, (_, r) => [...b.items.subarray(b.historyStart[r], b.historyEnd[r])]);
      const out = new Int32Array(b.rows * k).fill(-1);
      out[0] = 0;  // user 0's history holds 0: a leak when excluding
      out[1] = 99; // not an item
      return out;
    },
  };
  const r = await evaluate(ranker, split, 'valid', { ks: [2] });
  assert.deepEqual(histories, [[0, 1], [4, 0]]);
  assert.equal(r.seenLeaks, 1);
  assert.equal(r.invalidRate, 0.5);
});
