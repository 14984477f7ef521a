/**
 * genrec's programmatic API: everything the `genrec` CLI does is a call exported from here (or, for
 * benchmarks, from `genrec/bench`). Each room keeps its public surface in its own index.ts.
 */
export * from './engine/index.js';
export { loadConfig, configSchema, DEFAULT_CONFIG_FILE, type Config, type ConfigInput, type LoadConfigOptions } from './cli/config.js';
export { main as runCli, EXIT_OK, EXIT_INTERNAL, EXIT_USAGE } from './cli/main.js';
