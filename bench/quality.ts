/**
 * `genrec bench quality`: trains and evaluates recommenders on a dataset folder under the standard
 * protocol (../shared/datasets/README.md): per-user leave-one-out, ranking over the full catalogue,
 * Recall/NDCG at 5/10/20 with seen items excluded (primary) and included, model selection on the
 * validation part, means over seeds. The dataset label is only a name: the history cap comes from
 * --max-len or the data (the 95th percentile of training history lengths, at most 200).
 */
import type { BenchSuite } from './index.js';

const MODEL_OPTIONS = [
  { flags: '--d-model <n>', description: 'model width, SASRec and genrec (default 64)' },
  { flags: '--heads <n>', description: 'attention heads, SASRec and genrec (default 2)' },
  { flags: '--blocks <n>', description: 'SASRec transformer blocks (default 2)' },
  { flags: '--dropout <p>', description: 'dropout (default: SASRec 0.5, genrec 0.3)' },
  { flags: '--lr <x>', description: 'peak learning rate (default: SASRec 1e-3, genrec 2e-3)' },
  { flags: '--weight-decay <x>', description: 'AdamW weight decay (default: SASRec 0.1, genrec 0.01)' },
  { flags: '--batch-size <n>', description: 'training batch size (default: SASRec 128 rows, genrec 64 packed rows)' },
  { flags: '--warmup-steps <n>', description: 'linear warm-up steps (default 100)' },
  { flags: '--patience <n>', description: 'early stopping: evaluations without improvement (default 20 for sasrec, 4 for genrec)' },
  { flags: '--eval-every <n>', description: 'validate every n epochs (default 1 for sasrec, 2 for genrec)' },
  { flags: '--members <n>', description: 'genrec and sasrec: models trained with different seeds and ranked as one ensemble by their mean logits (genrec: on the same semantic IDs); default 1' },
  { flags: '--windows <mode>', description: 'training rows, SASRec and genrec: last (one per user, default) or all (every window)' },
  { flags: '--d-ff <n>', description: 'SASRec MLP width (default 4·d)' },
  { flags: '--emb-scale <bool>', description: 'scale item embeddings by √d (default true)' },
  { flags: '--topk <mode>', description: 'SASRec test-time top-k: ort (in the graph) or js' },
  { flags: '--valid-limit <n>', description: 'validate on the first n cases only (faster epochs)' },
  { flags: '--knn-neighbours <list>', description: 'item-kNN neighbourhood sizes tried on validation (default 50,100,200,500)' },
  { flags: '--knn-shrink <list>', description: 'item-kNN shrinkage values tried (default 10,100,500)' },
  { flags: '--arch <causal|lazy>', description: 'genrec generator architecture (default causal)' },
  { flags: '--layers <n>', description: 'genrec transformer blocks (default 2)' },
  { flags: '--beam <n>', description: 'genrec evaluation beam width (default 40, twice the largest cut-off)' },
  { flags: '--prototypes <n>', description: 'genrec output prototypes per first-level code with --pair-softmax false (default 16; 1 = one vector per code)' },
  { flags: '--emb-std <x>', description: 'genrec initial std of the code, item, pair and prototype tables (default 1/√d)' },
  { flags: '--recency-weight <ρ>', description: 'genrec: a training target j events before the end of its user\'s sequence weighs ρ^j (default 1)' },
  { flags: '--history-dropout <p>', description: 'genrec: probability of blanking a history item in training (default 0)' },
  { flags: '--pair-softmax <bool>', description: 'genrec: one softmax over the catalogue\'s (c₀, c₁) prefixes for the first two levels (default true; false = chained per-level softmax)' },
  { flags: '--pair-temperature <x>', description: 'genrec: the pair softmax scores a prefix by cosine(state, prefix vector) / x (default off)' },
  { flags: '--label-smoothing <x>', description: 'genrec: label smoothing of the pair softmax (default 0)' },
  { flags: '--codebook-size <n>', description: 'genrec: codes per semantic-ID level (default from the catalogue size)' },
  { flags: '--max-code-share <x>', description: 'genrec tokenizer: largest share of items one code of a level may take before the level is refitted (default 0.5; 1 = never)' },
  { flags: '--triple-vectors <bool>', description: 'genrec: third-level codes also get a vector per (c₀, c₁, c₂) prefix (default true)' },
  { flags: '--pair-input <bool>', description: 'genrec: add the prefix\'s pair vector (tied to the output) to each history item\'s input (default false)' },
  { flags: '--triple-input <bool>', description: 'genrec: add the (c₀, c₁, c₂) prefix\'s triple vector (tied to the output) to each history item\'s input (default false)' },
  { flags: '--item-id <bool>', description: 'genrec item-id input embedding (default true; false = codes only)' },
  { flags: '--relative-buckets <n>', description: 'genrec: learned attention bias per head and history distance, in n buckets (default 32 when the history cap is ≥ 50, else 0 = off)' },
  { flags: '--block <kind>', description: 'genrec: the causal encoder block, transformer (softmax attention + SwiGLU, default) or hstu (pointwise SiLU attention, gated, no MLP)' },
  { flags: '--gap-buckets <n>', description: 'genrec time-gap embedding buckets (log-scale gaps between events; default 0 = off)' },
  { flags: '--eval-users <n>', description: 'genrec validation cases sampled per evaluation (default 3000)' },
  { flags: '--memory <mode>', description: 'genrec: memorised transitions mixed into the beam search: auto (β and reversed pairs chosen on validation, kept only if they beat the model alone; default), off (the model alone) or a fixed β > 0' },
  { flags: '--memory-span <n>', description: 'genrec: how far after an item the memory counts successors (each step on weighs 0.8 of the one before); default: 1 or 10, whichever validates better' },
  { flags: '--memory-rows <rows>', description: 'genrec: what the memory reads: counts, shares (each recent item\'s transitions as shares of its total) or auto (whichever validates better; default; a fixed β is counts unless shares is given)' },
  { flags: '--knn-recency <list>', description: 'item-kNN recency decays tried (default 0.8,0.5,0.3)' },
];

