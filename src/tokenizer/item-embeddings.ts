/**
 * Every available item source embedded and fused in one call, remembering what it did (`ItemEmbedder`)
 * so that items arriving later are embedded into the same space and can be coded incrementally.
 *
 * Per source: centre (mean of the items that have it), L2-normalise, scale by √(w/Σw); concatenate; row-
 * normalise; optionally random-project. Alignment (a simple, linear take on QARM's idea): a ridge map
 * from the content + attribute blocks to the collaborative block, fitted on items that have both, fills
 * the collaborative block of items without co-engagement — items never seen in training now, new items
 * later — so a cold item lands where warm items with similar content sit, not in a space of its own.
 */
import { emit } from '../engine/emit.js';
import { GenrecError } from '../engine/errors.js';
import { Graph } from '../engine/graph.js';
import { log } from '../engine/log.js';
import * as op from '../engine/ops.js';
import { createSession, toOrt, type RuntimeOptions } from '../engine/runtime.js';
import { item2vec, type Item2VecOptions, type ItemSequences } from './collaborative.js';
import {
  centerRows, embedTexts, embedTokenRows, normalizeRows, projectRows, randomProjection,
  type DocFrequency, type FusedEmbeddings, type TextModel, type TokenRows,
} from './embeddings.js';

/** What is known about the items; every part is optional. Row i = item i everywhere. */
export interface ItemEmbeddingInput {
  numItems: number;
  /** Content text per item ('' = none), e.g. title + description. */
  texts?: readonly string[];
  /** Attribute and category token ids per item (CSR). */
  tokens?: TokenRows;
  /** User sequences of the TRAINING split only (CSR), for collaborative vectors. */
  sequences?: ItemSequences;
  /** User-supplied vectors (numItems × userDim; zero rows = missing), e.g. from `alignVectors`. */
  userVectors?: Float32Array;
  userDim?: number;
}

/** New items: everything but co-engagement, which they do not have yet. */
export type NewItemInput = Omit<ItemEmbeddingInput, 'sequences'>;

export interface FusionWeights { content: number; attributes: number; collaborative: number; user: number }
type SourceName = keyof FusionWeights;
const SOURCES: readonly SourceName[] = ['content', 'attributes', 'collaborative', 'user'];

/** Default weights: behaviour and content lead, attributes refine; user vectors count as much as content. */
export const DEFAULT_FUSION_WEIGHTS: Readonly<FusionWeights> = Object.freeze({ content: 1, attributes: 0.5, collaborative: 1, user: 1 });

export interface ItemEmbeddingOptions {
  weights?: Partial<FusionWeights>;
  textModel?: TextModel;
  /** Dimension of attribute vectors (and of hashed text vectors). */
  attributeDim?: number;
  item2vec?: Item2VecOptions;
  /** Fill missing collaborative vectors from content + attributes (default true). */
  align?: boolean;
  /** Project the fused vector to this many dimensions (seeded random projection); 0 = keep. */
  outputDim?: number;
  seed?: number;
  runtime?: RuntimeOptions;
  onProgress?: (stage: string, done: number, total: number) => void;
}

interface Block { name: SourceName; dim: number; start: number; share: number }

/** Everything needed to embed a new item like the fitted ones (JSON part; arrays travel separately). */
export interface EmbedderConfig {
  version: 1;
  seed: number;
  blocks: Block[];
  dim: number;
  outputDim: number;
  textModel: 'use' | 'hash' | null;
  textDim: number;
  attributeDim: number;
  /** Blocks feeding the alignment map (in order), or null without one. */
  alignFrom: SourceName[] | null;
  textDocs: number;
  tokenDocs: number;
}

export interface EmbedderArrays {
  means: Partial<Record<SourceName, Float32Array>>;
  textDf?: Int32Array;
  tokenDf?: Int32Array;
  /** (Σ alignFrom dims) × collaborative dim. */
  align?: Float32Array;
}

const isZeroRow = (x: Float32Array, o: number, d: number) => { for (let j = 0; j < d; j++) if (x[o + j] !== 0) return false; return true; };

