/**
 * Training the generator on a split: batches from the data layer, the model's teacher-forced code loss
 * in one compiled step, AdamW with warm-up and cosine decay, early stopping on a validation metric the
 * caller computes (evaluation sits in a later room), checkpoints and resume through `trainLoop`.
 */
import { Rng, TrainStep, log, mix32, type Graph, type RuntimeOptions } from '../engine/index.js';
import { trainingSequences } from '../data/batches.js';
import type { Split } from '../data/split.js';
import { Generator, gapBucket, itemTokenTable, itemTripleRows, pairRowTable, prefixPairs, type ChildSlots, type HistoryInputs, type GeneratorConfig } from '../models/generator.js';
import { PrefixTrie } from '../tokenizer/index.js';
import { trainLoop, type Feeds, type TrainLoopResult } from './loop.js';
import { ChildSlotFeeds } from './child-slots.js';
import { PackedBatches, blankHistory, type PackedBatch } from './packing.js';
import type { RunDir } from './run-dir.js';
import { warmupCosine } from './schedule.js';

export interface GeneratorTrainOptions {
  split: Split;
  /** [numItems × L] semantic IDs and the codes per level. */
  codes: Int32Array;
  codeSizes: number[];
  model?: Partial<GeneratorConfig>;
  maxLen: number;
  epochs: number;
  batchSize?: number;
  lr?: number;
  warmupSteps?: number;
  weightDecay?: number;
  clipNorm?: number;
  seed: number;
  patience?: number;
  evalEvery?: number;
  /**
   * Probability of blanking a history item's embedding in a training row (its position stays): an input
   * augmentation against memorising exact histories. Default 0.
   */
  historyDropout?: number;
  /**
   * Training rows: `last` (default) the most recent maxLen + 1 events of each user; `all` also the older
   * events, as consecutive windows, so every training transition is a target once.
   */
  windows?: 'last' | 'all';
  /** Label smoothing of the pair softmax (`pairSoftmax` models; default 0). */
  labelSmoothing?: number;
  /**
   * A target j events before the end of its training row weighs ρ^j (default 1: all alike): with `last`
   * windows, a user's latest targets, the nearest in time to the held-out ones, weigh most (with `all`,
   * each window's latest).
   */
  recencyWeight?: number;
  /** Weight of a target by its event type (index = type code); ≤ 0 drops the target. Default 1. */
  typeWeights?: Float32Array;
  evaluate?(model: Generator, epoch: number): Promise<Record<string, number>>;
  runDir?: RunDir;
  resume?: boolean;
  runtime?: RuntimeOptions;
  /** Simulated kill after n epochs (tests). */
  stopAfterEpochs?: number;
  /** Cancels the run between steps (see `trainLoop`). */
  shouldStop?: () => boolean;
}

export interface GeneratorTrainResult {
  model: Generator;
  result: TrainLoopResult;
}

/** History caps from which `trainGenerator` turns the relative attention bias on by default. */
export const RELATIVE_BIAS_MIN_LEN = 50;

