/**
 * genrec's configuration: defaults ← config file (JSON) ← environment (`GENREC_<SECTION>_<KEY>`) ← CLI flags.
 * One zod schema is the single source of truth for fields, types and defaults; environment values are
 * coerced to the schema's leaf types, so `GENREC_SERVE_PORT=8080` becomes a number.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { GenrecError } from '../engine/errors.js';

export const DEFAULT_CONFIG_FILE = 'genrec.config.json';

const logLevel = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

// strictObject everywhere: a misspelt key is reported instead of silently ignored.
// prefault({}) rather than default({}): zod 4 returns a default as-is, a prefault is parsed, so the
// inner defaults apply when a whole section is missing.
export const configSchema = z.strictObject({
  /** Where genrec keeps its store, models and runs; relative paths resolve against the working directory. */
  dataDir: z.string().min(1).default('.genrec'),
  log: z.strictObject({
    level: logLevel.default('info'),
  }).prefault({}),
  engine: z.strictObject({
    /** Intra-op threads for ONNX Runtime; 0 lets the engine choose (one per core). */
    threads: z.number().int().min(0).default(0),
    graphOptimizationLevel: z.enum(['disabled', 'basic', 'extended', 'all']).default('all'),
    executionProvider: z.enum(['cpu', 'cuda']).default('cpu'),
  }).prefault({}),
  data: z.strictObject({
    /** Input file or directory to import; unset until the user points genrec at their data. */
    path: z.string().min(1).optional(),
    format: z.enum(['auto', 'csv', 'jsonl', 'parquet']).default('auto'),
    /** Most recent interactions kept per user sequence. */
    maxHistory: z.number().int().positive().default(200),
  }).prefault({}),
  train: z.strictObject({
    /** genrec train's defaults (flags override them): the settings measured best on Beauty (docs/results.md). */
    epochs: z.number().int().positive().default(60),
    batchSize: z.number().int().positive().default(64),
    lr: z.number().positive().default(2e-3),
    weightDecay: z.number().min(0).default(0.01),
    seed: z.number().int().min(0).default(42),
  }).prefault({}),
  serve: z.strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(3000),
    /** When set, requests must carry it (`Authorization: Bearer <key>`); unset means no auth (local use). */
    apiKey: z.string().min(1).optional(),
  }).prefault({}),
});

export type Config = z.output<typeof configSchema>;
/** What a config file (or `overrides`) may contain: every field optional. */
export type ConfigInput = z.input<typeof configSchema>;

export interface LoadConfigOptions {
  /** Config file path (`--config`); when given it must exist. Default: `genrec.config.json` in `cwd`, if present. */
  config?: string;
  /** `--data-dir`: overrides `dataDir`. */
  dataDir?: string;
  /** `--log-level`: overrides `log.level`. */
  logLevel?: string;
  /** Further overrides applied last (programmatic callers). */
  overrides?: ConfigInput;
  cwd?: string;
  /** Environment to read `GENREC_*` overrides from; default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

type Leaf = 'string' | 'number' | 'boolean';
type Json = Record<string, unknown>;

/** The schema node under wrappers (default, prefault, optional, ...). Uses zod 4's `_zod.def`. */
function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (;;) {
    const def = s._zod.def as { type: string; innerType?: z.ZodType };
    if (def.innerType && ['default', 'prefault', 'optional', 'nullable', 'readonly'].includes(def.type)) {
      s = def.innerType;
    } else return s;
  }
}

/** Every leaf field of the schema with its env variable name, e.g. serve.port ← GENREC_SERVE_PORT. */
function leaves(): Array<{ path: string[]; env: string; type: Leaf }> {
  const out: Array<{ path: string[]; env: string; type: Leaf }> = [];
  const walk = (schema: z.ZodType, path: string[]) => {
    const s = unwrap(schema);
    if (s instanceof z.ZodObject) {
      for (const [key, child] of Object.entries(s.shape as Record<string, z.ZodType>)) walk(child, [...path, key]);
      return;
    }
    const type: Leaf = s instanceof z.ZodNumber ? 'number' : s instanceof z.ZodBoolean ? 'boolean' : 'string';
    out.push({ path, env: `GENREC_${path.map((p) => p.toUpperCase()).join('_')}`, type });
  };
  walk(configSchema, []);
  return out;
}

/** Environment strings to the leaf's type; a value that does not convert stays a string so zod names it. */
function coerce(value: string, type: Leaf): unknown {
  const v = value.trim();
  if (type === 'number') return v !== '' && Number.isFinite(Number(v)) ? Number(v) : value;
  if (type === 'boolean') {
    if (/^(1|true|yes|on)$/i.test(v)) return true;
    if (/^(0|false|no|off)$/i.test(v)) return false;
    return value;
  }
  return value;
}