/** Ridge regression Y ≈ X·W on rows where both are non-zero: XᵀX and XᵀY on ORT, the solve in JS (Cholesky). */
async function fitRidge(x: Float32Array, y: Float32Array, n: number, dx: number, dy: number, runtime: RuntimeOptions): Promise<{ w: Float32Array; rows: number }> {
  const rows = 4096;
  const g = new Graph('ridge_normal_equations');
  const xi = g.input('x', 'float32', [rows, dx]);
  const yi = g.input('y', 'float32', [rows, dy]);
  const session = await createSession(emit(g, { xtx: op.gemm(xi, xi, true, false), xty: op.gemm(xi, yi, true, false) }).bytes, runtime);
  const xtx = new Float64Array(dx * dx), xty = new Float64Array(dx * dy);
  const bx = new Float32Array(rows * dx), by = new Float32Array(rows * dy);
  const oxx = new Float32Array(dx * dx), oxy = new Float32Array(dx * dy);
  let used = 0, m = 0;
  const flush = async () => {
    bx.fill(0, m * dx); by.fill(0, m * dy);
    await session.run({ x: toOrt(bx, [rows, dx]), y: toOrt(by, [rows, dy]) }, { xtx: toOrt(oxx, [dx, dx]), xty: toOrt(oxy, [dx, dy]) });
    for (let i = 0; i < oxx.length; i++) xtx[i] += oxx[i]!;
    for (let i = 0; i < oxy.length; i++) xty[i] += oxy[i]!;
    m = 0;
  };
  try {
    for (let i = 0; i < n; i++) {
      if (isZeroRow(x, i * dx, dx) || isZeroRow(y, i * dy, dy)) continue;
      bx.set(x.subarray(i * dx, (i + 1) * dx), m * dx);
      by.set(y.subarray(i * dy, (i + 1) * dy), m * dy);
      m++; used++;
      if (m === rows) await flush();
    }
    if (m > 0) await flush();
  } finally {
    await session.release();
  }
  // λ = 10 % of the mean diagonal: enough to keep rare directions from blowing up.
  let tr = 0;
  for (let i = 0; i < dx; i++) tr += xtx[i * dx + i]!;
  const lambda = Math.max(1e-6, 0.1 * (tr / dx));
  for (let i = 0; i < dx; i++) xtx[i * dx + i] += lambda;
  // Cholesky A = LLᵀ (in place, lower triangle), then two triangular solves per output column.
  const a = xtx;
  for (let j = 0; j < dx; j++) {
    let s = a[j * dx + j]!;
    for (let k = 0; k < j; k++) s -= a[j * dx + k]! * a[j * dx + k]!;
    const l = Math.sqrt(Math.max(s, 1e-12));
    a[j * dx + j] = l;
    for (let i = j + 1; i < dx; i++) {
      let t = a[i * dx + j]!;
      for (let k = 0; k < j; k++) t -= a[i * dx + k]! * a[j * dx + k]!;
      a[i * dx + j] = t / l;
    }
  }
  const w = new Float32Array(dx * dy);
  const z = new Float64Array(dx);
  for (let c = 0; c < dy; c++) {
    for (let i = 0; i < dx; i++) {
      let t = xty[i * dy + c]!;
      for (let k = 0; k < i; k++) t -= a[i * dx + k]! * z[k]!;
      z[i] = t / a[i * dx + i]!;
    }
    for (let i = dx - 1; i >= 0; i--) {
      let t = z[i]!;
      for (let k = i + 1; k < dx; k++) t -= a[k * dx + i]! * z[k]!;
      z[i] = t / a[i * dx + i]!;
    }
    for (let i = 0; i < dx; i++) w[i * dy + c] = z[i]!;
  }
  return { w, rows: used };
}

export class ItemEmbedder {
  constructor(readonly config: EmbedderConfig, readonly arrays: EmbedderArrays, private readonly runtime: RuntimeOptions = {}) {}

  get dim(): number { return this.config.outputDim || this.config.dim; }

