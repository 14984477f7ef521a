/**
 * The models `bench quality` can train and evaluate, by name. A factory gets the data, the split, a seed
 * and a run directory, trains (tuning on the validation part only) and returns a Ranker for the harness.
 * Adding a model is one line in `modelFactories`.
 */
import { GenrecError } from '../engine/errors.js';
import { log } from '../engine/log.js';
import type { RuntimeOptions } from '../engine/runtime.js';
import type { Dataset } from '../data/dataset.js';
import type { Split } from '../data/split.js';
import { MEMBER_SEED_STRIDE, genrec } from './genrec.js';
import { modelNumberOption, windowsOption } from './flags.js';
import { SequenceBatcher, trainingSequences, type Sequences } from '../data/batches.js';
import { ItemKnn, MostPop, type ItemKnnOptions } from '../models/baselines.js';
import { SasRec, SasRecInference, compileSasRecStep, sasrecFeeds, type SasRecConfig } from '../models/sasrec.js';
import { trainLoop, type TrainLoopResult } from '../train/loop.js';
import type { RunDir } from '../train/run-dir.js';
import { warmupCosine } from '../train/schedule.js';
import { evaluate, flatMetrics, scoreRanker, type EvaluateOptions, type RankBatch, type Ranker } from './harness.js';
import { maskSeen, topKRows } from './topk.js';
import { memberInfo } from './members.js';

export interface QualityContext {
  dataset: Dataset;
  split: Split;
  seed: number;
  /** This model's and seed's own directory (checkpoints, curves). */
  runDir: RunDir;
  /** History length for sequence models (flag or data statistics). */
  maxLen: number;
  /** `--epochs`: the maximum for neural models (early stopping may end sooner). */
  epochs?: number;
  /** Model-specific settings from flags (`--d-model`, `--dropout`, ...), raw. */
  options: Record<string, unknown>;
  runtime?: RuntimeOptions;
  /**
   * Outside the datasets' protocol (training history ends before the validation target): the test
   * ranker's counts (genrec's memory, item-kNN, MostPop) also read the validation events, as a final
   * refit would. Neural weights are not retrained. Default false.
   */
  refitValid?: boolean;
}

export interface TrainedModel {
  ranker: Ranker;
  /** Training (and tuning) wall-clock seconds. */
  trainSeconds: number;
  /** What was chosen (hyper-parameters, best epoch, ...), for the report. */
  info: Record<string, unknown>;
  dispose?(): Promise<void>;
}

export type ModelFactory = (ctx: QualityContext) => Promise<TrainedModel>;

/** An option from flags as a number (undefined when absent; not a number, or ≤ 0 for a size or rate → usage error). */
const num = (o: Record<string, unknown>, key: string): number | undefined => modelNumberOption(key, o[key]);

/** A list option ("20,50,100") as numbers. */
function list(o: Record<string, unknown>, key: string, dflt: number[]): number[] {
  const v = o[key];
  if (v === undefined || v === '') return dflt;
  const xs = String(v).split(',').map((s) => Number(s.trim()));
  if (xs.some((x) => !Number.isFinite(x))) throw new GenrecError('GENREC_E_USAGE', `option ${key} must be a comma-separated list of numbers, got '${String(v)}'`, 'e.g. 20,50,100');
  return xs;
}

export const mostpop: ModelFactory = async (ctx) => {
  const t0 = performance.now();
  const mp = MostPop.fit(ctx.split, { includeValid: ctx.refitValid ?? false });
  return {
    ranker: scoreRanker('mostpop', (b, out) => mp.score(b.rows, out), { maxLen: 1, batchSize: 256 }),
    trainSeconds: (performance.now() - t0) / 1000,
    info: {},
  };
};

const knnRanker = (knn: ItemKnn) => scoreRanker('itemknn', (b: RankBatch, out) => knn.score(b.items, b.historyStart, b.historyEnd, b.rows, out), { maxLen: 1, batchSize: 256 });

/** item-kNN with neighbourhood size, shrinkage and recency decay chosen on validation NDCG@10. */
export const itemknn: ModelFactory = async (ctx) => {
  const t0 = performance.now();
  const grid = {
    neighbours: list(ctx.options, 'knnNeighbours', [50, 100, 200, 500]),
    shrink: list(ctx.options, 'knnShrink', [10, 100, 500]),
    recency: list(ctx.options, 'knnRecency', [0.8, 0.5, 0.3]),
  };
  let best: { opts: ItemKnnOptions; ndcg: number; knn: ItemKnn } | null = null;
  const tried: Array<Record<string, number>> = [];
  for (const neighbours of grid.neighbours) {
    for (const shrink of grid.shrink) {
      const base = ItemKnn.fit(ctx.split, { neighbours, shrink });
      for (const recency of grid.recency) {
        const knn = base.withOptions({ recency });
        const r = await evaluate(knnRanker(knn), ctx.split, 'valid', { includeSeen: false });
        const ndcg = r.exclude['ndcg@10']!;
        tried.push({ neighbours, shrink, recency, 'ndcg@10': ndcg });
        log.debug({ neighbours, shrink, recency, ndcg }, 'itemknn grid point');
        if (!best || ndcg > best.ndcg) best = { opts: knn.opts, ndcg, knn };
      }
    }
  }
  ctx.runDir.writeJson('itemknn-grid.json', tried);
  log.info({ ...best!.opts, validNdcg10: best!.ndcg }, 'itemknn chosen on validation');
  const final = ctx.refitValid ? ItemKnn.fit(ctx.split, { ...best!.opts, includeValid: true }) : best!.knn;
  return {
    ranker: knnRanker(final),
    trainSeconds: (performance.now() - t0) / 1000,
    info: { ...best!.opts, valid_ndcg10: best!.ndcg },
  };
};