/** `['serve','port'], 8080` → `{ serve: { port: 8080 } }` */
function nest(path: string[], value: unknown): Json {
  return path.reduceRight<unknown>((inner, key) => ({ [key]: inner }), value) as Json;
}

/** Deep-merges `layer` into `target`, recording which source set each leaf (for error messages). */
function mergeLayer(target: Json, layer: unknown, source: string, sources: Map<string, string>, path: string[] = []): void {
  if (typeof layer !== 'object' || layer === null || Array.isArray(layer)) return;
  for (const [key, value] of Object.entries(layer as Json)) {
    if (value === undefined) continue;
    const p = [...path, key];
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const existing = target[key];
      if (typeof existing !== 'object' || existing === null || Array.isArray(existing)) target[key] = {};
      mergeLayer(target[key] as Json, value, source, sources, p);
    } else {
      target[key] = value;
    }
    sources.set(p.join('.'), source);
  }
}

function allowedKeys(path: string[]): string[] {
  let s: z.ZodType = configSchema;
  for (const key of path) {
    const obj = unwrap(s);
    if (!(obj instanceof z.ZodObject)) return [];
    s = (obj.shape as Record<string, z.ZodType>)[key]!;
    if (!s) return [];
  }
  const obj = unwrap(s);
  return obj instanceof z.ZodObject ? Object.keys(obj.shape) : [];
}

function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new GenrecError('GENREC_E_CONFIG', `cannot read config file ${file}: ${(e as Error).message}`,
      'check the --config path', { file });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new GenrecError('GENREC_E_CONFIG', `config file ${file} is not valid JSON: ${(e as Error).message}`,
      'fix the JSON syntax (no comments or trailing commas)', { file });
  }
}

/**
 * Loads and validates the configuration. Throws `GenrecError('GENREC_E_CONFIG')` naming the file, the field
 * path, where the bad value came from and what was expected.
 */
export function loadConfig(opts: LoadConfigOptions = {}): Config {
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  const merged: Json = {};
  const sources = new Map<string, string>();

  let file: string | undefined;
  if (opts.config !== undefined) {
    file = resolve(cwd, opts.config);
    if (!existsSync(file)) {
      throw new GenrecError('GENREC_E_CONFIG', `config file not found: ${file}`,
        'check the --config path, or omit it to use defaults', { file });
    }
  } else if (existsSync(resolve(cwd, DEFAULT_CONFIG_FILE))) {
    file = resolve(cwd, DEFAULT_CONFIG_FILE);
  }
  if (file) {
    const raw = readConfigFile(file);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new GenrecError('GENREC_E_CONFIG', `config file ${file} must contain a JSON object`,
        'write e.g. {"serve": {"port": 8080}}', { file });
    }
    mergeLayer(merged, raw, `config file ${file}`, sources);
  }

  for (const leaf of leaves()) {
    const value = env[leaf.env];
    if (value !== undefined) {
      mergeLayer(merged, nest(leaf.path, coerce(value, leaf.type)), `environment variable ${leaf.env}`, sources);
    }
  }
  if (opts.dataDir !== undefined) mergeLayer(merged, { dataDir: opts.dataDir }, 'option --data-dir', sources);
  if (opts.logLevel !== undefined) mergeLayer(merged, { log: { level: opts.logLevel } }, 'option --log-level', sources);
  if (opts.overrides) mergeLayer(merged, opts.overrides, 'overrides', sources);

  const parsed = configSchema.safeParse(merged);
  if (parsed.success) return parsed.data;

  const issues = parsed.error.issues.flatMap((issue) => {
    const base = issue.path.map(String);
    // Report a misspelt key at its own path, with the keys that are allowed there.
    const entries = issue.code === 'unrecognized_keys'
      ? issue.keys.map((k) => ({ path: [...base, k], message: `unknown field; expected one of: ${allowedKeys(base).join(', ')}` }))
      : [{ path: base, message: issue.message }];
    return entries.map(({ path, message }) => {
      const key = path.join('.');
      const source = sources.get(key) ?? (file ? `config file ${file}` : 'defaults');
      return { path: key || '(root)', message, source };
    });
  });
  const text = issues.map((i) => `${i.path}: ${i.message} (from ${i.source})`).join('; ');
  const where = file ? ` in ${file}` : '';
  throw new GenrecError('GENREC_E_CONFIG', `invalid configuration${where}: ${text}`,
    'fix the named field; see README "Configuration" for every field, its type and default',
    { file, issues });
}
