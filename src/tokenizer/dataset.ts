/**
 * From a `Dataset` (src/data) and its split to semantic IDs in one call — what `genrec tokenize`, the
 * quality benchmark and training use, so they all embed items the same way. Collaborative vectors see
 * only each user's training part of the split.
 */
import type { Dataset } from '../data/dataset.js';
import type { Split } from '../data/split.js';
import { log } from '../engine/log.js';
import type { ItemSequences } from './collaborative.js';
import type { FusedEmbeddings, TokenRows } from './embeddings.js';
import { ItemEmbedder, type ItemEmbeddingOptions } from './item-embeddings.js';
import { saveTokenizer, type SavedTokenizer } from './persist.js';
import { ResidualTokenizer, type FitOptions, type FitResult, type TokenizerConfig } from './tokenizer.js';
import { alignVectors, type VectorFile } from './vectors-io.js';

/** Users' training events as CSR sequences (a copy: the split's train parts, concatenated). */
export function trainSequences(split: Pick<Split, 'interactions' | 'trainEnd'>): ItemSequences {
  const inter = split.interactions;
  const offsets = new Int32Array(inter.numUsers + 1);
  for (let u = 0; u < inter.numUsers; u++) offsets[u + 1] = offsets[u]! + (split.trainEnd[u]! - inter.userOffsets[u]!);
  const items = new Int32Array(offsets[inter.numUsers]!);
  for (let u = 0; u < inter.numUsers; u++) items.set(inter.items.subarray(inter.userOffsets[u]!, split.trainEnd[u]!), offsets[u]!);
  return { offsets, items, numItems: inter.numItems };
}

/** Categories and attributes as one token row per item (attribute ids shifted past the category vocabulary). */
export function itemTokenRows(items: Dataset['items']): TokenRows {
  const n = items.count, cat = items.categories, att = items.attributes;
  const offsets = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i]! + (cat.offsets[i + 1]! - cat.offsets[i]!) + (att.offsets[i + 1]! - att.offsets[i]!);
  const values = new Int32Array(offsets[n]!);
  for (let i = 0, k = 0; i < n; i++) {
    for (let j = cat.offsets[i]!; j < cat.offsets[i + 1]!; j++) values[k++] = cat.values[j]!;
    for (let j = att.offsets[i]!; j < att.offsets[i + 1]!; j++) values[k++] = cat.vocab.length + att.values[j]!;
  }
  return { offsets, values, vocabSize: cat.vocab.length + att.vocab.length };
}

/** The category and attribute vocabularies behind `itemTokenRows`' token ids (saved with the tokenizer). */
export interface TokenVocab { categories: string[]; attributes: string[] }

export function itemTokenVocab(items: Dataset['items']): TokenVocab {
  return { categories: [...items.categories.vocab], attributes: [...items.attributes.vocab] };
}

/**
 * Token rows for items given as string lists, with the token ids `itemTokenRows` gave the fitted
 * catalogue (categories, then attributes shifted past them). Tokens the vocabulary lacks are left out:
 * the fitted tokenizer never saw them, so they say nothing about where an item belongs.
 */
export function tokenRowsFromVocab(vocab: TokenVocab): (items: ReadonlyArray<{ categories: readonly string[]; attributes: readonly string[] }>) => TokenRows {
  const cats = new Map(vocab.categories.map((c, i) => [c, i] as const));
  const atts = new Map(vocab.attributes.map((a, i) => [a, vocab.categories.length + i] as const));
  const vocabSize = vocab.categories.length + vocab.attributes.length;
  return (items) => {
    const offsets = new Int32Array(items.length + 1), values: number[] = [];
    items.forEach((it, i) => {
      for (const c of it.categories) { const t = cats.get(c); if (t !== undefined) values.push(t); }
      for (const a of it.attributes) { const t = atts.get(a); if (t !== undefined) values.push(t); }
      offsets[i + 1] = values.length;
    });
    return { offsets, values: Int32Array.from(values), vocabSize };
  };
}

/**
 * Save a dataset's fitted tokenizer with everything needed to code its later items the same way: the
 * item embedder and the token vocabulary (under `meta.tokenVocab`). `genrec train` puts it in the bundle.
 */
export function saveDatasetTokenizer(path: string, fit: FitResult & { embedder: ItemEmbedder }, ds: Dataset): void {
  saveTokenizer(path, fit.tokenizer, fit.ids, { itemIds: ds.items.ids, report: fit.report, embedder: fit.embedder, meta: { tokenVocab: itemTokenVocab(ds.items) } });
}

/** The token vocabulary saved by `saveDatasetTokenizer`, or null (files saved without one). */
export function savedTokenVocab(saved: SavedTokenizer): TokenVocab | null {
  const v = saved.meta.tokenVocab as Partial<TokenVocab> | undefined;
  const strings = (a: unknown): a is string[] => Array.isArray(a) && a.every((x) => typeof x === 'string');
  return v && strings(v.categories) && strings(v.attributes) ? { categories: v.categories, attributes: v.attributes } : null;
}

export interface DatasetEmbeddingOptions extends ItemEmbeddingOptions {
  /** Extra vectors matched to items by external id. */
  userVectors?: VectorFile;
}

/**
 * Fused item embeddings of a dataset: title + text, categories + attributes, train-split item2vec, user
 * vectors. The embedder embeds later items of the same catalogue (same text model, vocabularies, means).
 */
export async function datasetItemEmbeddings(ds: Dataset, split: Pick<Split, 'interactions' | 'trainEnd'>, o: DatasetEmbeddingOptions = {}): Promise<{ fused: FusedEmbeddings; embedder: ItemEmbedder }> {
  const n = ds.items.count;
  let user: { userVectors: Float32Array; userDim: number } | null = null;
  if (o.userVectors) {
    const al = alignVectors(o.userVectors, ds.items.ids);
    log.info({ matched: al.matched, items: n }, 'user vectors matched by item id');
    user = { userVectors: al.vectors, userDim: o.userVectors.dim };
  }
  const texts = ds.items.titles.map((t, i) => `${t} ${ds.items.texts[i] ?? ''}`.trim());
  const { fused, embedder } = await ItemEmbedder.fit({ numItems: n, texts, tokens: itemTokenRows(ds.items), sequences: trainSequences(split), ...user }, o);
  return { fused, embedder };
}

export interface TokenizeDatasetOptions extends FitOptions {
  embeddings?: DatasetEmbeddingOptions;
  tokenizer?: Partial<TokenizerConfig>;
}

/** Embed a dataset's items and fit the tokenizer on them. */
export async function tokenizeDataset(ds: Dataset, split: Pick<Split, 'interactions' | 'trainEnd'>, o: TokenizeDatasetOptions = {}): Promise<FitResult & { embeddings: FusedEmbeddings; embedder: ItemEmbedder }> {
  const progress = o.onProgress ? { onProgress: o.onProgress } : {};
  const runtime = o.runtime ? { runtime: o.runtime } : {};
  const { fused, embedder } = await datasetItemEmbeddings(ds, split, { ...runtime, ...progress, ...o.embeddings });
  const fit = await ResidualTokenizer.fit(fused.vectors, ds.items.count, fused.dim, o.tokenizer ?? {}, { ...runtime, ...progress });
  return { ...fit, embeddings: fused, embedder };
}
