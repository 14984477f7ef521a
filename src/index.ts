/**
 * genrec's programmatic API: everything the `genrec` CLI does is a call exported from here (or, for
 * benchmarks, from `genrec/bench`). Each room keeps its public surface in its own index.ts.
 */
export * from './engine/index.js';
export { loadConfig, configSchema, DEFAULT_CONFIG_FILE, type Config, type ConfigInput, type LoadConfigOptions } from './cli/config.js';
export { main as runCli, EXIT_OK, EXIT_INTERNAL, EXIT_USAGE } from './cli/main.js';
// The rooms, as namespaces (their names would collide at the top level): `import { data, train } from 'genrec'`.
export * as data from './data/index.js';
export * as tokenizer from './tokenizer/index.js';
export * as models from './models/index.js';
export * as train from './train/index.js';
export * as retrieval from './retrieval/index.js';
export * as evaluation from './eval/index.js';
export * as serve from './serve/index.js';
