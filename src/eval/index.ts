export { MetricAccumulator, rankingMetrics, meanOverRuns, DEFAULT_KS, NO_ITEM, type Metrics } from './metrics.js';
export { topKRows, maskSeen } from './topk.js';
export { evaluate, flatMetrics, scoreRanker, checkTopK, type Ranker, type RankBatch, type EvaluateOptions, type EvalResult } from './harness.js';
export { markdownTable, qualityMarkdown } from './report.js';
export { modelFactories, mostpop, itemknn, sasrec, sasrecConfig, sasrecRanker, sasrecEnsembleRanker, trainSasRec, type ModelFactory, type QualityContext, type TrainedModel } from './models.js';
export { EVAL_BEAM, generativeRanker } from './generative-ranker.js';
export { fitGenrec, genrec, type GenrecOptions, type GenrecFit } from './genrec.js';
export { trainMembers, type GenrecMember, type MemberJob } from './members.js';
