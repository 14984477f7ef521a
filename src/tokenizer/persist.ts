/**
 * Saving and loading a tokenizer with its code table, in the safetensors layout (8-byte header length,
 * JSON header, raw little-endian arrays) so other tools can read it, with F32/I32/U8 tensors:
 *
 *   codebooks F32 [L, K, dim]   lambda F32 [L, K]   dead U8 [L, K]   iterations I32 [L]
 *   codes I32 [items, L+1]      item_ids U8 [bytes] + item_id_offsets I32 [items+1]  (optional)
 *
 * `__metadata__` carries format, version, config, report and a CRC-32 of every tensor. Loading checks all
 * of it — format and version, shapes against the config, checksums, finite centroids, codes in range and
 * unique — and fails with GENREC_E_TOKENIZER_FILE rather than handing back a tokenizer that codes wrongly.
 */
import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { writeFileAtomic } from '../engine/atomic-write.js';
import { GenrecError } from '../engine/errors.js';
import { SemanticIds } from './codes.js';
import { ItemEmbedder, type EmbedderConfig } from './item-embeddings.js';
import { DEFAULT_TOKENIZER_CONFIG, ResidualTokenizer, TOKENIZER_VERSION, type TokenizeReport, type TokenizerConfig } from './tokenizer.js';
import type { RuntimeOptions } from '../engine/runtime.js';

export const TOKENIZER_FORMAT = 'genrec-tokenizer';

type Dtype = 'F32' | 'I32' | 'U8';
interface Section { dtype: Dtype; shape: number[]; data: Float32Array | Int32Array | Uint8Array }

export interface SavedTokenizer {
  tokenizer: ResidualTokenizer;
  ids: SemanticIds;
  /** External item ids, row-aligned with the codes (when saved). */
  itemIds: string[] | null;
  report: TokenizeReport | null;
  /** Caller metadata saved with it (e.g. data snapshot, fusion weights). */
  meta: Record<string, unknown>;
  /** How item vectors were made, to embed new items the same way (when saved). */
  embedder: ItemEmbedder | null;
}

function bytesOf(a: Float32Array | Int32Array | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export function saveTokenizer(path: string, tokenizer: ResidualTokenizer, ids: SemanticIds, o: { itemIds?: readonly string[]; report?: TokenizeReport; meta?: Record<string, unknown>; embedder?: ItemEmbedder } = {}): void {
  const { levels: L, k: K, dim } = tokenizer;
  if (ids.levels !== L || ids.k !== K) throw new GenrecError('GENREC_E_TOKENIZER_MISMATCH', 'the code table was not made by this tokenizer', 'save the tokenizer with its own code table');
  const sections = new Map<string, Section>([
    ['codebooks', { dtype: 'F32', shape: [L, K, dim], data: tokenizer.codebooks }],
    ['lambda', { dtype: 'F32', shape: [L, K], data: tokenizer.lambda }],
    ['dead', { dtype: 'U8', shape: [L, K], data: tokenizer.dead }],
    ['iterations', { dtype: 'I32', shape: [L], data: tokenizer.iterations }],
    ['codes', { dtype: 'I32', shape: [ids.count, ids.depth], data: ids.codes }],
  ]);
  if (o.itemIds) {
    if (o.itemIds.length !== ids.count) throw new GenrecError('GENREC_E_TOKENIZER_INPUT', `${o.itemIds.length} item ids for ${ids.count} codes`, 'pass one id per coded item');
    const enc = new TextEncoder();
    const parts = o.itemIds.map((s) => enc.encode(s));
    const offsets = new Int32Array(parts.length + 1);
    parts.forEach((p, i) => { offsets[i + 1] = offsets[i]! + p.length; });
    const blob = new Uint8Array(offsets[parts.length]!);
    parts.forEach((p, i) => blob.set(p, offsets[i]!));
    sections.set('item_ids', { dtype: 'U8', shape: [blob.length], data: blob });
    sections.set('item_id_offsets', { dtype: 'I32', shape: [offsets.length], data: offsets });
  }
  if (o.embedder) {
    for (const [k, v] of o.embedder.tensors()) sections.set(`embedder.${k}`, { dtype: v instanceof Float32Array ? 'F32' : 'I32', shape: [v.length], data: v });
  }
  const names = [...sections.keys()].sort();
  const crcs: Record<string, number> = {};
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const name of names) {
    const s = sections.get(name)!;
    crcs[name] = crc32(bytesOf(s.data));
    header[name] = { dtype: s.dtype, shape: s.shape, data_offsets: [offset, offset + s.data.byteLength] };
    offset += s.data.byteLength;
  }
  header.__metadata__ = {
    format: TOKENIZER_FORMAT,
    version: String(TOKENIZER_VERSION),
    config: JSON.stringify({ ...tokenizer.config, dedupCapacity: ids.dedupCapacity }),
    dim: String(dim),
    items: String(ids.count),
    crc32: JSON.stringify(crcs),
    report: JSON.stringify(o.report ?? null),
    meta: JSON.stringify(o.meta ?? {}),
    embedder: JSON.stringify(o.embedder?.config ?? null),
  };
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const hb = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hb.length));
  writeFileAtomic(path, [len, hb, ...names.map((n) => bytesOf(sections.get(n)!.data))]);
}