/** SASRec's settings: flags first, then defaults. */
export function sasrecConfig(ctx: QualityContext): SasRecConfig & { batchSize: number; lr: number; weightDecay: number; epochs: number; patience: number; warmup: number; windows: 'last' | 'all' } {
  const o = ctx.options;
  const windows = windowsOption(o.windows ?? 'last');
  return {
    numItems: ctx.split.interactions.numItems,
    maxLen: ctx.maxLen,
    dModel: num(o, 'dModel') ?? 64,
    nHead: num(o, 'heads') ?? 2,
    nLayer: num(o, 'blocks') ?? 2,
    dropout: num(o, 'dropout') ?? 0.5,
    embScale: (o.embScale ?? 'true') !== 'false',
    batchSize: num(o, 'batchSize') ?? 128,
    lr: num(o, 'lr') ?? 1e-3,
    weightDecay: num(o, 'weightDecay') ?? 0.1,
    epochs: ctx.epochs ?? 200,
    patience: num(o, 'patience') ?? 20,
    warmup: num(o, 'warmupSteps') ?? 100,
    windows,
    ...(num(o, 'dFf') !== undefined ? { dFF: num(o, 'dFf')! } : {}),
  };
}

/** A Ranker over a SASRec model: top-k inside the ORT graph (seen items masked by a scatter). */
export async function sasrecRanker(model: SasRec, batchSize = 256, runtime?: RuntimeOptions, mode: 'ort' | 'js' = 'ort'): Promise<Ranker & { dispose(): Promise<void> }> {
  const k = 20;
  const inf = await SasRecInference.create(model, batchSize, mode === 'ort' ? k : 0, runtime);
  let seen = new Int32Array(0);
  let scores = new Float32Array(0);
  const both = async (b: RankBatch, kk: number) => {
    if (kk > k && mode === 'ort') throw new GenrecError('GENREC_E_USAGE', `the SASRec ranker was compiled for top-${k}, asked for ${kk}`, 'evaluate with cut-offs ≤ 20');
    if (mode === 'js') {
      const V = model.c.numItems;
      if (scores.length < batchSize * V) scores = new Float32Array(batchSize * V);
      const s = await inf.scores(b.batch.inputs, scores);
      const include = topKRows(s, b.rows, V, kk);
      maskSeen(s, b.rows, V, b.items, b.historyStart, b.historyEnd);
      return { include, exclude: topKRows(s, b.rows, V, kk) };
    }
    let S = 1;
    for (let r = 0; r < b.rows; r++) S = Math.max(S, b.historyEnd[r]! - b.historyStart[r]!);
    if (seen.length < batchSize * S) seen = new Int32Array(batchSize * S);
    const sv = seen.subarray(0, batchSize * S);
    sv.fill(0);
    for (let r = 0; r < b.rows; r++) {
      for (let j = b.historyStart[r]!, w = r * S; j < b.historyEnd[r]!; j++) sv[w++] = b.items[j]! + 1;
    }
    return inf.topK(b.batch.inputs, sv, S);
  };
  return {
    name: 'sasrec', maxLen: model.c.maxLen, batchSize,
    async topK(b, kk, excludeSeen) { const r = await both(b, kk); return excludeSeen ? r.exclude : r.include; },
    topKBoth: both,
    dispose: () => inf.dispose(),
  };
}

/** SASRec's validation: seen items excluded, on every validation user or the first `--valid-limit`. */
function sasrecValidation(ctx: QualityContext): EvaluateOptions {
  const limit = num(ctx.options, 'validLimit');
  return { includeSeen: false, ...(limit ? { limit } : {}) };
}

