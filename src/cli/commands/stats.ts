/**
 * `genrec stats`: users, items, events, sparsity and the sequence-length distribution (with a text
 * histogram) of the store, of a dataset folder (`--format --path`, read without the store) or of
 * generated data (`--synthetic`). `--timing` also times the leave-one-out split plus all capped training
 * sequences and one epoch of batches (`--max-len`, `--batch-size`).
 */
import type { Command } from 'commander';
import { GenrecError } from '../../engine/errors.js';
import { configOf, globalOptions } from '../program.js';
import { sink } from '../output.js';
import { addSourceOptions, sourceData, type SourceOptions } from './import.js';

interface StatsOptions extends SourceOptions {
  positive?: boolean; timing?: boolean; maxLen?: string; batchSize: string;
}

export function register(program: Command): void {
  const command = program
    .command('stats')
    .description('dataset statistics of the store, or of a dataset folder (--format --path, read without the store) or generated data');
  addSourceOptions(command)
    .option('--positive', 'count only engagements (events of positive weight: what training reads)')
    .option('--timing', 'also time loading, the leave-one-out split and all training sequences and batches')
    .option('--max-len <n>', 'with --timing: history cap per training sequence (default: config data.maxHistory)')
    .option('--batch-size <n>', 'with --timing: batch size', '256')
    .action(async (opts: StatsOptions, cmd: Command) => {
      const config = configOf(cmd);
      const { json = false } = globalOptions(cmd);
      const data = await import('../../data/index.js');
      const maxLen = Number(opts.maxLen ?? config.data.maxHistory), batchSize = Number(opts.batchSize);
      if (!(Number.isInteger(maxLen) && maxLen > 0 && Number.isInteger(batchSize) && batchSize > 0)) {
        throw new GenrecError('GENREC_E_USAGE', '--max-len and --batch-size must be positive integers', 'e.g. --max-len 200 --batch-size 256');
      }
      const t0 = performance.now();
      const source = await sourceData(opts);
      let ds = source
        ? await data.datasetFromData(source)
        : await data.withStore({ dir: config.dataDir, readOnly: true }, (s) => s.dataset());
      if (opts.positive) ds = data.positiveOnly(ds);
      const loadS = (performance.now() - t0) / 1000;
      let timing: Record<string, number> = {};
      if (opts.timing) {
        const t1 = performance.now();
        const split = data.leaveOneOut(ds.interactions);
        const seqs = data.trainingSequences(split, { maxLen });
        let batches = 0;
        for (const _ of new data.SequenceBatcher(seqs, { batchSize, maxLen, seed: 1 }).epoch(0)) batches++;
        const splitS = (performance.now() - t1) / 1000;
        timing = { load_s: Number(loadS.toFixed(3)), split_sequences_batches_s: Number(splitS.toFixed(3)), total_s: Number((loadS + splitS).toFixed(3)), training_sequences: seqs.count, batches };
      }
      const stats = data.datasetStats(ds);
      if (json) {
        sink.out(JSON.stringify({ ...stats, ...timing }) + '\n');
        return;
      }
      sink.out(data.formatStats(stats));
      if (opts.timing) {
        sink.out(`\ntiming       load ${timing.load_s} s, leave-one-out split + ${timing.training_sequences} training sequences (max ${maxLen}) + ${timing.batches} batches ${timing.split_sequences_batches_s} s, total ${timing.total_s} s\n`);
      }
    });
}
