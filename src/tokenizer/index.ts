/**
 * Semantic IDs: item embeddings (content, attributes, collaborative, user-supplied; fused), the residual
 * k-means tokenizer, incremental codes, the prefix trie for constrained decoding, and persistence.
 */
export { ResidualTokenizer, autoCodebookSize, MIN_SOLO_PAIR_SHARE, resolveConfig, DEFAULT_TOKENIZER_CONFIG, TOKENIZER_VERSION } from './tokenizer.js';
export type { TokenizerConfig, TokenizeReport, LevelReport, FitOptions, FitResult, ProgressFn } from './tokenizer.js';
export { SemanticIds, CodeMapping } from './codes.js';
export { PrefixTrie, sortCodes } from './trie.js';
export { saveTokenizer, loadTokenizer, codesForItems, TOKENIZER_FORMAT, type SavedTokenizer } from './persist.js';
export { readVectorsFile, readNpy, writeNpy, alignVectors, type VectorFile } from './vectors-io.js';
export { syntheticClusteredVectors, type SyntheticOptions, type SyntheticVectors } from './synthetic.js';
export { item2vec, type Item2VecOptions, type ItemSequences } from './collaborative.js';
export {
  embedTexts, embedTextsHashed, embedTokenRows, fuseEmbeddings, normalizeRows, centerRows, randomProjection, projectRows,
  type FusionSource, type FusedEmbeddings, type TokenRows, type TextModel, type TextEmbedOptions, type DocFrequency,
} from './embeddings.js';
export {
  buildItemEmbeddings, ItemEmbedder, DEFAULT_FUSION_WEIGHTS,
  type ItemEmbeddingInput, type NewItemInput, type ItemEmbeddingOptions, type FusionWeights, type EmbedderConfig, type EmbedderArrays,
} from './item-embeddings.js';
export {
  tokenizeDataset, datasetItemEmbeddings, trainSequences, itemTokenRows, itemTokenVocab, tokenRowsFromVocab, saveDatasetTokenizer, savedTokenVocab,
  type TokenizeDatasetOptions, type DatasetEmbeddingOptions, type TokenVocab,
} from './dataset.js';
