/**
 * `genrec demo`: the whole product in one command, on generated data (or a dataset folder with
 * --path/--format): import into the store under the data dir → semantic IDs → generator trained with
 * early stopping → evaluated against popularity on the leave-one-out test split → model bundle → the
 * HTTP server with the dashboard. It prints a summary table and then the server's address as one plain
 * line (`http://127.0.0.1:PORT/`) on stdout; logs and progress bars go to stderr. Ctrl-C (or SIGTERM)
 * closes the server and its model workers and exits 0. `--no-serve` stops after the summary.
 *
 * The defaults are sized to finish in a few minutes on two cores (measured figures in the README).
 */
import { join } from 'node:path';
import type { Command, Option } from 'commander';
import { intFlag } from '../flags.js';
import { GenrecError } from '../../engine/errors.js';
import { log, progress } from '../../engine/log.js';
import { formatTable, formatValue, sink } from '../output.js';
import { configOf, globalOptions } from '../program.js';
import { addSourceOptions, sourceData, type SourceOptions } from './import.js';
import { untilSignal } from './serve.js';
import { maxLenFromData } from './train.js';
import { EVAL_BEAM } from '../../eval/generative-ranker.js';

interface DemoOptions extends SourceOptions {
  epochs: string; evalUsers: string; testUsers: string; beam: string; maxLen?: string;
  host?: string; port?: string; serve: boolean;
}

/** Demo-sized generated data: big enough to learn from, small enough for minutes on two cores. */
const DEMO_USERS = '1000', DEMO_ITEMS = '1000';
/**
 * History cap for the demo's model. Attention time and memory grow with it, and the recent events carry
 * the signal: on the default data (p95 length 134) a cap of 50 gave test NDCG@10 0.066 vs 0.042 at 12
 * epochs, in 72 s of training instead of 123 s and 2.9 GB peak memory instead of 8.4 GB.
 */
const DEMO_MAX_LEN = 50;

/** Replace the default of an option added by the shared `addSourceOptions` (help text and value). */
function setDefault(cmd: Command, attribute: string, value: string): void {
  const opt = (cmd.options as readonly Option[]).find((o) => o.attributeName() === attribute);
  if (!opt) return;
  opt.default(value);
  cmd.setOptionValueWithSource(attribute, value, 'default');
}

/** Wraps an evaluation ranker so the harness's batches advance a progress bar. */
function withBar<R extends import('../../eval/index.js').Ranker>(ranker: R, bar: ReturnType<typeof progress>): R {
  return {
    ...ranker,
    topK: async (b, k, excludeSeen) => { const r = await ranker.topK(b, k, excludeSeen); bar.tick(b.rows); return r; },
  };
}

const seconds = (t0: number) => Number(((performance.now() - t0) / 1000).toFixed(1));

