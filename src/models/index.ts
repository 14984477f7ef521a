export { attention, causalMask, Block, MLP, SelfAttention, type BlockConfig } from './layers.js';
export { TinyLM, type TinyLMConfig } from './tiny-lm.js';
export {
  Generator, defaultGeneratorConfig, codeOffsets, itemTokenTable, gapBucket, contextNames, buildEncodeGraph, buildDecodeGraph, prefixPairs,
  type GeneratorConfig, type PairHead, type ChildSlots, type HistoryInputs, type Context,
} from './generator.js';
export { SasRec, type SasRecConfig } from './sasrec.js';
export { TransitionTable, NodeMass, DEFAULT_MEMORY_WINDOW, DEFAULT_MEMORY_DECAY, type MemoryOptions } from './transitions.js';
