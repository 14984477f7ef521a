/**
 * Registry of benchmark suites behind `genrec bench <suite>`. One file per suite (`bench/<name>.ts`);
 * add it to `suites` below with one import and one line. A suite returns flat numbers where it can,
 * because `genrec bench <suite> --json` prints its result as the last stdout line for CI and tools.
 * Keep heavy imports inside `run()` (dynamic `import()`) where practical, so listing suites stays cheap.
 */
import { Option } from 'commander';
import { GenrecError } from '../src/engine/errors.js';
import { engine } from './engine.js';
import { ingest } from './ingest.js';
import { quality } from './quality.js';
import { tokenize } from './tokenize.js';
import { serve } from './serve.js';

export interface BenchSuiteOption {
  /** commander-style flags, e.g. `--steps <n>`; the value reaches `run` under the camel-cased name. */
  flags: string;
  description: string;
  default?: string;
}

export interface BenchSuite {
  name: string;
  description: string;
  options?: BenchSuiteOption[];
  run(opts: Record<string, unknown>): Promise<Record<string, unknown>>;
}

export type BenchResult = { suite: string } & Record<string, unknown>;

// One line per suite, e.g. `[engine.name]: engine,` after `import { engine } from './engine.js';`.
export const suites: Record<string, BenchSuite> = {
  [engine.name]: engine,
  [ingest.name]: ingest,
  [quality.name]: quality,
  [tokenize.name]: tokenize,
  [serve.name]: serve,
};

export function listSuites(): BenchSuite[] {
  return Object.values(suites).sort((a, b) => a.name.localeCompare(b.name));
}

export function getSuite(name: string): BenchSuite {
  const suite = Object.hasOwn(suites, name) ? suites[name] : undefined;
  if (!suite) {
    const names = listSuites().map((s) => s.name);
    throw new GenrecError(
      'GENREC_E_UNKNOWN_SUITE',
      `unknown bench suite "${name}"; available: ${names.length ? names.join(', ') : '(none registered)'}`,
      'run `genrec bench` to list the suites and their options',
      { suite: name, available: names },
    );
  }
  return suite;
}

/** The key under which a suite option's value reaches `run` (commander's camel-cased attribute name). */
export function optionKey(flags: string): string {
  return new Option(flags).attributeName();
}

/**
 * Runs a suite programmatically: the library form of `genrec bench <name>`. Declared option defaults
 * fill in whatever `opts` leaves out, so results match the CLI's.
 */
export async function runSuite(name: string, opts: Record<string, unknown> = {}): Promise<BenchResult> {
  const suite = getSuite(name);
  const full: Record<string, unknown> = {};
  for (const o of suite.options ?? []) {
    if (o.default !== undefined) full[optionKey(o.flags)] = o.default;
  }
  Object.assign(full, opts);
  const result = await suite.run(full);
  // `suite` first so the JSON line is recognisable at a glance; a suite cannot overwrite it.
  const out: BenchResult = { suite: suite.name, ...result };
  out.suite = suite.name;
  return out;
}
