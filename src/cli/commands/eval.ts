/**
 * `genrec eval`: evaluates a model bundle on the leave-one-out TEST split of the store's data (or a
 * dataset folder): Recall/NDCG@5/10/20 over the full catalogue, seen items excluded (primary) and
 * included, through the bundle's exported graphs and trie-constrained beam search.
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import { GenrecError } from '../../engine/errors.js';
import { printResult } from '../output.js';
import { configOf, globalOptions } from '../program.js';
import { addSourceOptions, type SourceOptions } from './import.js';
import { commandDataset } from './train.js';
import { EVAL_BEAM } from '../../eval/generative-ranker.js';

interface EvalOptions extends SourceOptions { bundle?: string; beam: string; part: string; limit?: string }

/** The bundle named by --bundle, else the newest under <dataDir>/models. */
export async function resolveBundle(bundle: string | undefined, dataDir: string): Promise<string> {
  const { latestBundle } = await import('../../train/index.js');
  const dir = bundle ?? latestBundle(join(dataDir, 'models'));
  if (!dir) throw new GenrecError('GENREC_E_NO_MODEL', `no model bundle under ${join(dataDir, 'models')}`, 'train one with `genrec train`, or pass --bundle DIR');
  return dir;
}

export function register(program: Command): void {
  const cmd = program.command('eval').description('evaluate a model bundle on the leave-one-out test split (full-catalogue ranking)');
  addSourceOptions(cmd)
    .option('--bundle <dir>', 'model bundle (default: the newest under <dataDir>/models)')
    .option('--beam <n>', 'beam width (twice the largest cut-off evaluated)', String(EVAL_BEAM))
    .option('--part <valid|test>', 'which held-out part', 'test')
    .option('--limit <n>', 'evaluate only the first n cases')
    .action(async (opts: EvalOptions, c: Command) => {
      const config = configOf(c);
      const { json = false } = globalOptions(c);
      if (opts.part !== 'valid' && opts.part !== 'test') throw new GenrecError('GENREC_E_USAGE', `--part must be valid or test, got ${opts.part}`, 'use --part test');
      const data = await import('../../data/index.js');
      const { GenerativeModel } = await import('../../retrieval/index.js');
      const { evaluate, flatMetrics, generativeRanker } = await import('../../eval/index.js');
      const dir = await resolveBundle(opts.bundle, config.dataDir);
      const ds = data.positiveOnly(await commandDataset(opts, config.dataDir)); // what training read
      const gm = await GenerativeModel.load(dir);
      try {
        if (gm.itemIds.length !== ds.items.count || gm.itemIds.some((id, i) => id !== ds.items.ids[i])) {
          throw new GenrecError('GENREC_E_BUNDLE_DATA', `the bundle ${dir} was trained on a different item catalogue (${gm.itemIds.length} items) than this data (${ds.items.count})`, 'evaluate on the data the bundle was trained on, or train a new bundle');
        }
        const split = data.leaveOneOut(ds.interactions);
        // The bundle's memory counts every transition in its data, the held-out targets included: score
        // them with the training part's table, as validation chose β with (the datasets' protocol).
        const memory = gm.memoryOptions;
        if (memory) {
          const { TransitionTable } = await import('../../models/index.js');
          gm.setMemory({ table: TransitionTable.knownBefore(split, 'valid', memory.span ?? 1), options: memory });
        }
        const r = await evaluate(generativeRanker(gm, { beam: Number(opts.beam) }), split, opts.part as 'valid' | 'test', opts.limit ? { limit: Number(opts.limit) } : {});
        printResult({ bundle: dir, part: r.part, cases: r.cases, ...flatMetrics(r), seconds: Number(r.seconds.toFixed(2)) }, json);
      } finally {
        await gm.close();
      }
    });
}
