/**
 * genrec's own model end to end on a split: fused item embeddings → residual k-means semantic IDs →
 * generator trained with early stopping on validation NDCG@10 (beam search over a sample of validation
 * users) → the best epoch's model, with memorised transitions mixed into its search when they validate
 * better (β swept on the same users). Used by `genrec train` (which then writes a bundle) and by
 * `bench quality` (as the `genrec` model).
 */
import { log, type RuntimeOptions } from '../engine/index.js';
import type { Dataset } from '../data/dataset.js';
import type { Split } from '../data/split.js';
import { tokenizeDataset, type DatasetEmbeddingOptions, type ItemEmbedder, type TokenizerConfig, type FitResult } from '../tokenizer/index.js';
import type { Generator, GeneratorConfig } from '../models/generator.js';
import { TransitionTable } from '../models/transitions.js';
import type { BundleMemory, RunDir, TrainLoopResult } from '../train/index.js';
import { memberInfo, trainMembers, tuneMemory, validate, type GenrecMember, type MemberJob, type MemberTrainOptions, type MemoryRows, type MemoryTuning } from './members.js';
import { GenerativeModel } from '../retrieval/generative.js';
import { EVAL_BEAM, generativeRanker } from './generative-ranker.js';
import type { ModelFactory } from './models.js';
import { blockOption, generatorBoolOptions, memoryOption, memoryRowsOption, modelNumberOption, recencyWeightOption, windowsOption } from './flags.js';

export interface GenrecOptions {
  dataset: Dataset;
  split: Split;
  seed: number;
  maxLen: number;
  epochs: number;
  model?: Partial<GeneratorConfig>;
  tokenizer?: Partial<TokenizerConfig>;
  /** Item-embedding options (fusion weights, item2vec settings). */
  embeddings?: DatasetEmbeddingOptions;
  batchSize?: number;
  lr?: number;
  /** Training-time probability of blanking a history item (see trainGenerator). */
  historyDropout?: number;
  /** A training target j events before its sequence's end weighs ρ^j (default 1). */
  recencyWeight?: number;
  /** Label smoothing of the pair softmax (pair-softmax models). */
  labelSmoothing?: number;
  /** Training rows: the last window of each user (default) or all windows. */
  windows?: 'last' | 'all';
  weightDecay?: number;
  patience?: number;
  evalEvery?: number;
  /** Validation cases sampled (seeded) per evaluation (beam search is the costly part); default 3000. */
  evalUsers?: number;
  beam?: number;
  runDir?: RunDir;
  /** Continue from a checkpoint in runDir (default true). */
  resume?: boolean;
  runtime?: RuntimeOptions;
  /**
   * Generators trained on the same semantic IDs with different seeds and decoded as one ensemble
   * (`GenerativeModel.fromModule` with every member); default 1. Each early-stops on its own validation figure.
   */
  members?: number;
  /**
   * Memorised transitions (models/transitions.ts): 'auto' (default) sweeps β and the reversed transitions'
   * weight on the validation users and keeps them only if they beat the model alone; a number uses that β
   * (the weight still swept); 'off' decodes with the model alone.
   */
  memory?: 'auto' | 'off' | number;
  /** What the memory's rows hold: 'auto' (default: counts or shares, whichever validates better; counts with a fixed β), or one of them. */
  memoryRows?: MemoryRows;
  /** The memory table's span (1: the next item only); default: 1 or 10, whichever validates better. */
  memorySpan?: number;
}

export interface GenrecFit {
  /** The first member (the only one by default). */
  model: Generator;
  /** Every member, the first included. */
  members: GenrecMember[];
  codes: Int32Array;
  codeSizes: number[];
  tokenizer: FitResult;
  /** Embeds new items into the tokenizer's space (save it with the tokenizer to code them later). */
  embedder: ItemEmbedder;
  result: TrainLoopResult;
  /**
   * Validation figures of what ranks: the member's best, or for an ensemble the members decoded as one,
   * measured once more on the same sampled users (each member's own best is in `members[i].result`).
   */
  valid: Record<string, number>;
  /** The memorised transitions the model decodes with (null: the model alone), and how β was chosen. */
  memory: BundleMemory | null;
  memoryTuning: MemoryTuning | null;
  tokenizeSeconds: number;
  trainSeconds: number;
}

/** Member i of an ensemble trains with seed + stride·i (apart from the next bench seeds' own). */
export const MEMBER_SEED_STRIDE = 1000;

