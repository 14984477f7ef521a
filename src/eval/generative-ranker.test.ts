import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GenerativeModel, HistoryBatch } from '../retrieval/generative.js';
import type { RankBatch } from './harness.js';
import { generativeRanker } from './generative-ranker.js';

/** A stand-in model that records what the ranker feeds it. */
function recordingModel(numEventTypes: number, gapBuckets: number, seen: HistoryBatch[]): GenerativeModel {
  return {
    maxLen: 3, config: { numEventTypes, gapBuckets },
    recommendEach: async (h: HistoryBatch, searches: { k: number }[]) => {
      seen.push(h);
      return searches.map((o) => ({ items: new Int32Array(h.users * o.k), scores: new Float32Array(h.users * o.k) }));
    },
  } as unknown as GenerativeModel;
}

const batch = {
  rows: 2,
  batch: { inputs: Int32Array.from([0, 4, 5, 1, 2, 3, 9, 9, 9]), types: Uint8Array.from([0, 1, 2, 1, 1, 2, 0, 0, 0]), gaps: Float32Array.from([0, 0, 60, 0, 3600, 5, 7, 7, 7]) },
  items: new Int32Array(0), historyStart: new Int32Array(2), historyEnd: new Int32Array(2),
} as unknown as RankBatch;

test('the generative ranker feeds event types and time gaps exactly when the model reads them', async () => {
  const seen: HistoryBatch[] = [];
  await generativeRanker(recordingModel(2, 8, seen), { beam: 5 }).topK(batch, 3, false);
  assert.deepEqual(Array.from(seen[0]!.items), [0, 4, 5, 1, 2, 3]);
  assert.deepEqual(Array.from(seen[0]!.types!), [0, 1, 2, 1, 1, 2]);
  assert.deepEqual(Array.from(seen[0]!.gapSeconds!), [0, 0, 60, 0, 3600, 5]);
  await generativeRanker(recordingModel(0, 0, seen), { beam: 5 }).topK(batch, 3, false);
  assert.equal(seen[1]!.types, undefined);
  assert.equal(seen[1]!.gapSeconds, undefined);
});
