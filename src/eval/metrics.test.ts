import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetricAccumulator, meanOverRuns, rankingMetrics } from './metrics.js';
import { maskSeen, topKRows } from './topk.js';

const close = (a: number, b: number, msg = '') => assert.ok(Math.abs(a - b) < 1e-12, `${msg}: ${a} vs ${b}`);

test('recall and NDCG on hand-computed cases', () => {
  // 3 cases, top-5 lists (k = 5, cut-offs 1, 3, 5).
  const topk = Int32Array.from([
    7, 3, 9, 1, 2, // target 3 at rank 1 → ndcg 1/log2(3)
    4, 5, 6, 8, 0, // target 0 at rank 4 → ndcg 1/log2(6)
    1, 2, 3, 4, 5, // target 9: miss
  ]);
  const m = rankingMetrics(topk, 5, Int32Array.from([3, 0, 9]), 10, [1, 3, 5]);
  close(m['recall@1']!, 0);
  close(m['recall@3']!, 1 / 3);
  close(m['recall@5']!, 2 / 3);
  close(m['ndcg@1']!, 0);
  close(m['ndcg@3']!, 1 / Math.log2(3) / 3);
  close(m['ndcg@5']!, (1 / Math.log2(3) + 1 / Math.log2(6)) / 3);
});

test('a hit at rank 0 scores 1; padding and invalid ids', () => {
  const acc = new MetricAccumulator(5, [2]);
  acc.add(Int32Array.from([2, -1, 9, 2]), 2, Int32Array.from([2, 2]), 2); // row 2: invalid 9 then the target
  const m = acc.result();
  close(m['recall@2']!, 1);
  close(m['ndcg@2']!, (1 + 1 / Math.log2(3)) / 2);
  assert.equal(acc.generated, 3);
  assert.equal(acc.invalid, 1);
  close(acc.invalidRate(), 1 / 3);
});

test('excluding seen items frees ranks (scores → top-K → metrics)', () => {
  // One user, 6 items; history {0, 1}; target 4. Scores rank 0 > 1 > 4 > 2 > ...
  const scores = Float32Array.from([0.9, 0.8, 0.1, 0.05, 0.5, 0.2]);
  const incl = topKRows(scores.slice(), 1, 6, 3);
  assert.deepEqual([...incl], [0, 1, 4]);
  const s = scores.slice();
  maskSeen(s, 1, 6, Int32Array.from([0, 1]), Int32Array.from([0]), Int32Array.from([2]));
  const excl = topKRows(s, 1, 6, 3);
  assert.deepEqual([...excl], [4, 5, 2]);
  const t = Int32Array.from([4]);
  close(rankingMetrics(incl, 3, t, 6, [1, 3])['ndcg@3']!, 1 / Math.log2(4));
  close(rankingMetrics(excl, 3, t, 6, [1, 3])['ndcg@1']!, 1);
});

test('topKRows: partial selection equals a full sort, ties to the lower id, -Infinity never returned', () => {
  let seed = 1;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const rows = 7, n = 500, k = 20;
  const s = Float32Array.from({ length: rows * n }, () => Math.floor(rnd() * 50) / 50); // many ties
  for (let i = 0; i < 40; i++) s[Math.floor(rnd() * rows * n)] = -Infinity;
  const got = topKRows(s, rows, n, k);
  for (let r = 0; r < rows; r++) {
    const ids = Array.from({ length: n }, (_, j) => j).filter((j) => s[r * n + j]! > -Infinity);
    ids.sort((a, b) => (s[r * n + b]! - s[r * n + a]!) || a - b);
    assert.deepEqual([...got.subarray(r * k, r * k + k)], ids.slice(0, k), `row ${r}`);
  }
  const few = topKRows(Float32Array.from([1, -Infinity, 3, NaN]), 1, 4, 3);
  assert.deepEqual([...few], [2, 0, -1]);
});

test('meanOverRuns gives mean and sample std', () => {
  const m = meanOverRuns([{ a: 1, b: 2 }, { a: 3, b: 2 }], ['a']);
  close(m.a!, 2); close(m.a_std!, Math.SQRT2); close(m.b!, 2);
  assert.equal(m.b_std, undefined);
});