export async function fitGenrec(o: GenrecOptions): Promise<GenrecFit> {
  const t0 = performance.now();
  const runtime = o.runtime ? { runtime: o.runtime } : {};
  const tok = await tokenizeDataset(o.dataset, o.split, { ...runtime, tokenizer: { seed: o.seed, ...o.tokenizer }, ...(o.embeddings ? { embeddings: o.embeddings } : {}) });
  const codes = tok.ids.codes.slice();
  const codeSizes = Array.from(tok.ids.sizes);
  await tok.tokenizer.release(); // its ORT sessions; a server that codes new items loads the saved tokenizer
  const tokenizeSeconds = (performance.now() - t0) / 1000;
  log.info({ codeSizes, collisionRate: tok.report.collisionRate, soloPairShare: tok.report.soloPairShare, seconds: tokenizeSeconds }, 'semantic IDs ready');
  const itemIds = o.dataset.items.ids;
  const train: MemberTrainOptions = {};
  for (const k of ['model', 'batchSize', 'lr', 'weightDecay', 'historyDropout', 'labelSmoothing', 'windows', 'recencyWeight'] as const) {
    if (o[k] !== undefined) Object.assign(train, { [k]: o[k] });
  }
  const jobs: MemberJob[] = Array.from({ length: o.members ?? 1 }, (_, i) => ({
    // Member i's own seed (its initial weights, dropout and batch order); the codes are shared.
    seed: o.seed + MEMBER_SEED_STRIDE * i, sampleSeed: o.seed,
    split: o.split, codes, codeSizes, itemIds, maxLen: o.maxLen, epochs: o.epochs, train,
    patience: o.patience ?? 4, evalEvery: o.evalEvery ?? 2, evalUsers: o.evalUsers ?? 3000, beam: o.beam ?? EVAL_BEAM,
    ...(o.runDir ? { runDir: i === 0 ? o.runDir.path : o.runDir.sub(`member${i}`).path } : {}),
    ...(o.resume !== undefined ? { resume: o.resume } : {}),
    ...(o.runtime ? { runtime: o.runtime } : {}),
  }));
  const t1 = performance.now();
  const members = await trainMembers(jobs, o.runtime);
  const first = members[0]!;
  let valid = first.result.bestMetrics, memory: BundleMemory | null = null, memoryTuning: MemoryTuning | null = null;
  if (o.memory !== 'off') {
    // A fixed β is in one grid's units: counts unless shares are asked for.
    const rows = typeof o.memory === 'number' && o.memoryRows !== 'shares' ? 'counts' : o.memoryRows ?? 'auto';
    const fixed = typeof o.memory === 'number' ? { [rows === 'shares' ? 'shareBetas' : 'betas']: [o.memory], force: true } : {};
    memoryTuning = await tuneMemory(members.map((m) => m.model), (span) => TransitionTable.knownBefore(o.split, 'valid', span), jobs[0]!, { rows, ...fixed, ...(o.memorySpan ? { spans: [o.memorySpan] } : {}) });
    valid = memoryTuning.metrics;
    if (memoryTuning.options) memory = { table: memoryTuning.table!, options: memoryTuning.options };
    log.info({ transitions: memory?.table.size ?? 0, beta: memoryTuning.options?.beta ?? null, shares: memoryTuning.options?.shares ?? false, span: memoryTuning.options?.span ?? 1, validNdcg10: valid['ndcg@10'], modelAlone: memoryTuning.modelMetrics['ndcg@10'], tried: memoryTuning.tried }, 'memorised transitions tuned');
  } else if (members.length > 1) {
    valid = await validate(members.map((m) => m.model), jobs[0]!);
    log.info({ validNdcg10: valid['ndcg@10'], members: members.map((m) => m.result.bestMetric) }, 'ensemble validated');
  }
  return {
    model: first.model, members, codes, codeSizes, tokenizer: tok, embedder: tok.embedder, result: first.result, valid, memory, memoryTuning, tokenizeSeconds,
    trainSeconds: (performance.now() - t1) / 1000,
  };
}

