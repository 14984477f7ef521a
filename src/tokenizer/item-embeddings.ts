/**
 * Every available item source embedded and fused in one call (see embeddings.ts for the normalisation and
 * weighting, collaborative.ts for item2vec).
 */
import { log } from '../engine/log.js';
import type { RuntimeOptions } from '../engine/runtime.js';
import { item2vec, type Item2VecOptions, type ItemSequences } from './collaborative.js';
import { embedTexts, embedTokenRows, fuseEmbeddings, randomProjection, type FusedEmbeddings, type FusionSource, type TextModel, type TokenRows } from './embeddings.js';

/** What is known about the items; every part is optional. Row i = item i everywhere. */
export interface ItemEmbeddingInput {
  numItems: number;
  /** Content text per item ('' = none), e.g. title + description. */
  texts?: readonly string[];
  /** Attribute and category token ids per item (CSR). */
  tokens?: TokenRows;
  /** User sequences of the TRAINING split only (CSR), for collaborative vectors. */
  sequences?: ItemSequences;
  /** User-supplied vectors (numItems × userDim; zero rows = missing), e.g. from `alignVectors`. */
  userVectors?: Float32Array;
  userDim?: number;
}

export interface FusionWeights { content: number; attributes: number; collaborative: number; user: number }

/** Default weights: behaviour and content lead, attributes refine; user vectors count as much as content. */
export const DEFAULT_FUSION_WEIGHTS: Readonly<FusionWeights> = Object.freeze({ content: 1, attributes: 0.5, collaborative: 1, user: 1 });

export interface ItemEmbeddingOptions {
  weights?: Partial<FusionWeights>;
  textModel?: TextModel;
  /** Dimension of attribute vectors (and of hashed text vectors). */
  attributeDim?: number;
  item2vec?: Item2VecOptions;
  /** Project the fused vector to this many dimensions (seeded random projection); 0 = keep. */
  outputDim?: number;
  seed?: number;
  runtime?: RuntimeOptions;
  onProgress?: (stage: string, done: number, total: number) => void;
}

/**
 * Embed every available source and fuse them (see embeddings.ts for the normalisation and weighting).
 * A source with weight 0 or no data is skipped; at least one must remain.
 */
export async function buildItemEmbeddings(input: ItemEmbeddingInput, o: ItemEmbeddingOptions = {}): Promise<FusedEmbeddings> {
  const n = input.numItems;
  const w = { ...DEFAULT_FUSION_WEIGHTS, ...o.weights };
  const seed = o.seed ?? 1;
  const sources: FusionSource[] = [];
  if (input.texts && w.content > 0 && input.texts.some((t) => t.trim().length > 0)) {
    const t = await embedTexts(input.texts, { model: o.textModel ?? 'auto', seed, ...(o.onProgress ? { onProgress: (d, tot) => o.onProgress!('content', d, tot) } : {}) });
    log.info({ model: t.model, dim: t.dim }, 'content vectors');
    sources.push({ name: 'content', vectors: t.vectors, dim: t.dim, weight: w.content });
  }
  if (input.tokens && w.attributes > 0 && input.tokens.values.length > 0) {
    const a = embedTokenRows(input.tokens, n, { dim: o.attributeDim ?? 64, seed });
    sources.push({ name: 'attributes', vectors: a.vectors, dim: a.dim, weight: w.attributes });
  }
  if (input.sequences && w.collaborative > 0 && input.sequences.items.length > 0) {
    const c = await item2vec(input.sequences, { seed, ...(o.runtime ? { runtime: o.runtime } : {}), ...o.item2vec });
    sources.push({ name: 'collaborative', vectors: c.vectors, dim: c.dim, weight: w.collaborative });
  }
  if (input.userVectors && w.user > 0) {
    sources.push({ name: 'user', vectors: input.userVectors, dim: input.userDim ?? input.userVectors.length / Math.max(1, n), weight: w.user });
  }
  const fused = fuseEmbeddings(n, sources);
  if (o.outputDim && o.outputDim < fused.dim) {
    return { ...fused, vectors: await randomProjection(fused.vectors, n, fused.dim, o.outputDim, seed, o.runtime), dim: o.outputDim };
  }
  return fused;
}
