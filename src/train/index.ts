export { trainLoop, type TrainLoopOptions, type TrainLoopResult, type EpochRecord, type Feeds } from './loop.js';
export { warmupCosine, constantLr, type LrSchedule, type WarmupCosineOptions } from './schedule.js';
export { RunDir } from './run-dir.js';
export { writeBundle, readBundle, bundleData, servingMemory, requireSameConfig, latestBundle, bundleVersions, BUNDLE_FORMAT, type BundleManifest, type LoadedBundle, type MemberFiles, type MemberGraphs, type WriteBundleInput, type BundleMemory } from './bundle.js';
export { trainGenerator, type GeneratorTrainOptions, type GeneratorTrainResult } from './generator-train.js';
