export { attention, causalMask, Block, MLP, SelfAttention, type BlockConfig } from './layers.js';
export { TinyLM, type TinyLMConfig } from './tiny-lm.js';