/** Options from `bench quality` flags (`--d-model`, `--layers`, `--dropout`, `--arch`, `--beam`, ...). */
export function genrecOptionsFrom(options: Record<string, unknown>): Partial<GenrecOptions> & { model: Partial<GeneratorConfig> } {
  // Sizes, rates and temperatures must be > 0 (a usage error here, not a shape error deep in training).
  const n = (k: string) => modelNumberOption(k, options[k]);
  const model: Partial<GeneratorConfig> = {};
  if (options.arch === 'causal' || options.arch === 'lazy') model.arch = options.arch;
  if (n('dModel') !== undefined) model.dModel = n('dModel')!;
  if (n('layers') !== undefined) model.nLayer = n('layers')!;
  if (n('heads') !== undefined) model.nHead = n('heads')!;
  if (n('dropout') !== undefined) model.dropout = n('dropout')!;
  if (n('prototypes') !== undefined) model.firstLevelPrototypes = n('prototypes')!;
  if (n('gapBuckets') !== undefined) model.gapBuckets = n('gapBuckets')!;
  if (n('relativeBuckets') !== undefined) model.relativeBuckets = n('relativeBuckets')!;
  if (options.block !== undefined) model.block = blockOption(options.block);
  if (n('embStd') !== undefined) model.embStd = n('embStd')!;
  if (n('pairTemperature') !== undefined) model.pairTemperature = n('pairTemperature')!;
  Object.assign(model, generatorBoolOptions(options));
  const tokenizer: Partial<TokenizerConfig> = {};
  if (n('codebookSize') !== undefined) tokenizer.codebookSize = n('codebookSize')!;
  const recency = recencyWeightOption(options.recencyWeight);
  if (n('maxCodeShare') !== undefined) tokenizer.maxCodeShare = n('maxCodeShare')!;
  return {
    model,
    ...(n('batchSize') !== undefined ? { batchSize: n('batchSize')! } : {}),
    ...(n('lr') !== undefined ? { lr: n('lr')! } : {}),
    ...(n('weightDecay') !== undefined ? { weightDecay: n('weightDecay')! } : {}),
    ...(n('historyDropout') !== undefined ? { historyDropout: n('historyDropout')! } : {}),
    ...(recency !== undefined ? { recencyWeight: recency } : {}),
    ...(n('labelSmoothing') !== undefined ? { labelSmoothing: n('labelSmoothing')! } : {}),
    ...(options.windows !== undefined ? { windows: windowsOption(options.windows) } : {}),
    ...(n('beam') !== undefined ? { beam: n('beam')! } : {}),
    ...(Object.keys(tokenizer).length ? { tokenizer } : {}),
    ...(n('evalUsers') !== undefined ? { evalUsers: n('evalUsers')! } : {}),
    ...(n('patience') !== undefined ? { patience: n('patience')! } : {}),
    ...(n('evalEvery') !== undefined ? { evalEvery: n('evalEvery')! } : {}),
    ...(n('members') !== undefined ? { members: n('members')! } : {}),
    ...(options.memory !== undefined ? { memory: memoryOption(options.memory) } : {}),
    ...(options.memoryRows !== undefined ? { memoryRows: memoryRowsOption(options.memoryRows) } : {}),
    ...(n('memorySpan') !== undefined ? { memorySpan: n('memorySpan')! } : {}),
  };
}

/** The memorised-transition setting a fit chose, as flat report fields (`genrec train` and `bench quality` print it). */
export function memoryFigures(memory: BundleMemory | null | undefined): Record<string, number | string> {
  if (!memory) return { memory_beta: 'off' };
  const o = memory.options;
  return { memory_beta: o.beta, memory_reverse: o.reverse, memory_rows: o.shares ? 'shares' : 'counts', memory_span: o.span ?? 1 };
}

export const genrec: ModelFactory = async (ctx) => {
  const t0 = performance.now();
  const extra = genrecOptionsFrom(ctx.options);
  const fit = await fitGenrec({ dataset: ctx.dataset, split: ctx.split, seed: ctx.seed, maxLen: ctx.maxLen, epochs: ctx.epochs ?? 60, runDir: ctx.runDir, ...(ctx.runtime ? { runtime: ctx.runtime } : {}), ...extra });
  const gm = await GenerativeModel.fromModule(fit.members.map((m) => m.model), fit.codes, ctx.dataset.items.ids, ctx.runtime);
  gm.setMemory(fit.memory && ctx.refitValid ? { ...fit.memory, table: TransitionTable.knownBefore(ctx.split, 'test', fit.memory.table.span) } : fit.memory);
  const ranker = generativeRanker(gm, { beam: extra.beam ?? EVAL_BEAM });
  return {
    ranker, trainSeconds: (performance.now() - t0) / 1000, dispose: () => gm.close(),
    info: {
      ...fit.model.c, codeSizes: fit.codeSizes.join('x'), tokenize_s: fit.tokenizeSeconds, best_epoch: fit.result.bestEpoch,
      epochs_run: fit.result.epochs, valid_ndcg10: fit.valid['ndcg@10'], params: fit.model.numParameters() * fit.members.length,
      collision_rate: fit.tokenizer.report.collisionRate, solo_pair_share: fit.tokenizer.report.soloPairShare,
      ...memoryFigures(fit.memory), ...(fit.memoryTuning ? { valid_ndcg10_model_alone: fit.memoryTuning.modelMetrics['ndcg@10'] } : {}),
      ...memberInfo(fit.members.map((m) => m.result)),
    },
  };
};
