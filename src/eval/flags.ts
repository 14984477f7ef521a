/** Flag checks: the one wording of a bad flag value (the CLI builds on it) and the quality suite's model options, checked once (coded usage errors). */
import { GenrecError } from '../engine/errors.js';
import type { GeneratorConfig } from '../models/generator.js';

/** A `true` / `false` flag (string from the command line, or a boolean), or undefined when absent. */
export function boolOption(flag: string, v: unknown): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw flagError(flag, 'true or false', v, `e.g. --${flag} false`);
}

/** The command-line flag of an option key: `dModel` → `d-model`. */
export const flagName = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/**
 * The usage error of a bad flag value, one wording for every command (src/cli/flags.ts builds on it):
 * names the flag, says what it must be, shows what it got and what to do.
 */
export const flagError = (flag: string, what: string, got: unknown, hint: string) =>
  new GenrecError('GENREC_E_USAGE', `--${flag} must be ${what}, got '${String(got)}'`, hint);

const usage = (key: string, what: string, v: unknown, hint = `e.g. --${flagName(key)} 2`) => flagError(flagName(key), what, v, hint);

/** A numeric flag given by its option key (`dModel` → `--d-model`), or undefined when absent. */
export function numberOption(key: string, v: unknown): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const x = Number(v);
  if (!Number.isFinite(x)) throw usage(key, 'a number', v);
  return x;
}

/** A numeric flag that must be greater than 0 (a size, rate or temperature), or undefined when absent. */
export function positiveOption(key: string, v: unknown): number | undefined {
  const x = numberOption(key, v);
  if (x !== undefined && !(x > 0)) throw usage(key, 'a positive number', v, `give --${flagName(key)} a positive number, or leave it out for the default`);
  return x;
}

/** The model flags (option keys) that are sizes, rates or temperatures: 0 or less is a usage error. */
const POSITIVE_FLAGS = new Set(['dModel', 'layers', 'blocks', 'heads', 'dFf', 'prototypes', 'embStd', 'pairTemperature', 'codebookSize', 'maxCodeShare',
  'batchSize', 'lr', 'beam', 'evalUsers', 'validLimit', 'patience', 'evalEvery', 'members', 'memorySpan', 'recencyWeight']);

/** The model flags that are counts: a fraction is a usage error (`--layers 2.5` would fail deep in graph building). */
const WHOLE_FLAGS = new Set(['dModel', 'layers', 'blocks', 'heads', 'dFf', 'prototypes', 'codebookSize', 'batchSize', 'beam', 'evalUsers', 'validLimit',
  'patience', 'evalEvery', 'members', 'gapBuckets', 'relativeBuckets', 'memorySpan']);

/**
 * A `bench quality` model flag as a number: must be > 0 when it is a size, rate or temperature, and
 * whole when it is a count.
 */
export function modelNumberOption(key: string, v: unknown): number | undefined {
  const x = POSITIVE_FLAGS.has(key) ? positiveOption(key, v) : numberOption(key, v);
  if (x !== undefined && WHOLE_FLAGS.has(key) && !Number.isInteger(x)) throw usage(key, 'a whole number', v);
  return x;
}

/** The `--recency-weight` flag: a decay per event back from a sequence's end, in (0, 1]. */
export function recencyWeightOption(v: unknown): number | undefined {
  const x = modelNumberOption('recencyWeight', v);
  if (x !== undefined && x > 1) throw usage('recencyWeight', 'a number in (0, 1]', v, 'e.g. --recency-weight 0.9 (1: every target alike)');
  return x;
}

/** The `--windows` flag: training rows from the last window of each user, or from all windows. */
export function windowsOption(v: unknown): 'last' | 'all' {
  if (v !== 'last' && v !== 'all') throw flagError('windows', "'last' or 'all'", v, 'use --windows last (one row per user) or all');
  return v;
}

/** The `--memory` flag: memorised transitions swept on validation ('auto'), off, or a fixed β > 0. */
export function memoryOption(v: unknown): 'auto' | 'off' | number {
  if (v === 'auto' || v === 'off') return v;
  const x = Number(v);
  if (v === '' || v === null || typeof v === 'boolean' || !Number.isFinite(x) || !(x > 0)) throw flagError('memory', "'auto', 'off' or a β > 0", v, 'use --memory auto (β chosen on validation), off (the model alone) or e.g. --memory 100');
  return x;
}

/** The `--memory-rows` flag: the memory reads raw counts, shares of each recent item's total, or whichever validates better. */
export function memoryRowsOption(v: unknown): 'counts' | 'shares' | 'auto' {
  if (v !== 'counts' && v !== 'shares' && v !== 'auto') throw flagError('memory-rows', "'counts', 'shares' or 'auto'", v, 'use --memory-rows auto (chosen on validation), counts or shares');
  return v;
}

/** The `--block` flag: the causal encoder's block. */
export function blockOption(v: unknown): 'transformer' | 'hstu' {
  if (v !== 'transformer' && v !== 'hstu') throw flagError('block', "'transformer' or 'hstu'", v, 'use --block transformer (softmax attention + SwiGLU) or hstu');
  return v;
}

/** The generator's boolean flags: option key (the flag in camelCase) → config field. */
const GENERATOR_BOOL_FLAGS = [['itemId', 'item-id', 'itemIdEmbedding'], ['pairInput', 'pair-input', 'pairInput'], ['pairSoftmax', 'pair-softmax', 'pairSoftmax'],
  ['tripleVectors', 'triple-vectors', 'tripleVectors'], ['tripleInput', 'triple-input', 'tripleInput']] as const;

/** The generator settings the boolean flags among `options` give (`bench quality` and `genrec train` share them). */
export function generatorBoolOptions(options: Record<string, unknown>): Partial<GeneratorConfig> {
  const out: Partial<GeneratorConfig> = {};
  for (const [key, flag, field] of GENERATOR_BOOL_FLAGS) {
    const v = boolOption(flag, options[key]);
    if (v !== undefined) out[field] = v;
  }
  return out;
}