const ELEM: Record<Dtype, number> = { F32: 4, I32: 4, U8: 1 };

export function loadTokenizer(path: string, runtime: RuntimeOptions = {}): SavedTokenizer {
  const bad = (why: string, hint = 'the file is damaged or not a genrec tokenizer: re-run `genrec tokenize`') =>
    new GenrecError('GENREC_E_TOKENIZER_FILE', `${path}: ${why}`, hint, { path });
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new GenrecError('GENREC_E_TOKENIZER_FILE', `cannot read tokenizer ${path}: ${(e as Error).message}`, 'check the path (genrec tokenize writes tokenizer.safetensors)', { path });
  }
  if (buf.length < 8) throw bad('too short');
  const hlen = Number(buf.readBigUInt64LE(0));
  if (hlen > buf.length - 8) throw bad('header length past the end of the file');
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + hlen).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw bad('header is not JSON');
  }
  const md = (header.__metadata__ ?? {}) as Record<string, string>;
  if (md.format !== TOKENIZER_FORMAT) throw bad(`not a tokenizer file (format ${JSON.stringify(md.format)})`);
  const version = Number(md.version);
  if (version !== TOKENIZER_VERSION) {
    throw bad(`tokenizer format version ${md.version}; this genrec reads version ${TOKENIZER_VERSION}`, version > TOKENIZER_VERSION ? 'upgrade genrec' : 're-run `genrec tokenize` to rewrite it');
  }
  let config: TokenizerConfig, crcs: Record<string, number>, report: TokenizeReport | null, meta: Record<string, unknown>;
  let embedderConfig: EmbedderConfig | null;
  try {
    embedderConfig = JSON.parse(md.embedder ?? 'null') as EmbedderConfig | null;
    config = { ...DEFAULT_TOKENIZER_CONFIG, ...JSON.parse(md.config!) } as TokenizerConfig;
    crcs = JSON.parse(md.crc32!) as Record<string, number>;
    report = JSON.parse(md.report ?? 'null') as TokenizeReport | null;
    meta = JSON.parse(md.meta ?? '{}') as Record<string, unknown>;
  } catch {
    throw bad('metadata is not valid JSON');
  }
  const dim = Number(md.dim), items = Number(md.items);
  const { levels: L, codebookSize: K, dedupCapacity } = config;
  if (!(Number.isInteger(dim) && dim > 0 && Number.isInteger(items) && items >= 0 && Number.isInteger(L) && L > 0 && Number.isInteger(K) && K > 1 && dedupCapacity > 0)) throw bad('inconsistent sizes in the metadata');
  const base = 8 + hlen;
  const read = (name: string, dtype: Dtype, shape: number[], optional = false) => {
    const h = header[name] as { dtype: string; shape: number[]; data_offsets: [number, number] } | undefined;
    if (!h) {
      if (optional) return null;
      throw bad(`missing tensor '${name}'`);
    }
    if (h.dtype !== dtype) throw bad(`tensor '${name}' has dtype ${h.dtype}, expected ${dtype}`);
    if (shape.length && (h.shape.length !== shape.length || h.shape.some((d, i) => d !== shape[i]))) throw bad(`tensor '${name}' has shape [${h.shape}], expected [${shape}]`);
    const [s, e] = h.data_offsets;
    const count = h.shape.reduce((a, b) => a * b, 1);
    if (!(s >= 0 && e >= s && base + e <= buf.length && e - s === count * ELEM[dtype])) throw bad(`tensor '${name}' has inconsistent offsets`);
    const bytes = new Uint8Array(buf.buffer, buf.byteOffset + base + s, e - s).slice();
    if (crc32(bytes) !== crcs[name]) throw bad(`tensor '${name}' fails its checksum`);
    return dtype === 'F32' ? new Float32Array(bytes.buffer) : dtype === 'I32' ? new Int32Array(bytes.buffer) : bytes;
  };
  const codebooks = read('codebooks', 'F32', [L, K, dim]) as Float32Array;
  const lambda = read('lambda', 'F32', [L, K]) as Float32Array;
  const dead = read('dead', 'U8', [L, K]) as Uint8Array;
  const iterations = read('iterations', 'I32', [L]) as Int32Array;
  const codes = read('codes', 'I32', [items, L + 1]) as Int32Array;
  for (let i = 0; i < codebooks.length; i++) if (!Number.isFinite(codebooks[i]!)) throw bad('codebooks contain NaN or Infinity');
  for (let i = 0; i < lambda.length; i++) if (!Number.isFinite(lambda[i]!)) throw bad('balancing offsets contain NaN or Infinity');
  let ids: SemanticIds;
  try {
    ids = SemanticIds.fromCodes(codes, items, L, K, dedupCapacity);
  } catch (e) {
    throw bad(`invalid codes: ${(e as Error).message}`);
  }
  let itemIds: string[] | null = null;
  const blob = read('item_ids', 'U8', [], true) as Uint8Array | null;
  if (blob) {
    const offs = read('item_id_offsets', 'I32', [items + 1]) as Int32Array;
    const dec = new TextDecoder();
    itemIds = new Array<string>(items);
    for (let i = 0; i < items; i++) {
      const a = offs[i]!, b = offs[i + 1]!;
      if (!(a >= 0 && b >= a && b <= blob.length)) throw bad('item id offsets are inconsistent');
      itemIds[i] = dec.decode(blob.subarray(a, b));
    }
  }
  let embedder: ItemEmbedder | null = null;
  if (embedderConfig) {
    const tensors = new Map<string, Float32Array | Int32Array>();
    for (const [name, h] of Object.entries(header)) {
      if (!name.startsWith('embedder.')) continue;
      const dtype = (h as { dtype: string }).dtype;
      if (dtype !== 'F32' && dtype !== 'I32') throw bad(`tensor '${name}' has dtype ${dtype}`);
      tensors.set(name.slice('embedder.'.length), read(name, dtype, []) as Float32Array | Int32Array);
    }
    embedder = ItemEmbedder.restore(embedderConfig, tensors, runtime);
    if (embedder.dim !== dim) throw bad(`item embedder makes ${embedder.dim}-d vectors, the tokenizer takes ${dim}-d`);
  }
  const tokenizer = new ResidualTokenizer(dim, config, codebooks, lambda, dead, iterations, runtime);
  return { tokenizer, ids, itemIds, report, meta, embedder };
}

/**
 * The saved codes re-ordered to another item list (e.g. a dataset's `items.ids`): row i is the code of
 * itemIds[i], or −1s when the tokenizer file has no such item (code it with `tokenizer.extend`).
 */
export function codesForItems(saved: SavedTokenizer, itemIds: readonly string[]): { codes: Int32Array; missing: Int32Array } {
  if (!saved.itemIds) throw new GenrecError('GENREC_E_TOKENIZER_FILE', 'the tokenizer file has no item ids', 're-run `genrec tokenize` (it saves them), or use the codes in row order');
  const D = saved.ids.depth;
  const row = new Map<string, number>();
  saved.itemIds.forEach((id, i) => row.set(id, i));
  const codes = new Int32Array(itemIds.length * D).fill(-1);
  const missing: number[] = [];
  itemIds.forEach((id, i) => {
    const r = row.get(id);
    if (r === undefined) missing.push(i);
    else codes.set(saved.ids.code(r), i * D);
  });
  return { codes, missing: Int32Array.from(missing) };
}