/** Trains SASRec with full cross-entropy, early-stopped on validation NDCG@10 (seen excluded). */
export async function trainSasRec(ctx: QualityContext, seqs?: Sequences): Promise<{ model: SasRec; result: TrainLoopResult; config: ReturnType<typeof sasrecConfig> }> {
  const cfg = sasrecConfig(ctx);
  const model = new SasRec(cfg).initialize(ctx.seed);
  const train = seqs ?? trainingSequences(ctx.split, { maxLen: cfg.maxLen, windows: cfg.windows });
  const batcher = new SequenceBatcher(train, { batchSize: cfg.batchSize, maxLen: cfg.maxLen, seed: ctx.seed, reuse: true });
  const step = await compileSasRecStep(model, {
    batchSize: cfg.batchSize, seed: ctx.seed, optimizer: { kind: 'adamw', weightDecay: cfg.weightDecay, beta2: 0.98 },
    ...(ctx.runtime ? { runtime: ctx.runtime } : {}),
  });
  const ranker = await sasrecRanker(model, 256, ctx.runtime);
  try {
    const result = await trainLoop({
      step, module: model, maxEpochs: cfg.epochs, stepsPerEpoch: batcher.numBatches,
      batches: function* (e) { for (const b of batcher.epoch(e)) yield sasrecFeeds(b); },
      lr: warmupCosine({ peak: cfg.lr, warmupSteps: cfg.warmup, totalSteps: cfg.epochs * batcher.numBatches, min: cfg.lr * 0.01 }),
      evaluate: async () => flatMetrics(await evaluate(ranker, ctx.split, 'valid', sasrecValidation(ctx))),
      patience: cfg.patience, evalEvery: num(ctx.options, 'evalEvery') ?? 1,
      runDir: ctx.runDir, seed: ctx.seed, label: `sasrec seed ${ctx.seed}`,
      metadata: { config: JSON.stringify(cfg) },
    });
    return { model, result, config: cfg };
  } finally {
    await Promise.all([step.dispose(), ranker.dispose()]);
  }
}

export const sasrec: ModelFactory = async (ctx) => {
  const t0 = performance.now();
  // `--members n`: n SASRecs with other seeds, ranked by their mean logits (as genrec's ensembles are).
  const members = num(ctx.options, 'members') ?? 1;
  const fits = [];
  for (let i = 0; i < members; i++) fits.push(await trainSasRec(i === 0 ? ctx : { ...ctx, seed: ctx.seed + MEMBER_SEED_STRIDE * i, runDir: ctx.runDir.sub(`member${i}`) }));
  const { model, result, config } = fits[0]!;
  // A resumed run's epochs before this call count too (result.seconds sums every call's epochs).
  const trainSeconds = Math.max((performance.now() - t0) / 1000, fits.reduce((s, f) => s + f.result.seconds, 0));
  const ranker = members === 1 ? await sasrecRanker(model, 256, ctx.runtime, ctx.options.topk === 'js' ? 'js' : 'ort') : await sasrecEnsembleRanker(fits.map((f) => f.model), 256, ctx.runtime);
  // An ensemble's validation figure is its own, on the users its members were validated on.
  const valid = members === 1 ? result.bestMetric : (await evaluate(ranker, ctx.split, 'valid', sasrecValidation(ctx))).exclude['ndcg@10']!;
  return {
    ranker, trainSeconds, dispose: () => ranker.dispose(),
    info: {
      ...config, best_epoch: result.bestEpoch, epochs_run: result.epochs, valid_ndcg10: valid, stopped_early: result.stoppedEarly, params: model.numParameters() * members,
      ...memberInfo(fits.map((f) => f.result)),
    },
  };
};

/**
 * SASRecs trained with other seeds, ranked by their mean logits: the same ranking as the mean of their
 * log-softmaxes (each member's normaliser is a constant of the row), i.e. their normalised geometric mean.
 */
export async function sasrecEnsembleRanker(models: SasRec[], batchSize = 256, runtime?: RuntimeOptions): Promise<Ranker & { dispose(): Promise<void> }> {
  const infs = await Promise.all(models.map((m) => SasRecInference.create(m, batchSize, 0, runtime)));
  const V = models[0]!.c.numItems;
  const buf = infs.map(() => new Float32Array(batchSize * V));
  const mean = new Float32Array(batchSize * V);
  const both = async (b: RankBatch, kk: number) => {
    const s = await Promise.all(infs.map((inf, i) => inf.scores(b.batch.inputs, buf[i]!)));
    const n = b.rows * V;
    for (let j = 0; j < n; j++) {
      let x = 0;
      for (const m of s) x += m[j]!;
      mean[j] = x / s.length;
    }
    const include = topKRows(mean, b.rows, V, kk);
    maskSeen(mean, b.rows, V, b.items, b.historyStart, b.historyEnd);
    return { include, exclude: topKRows(mean, b.rows, V, kk) };
  };
  return {
    name: 'sasrec', maxLen: models[0]!.c.maxLen, batchSize,
    async topK(b, kk, excludeSeen) { const r = await both(b, kk); return excludeSeen ? r.exclude : r.include; },
    topKBoth: both,
    dispose: async () => { await Promise.all(infs.map((inf) => inf.dispose())); },
  };
}

/** Name → factory. The generative model registers here too. */
export const modelFactories: Record<string, ModelFactory> = {
  genrec,
  mostpop,
  itemknn,
  sasrec,
};
