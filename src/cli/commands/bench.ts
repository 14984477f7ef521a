/**
 * `genrec bench [suite] [--json] [suite options]`: runs a suite from bench/index.ts. Without a suite it
 * lists them. Suite options are declared by each suite and parsed here, after the suite is known.
 */
import { Command, CommanderError } from 'commander';
import { GenrecError } from '../../engine/errors.js';
import { log } from '../../engine/log.js';
import { formatTable, printResult, sink } from '../output.js';
import { globalOptions } from '../program.js';

// The registry (and so every suite's imports) loads only when `bench` runs, so a suite that fails to
// load cannot break the rest of the CLI.
const registry = () => import('../../../bench/index.js');

type Registry = Awaited<ReturnType<typeof registry>>;
type Suite = Registry['suites'][string];

function optionList(suite: Suite): string {
  return (suite.options ?? []).map((o) => o.flags).join(', ') || '(none)';
}

/** Parses `--key value` style arguments against the suite's declared options. */
function parseSuiteOptions(suite: Suite, args: string[]): Record<string, unknown> {
  const cmd = new Command(`genrec bench ${suite.name}`)
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .helpOption(false);
  for (const o of suite.options ?? []) cmd.option(o.flags, o.description, o.default);
  try {
    cmd.parse(args, { from: 'user' });
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    throw new GenrecError('GENREC_E_USAGE', `bench ${suite.name}: ${e.message.replace(/^error:\s*/, '')}`,
      `options of suite ${suite.name}: ${optionList(suite)} (run \`genrec bench\` to list suites and options)`,
      { suite: suite.name, args });
  }
  return cmd.opts();
}

async function list(json: boolean): Promise<void> {
  const { listSuites } = await registry();
  const suites = listSuites();
  if (json) {
    const out = suites.map((s) => ({ name: s.name, description: s.description, options: s.options ?? [] }));
    sink.out(JSON.stringify({ suites: out }) + '\n');
    return;
  }
  if (suites.length === 0) {
    sink.out('no bench suites registered\n');
    return;
  }
  sink.out(formatTable(['suite', 'options', 'description'],
    suites.map((s) => [s.name, optionList(s), s.description])));
}

export function register(program: Command): void {
  program
    .command('bench')
    .description('run a benchmark suite (omit the suite to list them); with --json the last stdout line is one JSON object')
    .argument('[suite]', 'suite name')
    .argument('[suite-options...]', 'options of the suite, e.g. --steps 30')
    // Suite options are only known once the suite is: let them through and parse them per suite.
    .allowUnknownOption()
    .addHelpText('after', '\nRun `genrec bench` without a suite to list the suites and their options.')
    .action(async (name: string | undefined, _rest: string[], _opts: unknown, cmd: Command) => {
      const { json = false } = globalOptions(cmd);
      if (name === undefined) return list(json);
      const { getSuite, runSuite } = await registry();
      const suite = getSuite(name);
      const opts = parseSuiteOptions(suite, cmd.args.slice(1));
      log.info({ suite: suite.name, opts }, 'bench start');
      const result = await runSuite(suite.name, opts);
      log.info({ suite: suite.name }, 'bench done');
      printResult(result, json);
    });
}
