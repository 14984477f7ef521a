/**
 * `genrec train`: semantic IDs + generator on the store's data (or a dataset folder / generated data),
 * leave-one-out split, early stopping on validation NDCG@10; writes a versioned model bundle under
 * `<dataDir>/models/vN` that `eval`, `recommend` and `serve` load. A killed run resumes from its run
 * directory (`--run-dir`, default `<dataDir>/runs/train`) when started again with the same settings.
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import { optionalIntFlag, positiveFlag, probabilityFlag } from '../flags.js';
import { GenrecError } from '../../engine/errors.js';
import { printResult } from '../output.js';
import { configOf, globalOptions } from '../program.js';
import { addSourceOptions, sourceData, type SourceOptions } from './import.js';
import { EVAL_BEAM } from '../../eval/generative-ranker.js';

export interface TrainOptions extends SourceOptions {
  epochs?: string; maxLen?: string; arch?: string; dModel?: string; layers?: string; heads?: string; dropout?: string; prototypes?: string; embStd?: string; pairTemperature?: string; pairSoftmax?: string; tripleVectors?: string; pairInput?: string; tripleInput?: string; itemId?: string; relativeBuckets?: string; block?: string; windows?: string; recencyWeight?: string;
  batchSize?: string; lr?: string; members?: string; memory?: string; memoryRows?: string; memorySpan?: string; beam?: string; evalUsers?: string; runDir?: string; modelsDir?: string; fresh?: boolean;
}

/** Loads the data a command works on: a folder or generated data when given, else the store. */
export async function commandDataset(opts: SourceOptions, dataDir: string): Promise<import('../../data/index.js').Dataset> {
  const data = await import('../../data/index.js');
  const source = await sourceData(opts);
  if (source) return data.datasetFromData(source);
  const ds = await data.withStore({ dir: dataDir, readOnly: true }, (s) => s.dataset());
  if (ds.interactions.items.length === 0) {
    throw new GenrecError('GENREC_E_NO_DATA', `the store in ${dataDir} has no events`, 'import data first (`genrec import …`), or pass --path DIR --format FMT, or --synthetic');
  }
  return ds;
}

/** History cap from the data: the 95th percentile of training lengths, at most the configured cap. */
export function maxLenFromData(split: import('../../data/index.js').Split, cap: number): number {
  const { numUsers, userOffsets } = split.interactions;
  const lens = new Int32Array(numUsers);
  for (let u = 0; u < numUsers; u++) lens[u] = split.trainEnd[u]! - userOffsets[u]!;
  lens.sort();
  return Math.max(2, Math.min(cap, lens[Math.floor(0.95 * (numUsers - 1))] ?? 2));
}

