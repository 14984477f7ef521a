/**
 * The generator as a `Ranker` for the evaluation harness: beam search over semantic IDs through the
 * exported graphs (never a softmax over item ids), seen items excluded inside the search.
 */
import type { GenerativeModel } from '../retrieval/generative.js';
import type { Ranker, RankBatch } from './harness.js';

export function generativeRanker(gm: GenerativeModel, opts: { beam: number; batchSize?: number; name?: string }): Ranker {
  const T = gm.maxLen;
  const run = async (b: RankBatch, k: number, excludeSeen: boolean) => {
    const rows = b.rows;
    const items = b.batch.inputs.subarray(0, rows * T);
    // Event types and time gaps only when the model reads them (the batch always carries them).
    const c = gm.config;
    const types = c.numEventTypes > 0 ? Int32Array.from(b.batch.types.subarray(0, rows * T)) : undefined;
    const gapSeconds = c.gapBuckets > 0 ? b.batch.gaps.subarray(0, rows * T) : undefined;
    const r = await gm.recommend({ users: rows, items, ...(types ? { types } : {}), ...(gapSeconds ? { gapSeconds } : {}) }, {
      k, beam: Math.max(opts.beam, k),
      ...(excludeSeen ? { exclude: (u: number) => b.items.subarray(b.historyStart[u]!, b.historyEnd[u]!) } : {}),
    });
    return r.items;
  };
  return { name: opts.name ?? 'genrec', maxLen: T, batchSize: opts.batchSize ?? 256, topK: run };
}
