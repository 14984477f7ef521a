/**
 * `genrec demo`: the README's first command. It trains a small model on generated data and prints its
 * loss falling; the work itself lives in src/train (`demoTrainLoss`), this is only the CLI side.
 */
import type { Command } from 'commander';
import { printResult } from '../output.js';
import { configOf, globalOptions } from '../program.js';

export function register(program: Command): void {
  program
    .command('demo')
    .description('train a small model on generated data and print its loss falling')
    .action(async (_opts: unknown, cmd: Command) => {
      const config = configOf(cmd);
      const { json = false } = globalOptions(cmd);
      const { demoTrainLoss } = await import('../../train/index.js');
      const result = await demoTrainLoss({ seed: config.train?.seed ?? 1 });
      if (result && typeof result === 'object' && !Array.isArray(result)) printResult(result as Record<string, unknown>, json);
    });
}
