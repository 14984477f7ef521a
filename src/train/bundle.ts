/**
 * The model bundle: everything `eval` and `serve` need to use a trained generator, in one versioned
 * directory written by `genrec train`:
 *
 *   manifest.json        format/version, model config, tokenizer summary, data snapshot, metrics, files
 *   model.safetensors    the parameters (the best epoch's)
 *   encode.onnx          history → per-user context (run once per request)
 *   decode-<l>.onnx      context rows + code prefix → log-probs of level l's codes
 *   codes.safetensors    item → semantic ID table (int32 stored as float32-exact values) and level sizes
 *   items.json           external item ids in dense order
 *   tokenizer.safetensors  the fitted tokenizer and item embedder (when given), to code new items
 *   transitions.safetensors  memorised item → next-item counts the beam search mixes in (when tuned in)
 *   member<i>/           an ensemble's further members (model.safetensors, encode.onnx, decode-<l>.onnx):
 *                        generators trained on the same codes with other seeds, decoded as one model
 *
 * Bundles are written to a temp directory and renamed into place, so a reader never sees half a bundle;
 * the newest complete one is found by its version number.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { GenrecError, exportOnnx, saveCheckpoint, saveSafetensors, loadSafetensors, writeFileAtomic, type Module } from '../engine/index.js';
import { Generator, buildDecodeGraph, buildEncodeGraph, type GeneratorConfig } from '../models/generator.js';
import { TransitionTable, type MemoryOptions } from '../models/transitions.js';
import type { Interactions } from '../data/index.js';

export const BUNDLE_FORMAT = 'genrec-bundle';
export const BUNDLE_VERSION = 1;

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  formatVersion: number;
  /** Monotonic bundle number within its models directory. */
  version: number;
  createdAt: string;
  model: { kind: 'generator'; config: GeneratorConfig; parameters: number };
  tokenizer: { version: number; codeSizes: number[]; items: number; [k: string]: unknown };
  data: { label: string; users: number; items: number; events: number; [k: string]: unknown };
  metrics: Record<string, number>;
  train: Record<string, unknown>;
  /** The memorised transitions' search settings (with `files.transitions`), absent when the model decodes alone. */
  memory?: MemoryOptions & { transitions: number };
  /** `tokenizer`: the fitted tokenizer and item embedder (tokenizer.safetensors), for coding new items. */
  files: { checkpoint: string; encode: string; decode: string[]; codes: string; items: string; tokenizer?: string; transitions?: string; members?: MemberFiles[] };
}

/** The files of one further ensemble member (same config and codes as the first, other weights). */
export interface MemberFiles { checkpoint: string; encode: string; decode: string[] }

/** One member's exported inference graphs. */
export interface MemberGraphs { encode: Uint8Array; decode: Uint8Array[] }

/** An ensemble's members must share their config (only their weights differ), or their logits do not average. */
export function requireSameConfig(models: Generator[]): void {
  const first = JSON.stringify(models[0]?.c);
  if (models.some((m) => JSON.stringify(m.c) !== first)) {
    throw new GenrecError('GENREC_E_BUNDLE', 'the ensemble\'s members have different configs', 'train every member with the same settings and codes (only the seed differs)');
  }
}

export interface WriteBundleInput {
  model: Generator;
  /**
   * Further ensemble members: generators with `model`'s config trained on the same codes (other seeds).
   * The bundle decodes them as one model, averaging their logits at every step.
   */
  members?: Generator[];
  /** [numItems × L] codes of every item the bundle knows. */
  codes: Int32Array;
  itemIds: string[];
  tokenizer: { version: number; [k: string]: unknown };
  data: BundleManifest['data'];
  metrics?: Record<string, number>;
  train?: Record<string, unknown>;
  /** Writes the tokenizer file at the given path (inside the bundle, before it is published). */
  writeTokenizer?: (path: string) => void;
  /** Memorised transitions and how the search mixes them in (transitions.ts). */
  memory?: BundleMemory;
}

export interface BundleMemory { table: TransitionTable; options: MemoryOptions }

/**
 * The memory a bundle ships: the tuned settings over a table of EVERY transition in the data. β was
 * chosen with the training part only (validation must not see its own targets), but a served model
 * should remember the users' latest pairs too — they are the newest evidence. `genrec eval` rebuilds the
 * training part's table before it scores the held-out parts.
 */
