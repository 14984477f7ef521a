/**
 * `genrec demo`: the README's first command. It trains a small model on generated data and prints its
 * loss falling; the work itself lives in the engine (`demoTrainLoss`), this is only the CLI side.
 */
import type { Command } from 'commander';
import { GenrecError } from '../../engine/errors.js';
import { printResult } from '../output.js';
import { configOf, globalOptions } from '../program.js';

type DemoFn = (opts: Record<string, unknown>) => unknown;

export function register(program: Command): void {
  program
    .command('demo')
    .description('train a small model on generated data and print its loss falling')
    .action(async (_opts: unknown, cmd: Command) => {
      const config = configOf(cmd);
      const { json = false } = globalOptions(cmd);
      // Looked up at run time: the engine's demo lands separately from this command.
      const engine = (await import('../../engine/index.js')) as Record<string, unknown>;
      const demo = engine.demoTrainLoss;
      if (typeof demo !== 'function') {
        throw new GenrecError('GENREC_E_NOT_IMPLEMENTED', 'the demo is not available in this build: the engine does not export demoTrainLoss yet',
          'update genrec; meanwhile `genrec bench` lists what runs', {});
      }
      const result = await (demo as DemoFn)({ config, json });
      if (result && typeof result === 'object' && !Array.isArray(result)) printResult(result as Record<string, unknown>, json);
    });
}