  /** Embed and fuse every available source of the catalogue; returns the embedder for later items too. */
  static async fit(input: ItemEmbeddingInput, o: ItemEmbeddingOptions = {}): Promise<{ embedder: ItemEmbedder; fused: FusedEmbeddings; aligned: number }> {
    const n = input.numItems;
    const w = { ...DEFAULT_FUSION_WEIGHTS, ...o.weights };
    for (const k of SOURCES) {
      if (!(w[k] >= 0) || !Number.isFinite(w[k])) throw new GenrecError('GENREC_E_TOKENIZER_CONFIG', `fusion weight ${k} must be a finite number ≥ 0, got ${w[k]}`, 'fix the fusion weights');
    }
    const seed = o.seed ?? 1, runtime = o.runtime ?? {};
    const raw: Partial<Record<SourceName, { vectors: Float32Array; dim: number }>> = {};
    const arrays: EmbedderArrays = { means: {} };
    let textModel: 'use' | 'hash' | null = null, textDocs = 0, tokenDocs = 0, textDim = 0;
    if (input.texts && w.content > 0 && input.texts.some((t) => t.trim().length > 0)) {
      const t = await embedTexts(input.texts, { model: o.textModel ?? 'auto', seed, ...(runtime.threads ? { threads: runtime.threads } : {}), ...(o.onProgress ? { onProgress: (d, tot) => o.onProgress!('content', d, tot) } : {}) });
      log.info({ model: t.model, dim: t.dim }, 'content vectors');
      raw.content = t;
      textModel = t.model; textDim = t.dim;
      if (t.df) { arrays.textDf = t.df.counts; textDocs = t.df.docs; }
    }
    const attributeDim = o.attributeDim ?? 64;
    if (input.tokens && w.attributes > 0 && input.tokens.values.length > 0) {
      const a = embedTokenRows(input.tokens, n, { dim: attributeDim, seed });
      raw.attributes = a;
      arrays.tokenDf = a.df.counts; tokenDocs = a.df.docs;
    }
    if (input.sequences && w.collaborative > 0 && input.sequences.items.length > 0) {
      raw.collaborative = await item2vec(input.sequences, { seed, runtime, ...o.item2vec });
    }
    if (input.userVectors && w.user > 0) {
      raw.user = { vectors: input.userVectors, dim: input.userDim ?? input.userVectors.length / Math.max(1, n) };
    }
    const blocks: Block[] = [];
    let dim = 0;
    const present = SOURCES.filter((k) => raw[k]);
    if (present.length === 0) throw new GenrecError('GENREC_E_TOKENIZER_CONFIG', 'no embedding source with data and a positive weight', 'give at least one source (content, attributes, collaborative, user vectors) data and a weight > 0');
    const wsum = present.reduce((s, k) => s + w[k], 0);
    for (const k of present) {
      blocks.push({ name: k, dim: raw[k]!.dim, start: dim, share: w[k] / wsum });
      dim += raw[k]!.dim;
    }
    const alignFrom = (o.align ?? true) && raw.collaborative ? present.filter((k) => k === 'content' || k === 'attributes') : [];
    const config: EmbedderConfig = {
      version: 1, seed, blocks, dim, outputDim: o.outputDim && o.outputDim < dim ? o.outputDim : 0, textModel, textDim, attributeDim,
      alignFrom: alignFrom.length ? alignFrom : null, textDocs, tokenDocs,
    };
    const embedder = new ItemEmbedder(config, arrays, runtime);
    const units = embedder.unitBlocks(raw, n, true);
    let aligned = 0;
    if (config.alignFrom) {
      const { x, dx } = embedder.alignInput(units, n);
      const cdim = raw.collaborative!.dim;
      const { w: map, rows } = await fitRidge(x, units.collaborative!, n, dx, cdim, runtime);
      arrays.align = map;
      aligned = await embedder.fillCollaborative(units, n, x, dx);
      log.info({ fittedOn: rows, filled: aligned }, 'collaborative vectors of cold items predicted from content');
    }
    const fused = await embedder.assemble(units, n);
    return { embedder, fused: { vectors: fused, dim: embedder.dim, blocks: blocks.map((b) => ({ name: b.name, start: b.start, end: b.start + b.dim, weight: b.share })) }, aligned };
  }