export function servingMemory(memory: BundleMemory, data: Interactions): BundleMemory {
  return { table: TransitionTable.fromAll(data, memory.options.span ?? 1), options: memory.options };
}

/**
 * What a bundle records of its data: sizes, and `lastEventAt`, the newest event time in seconds (null
 * when the data has no times). A server memorises the transitions into events after it (serve/models.ts).
 */
export function bundleData(label: string, data: Interactions): BundleManifest['data'] {
  let last = -Infinity;
  if (data.hasTimestamps) for (const t of data.timestamps) if (t > last) last = t;
  return { label, users: data.numUsers, items: data.numItems, events: data.items.length, lastEventAt: Number.isFinite(last) ? last : null };
}

/** Versions of the complete bundles under `modelsDir`, ascending. */
export function bundleVersions(modelsDir: string): number[] {
  if (!existsSync(modelsDir)) return [];
  return readdirSync(modelsDir)
    .map((n) => /^v(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => !!m && existsSync(join(modelsDir, m[0], 'manifest.json')))
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

export function latestBundle(modelsDir: string): string | null {
  const v = bundleVersions(modelsDir);
  return v.length ? join(modelsDir, `v${v[v.length - 1]}`) : null;
}

/** Write a new bundle `v<N+1>` under modelsDir; returns its path. */
export function writeBundle(modelsDir: string, input: WriteBundleInput): string {
  const { model, codes, itemIds } = input;
  const c = model.c, L = c.codeSizes.length;
  if (codes.length !== itemIds.length * L) {
    throw new GenrecError('GENREC_E_BUNDLE', `codes cover ${codes.length / L} items but ${itemIds.length} item ids were given`, 'pass the codes of every item');
  }
  requireSameConfig([model, ...(input.members ?? [])]);
  mkdirSync(modelsDir, { recursive: true });
  const versions = bundleVersions(modelsDir);
  const version = (versions[versions.length - 1] ?? 0) + 1;
  const tmp = join(modelsDir, `.v${version}.${process.pid}.tmp`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  const writeMember = (m: Generator, dir: string): MemberFiles => {
    if (dir) mkdirSync(join(tmp, dir));
    const exportGraph = (name: string, build: Parameters<typeof exportOnnx>[0]['build']) => {
      writeFileAtomic(join(tmp, dir, name), exportOnnx({ module: m as Module, build, name }));
      return join(dir, name);
    };
    const files = {
      checkpoint: join(dir, 'model.safetensors'),
      encode: exportGraph('encode.onnx', (g) => buildEncodeGraph(m, g)),
      decode: Array.from({ length: L }, (_, l) => exportGraph(`decode-${l}.onnx`, (g) => buildDecodeGraph(m, g, l))),
    };
    saveCheckpoint(join(tmp, files.checkpoint), m);
    return files;
  };
  const members = (input.members ?? []).map((m, i) => writeMember(m, `member${i + 1}`));
  const files: BundleManifest['files'] = {
    ...writeMember(model, ''),
    codes: 'codes.safetensors',
    items: 'items.json',
    ...(members.length ? { members } : {}),
  };
  saveSafetensors(join(tmp, files.codes), new Map([['codes', { data: Float32Array.from(codes), shape: [itemIds.length, L] }]]), { codeSizes: JSON.stringify(c.codeSizes) });
  writeFileAtomic(join(tmp, files.items), Buffer.from(JSON.stringify(itemIds)));
  if (input.writeTokenizer) {
    files.tokenizer = 'tokenizer.safetensors';
    input.writeTokenizer(join(tmp, files.tokenizer));
  }
  if (input.memory) {
    const t = input.memory.table.toArrays();
    if (input.memory.table.numItems > itemIds.length) throw new GenrecError('GENREC_E_BUNDLE', `the transition table indexes ${input.memory.table.numItems} items but the bundle has ${itemIds.length}`, 'build the table from the same dataset as the codes');
    files.transitions = 'transitions.safetensors';
    saveSafetensors(join(tmp, files.transitions), new Map([
      ['start', { data: t.start, shape: [t.start.length] }], ['next', { data: t.next, shape: [t.next.length] }], ['count', { data: t.count, shape: [t.count.length] }],
    ]));
  }
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT, formatVersion: BUNDLE_VERSION, version, createdAt: new Date().toISOString(),
    model: { kind: 'generator', config: c, parameters: model.numParameters() * (1 + members.length) },
    tokenizer: { ...input.tokenizer, codeSizes: c.codeSizes, items: itemIds.length },
    data: input.data, metrics: input.metrics ?? {}, train: input.train ?? {},
    ...(input.memory ? { memory: { ...input.memory.options, transitions: input.memory.table.size } } : {}), files,
  };
  writeFileAtomic(join(tmp, 'manifest.json'), Buffer.from(JSON.stringify(manifest, null, 2)));
  const dest = join(modelsDir, `v${version}`);
  renameSync(tmp, dest);
  return dest;
}

export interface LoadedBundle {
  dir: string;
  manifest: BundleManifest;
  codes: Int32Array;
  itemIds: string[];
  encode: Uint8Array;
  decode: Uint8Array[];
  /** An ensemble's further members (empty for one model). */
  members: MemberGraphs[];
  /** Memorised transitions, when the bundle has them. */
  memory: BundleMemory | null;
}

/** Read and validate a bundle directory (not its parameters: the exported graphs embed them). */
export function readBundle(dir: string): LoadedBundle {
  const bad = (why: string) => new GenrecError('GENREC_E_BUNDLE', `${dir} is not a usable model bundle: ${why}`, 'train a model with `genrec train`, or point at a bundle directory (…/models/vN)');
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as BundleManifest;
  } catch (e) {
    throw bad(`cannot read manifest.json (${(e as Error).message})`);
  }
  if (manifest.format !== BUNDLE_FORMAT) throw bad(`format is ${String(manifest.format)}`);
  if (manifest.formatVersion > BUNDLE_VERSION) throw bad(`written by a newer genrec (bundle format ${manifest.formatVersion}); upgrade genrec`);
  const L = manifest.model.config.codeSizes.length;
  for (const f of [manifest.files, ...(manifest.files.members ?? [])]) {
    if (f.decode.length !== L) throw bad(`has ${f.decode.length} decode graphs for ${L} code levels`);
  }
  const read = (f: string) => {
    try { return readFileSync(join(dir, f)); } catch (e) { throw bad(`missing ${f} (${(e as Error).message})`); }
  };
  const itemIds = JSON.parse(read(manifest.files.items).toString('utf8')) as string[];
  const t = loadSafetensors(join(dir, manifest.files.codes)).tensors.get('codes');
  if (!t || t.shape[0] !== itemIds.length || t.shape[1] !== L) throw bad('codes do not match the item list');
  let memory: BundleMemory | null = null;
  if (manifest.files.transitions && manifest.memory) {
    const m = manifest.memory, x = loadSafetensors(join(dir, manifest.files.transitions)).tensors;
    const start = x.get('start')?.data, next = x.get('next')?.data, count = x.get('count')?.data;
    if (!(start instanceof Int32Array) || !(next instanceof Int32Array) || !(count instanceof Float32Array)) throw bad(`${manifest.files.transitions} lacks the int32 start/next and float32 count tensors`);
    if (!(m.beta > 0) || !(m.window >= 1) || !(m.decay >= 0) || !(m.reverse >= 0)) throw bad(`memory settings ${JSON.stringify(m)} are out of range (beta > 0, window ≥ 1, decay ≥ 0, reverse ≥ 0)`);
    const table = TransitionTable.fromArrays(start, next, count, m.span ?? 1);
    if (table.numItems > itemIds.length) throw bad(`the transition table indexes ${table.numItems} items, the bundle ${itemIds.length}`);
    if (m.shares !== undefined && typeof m.shares !== 'boolean') throw bad(`memory setting shares ${JSON.stringify(m.shares)} is not true or false`);
    if (m.span !== undefined && !(Number.isInteger(m.span) && m.span >= 1)) throw bad(`memory setting span ${JSON.stringify(m.span)} is not a whole number ≥ 1`);
    memory = { table, options: { beta: m.beta, window: m.window, decay: m.decay, reverse: m.reverse, ...(m.shares ? { shares: true } : {}), ...(m.span && m.span > 1 ? { span: m.span } : {}) } };
  }
  return {
    dir, manifest, codes: Int32Array.from(t.data), itemIds, encode: read(manifest.files.encode), decode: manifest.files.decode.map(read),
    members: (manifest.files.members ?? []).map((f) => ({ encode: read(f.encode), decode: f.decode.map(read) })),
    memory,
  };
}
