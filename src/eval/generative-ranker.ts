/**
 * The generator as a `Ranker` for the evaluation harness: beam search over semantic IDs through the
 * exported graphs (never a softmax over item ids), seen items excluded inside the search.
 */
import type { GenerativeModel } from '../retrieval/generative.js';
import type { Ranker, RankBatch } from './harness.js';
import { DEFAULT_KS } from './metrics.js';

/**
 * Default beam width for evaluation: twice the largest cut-off evaluated (40). A beam of exactly k
 * keeps only k prefixes at each level, so items near rank k are often cut at a shallower one: on
 * ml-1m a beam of 20 lost 3% of Recall@20 against 50 or 200, with Recall@10 unchanged
 * (docs/results.md, section 6, ninth session).
 */
export const EVAL_BEAM = 2 * Math.max(...DEFAULT_KS);

export function generativeRanker(gm: GenerativeModel, opts: { beam: number; batchSize?: number; name?: string }): Ranker {
  const T = gm.maxLen;
  const run = async (b: RankBatch, k: number, variants: boolean[]) => {
    const rows = b.rows;
    const items = b.batch.inputs.subarray(0, rows * T);
    // Event types and time gaps only when the model reads them (the batch always carries them).
    const c = gm.config;
    const types = c.numEventTypes > 0 ? Int32Array.from(b.batch.types.subarray(0, rows * T)) : undefined;
    const gapSeconds = c.gapBuckets > 0 ? b.batch.gaps.subarray(0, rows * T) : undefined;
    const exclude = (u: number) => b.items.subarray(b.historyStart[u]!, b.historyEnd[u]!);
    const r = await gm.recommendEach({ users: rows, items, ...(types ? { types } : {}), ...(gapSeconds ? { gapSeconds } : {}) },
      variants.map((excludeSeen) => ({ k, beam: Math.max(opts.beam, k), ...(excludeSeen ? { exclude } : {}) })));
    return r.map((x) => x.items);
  };
  return {
    name: opts.name ?? 'genrec', maxLen: T, batchSize: opts.batchSize ?? 256,
    topK: async (b, k, excludeSeen) => (await run(b, k, [excludeSeen]))[0]!,
    // Both variants share the users' context and the first level's logits.
    topKBoth: async (b, k) => {
      const [exclude, include] = await run(b, k, [true, false]);
      return { exclude: exclude!, include: include! };
    },
  };
}