  /** Fused vectors of new items (numItems × dim), in the space of the fitted ones. */
  async embed(input: NewItemInput): Promise<Float32Array> {
    const n = input.numItems, c = this.config;
    const raw: Partial<Record<SourceName, { vectors: Float32Array; dim: number }>> = {};
    for (const b of c.blocks) {
      if (b.name === 'content') {
        const texts = input.texts ?? new Array<string>(n).fill('');
        const t = await embedTexts(texts, { model: c.textModel ?? 'hash', seed: c.seed, dim: c.textDim, ...(this.arrays.textDf ? { df: { counts: this.arrays.textDf, docs: c.textDocs } } : {}) });
        if (t.model !== c.textModel) throw new GenrecError('GENREC_E_TOKENIZER_TEXT_MODEL', `items were embedded with the ${c.textModel} text model, which is not available now`, 'reinstall genrec\'s dependencies (npm ci)');
        raw.content = t;
      } else if (b.name === 'attributes') {
        const rows = input.tokens ?? { offsets: new Int32Array(n + 1), values: new Int32Array(0) };
        raw.attributes = embedTokenRows(rows, n, { dim: c.attributeDim, seed: c.seed, df: { counts: this.arrays.tokenDf ?? new Int32Array(0), docs: c.tokenDocs } });
      } else if (b.name === 'collaborative') {
        raw.collaborative = { vectors: new Float32Array(n * b.dim), dim: b.dim }; // filled by the alignment map
      } else {
        const d = input.userDim ?? b.dim;
        if (input.userVectors && d !== b.dim) throw new GenrecError('GENREC_E_TOKENIZER_INPUT', `user vectors are ${d}-d, the tokenizer was fitted on ${b.dim}-d ones`, 'pass vectors of the same dimension');
        raw.user = { vectors: input.userVectors ?? new Float32Array(n * b.dim), dim: b.dim };
      }
    }
    const units = this.unitBlocks(raw, n, false);
    if (c.alignFrom && this.arrays.align) {
      const { x, dx } = this.alignInput(units, n);
      await this.fillCollaborative(units, n, x, dx);
    }
    return this.assemble(units, n);
  }

  /** Centre (fit: learn the mean) and unit-normalise each block; zero rows stay zero (= missing). */
  private unitBlocks(raw: Partial<Record<SourceName, { vectors: Float32Array; dim: number }>>, n: number, fit: boolean): Partial<Record<SourceName, Float32Array>> {
    const out: Partial<Record<SourceName, Float32Array>> = {};
    for (const b of this.config.blocks) {
      const r = raw[b.name]!;
      if (r.vectors.length !== n * b.dim) throw new GenrecError('GENREC_E_TOKENIZER_INPUT', `source ${b.name}: expected ${n} × ${b.dim} values, got ${r.vectors.length}`, 'every source needs one row per item', { source: b.name });
      for (let i = 0; i < r.vectors.length; i++) {
        if (!Number.isFinite(r.vectors[i]!)) throw new GenrecError('GENREC_E_TOKENIZER_INPUT', `source ${b.name}: row ${Math.floor(i / b.dim)} contains NaN or Infinity`, 'fix or drop that item\'s vector and retry', { source: b.name, row: Math.floor(i / b.dim) });
      }
      const v = Float32Array.from(r.vectors);
      const mean = centerRows(v, n, b.dim, fit ? undefined : this.arrays.means[b.name]);
      if (fit) this.arrays.means[b.name] = mean;
      out[b.name] = normalizeRows(v, n, b.dim);
    }
    return out;
  }

  private alignInput(units: Partial<Record<SourceName, Float32Array>>, n: number): { x: Float32Array; dx: number } {
    const from = this.config.alignFrom!;
    const dims = from.map((k) => this.config.blocks.find((b) => b.name === k)!.dim);
    const dx = dims.reduce((a, b) => a + b, 0);
    const x = new Float32Array(n * dx);
    for (let i = 0; i < n; i++) {
      let off = 0;
      from.forEach((k, f) => {
        x.set(units[k]!.subarray(i * dims[f]!, (i + 1) * dims[f]!), i * dx + off);
        off += dims[f]!;
      });
    }
    return { x, dx };
  }