export async function trainGenerator(o: GeneratorTrainOptions): Promise<GeneratorTrainResult> {
  const inter = o.split.interactions;
  const B = o.batchSize ?? 64, T = o.maxLen, L = o.codeSizes.length;
  const cfg: GeneratorConfig = {
    arch: 'causal', dModel: 64, nHead: 2, nLayer: 2, itemIdEmbedding: true, numEventTypes: 0, gapBuckets: 0, dropout: 0.3, firstLevelPrototypes: 16, pairSoftmax: true, tripleVectors: true,
    // The relative bias helps long histories (ml-1m, ml-100k: cap 200); on short ones (Beauty, cap 19) the
    // right-aligned position table already says how recent an item is, and 3 seeds were 1–2% lower with it.
    relativeBuckets: T >= RELATIVE_BIAS_MIN_LEN ? 32 : 0,
    ...o.model, codeSizes: o.codeSizes, numItems: inter.numItems, maxLen: T,
  };
  const table = itemTokenTable(o.codes, inter.numItems, o.codeSizes);
  // The first level's softmax runs over a dense mask of the root's children; deeper levels over the
  // valid children of each target's true prefix only (the trie's slots).
  const trie = PrefixTrie.build(o.codes, inter.numItems, L, o.codeSizes);
  const slotFeeds = new ChildSlotFeeds(trie, inter.numItems, B * T);
  // With the pair softmax the first two levels are one softmax over the catalogue's (c₀, c₁) prefixes
  // (the trie's depth-2 nodes, in order: a target's row is its depth-2 ancestor).
  const pairs = cfg.pairSoftmax && L > 1 ? prefixPairs(trie) : null;
  if (pairs) cfg.pairRows = pairs.length / 2;
  // Third-level vectors: one row per (c₀, c₁, c₂) prefix, in the trie's depth-3 node order.
  const triples = cfg.tripleVectors === true && L > 2;
  if (triples) cfg.tripleRows = trie.nodeCount[3]!;
  const model = new Generator(cfg).initialize(o.seed);
  const step = await TrainStep.compile({
    module: model,
    optimizer: { kind: 'adamw', weightDecay: o.weightDecay ?? 0.01, beta2: 0.98 },
    clipNorm: o.clipNorm ?? 1,
    seed: o.seed,
    ...(o.runtime ? { runtime: o.runtime } : {}),
    build(g) {
      const items = g.input('items', 'int32', [B, T]);
      const mask = g.input('mask', 'float32', [B, T]);
      const targets = g.input('targets', 'int32', [B, T]);
      const weights = g.input('weights', 'float32', [B, T]);
      const h: HistoryInputs = {
        items, mask, itemTokens: g.constant(table, [inter.numItems + 1, L], 'int32'),
        segments: g.input('segments', 'int32', [B, T]), positions: g.input('positions', 'int32', [B, T]),
        ...(cfg.numEventTypes > 0 ? { types: g.input('types', 'int32', [B, T]) } : {}),
        ...(cfg.gapBuckets > 0 ? { gaps: g.input('gaps', 'int32', [B, T]) } : {}),
      };
      if (triples && cfg.tripleInput) h.tripleRowOf = g.constant(itemTripleRows(trie, o.codes, inter.numItems, L), [inter.numItems + 1], 'int32');
      const N = B * T;
      if (pairs) {
        const rowOf = g.constant(pairRowTable(pairs, o.codeSizes[0]!, o.codeSizes[1]!), [o.codeSizes[0]! * o.codeSizes[1]!], 'int32');
        h.pairRowOf = rowOf;
        const slots = slotFeeds.width.map((C, l) => (l < 2 ? null : slotInputs(g, l, N, C, triples && l === 2)));
        const pairHead = { pairs: g.constant(pairs, [pairs.length / 2, 2], 'int32'), rowOf, target: g.input('pair_target', 'int32', [N]), labelSmoothing: o.labelSmoothing ?? 0 };
        return { loss: model.loss(h, targets, weights, undefined, slots, pairHead) };
      }
      const mask0 = g.input('level_mask_0', 'float32', [N, o.codeSizes[0]!]);
      const slots = slotFeeds.width.map((C, l) => (l === 0 ? null : slotInputs(g, l, N, C, triples && l === 2)));
      return { loss: model.loss(h, targets, weights, [mask0], slots) };
    },
  });
  log.info({ parameters: model.numParameters(), nodes: step.nodeCount, arch: cfg.arch }, 'generator compiled');

  const seqs = trainingSequences(o.split, { maxLen: T, windows: o.windows ?? 'last' });
  const packer = new PackedBatches(seqs, B, T, o.seed);
  const weights = new Float32Array(B * T), types = new Int32Array(B * T), gaps = new Int32Array(B * T);
  const dims = [B, T];
  const roots = new Int32Array(B * T);
  const mask0 = new Float32Array(pairs ? 0 : B * T * o.codeSizes[0]!);
  const pairTarget = new Int32Array(B * T);
  const blank = o.historyDropout ?? 0;
  function* batches(epoch: number): IterableIterator<Feeds> {
    const rng = new Rng(mix32(o.seed ^ 0x5eed, epoch + 1));
    for (const b of packer.epoch(epoch)) {
      blankHistory(b.mask, blank, rng);
      targetWeights(b, T, o, weights);
      const feeds: Feeds = {
        items: { data: b.items, dims }, mask: { data: b.mask, dims }, targets: { data: b.targets, dims }, weights: { data: weights, dims },
        segments: { data: b.segments, dims }, positions: { data: b.positions, dims },
      };
      if (pairs) {
        slotFeeds.prefixNodes(2, b.targets, pairTarget);
        for (let i = 0; i < B * T; i++) pairTarget[i] = Math.max(0, pairTarget[i]!); // no target: any row, weight 0
        feeds.pair_target = { data: pairTarget, dims: [B * T] };
      } else {
        trie.allowedLogitMask(0, slotFeeds.prefixNodes(0, b.targets, roots), mask0, -1e9);
        feeds.level_mask_0 = { data: mask0, dims: [B * T, o.codeSizes[0]!] };
      }
      for (let l = pairs ? 2 : 1; l < L; l++) {
        slotFeeds.fill(l, b.targets);
        const C = slotFeeds.width[l]!;
        feeds[`slot_codes_${l}`] = { data: slotFeeds.codes[l]!, dims: [B * T, C] };
        feeds[`slot_mask_${l}`] = { data: slotFeeds.mask[l]!, dims: [B * T, C] };
        feeds[`slot_target_${l}`] = { data: slotFeeds.target[l]!, dims: [B * T] };
        if (triples && l === 2) feeds.slot_rows_2 = { data: slotFeeds.nodes[l]!, dims: [B * T, C] };
      }
      if (cfg.numEventTypes > 0) { for (let i = 0; i < B * T; i++) types[i] = b.types[i]!; feeds.types = { data: types, dims }; }
      if (cfg.gapBuckets > 0) { for (let i = 0; i < B * T; i++) gaps[i] = gapBucket(b.gaps[i]!, cfg.gapBuckets); feeds.gaps = { data: gaps, dims }; }
      yield feeds;
    }
  }
  const stepsPerEpoch = packer.batchesIn(0);
  const result = await trainLoop({
    step, module: model, maxEpochs: o.epochs, batches, stepsPerEpoch, seed: o.seed, label: `generator-${cfg.arch}`,
    lr: warmupCosine({ peak: o.lr ?? 2e-3, warmupSteps: o.warmupSteps ?? Math.min(500, stepsPerEpoch * 2), totalSteps: stepsPerEpoch * o.epochs }),
    ...(o.evaluate ? { evaluate: (epoch: number) => o.evaluate!(model, epoch) } : {}),
    ...(o.patience !== undefined ? { patience: o.patience } : {}),
    ...(o.evalEvery !== undefined ? { evalEvery: o.evalEvery } : {}),
    ...(o.runDir ? { runDir: o.runDir } : {}),
    ...(o.resume !== undefined ? { resume: o.resume } : {}),
    ...(o.stopAfterEpochs !== undefined ? { stopAfterEpochs: o.stopAfterEpochs } : {}),
    ...(o.shouldStop ? { shouldStop: o.shouldStop } : {}),
    metadata: { config: JSON.stringify(cfg) },
  });
  await step.dispose();
  return { model, result };
}