export function register(program: Command): void {
  const cmd = program.command('train').description('learn semantic IDs and train the generator; writes a model bundle (<dataDir>/models/vN)');
  addSourceOptions(cmd)
    .option('--epochs <n>', 'maximum epochs (early stopping on validation NDCG@10; default config train.epochs, 60)')
    .option('--max-len <n>', 'history cap (default: 95th percentile of training lengths, ≤ config data.maxHistory)')
    .option('--arch <causal|lazy>', 'generator architecture', 'causal')
    .option('--d-model <n>', 'model width')
    .option('--layers <n>', 'transformer blocks')
    .option('--heads <n>', 'attention heads')
    .option('--dropout <p>', 'dropout probability (default 0.3; dense long-history data such as MovieLens-1M trains better with 0.1)')
    .option('--pair-softmax <bool>', 'one softmax over the (c₀, c₁) prefixes for the first two code levels (default true; false = chained per-level softmax)')
    .option('--triple-vectors <bool>', 'third-level codes also get a vector per (c₀, c₁, c₂) prefix (default true)')
    .option('--pair-input <bool>', 'a history item\'s input also gets its (c₀, c₁) prefix\'s output vector (pair softmax only)')
    .option('--triple-input <bool>', 'a history item\'s input also gets its (c₀, c₁, c₂) prefix\'s output vector (third-level vectors only)')
    .option('--item-id <bool>', 'a history item\'s input also gets a vector of its own id (items added after training have none)')
    .option('--relative-buckets <n>', 'learned attention bias per head and history distance, in n buckets (default 32 when the history cap is ≥ 50, else 0 = off)')
    .option('--block <kind>', 'history encoder block: transformer (softmax attention + SwiGLU, default) or hstu (pointwise SiLU attention, gated, no MLP)')
    .option('--prototypes <n>', 'output prototypes per first-level code without the pair softmax (default 16; 1 = one vector per code)')
    .option('--emb-std <x>', 'initial std of the code, item, pair and prototype tables (default 1/√d)')
    .option('--pair-temperature <x>', 'pair softmax: cosine of state and prefix vector over this temperature (default off: dot with the RMS-normed state)')
    .option('--windows <mode>', 'training rows: last (each user\'s most recent max-len events) or all (every window of a history)')
    .option('--recency-weight <ρ>', 'a training target j events before the end of its row weighs ρ^j (default 1; 0.9 on Amazon Beauty, docs/results.md section 31)')
    .option('--batch-size <n>', 'rows per packed batch (default config train.batchSize, 64)')
    .option('--lr <x>', 'peak learning rate (default config train.lr, 0.002)')
    .option('--members <n>', 'generators trained on the same semantic IDs with different seeds, decoded as one ensemble (n× the training time and decode work; default 1)')
    .option('--memory <auto|off|β>', 'memorised transitions (item → next item counts) mixed into the search: auto sweeps β on validation and keeps them only if they help (default), off, or a fixed β (kept whatever validation says)')
    .option('--memory-span <n>', 'how far after an item the memory counts successors (each step on weighs 0.8 of the one before); default: 1 or 10, whichever validates better')
    .option('--memory-rows <auto|counts|shares>', 'what the memory reads: raw counts, or each recent item\'s transitions as shares of its total; auto (default) keeps whichever validates better (a fixed β is counts unless shares is given)')
    .option('--beam <n>', 'beam width for validation (twice the largest cut-off evaluated)', String(EVAL_BEAM))
    .option('--eval-users <n>', 'validation users sampled per evaluation', '3000')
    .option('--run-dir <dir>', 'checkpoints and curves (default <dataDir>/runs/train); a run found there resumes')
    .option('--models-dir <dir>', 'where bundles are written (default <dataDir>/models)')
    .option('--fresh', 'ignore a checkpoint in the run directory and start over')
    .action(async (opts: TrainOptions, c: Command) => {
      const config = configOf(c);
      const { json = false } = globalOptions(c);
      const data = await import('../../data/index.js');
      const { fitGenrec, memoryFigures } = await import('../../eval/genrec.js');
      const { blockOption, generatorBoolOptions, memoryOption, memoryRowsOption, recencyWeightOption, windowsOption } = await import('../../eval/flags.js');
      const { RunDir, bundleData, servingMemory, writeBundle } = await import('../../train/index.js');
      const { TOKENIZER_VERSION, saveDatasetTokenizer } = await import('../../tokenizer/index.js');
      const t0 = performance.now();
      // Engagements only: skips and dislikes are neither histories nor targets (as `serve` reads histories).
      const ds = data.positiveOnly(await commandDataset(opts, config.dataDir));
      const split = data.leaveOneOut(ds.interactions);
      const maxLen = optionalIntFlag('max-len', opts.maxLen, 2) ?? maxLenFromData(split, config.data.maxHistory);
      const runDir = new RunDir(opts.runDir ?? join(config.dataDir, 'runs', 'train'));
      const arch: 'causal' | 'lazy' | undefined = opts.arch === 'lazy' ? 'lazy' : opts.arch === 'causal' || opts.arch === undefined ? 'causal' : undefined;
      if (!arch) throw new GenrecError('GENREC_E_USAGE', `--arch must be causal or lazy, got ${opts.arch}`, 'use --arch causal (default) or --arch lazy');
      const model = {
        arch,
        ...(opts.dModel ? { dModel: optionalIntFlag('d-model', opts.dModel)! } : {}),
        ...(opts.layers ? { nLayer: optionalIntFlag('layers', opts.layers)! } : {}),
        ...(opts.heads ? { nHead: optionalIntFlag('heads', opts.heads)! } : {}),
        ...(opts.dropout !== undefined ? { dropout: probabilityFlag('dropout', opts.dropout, 0.1) } : {}),
        ...(opts.prototypes ? { firstLevelPrototypes: optionalIntFlag('prototypes', opts.prototypes)! } : {}),
        ...(opts.embStd !== undefined ? { embStd: positiveFlag('emb-std', opts.embStd, 0.125) } : {}),
        ...(opts.pairTemperature !== undefined ? { pairTemperature: positiveFlag('pair-temperature', opts.pairTemperature, 0.05) } : {}),
        ...generatorBoolOptions({ ...opts }),
        ...(opts.relativeBuckets !== undefined ? { relativeBuckets: optionalIntFlag('relative-buckets', opts.relativeBuckets, 0)! } : {}),
        ...(opts.block !== undefined ? { block: blockOption(opts.block) } : {}),
      };
      const fit = await fitGenrec({
        dataset: ds, split, seed: config.train.seed, maxLen, epochs: optionalIntFlag('epochs', opts.epochs) ?? config.train.epochs, model, runDir, resume: !opts.fresh,
        batchSize: optionalIntFlag('batch-size', opts.batchSize) ?? config.train.batchSize,
        lr: opts.lr !== undefined ? positiveFlag('lr', opts.lr, 0.002) : config.train.lr,
        weightDecay: config.train.weightDecay,
        ...(opts.windows !== undefined ? { windows: windowsOption(opts.windows) } : {}),
        ...(opts.recencyWeight !== undefined ? { recencyWeight: recencyWeightOption(opts.recencyWeight)! } : {}),
        ...(opts.members !== undefined ? { members: optionalIntFlag('members', opts.members, 1)! } : {}),
        ...(opts.memory !== undefined ? { memory: memoryOption(opts.memory) } : {}),
        ...(opts.memoryRows !== undefined ? { memoryRows: memoryRowsOption(opts.memoryRows) } : {}),
        ...(opts.memorySpan !== undefined ? { memorySpan: optionalIntFlag('memory-span', opts.memorySpan, 1)! } : {}),
        beam: optionalIntFlag('beam', opts.beam)!, evalUsers: optionalIntFlag('eval-users', opts.evalUsers)!,
      });
      const inter = ds.interactions;
      const bundle = writeBundle(opts.modelsDir ?? join(config.dataDir, 'models'), {
        model: fit.model, members: fit.members.slice(1).map((m) => m.model), codes: fit.codes, itemIds: ds.items.ids,
        tokenizer: { version: TOKENIZER_VERSION, collisionRate: fit.tokenizer.report.collisionRate },
        data: bundleData(ds.label, inter),
        metrics: { valid_ndcg10: fit.valid['ndcg@10']!, ...Object.fromEntries(Object.entries(fit.valid).map(([k, v]) => [`valid_${k}`, v])) },
        train: { epochs: fit.result.epochs, bestEpoch: fit.result.bestEpoch, members: fit.members.length, seed: config.train.seed, maxLen, runDir: runDir.path, seconds: fit.trainSeconds },
        writeTokenizer: (path) => saveDatasetTokenizer(path, { ...fit.tokenizer, embedder: fit.embedder }, ds),
        ...(fit.memory ? { memory: servingMemory(fit.memory, inter) } : {}),
      });
      printResult({
        bundle, items: inter.numItems, users: inter.numUsers, code_sizes: fit.codeSizes.join('x'), members: fit.members.length, epochs: fit.result.epochs, best_epoch: fit.result.bestEpoch,
        valid_ndcg10: Number(fit.valid['ndcg@10']!.toFixed(5)), ...memoryFigures(fit.memory), seconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
      }, json);
    });
}
