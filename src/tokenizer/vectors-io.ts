/**
 * User-supplied item vectors: a file of id → vector. Two formats:
 * - JSONL: one object per line, `{"id": "item-1", "vector": [0.1, ...]}` (`embedding` is accepted too);
 * - .npy: NumPy's format (`np.save`), float32 little-endian, 2-D, C order; row i is item i, or the i-th
 *   line of a companion ids file (one id per line) when given.
 * Every vector must have the same dimension and only finite values; a violation is a coded error that
 * names the line or row.
 */
import { closeSync, createReadStream, openSync, readFileSync, readSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { writeFileAtomic } from '../engine/atomic-write.js';
import { GenrecError } from '../engine/errors.js';

export interface VectorFile {
  ids: string[];
  vectors: Float32Array;
  dim: number;
}

const fileError = (path: string, why: string, hint = 'fix the vectors file (JSONL {"id","vector"} per line, or float32 .npy)') =>
  new GenrecError('GENREC_E_VECTORS_FILE', `${path}: ${why}`, hint, { path });

export async function readVectorsFile(path: string, idsPath?: string): Promise<VectorFile> {
  if (path.endsWith('.npy')) {
    const { vectors, rows, dim } = readNpy(path);
    let ids: string[];
    if (idsPath) {
      ids = readFileSync(idsPath, 'utf8').split('\n').map((s) => s.trim()).filter((s) => s.length > 0);
      if (ids.length !== rows) throw fileError(idsPath, `has ${ids.length} ids for ${rows} vectors`, 'give one id per line, in row order');
    } else {
      ids = Array.from({ length: rows }, (_, i) => String(i));
    }
    return { ids, vectors, dim };
  }
  return readJsonl(path);
}

async function readJsonl(path: string): Promise<VectorFile> {
  const ids: string[] = [];
  let dim = -1;
  let buf = new Float32Array(1024);
  let n = 0;
  const seen = new Set<string>();
  let line = 0;
  let stream;
  try {
    stream = createReadStream(path, { encoding: 'utf8' });
    await new Promise<void>((resolve, reject) => { stream!.once('open', () => resolve()); stream!.once('error', reject); });
  } catch (e) {
    throw fileError(path, `cannot read: ${(e as Error).message}`, 'check the path');
  }
  for await (const text of createInterface({ input: stream, crlfDelay: Infinity })) {
    line++;
    if (!text.trim()) continue;
    let obj: { id?: unknown; vector?: unknown; embedding?: unknown };
    try {
      obj = JSON.parse(text) as typeof obj;
    } catch {
      throw fileError(path, `line ${line} is not JSON`);
    }
    const id = obj.id;
    const vec = obj.vector ?? obj.embedding;
    if ((typeof id !== 'string' && typeof id !== 'number') || !Array.isArray(vec)) throw fileError(path, `line ${line} needs "id" and "vector" (an array of numbers)`);
    const sid = String(id);
    if (seen.has(sid)) throw fileError(path, `line ${line} repeats id ${sid}`, 'give each item one vector');
    seen.add(sid);
    if (dim < 0) {
      dim = vec.length;
      if (dim === 0) throw fileError(path, `line ${line} has an empty vector`);
    }
    if (vec.length !== dim) throw fileError(path, `line ${line} has a ${vec.length}-d vector, earlier lines ${dim}-d`, 'every vector must have the same dimension');
    while ((n + 1) * dim > buf.length) { const b = new Float32Array(buf.length * 2); b.set(buf); buf = b; }
    for (let j = 0; j < dim; j++) {
      const v = vec[j];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw fileError(path, `line ${line}: component ${j} is not a finite number`);
      buf[n * dim + j] = v;
    }
    ids.push(sid);
    n++;
  }
  if (n === 0) throw fileError(path, 'no vectors');
  return { ids, vectors: buf.slice(0, n * dim), dim };
}

/** Read a 2-D float32 little-endian C-order .npy file. */
export function readNpy(path: string): { vectors: Float32Array; rows: number; dim: number } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw fileError(path, `cannot read: ${(e as Error).message}`, 'check the path');
  }
  try {
    const pre = Buffer.alloc(12);
    readSync(fd, pre, 0, 12, 0);
    if (pre.subarray(0, 6).toString('latin1') !== '\x93NUMPY') throw fileError(path, 'not a .npy file (bad magic)');
    const major = pre[6]!;
    const hlen = major === 1 ? pre.readUInt16LE(8) : pre.readUInt32LE(8);
    const hstart = major === 1 ? 10 : 12;
    const hb = Buffer.alloc(hlen);
    readSync(fd, hb, 0, hlen, hstart);
    const h = hb.toString('latin1');
    const descr = /'descr':\s*'([^']+)'/.exec(h)?.[1];
    const fortran = /'fortran_order':\s*(True|False)/.exec(h)?.[1];
    const shape = /'shape':\s*\(([^)]*)\)/.exec(h)?.[1]?.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
    if (descr !== '<f4') throw fileError(path, `dtype ${descr}; genrec reads float32 little-endian ('<f4')`, 'save with arr.astype(np.float32)');
    if (fortran !== 'False') throw fileError(path, 'Fortran order is not supported', 'save np.ascontiguousarray(arr)');
    if (!shape || shape.length !== 2 || shape.some((d) => !Number.isInteger(d) || d < 1)) throw fileError(path, `shape (${shape}) is not 2-D`, 'save an (items, dim) array');
    const [rows, dim] = shape as [number, number];
    const vectors = new Float32Array(rows * dim);
    const got = readSync(fd, new Uint8Array(vectors.buffer), 0, vectors.byteLength, hstart + hlen);
    if (got !== vectors.byteLength) throw fileError(path, `truncated: ${got} of ${vectors.byteLength} data bytes`);
    for (let i = 0; i < vectors.length; i++) if (!Number.isFinite(vectors[i]!)) throw fileError(path, `row ${Math.floor(i / dim)} contains NaN or Infinity`);
    return { vectors, rows, dim };
  } finally {
    closeSync(fd);
  }
}

/** Write a 2-D float32 .npy file (version 1.0). */
export function writeNpy(path: string, vectors: Float32Array, rows: number, dim: number): void {
  let h = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${dim}), }`;
  const total = 10 + h.length + 1;
  h += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(h.length, 8);
  writeFileAtomic(path, [pre, Buffer.from(h, 'latin1'), new Uint8Array(vectors.buffer, vectors.byteOffset, rows * dim * 4)]);
}

/**
 * Rows of `file` re-ordered to `itemIds` (the catalogue's order): items without a vector get a zero row
 * (fusion treats it as missing). Returns how many matched.
 */
export function alignVectors(file: VectorFile, itemIds: readonly string[]): { vectors: Float32Array; matched: number } {
  const index = new Map<string, number>();
  file.ids.forEach((id, i) => index.set(id, i));
  const out = new Float32Array(itemIds.length * file.dim);
  let matched = 0;
  itemIds.forEach((id, i) => {
    const r = index.get(id);
    if (r === undefined) return;
    out.set(file.vectors.subarray(r * file.dim, (r + 1) * file.dim), i * file.dim);
    matched++;
  });
  return { vectors: out, matched };
}
