/**
 * Checkpoints in the safetensors format (8-byte little-endian header length, a JSON header, then the
 * raw little-endian data), so other tools can read them. Writes are atomic (`writeFileAtomic`).
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomic-write.js';
import { GenrecError } from './errors.js';
import type { Module, Parameter } from './module.js';

/** A tensor: float32 (parameters, vectors) or int32 (ids and offsets, which float32 holds exactly only below 2^24). */
export interface NamedArray { data: Float32Array | Int32Array; shape: readonly number[] }
export type Metadata = Record<string, string>;

export function saveSafetensors(path: string, tensors: Map<string, NamedArray>, metadata: Metadata = {}): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const names = [...tensors.keys()].sort();
  for (const name of names) {
    const t = tensors.get(name)!;
    const expected = t.shape.reduce((a, b) => a * b, 1);
    if (expected !== t.data.length) throw new GenrecError('GENREC_E_CHECKPOINT', `tensor '${name}' has ${t.data.length} values but shape [${t.shape}]`, 'this is a bug; report it');
    header[name] = { dtype: t.data instanceof Int32Array ? 'I32' : 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // keep the data 8-byte aligned
  const headerBytes = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBytes.length));

  const chunks = [len, headerBytes, ...names.map((n) => {
    const d = tensors.get(n)!.data;
    return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  })];
  writeFileAtomic(path, chunks);
}

export function loadSafetensors(path: string): { tensors: Map<string, NamedArray>; metadata: Metadata } {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new GenrecError('GENREC_E_CHECKPOINT', `cannot read checkpoint ${path}: ${(e as Error).message}`, 'check the path');
  }
  const bad = (why: string) => new GenrecError('GENREC_E_CHECKPOINT', `${path} is not a valid safetensors file: ${why}`, 'the file is damaged or not a checkpoint; use another one');
  if (buf.length < 8) throw bad('too short');
  const n = Number(buf.readBigUInt64LE(0));
  if (8 + n > buf.length) throw bad('header length past the end');
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Metadata>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  } catch {
    throw bad('header is not JSON');
  }
  const base = 8 + n;
  const tensors = new Map<string, NamedArray>();
  let metadata: Metadata = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') { metadata = v as Metadata; continue; }
    const t = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (t.dtype !== 'F32' && t.dtype !== 'I32') throw bad(`tensor '${name}' has dtype ${t.dtype}; genrec reads F32 and I32`);
    const [s, e] = t.data_offsets;
    if (base + e > buf.length || e - s !== 4 * t.shape.reduce((a, b) => a * b, 1)) throw bad(`tensor '${name}' has inconsistent offsets`);
    // Copy into an aligned array (the file's data start need not be 4-byte aligned in memory).
    const bytes = new Uint8Array(buf.buffer, buf.byteOffset + base + s, e - s).slice().buffer;
    const data = t.dtype === 'I32' ? new Int32Array(bytes) : new Float32Array(bytes);
    tensors.set(name, { data, shape: t.shape });
  }
  return { tensors, metadata };
}

/** Copy loaded tensors into the module's parameters, checking every name and shape. */
export function loadParameters(module: Module, tensors: Map<string, NamedArray>, path = 'checkpoint'): void {
  const params = module.parameters();
  for (const p of params) {
    const t = tensors.get(p.name);
    if (!t) throw new GenrecError('GENREC_E_CHECKPOINT', `${path} has no parameter '${p.name}'`, 'load a checkpoint written by the same model configuration', { parameter: p.name });
    if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
      throw new GenrecError('GENREC_E_CHECKPOINT', `parameter '${p.name}' has shape [${t.shape}] in ${path}, the model expects [${p.shape}]`, 'load a checkpoint written by the same model configuration', { parameter: p.name });
    }
  }
  for (const p of params) p.data.set(tensors.get(p.name)!.data);
}

export function parameterTensors(params: Parameter[]): Map<string, NamedArray> {
  return new Map(params.map((p) => [p.name, { data: p.data, shape: p.shape }]));
}

/** Save a module's parameters, and optionally optimizer state (keys as given) and metadata. */
export function saveCheckpoint(path: string, module: Module, opts: { optimizer?: Map<string, Float32Array>; metadata?: Metadata } = {}): void {
  const params = module.parameters();
  const tensors = parameterTensors(params);
  const shapes = new Map(params.map((p) => [p.name, p.shape]));
  for (const [k, v] of opts.optimizer ?? []) {
    const pname = k.slice(k.indexOf('.') + 1);
    tensors.set(`optim.${k}`, { data: v, shape: shapes.get(pname) ?? [v.length] });
  }
  saveSafetensors(path, tensors, opts.metadata ?? {});
}

/** Load parameters into `module`; returns optimizer state (without the `optim.` prefix) and metadata. */
export function loadCheckpoint(path: string, module: Module): { optimizer: Map<string, Float32Array>; metadata: Metadata } {
  const { tensors, metadata } = loadSafetensors(path);
  loadParameters(module, tensors, path);
  const optimizer = new Map<string, Float32Array>();
  for (const [k, v] of tensors) if (k.startsWith('optim.')) optimizer.set(k.slice(6), v.data instanceof Float32Array ? v.data : Float32Array.from(v.data));
  return { optimizer, metadata };
}