export function register(program: Command): void {
  const cmd = program.command('demo')
    .description('the whole pipeline on generated data (or --path/--format): import, semantic IDs, train, evaluate against popularity, then serve the dashboard');
  addSourceOptions(cmd)
    .option('--epochs <n>', 'maximum training epochs (early stopping on validation NDCG@10)', '20')
    .option('--eval-users <n>', 'validation users sampled per evaluation during training', '500')
    .option('--test-users <n>', 'test users evaluated at the end (a seeded sample when there are more)', '5000')
    .option('--beam <n>', 'beam width for evaluation (twice the largest cut-off evaluated)', String(EVAL_BEAM))
    .option('--max-len <n>', `history cap (default: 95th percentile of training lengths, ≤ ${DEMO_MAX_LEN} and ≤ config data.maxHistory)`)
    .option('--host <host>', 'address the server listens on (config serve.host)')
    .option('--port <port>', 'server port (config serve.port; when that default is taken, any free port)')
    .option('--no-serve', 'stop after the summary instead of starting the server');
  setDefault(cmd, 'syntheticUsers', DEMO_USERS);
  setDefault(cmd, 'syntheticItems', DEMO_ITEMS);
  cmd.addHelpText('after', '\nWithout --path the data is generated (docs/synthetic.md); --synthetic is implied.\nEverything goes under the data dir (--data-dir, default .genrec): store, runs/demo-*, models/vN.');
  cmd.action(async (opts: DemoOptions, c: Command) => {
    const config = configOf(c);
    const { json = false } = globalOptions(c);
    const epochs = intFlag('epochs', opts.epochs, 1, 10), evalUsers = intFlag('eval-users', opts.evalUsers, 1, 10), testUsers = intFlag('test-users', opts.testUsers, 1, 10), beam = intFlag('beam', opts.beam, 1, 10);
    const port = opts.port !== undefined ? intFlag('port', opts.port, 0, 8080) : undefined;
    const data = await import('../../data/index.js');
    const { fitGenrec } = await import('../../eval/genrec.js');
    const { evaluate, generativeRanker, mostpop } = await import('../../eval/index.js');
    const { GenerativeModel } = await import('../../retrieval/index.js');
    const { RunDir, bundleData, servingMemory, writeBundle } = await import('../../train/index.js');
    const { TOKENIZER_VERSION, saveDatasetTokenizer } = await import('../../tokenizer/index.js');
    const tStart = performance.now();
    const steps: Array<[string, number, string]> = [];
    let stepNo = 0;
    const step = (name: string) => log.info({ step: `${++stepNo}/${opts.serve ? 6 : 5}` }, `demo: ${name}`);

    // 1. data: a dataset folder, or generated data (the default).
    step('data');
    let t0 = performance.now();
    const source = await sourceData(opts.path ? opts : { ...opts, synthetic: true });
    if (!source) throw new GenrecError('GENREC_E_INTERNAL', 'no data source', 'report this');
    const readEvents = source.events?.length ?? 0;
    steps.push(['data', seconds(t0), `${opts.path ? `${opts.path} (${opts.format ?? 'auto'})` : `generated, seed ${opts.seed}`}: ${readEvents.toLocaleString('en-US')} events`]);

    // 2. import into the store the server will read, and train on exactly what it holds.
    step('import');
    t0 = performance.now();
    const { report, ds: stored } = await data.withStore({ dir: config.dataDir }, async (s) => ({ report: await s.importData(source), ds: await s.dataset() }));
    const held = stored.interactions;
    // Training and evaluation read engagements only (skips and dislikes are not what to recommend next).
    const ds = data.positiveOnly(stored);
    const inter = ds.interactions;
    if (inter.items.length === 0) throw new GenrecError('GENREC_E_NO_DATA', 'the data has no engagements (events of positive weight)', 'point --path at a folder with an event log, or drop --path to use generated data');
    steps.push(['import', seconds(t0), `${data.storePath(config.dataDir)}: +${report.eventsAdded.toLocaleString('en-US')} events; holds ${held.numUsers.toLocaleString('en-US')} users, ${held.numItems.toLocaleString('en-US')} items, ${held.items.length.toLocaleString('en-US')} events (${inter.items.length.toLocaleString('en-US')} engagements)`]);

    // 3 + 4. semantic IDs, then the generator (fitGenrec logs and draws bars for both).
    step('semantic IDs and generator training');
    const split = data.leaveOneOut(inter);
    const maxLen = opts.maxLen !== undefined ? intFlag('max-len', opts.maxLen, 2, 10) : maxLenFromData(split, Math.min(DEMO_MAX_LEN, config.data.maxHistory));
    // A fresh run directory per demo, so the dashboard's curves are exactly this bundle's.
    const runDir = RunDir.fresh(join(config.dataDir, 'runs'), 'demo');
    // The text model is the slow part of the item embeddings: a bar per stage it reports (item2vec and the
    // generator's epochs draw their own).
    let bar: { stage: string; bar: ReturnType<typeof progress> } | null = null;
    const onProgress = (stage: string, done: number, total: number) => {
      if (bar?.stage !== stage) { bar?.bar.stop(); bar = { stage, bar: progress(`item embeddings: ${stage}`, total) }; }
      bar.bar.update(done);
      if (done >= total) { bar.bar.stop(); bar = null; }
    };
    const fit = await fitGenrec({ dataset: ds, split, seed: config.train.seed, maxLen, epochs, runDir, resume: false, beam, evalUsers, embeddings: { onProgress } });
    steps.push(['tokenize', Number(fit.tokenizeSeconds.toFixed(1)), `semantic IDs ${fit.codeSizes.join('×')}, ${(100 * fit.tokenizer.report.collisionRate).toFixed(1)} % collisions before the de-duplication level`]);
    steps.push(['train', Number(fit.trainSeconds.toFixed(1)), `${fit.result.epochs} epochs${fit.result.stoppedEarly ? ' (stopped early)' : ''}, best ${fit.result.bestEpoch}: validation NDCG@10 ${formatValue(fit.valid['ndcg@10']!)}${fit.memory ? ` with memorised transitions (β ${fit.memory.options.beta}; the model alone ${formatValue(fit.memoryTuning!.modelMetrics['ndcg@10']!)})` : ''}; ${fit.model.numParameters().toLocaleString('en-US')} parameters`]);

    // 5. the test split: the generator (beam search over semantic IDs) against MostPop.
    step('evaluate');
    t0 = performance.now();
    const sample = inter.numUsers > testUsers ? { sample: testUsers, sampleSeed: config.train.seed } : {};
    const gm = await GenerativeModel.fromModule(fit.model, fit.codes, ds.items.ids);
    gm.setMemory(fit.memory);
    let genrecEval: Awaited<ReturnType<typeof evaluate>>;
    try {
      const bar = progress('evaluate genrec (test)', Math.min(testUsers, inter.numUsers));
      genrecEval = await evaluate(withBar(generativeRanker(gm, { beam }), bar), split, 'test', { includeSeen: false, ...sample });
      bar.stop();
    } finally {
      await gm.close();
    }
    const genrecTest = genrecEval.exclude, cases = genrecEval.cases;
    const pop = await mostpop({ dataset: ds, split, seed: config.train.seed, runDir, maxLen, options: {} });
    const popTest = (await evaluate(pop.ranker, split, 'test', { includeSeen: false, ...sample })).exclude;
    await pop.dispose?.();
    steps.push(['evaluate', seconds(t0), `test split, ${cases.toLocaleString('en-US')} users, full catalogue, seen items excluded`]);

    // 6. the bundle the server loads (and `genrec eval/recommend/export` read).
    step('bundle');
    t0 = performance.now();
    const prefixed = (p: string, m: Record<string, number>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [`${p}_${k}`, v]));
    const bundle = writeBundle(join(config.dataDir, 'models'), {
      model: fit.model, codes: fit.codes, itemIds: ds.items.ids,
      tokenizer: { version: TOKENIZER_VERSION, collisionRate: fit.tokenizer.report.collisionRate },
      data: bundleData(ds.label, inter),
      metrics: { valid_ndcg10: fit.valid['ndcg@10'], ...prefixed('valid', fit.valid), ...prefixed('test', genrecTest), ...prefixed('mostpop_test', popTest) },
      train: { epochs: fit.result.epochs, bestEpoch: fit.result.bestEpoch, seed: config.train.seed, maxLen, runDir: runDir.path, seconds: fit.trainSeconds, source: 'genrec demo' },
      // As `genrec train` does: the server can then give codes to items added after training.
      writeTokenizer: (path) => saveDatasetTokenizer(path, { ...fit.tokenizer, embedder: fit.embedder }, ds),
      ...(fit.memory ? { memory: servingMemory(fit.memory, inter) } : {}),
    });
    steps.push(['bundle', seconds(t0), bundle]);
    const total = seconds(tStart);

    const metricKeys = Object.keys(genrecTest).filter((k) => /^(recall|ndcg)@\d+$/.test(k));
    const summary = {
      bundle, users: inter.numUsers, items: inter.numItems, events: held.items.length, engagements: inter.items.length, code_sizes: fit.codeSizes.join('x'),
      epochs: fit.result.epochs, best_epoch: fit.result.bestEpoch, valid_ndcg10: fit.valid['ndcg@10'],
      ...prefixed('genrec_test', genrecTest), ...prefixed('mostpop_test', popTest), test_users: cases, seconds: total,
    };

    let server: Awaited<ReturnType<typeof import('../../serve/index.js')['startServer']>> | null = null;
    if (opts.serve) {
      step('serve');
      const { startServer } = await import('../../serve/index.js');
      const host = opts.host ?? config.serve.host;
      const start = (p: number) => startServer({ dataDir: config.dataDir, host, port: p, ...(config.serve.apiKey ? { apiKey: config.serve.apiKey } : {}) });
      try {
        server = await start(port ?? config.serve.port);
      } catch (e) {
        // The configured default port is often taken on a laptop; a port asked for explicitly is not replaced.
        if (port !== undefined || (e as { code?: string }).code !== 'EADDRINUSE') throw e;
        log.warn({ port: config.serve.port }, 'port in use; serving on a free port instead');
        server = await start(0);
      }
    }

    if (json) {
      if (server) sink.out(`${server.url}\n`);
      sink.out(JSON.stringify({ ...summary, ...(server ? { url: server.url } : {}) }) + '\n');
    } else {
      sink.out(formatTable(['step', 'seconds', 'result'], steps.map(([s, t, r]) => [s, String(t), r])));
      sink.out(`total ${total} s\n\n`);
      sink.out(formatTable(['test metric', 'genrec', 'MostPop'], metricKeys.map((k) => [k, formatValue(genrecTest[k]), formatValue(popTest[k])])));
      if (server) sink.out(`\ndashboard and API (Ctrl-C stops):\n${server.url}\n`);
    }
    if (server) await untilSignal(server);
  });
}