/** Graph inputs of level l's child slots for N targets of at most C children (and their table rows). */
function slotInputs(g: Graph, l: number, N: number, C: number, rows = false): ChildSlots {
  return {
    codes: g.input(`slot_codes_${l}`, 'int32', [N, C]), mask: g.input(`slot_mask_${l}`, 'float32', [N, C]), target: g.input(`slot_target_${l}`, 'int32', [N]),
    ...(rows ? { rows: g.input(`slot_rows_${l}`, 'int32', [N, C]) } : {}),
  };
}

/**
 * Each target's loss weight in a packed batch: its event type's (`typeWeights`; 1 without), times ρ^j
 * (`recencyWeight`) for a target j events before the end of its sequence, whose last input sits at
 * position T − 1 (packing.ts); 0 where there is no target.
 */
export function targetWeights(b: Pick<PackedBatch, 'targets' | 'targetTypes' | 'positions'>, T: number, o: Pick<GeneratorTrainOptions, 'typeWeights' | 'recencyWeight'>, out: Float32Array): Float32Array {
  const rho = o.recencyWeight ?? 1;
  for (let i = 0; i < out.length; i++) {
    const tt = b.targetTypes[i]!;
    out[i] = b.targets[i]! > 0 ? (o.typeWeights && tt > 0 ? Math.max(0, o.typeWeights[tt - 1]!) : 1) * rho ** (T - 1 - b.positions[i]!) : 0;
  }
  return out;
}
