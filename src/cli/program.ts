/**
 * The `genrec` commander program: global options, config loading before every command, and the commands
 * registered in ./commands/index.ts. Errors are not printed here: main.ts formats them.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { setLogLevel } from '../engine/log.js';
import { loadConfig, type Config } from './config.js';
import { sink } from './output.js';
import { registerAll } from './commands/index.js';

export interface GlobalOptions {
  config?: string;
  dataDir?: string;
  logLevel?: string;
  json?: boolean;
}

function packageVersion(): string {
  // From dist/src/cli/ up to the package root; read at run time so package.json is not copied into dist.
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

const configs = new WeakMap<Command, Config>();

/** The validated config for a command invocation (file ← env ← global flags), loaded once. */
export function configOf(cmd: Command): Config {
  let config = configs.get(cmd);
  if (!config) {
    const { config: file, dataDir, logLevel } = globalOptions(cmd);
    config = loadConfig({ config: file, dataDir, logLevel });
    configs.set(cmd, config);
  }
  return config;
}

export function createProgram(): Command {
  const program = new Command('genrec')
    .description('generative recommender: semantic IDs, a transformer that generates the next items, ONNX training')
    .version(packageVersion())
    .option('--config <file>', 'config file (JSON); default ./genrec.config.json if present')
    .option('--data-dir <dir>', 'where genrec keeps its store, models and runs (config: dataDir)')
    .option('--log-level <lvl>', 'trace|debug|info|warn|error|fatal|silent (logs go to stderr)')
    .option('--json', 'print the result as one JSON line (the last line of stdout)')
    // Errors become exceptions that main.ts turns into coded messages and exit codes.
    .exitOverride()
    .configureOutput({ outputError: () => {}, writeOut: (text) => void sink.out(text), writeErr: (text) => void sink.err(text) });

  // Load (and so validate) the config before any command runs, and apply its log level.
  program.hook('preAction', (_program, action) => {
    setLogLevel(configOf(action).log.level);
  });

  registerAll(program);
  return program;
}