  /** Rows with no collaborative vector but some content get the mapped (unit-normalised) prediction. */
  private async fillCollaborative(units: Partial<Record<SourceName, Float32Array>>, n: number, x: Float32Array, dx: number): Promise<number> {
    const col = units.collaborative!, cd = this.config.blocks.find((b) => b.name === 'collaborative')!.dim;
    const cold: number[] = [];
    for (let i = 0; i < n; i++) if (isZeroRow(col, i * cd, cd) && !isZeroRow(x, i * dx, dx)) cold.push(i);
    if (cold.length === 0) return 0;
    const xc = new Float32Array(cold.length * dx);
    cold.forEach((i, r) => xc.set(x.subarray(i * dx, (i + 1) * dx), r * dx));
    const pred = normalizeRows(await projectRows(xc, cold.length, dx, this.arrays.align!, cd, this.runtime), cold.length, cd);
    cold.forEach((i, r) => col.set(pred.subarray(r * cd, (r + 1) * cd), i * cd));
    return cold.length;
  }

  /** Scale blocks by √share, concatenate, unit-normalise rows, project if configured. */
  private async assemble(units: Partial<Record<SourceName, Float32Array>>, n: number): Promise<Float32Array> {
    const { dim, blocks, outputDim, seed } = this.config;
    const out = new Float32Array(n * dim);
    for (const b of blocks) {
      const u = units[b.name]!, f = Math.sqrt(b.share);
      for (let i = 0; i < n; i++) {
        const uo = i * b.dim, oo = i * dim + b.start;
        for (let j = 0; j < b.dim; j++) out[oo + j] = u[uo + j]! * f;
      }
    }
    normalizeRows(out, n, dim);
    return outputDim ? randomProjection(out, n, dim, outputDim, seed, this.runtime) : out;
  }

  /** Arrays to persist beside the tokenizer (names → data), with `config` as JSON. */
  tensors(): Map<string, Float32Array | Int32Array> {
    const t = new Map<string, Float32Array | Int32Array>();
    for (const [k, v] of Object.entries(this.arrays.means)) if (v) t.set(`mean.${k}`, v);
    if (this.arrays.textDf) t.set('text_df', this.arrays.textDf);
    if (this.arrays.tokenDf) t.set('token_df', this.arrays.tokenDf);
    if (this.arrays.align) t.set('align', this.arrays.align);
    return t;
  }

  static restore(config: EmbedderConfig, tensors: Map<string, Float32Array | Int32Array>, runtime: RuntimeOptions = {}): ItemEmbedder {
    const bad = (why: string) => new GenrecError('GENREC_E_TOKENIZER_FILE', `item embedder: ${why}`, 'the tokenizer file is damaged; re-run `genrec tokenize`');
    if (config.version !== 1) throw bad(`version ${config.version} is not supported`);
    const means: EmbedderArrays['means'] = {};
    for (const b of config.blocks) {
      const m = tensors.get(`mean.${b.name}`);
      if (!(m instanceof Float32Array) || m.length !== b.dim) throw bad(`mean of ${b.name} is missing or has the wrong size`);
      means[b.name] = m;
    }
    const arrays: EmbedderArrays = { means };
    const f32 = (k: string) => { const v = tensors.get(k); return v instanceof Float32Array ? v : undefined; };
    const i32 = (k: string) => { const v = tensors.get(k); return v instanceof Int32Array ? v : undefined; };
    const textDf = i32('text_df'), tokenDf = i32('token_df'), align = f32('align');
    if (textDf) arrays.textDf = textDf;
    if (tokenDf) arrays.tokenDf = tokenDf;
    if (align) arrays.align = align;
    if (config.alignFrom) {
      const dx = config.alignFrom.reduce((s, k) => s + (config.blocks.find((b) => b.name === k)?.dim ?? NaN), 0);
      const cd = config.blocks.find((b) => b.name === 'collaborative')?.dim ?? NaN;
      if (!align || align.length !== dx * cd) throw bad('alignment map is missing or has the wrong size');
    }
    return new ItemEmbedder(config, arrays, runtime);
  }
}

/** Embed every available source and fuse them (see `ItemEmbedder`). */
export async function buildItemEmbeddings(input: ItemEmbeddingInput, o: ItemEmbeddingOptions = {}): Promise<FusedEmbeddings> {
  return (await ItemEmbedder.fit(input, o)).fused;
}