export const quality: BenchSuite = {
  name: 'quality',
  description: 'train + evaluate recommenders (leave-one-out, full-catalogue Recall/NDCG@5/10/20, mean over seeds)',
  options: [
    { flags: '--dataset <label>', description: 'a name for the report (nothing depends on it)' },
    { flags: '--path <dir>', description: 'dataset folder' },
    { flags: '--format <fmt>', description: 'dataset format: s3rec, movielens, recbole or auto', default: 'auto' },
    { flags: '--seeds <n>', description: 'seeds per model (means and std over them)', default: '3' },
    { flags: '--seed <n>', description: 'first seed', default: '1' },
    { flags: '--models <list>', description: 'comma-separated models (default: all registered)' },
    { flags: '--max-len <n>', description: 'history cap (default: 95th percentile of training lengths, ≤ 200)' },
    { flags: '--epochs <n>', description: 'maximum epochs of neural models (default 200; early stopping)' },
    { flags: '--run-dir <dir>', description: 'where checkpoints, curves and the report go (default runs/quality-<label>-<time>)' },
    { flags: '--threads <n>', description: 'ORT intra-op threads (0 = all cores)', default: '0' },
    { flags: '--refit-valid <bool>', description: 'outside the protocol: the test\'s counts (genrec\'s memory, item-kNN, MostPop) also read the validation events, as a final refit would (default false)' },
    ...MODEL_OPTIONS,
  ],
  async run(opts) {
    const { GenrecError, log } = await import('../src/engine/index.js');
    const { loadDataset, leaveOneOut, positiveOnly } = await import('../src/data/index.js');
    const { evaluate, flatMetrics, meanOverRuns, modelFactories, qualityMarkdown } = await import('../src/eval/index.js');
    const { RunDir } = await import('../src/train/index.js');

    if (!opts.path) throw new GenrecError('GENREC_E_USAGE', 'bench quality needs --path DIR', 'e.g. --path ../shared/datasets/amazon-beauty --format s3rec');
    const { intFlag } = await import('../src/cli/flags.js');
    const { boolOption, flagName } = await import('../src/eval/flags.js');
    const intOpt = (key: string, min: number): number | undefined => opts[key] === undefined ? undefined : intFlag(flagName(key), opts[key], min);
    const seeds = intOpt('seeds', 1)!, firstSeed = intOpt('seed', 0)!;
    const names = opts.models ? String(opts.models).split(',').map((s) => s.trim()).filter(Boolean) : Object.keys(modelFactories);
    for (const n of names) {
      if (!Object.hasOwn(modelFactories, n)) {
        throw new GenrecError('GENREC_E_USAGE', `unknown model '${n}'`, `models: ${Object.keys(modelFactories).join(', ')}`, { model: n });
      }
    }
    const threads = intOpt('threads', 0) ?? 0;
    const refitValid = boolOption('refit-valid', opts.refitValid) ?? false;
    const runtime = threads > 0 ? { threads } : undefined;
    // genrec's own flags too, before the data loads and other models train for an hour.
    if (names.includes('genrec')) (await import('../src/eval/genrec.js')).genrecOptionsFrom(opts);

    const t0 = performance.now();
    // Engagements only, as `genrec train` reads them (the public datasets have no negative feedback).
    const ds = positiveOnly(await loadDataset({ format: String(opts.format ?? 'auto') as 'auto', path: String(opts.path), ...(opts.dataset ? { label: String(opts.dataset) } : {}) }));
    const label = String(opts.dataset ?? ds.label);
    const split = leaveOneOut(ds.interactions);
    const inter = split.interactions;
    const lengths = new Float64Array(inter.numUsers);
    for (let u = 0; u < inter.numUsers; u++) lengths[u] = split.trainEnd[u]! - inter.userOffsets[u]!;
    lengths.sort();
    const p95 = lengths[Math.min(lengths.length - 1, Math.floor(0.95 * lengths.length))] ?? 1;
    const maxLen = intOpt('maxLen', 1) ?? Math.max(2, Math.min(200, p95));
    log.info({ label, users: inter.numUsers, items: inter.numItems, events: inter.items.length, maxLen, p95TrainLength: p95, loadS: Number(((performance.now() - t0) / 1000).toFixed(2)) }, 'quality: data loaded');

    const runDir = opts.runDir ? new RunDir(String(opts.runDir)) : RunDir.fresh('runs', `quality-${label}`);
    const perModel: Record<string, Array<Record<string, number>>> = {};
    const infos: Record<string, unknown[]> = {};
    for (const name of names) {
      perModel[name] = []; infos[name] = [];
      for (let i = 0; i < seeds; i++) {
        const seed = firstSeed + i;
        const ctx = {
          dataset: ds, split, seed, runDir: runDir.sub(`${name}-seed${seed}`), maxLen,
          ...(opts.epochs !== undefined ? { epochs: intOpt('epochs', 1)! } : {}),
          options: opts, refitValid, ...(runtime ? { runtime } : {}),
        };
        const trained = await modelFactories[name]!(ctx);
        try {
          const r = await evaluate(trained.ranker, split, 'test');
          const m: Record<string, number> = { ...flatMetrics(r), train_s: trained.trainSeconds, eval_s: r.seconds };
          perModel[name]!.push(m);
          infos[name]!.push(trained.info);
          log.info({ model: name, seed, 'recall@10': m['recall@10'], 'ndcg@10': m['ndcg@10'], 'recall@10_incl_seen': m['recall@10_incl_seen'], 'ndcg@10_incl_seen': m['ndcg@10_incl_seen'], trainS: Math.round(trained.trainSeconds), seenLeaks: r.seenLeaks }, 'quality: test');
        } finally {
          await trained.dispose?.();
        }
      }
    }

    const keys = ['recall@5', 'ndcg@5', 'recall@10', 'ndcg@10', 'recall@20', 'ndcg@20', 'recall@10_std', 'ndcg@10_std', 'recall@10_incl_seen', 'ndcg@10_incl_seen', 'invalid_rate', 'train_s'];
    const models: Record<string, Record<string, number>> = {};
    for (const name of names) {
      const mean = meanOverRuns(perModel[name]!, ['recall@10', 'ndcg@10']);
      models[name] = Object.fromEntries(keys.map((k) => [k, mean[k]!]));
    }
    const totalS = (performance.now() - t0) / 1000;
    // Figures whose test counts read the validation events are not the protocol's: say so wherever they go.
    const refit = refitValid ? { refit_valid: true } : {};
    runDir.writeJson('results.json', { suite: 'quality', dataset: label, seeds, maxLen, ...refit, models, runs: perModel, info: infos, seconds: totalS });
    runDir.writeText('quality.md', qualityMarkdown(`${label}: ${seeds} seed(s), history cap ${maxLen}`, models, [
      `${inter.numUsers} users, ${inter.numItems} items, ${inter.items.length} events; leave-one-out; full-catalogue ranking`,
      ...(refitValid ? ['--refit-valid: the test\'s counts (genrec\'s memory, item-kNN, MostPop) also read the validation events; outside the protocol'] : []),
      `data: ${String(opts.path)} (${String(opts.format ?? 'auto')}); total ${totalS.toFixed(0)} s`,
    ]));
    log.info({ runDir: runDir.path }, 'quality: report written');
    return { dataset: label, seeds, ...refit, models, max_len: maxLen, run_dir: runDir.path };
  },
};
