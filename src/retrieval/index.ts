export { beamSearch, excludedCounts, type BeamOptions, type BeamResult, type DecodeFn, type DecodeOutput } from './beam.js';
export { GenerativeModel, type HistoryBatch, type RecommendOptions, type UserContext } from './generative.js';
