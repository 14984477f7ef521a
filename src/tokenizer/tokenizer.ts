/**
 * The residual k-means tokenizer (RQ-KMeans, the OneRec line): level 1 clusters the item vectors, level
 * 2 clusters what level 1 left over, and so on; an item's semantic ID is its L codes plus a
 * de-duplication code (see codes.ts). Fitting runs on a seeded sample of the catalogue (FAISS's rule
 * of thumb: 256 points per centroid is plenty), then the whole catalogue is encoded in one ORT pass.
 * New items are encoded against the same centroids (OneLive's dynamic tokenizer); `refit` re-learns
 * the centroids and returns the old → new code mapping.
 */
import { GenrecError } from '../engine/errors.js';
import { log } from '../engine/log.js';
import { Rng, mix32 } from '../engine/random.js';
import type { RuntimeOptions } from '../engine/runtime.js';
import { Assigner } from './assign.js';
import { CodeMapping, SemanticIds } from './codes.js';
import { DEAD_BIAS, fitKMeans, scoreBias } from './kmeans.js';

export const TOKENIZER_VERSION = 1;

export interface TokenizerConfig {
  /** Quantiser levels L (the ID has L + 1 codes with the de-duplication code). */
  levels: number;
  /** Codes per level K; 0 = from the catalogue size (`autoCodebookSize`). */
  codebookSize: number;
  /** Balanced assignment: price crowded codes so codes are used evenly. */
  balanced: boolean;
  maxIters: number;
  /** Relative inertia change that ends a level's Lloyd iterations. */
  tol: number;
  /** Rows to fit the centroids on; 0 = min(items, 256·K). */
  sampleSize: number;
  /** Rows for k-means++ seeding; 0 = min(sample, 16·K, 8192) (its Gram matrix is rows² floats). */
  initSample: number;
  /**
   * Largest share of the fitting sample one code of a level may take; beyond it the crowded code's rows
   * get more codes and the level is refitted (`KMeansOptions.maxShare`). 1 = off.
   */
  maxCodeShare: number;
  /** Vocabulary of the de-duplication level; 0 = K. Widened at fit time if duplicates need more. */
  dedupCapacity: number;
  seed: number;
}

export const DEFAULT_TOKENIZER_CONFIG: Readonly<TokenizerConfig> = Object.freeze({
  levels: 3, codebookSize: 0, balanced: false, maxIters: 20, tol: 1e-4, sampleSize: 0, initSample: 0, maxCodeShare: 0.5, dedupCapacity: 0, seed: 1,
});

/** Below this share of items with a (c₀, c₁) prefix to themselves, an automatic K is doubled (see `fit`). */
export const MIN_SOLO_PAIR_SHARE = 1 / 3;

/**
 * K from the catalogue size: the power of two nearest n/32, between 16 and 1024, so a first-level code
 * holds tens of items and the (c₀, c₁) prefixes — the generator's joint softmax — name most items on
 * their own (on Beauty, 12k items: 79% of items have a prefix to themselves at K 512, 50% at K 256, which
 * cost 1.6% Recall@10 and 3.3% NDCG@10 over 3 seeds, docs/results.md section 10). The cap keeps the
 * first level's softmax small.
 */
export function autoCodebookSize(n: number): number {
  return Math.min(1024, Math.max(16, 2 ** Math.round(Math.log2(Math.max(1, n / 32)))));
}

export interface LevelReport {
  level: number;
  k: number;
  /** Codes used by at least one item. */
  used: number;
  utilisation: number;
  /** Entropy of the code distribution / log K (1 = perfectly even). */
  entropy: number;
  iterations: number;
  /** Σ‖residual‖² / Σ‖x‖² after this level (whole catalogue). */
  reconError: number;
}

export interface TokenizeReport {
  items: number;
  dim: number;
  levels: LevelReport[];
  /** Fraction of items whose L codes repeat an earlier item's (they need a de-duplication code > 0). */
  collisionRate: number;
  /** Largest group of items sharing L codes. */
  maxGroup: number;
  /** Share of items with a (c₀, c₁) prefix to themselves (`SemanticIds.soloPairShare`). */
  soloPairShare: number;
  dedupCapacity: number;
  /** Relative reconstruction error after the last level. */
  reconError: number;
  unique: boolean;
  sampleSize: number;
  seconds: number;
}

export type ProgressFn = (stage: string, done: number, total: number) => void;

export interface FitOptions {
  runtime?: RuntimeOptions;
  onProgress?: ProgressFn;
}

function checkInput(x: Float32Array, n: number, dim: number): void {
  if (!Number.isInteger(n) || n < 1) throw new GenrecError('GENREC_E_TOKENIZER_INPUT', `need at least one item vector, got ${n}`, 'pass a non-empty catalogue');
  if (!Number.isInteger(dim) || dim < 1) throw new GenrecError('GENREC_E_TOKENIZER_INPUT', `vector dimension must be a positive integer, got ${dim}`, 'pass the embedding dimension');
  if (x.length !== n * dim) {
    throw new GenrecError('GENREC_E_TOKENIZER_INPUT', `expected ${n} × ${dim} = ${n * dim} values, got ${x.length}`, 'every vector must have the tokenizer\'s dimension', { items: n, dim, values: x.length });
  }
}

function badRow(row: number): GenrecError {
  return new GenrecError('GENREC_E_TOKENIZER_INPUT', `item vector ${row} contains NaN or Infinity`, 'fix or drop that item\'s embedding (e.g. an empty text or a failed join) and retry', { row });
}

export function resolveConfig(n: number, cfg: Partial<TokenizerConfig>): TokenizerConfig {
  const c: TokenizerConfig = { ...DEFAULT_TOKENIZER_CONFIG, ...cfg };
  if (!c.codebookSize) c.codebookSize = autoCodebookSize(n);
  if (!c.dedupCapacity) c.dedupCapacity = c.codebookSize;
  const bad = (what: string) => new GenrecError('GENREC_E_TOKENIZER_CONFIG', `tokenizer: ${what}`, 'fix the tokenizer configuration', { config: c });
  if (!Number.isInteger(c.levels) || c.levels < 1 || c.levels > 8) throw bad(`levels must be 1..8, got ${c.levels}`);
  if (!Number.isInteger(c.codebookSize) || c.codebookSize < 2 || c.codebookSize > 65536) throw bad(`codebookSize must be 2..65536, got ${c.codebookSize}`);
  if (c.levels * Math.log2(c.codebookSize) > 53) throw bad(`K^L = ${c.codebookSize}^${c.levels} is too large (must be ≤ 2^53)`);
  if (!Number.isInteger(c.maxIters) || c.maxIters < 1) throw bad(`maxIters must be ≥ 1, got ${c.maxIters}`);
  if (!Number.isInteger(c.dedupCapacity) || c.dedupCapacity < 1) throw bad(`dedupCapacity must be ≥ 1, got ${c.dedupCapacity}`);
  if (!(c.maxCodeShare > 0 && c.maxCodeShare <= 1)) throw bad(`maxCodeShare must be in (0, 1], got ${c.maxCodeShare}`);
  if (!c.sampleSize) c.sampleSize = 256 * c.codebookSize;
  if (!c.initSample) c.initSample = Math.max(c.codebookSize, Math.min(16 * c.codebookSize, 8192));
  c.sampleSize = Math.min(n, c.sampleSize);
  c.initSample = Math.min(c.sampleSize, c.initSample);
  return c;
}

/** Distinct seeded sample of `s` rows out of n, in increasing order (for memory locality). */
function sampleRows(n: number, s: number, seed: number): Int32Array {
  if (s >= n) return Int32Array.from({ length: n }, (_, i) => i);
  const rng = new Rng(seed);
  // Floyd's algorithm: s distinct draws without an n-sized permutation.
  const chosen = new Set<number>();
  for (let j = n - s; j < n; j++) {
    const t = rng.int(j + 1);
    chosen.add(chosen.has(t) ? j : t);
  }
  return Int32Array.from(chosen).sort();
}

export interface FitResult {
  tokenizer: ResidualTokenizer;
  ids: SemanticIds;
  report: TokenizeReport;
}

export class ResidualTokenizer {
  private assigner: Assigner | null = null;
  private readonly bias: Float32Array;

  constructor(
    readonly dim: number,
    readonly config: TokenizerConfig,
    /** levels × K × dim centroids. */
    readonly codebooks: Float32Array,
    /** levels × K balancing offsets. */
    readonly lambda: Float32Array,
    /** levels × K, 1 = the code is never assigned. */
    readonly dead: Uint8Array,
    /** Lloyd iterations of each level at fit time (for reports). */
    readonly iterations: Int32Array = new Int32Array(config.levels),
    private readonly runtime: RuntimeOptions = {},
  ) {
    const { levels: L, codebookSize: K } = config;
    if (codebooks.length !== L * K * dim || lambda.length !== L * K || dead.length !== L * K) {
      throw new GenrecError('GENREC_E_TOKENIZER_FILE', 'tokenizer arrays do not match its configuration', 'the tokenizer file is damaged; refit it', { levels: L, k: K, dim });
    }
    this.bias = new Float32Array(L * K);
    for (let l = 0; l < L; l++) {
      scoreBias(codebooks.subarray(l * K * dim, (l + 1) * K * dim), lambda.subarray(l * K, (l + 1) * K), dead.subarray(l * K, (l + 1) * K), dim, this.bias.subarray(l * K, (l + 1) * K));
    }
  }

  get levels(): number { return this.config.levels; }
  get k(): number { return this.config.codebookSize; }

  private engine(): Assigner {
    this.assigner ??= new Assigner(this.dim, this.k, this.runtime);
    return this.assigner;
  }

  /**
   * Fit on n vectors (row-major n × dim) and code every one of them. With K from the catalogue size
   * (codebookSize 0), a catalogue whose items crowd into few (c₀, c₁) prefixes gets more codes: K doubles
   * (at most twice, up to 1024) while fewer than `MIN_SOLO_PAIR_SHARE` of the items have a prefix to
   * themselves and doubling raises that share. Text vectors of near-identical products do this (amazon-
   * scientific: 17% at 64 codes, 51% at 128, +5% NDCG@10 over 3 seeds; Beauty, ml-1m, Last.fm and ml-100k
   * are at 41–79% and keep their K; docs/results.md section 26). An explicit K is always kept.
   */
  static async fit(x: Float32Array, n: number, dim: number, cfg: Partial<TokenizerConfig> = {}, opts: FitOptions = {}): Promise<FitResult> {
    const t0 = performance.now();
    checkInput(x, n, dim);
    let res = await ResidualTokenizer.fitAt(x, n, dim, resolveConfig(n, cfg), opts);
    for (let doublings = 0; !cfg.codebookSize && doublings < 2 && res.report.soloPairShare < MIN_SOLO_PAIR_SHARE; doublings++) {
      const k = res.tokenizer.k * 2;
      if (k > 1024 || k > n || res.tokenizer.levels * Math.log2(k) > 53) break;
      const next = await ResidualTokenizer.fitAt(x, n, dim, resolveConfig(n, { ...cfg, codebookSize: k }), opts);
      const keep = next.report.soloPairShare > res.report.soloPairShare;
      log.info({ from: res.tokenizer.k, to: k, soloPairShare: [res.report.soloPairShare, next.report.soloPairShare], kept: keep ? k : res.tokenizer.k },
        'tokenizer: few items have a (c0, c1) prefix to themselves; tried twice the codes');
      const drop = keep ? res : next;
      await drop.tokenizer.release();
      if (!keep) break;
      res = next;
    }
    res.report.seconds = (performance.now() - t0) / 1000;
    return res;
  }

  private static async fitAt(x: Float32Array, n: number, dim: number, c: TokenizerConfig, opts: FitOptions): Promise<FitResult> {
    const t0 = performance.now();
    const { levels: L, codebookSize: K } = c;
    const progress = opts.onProgress ?? (() => {});
    // The sample's residuals, refined level by level (S × dim; the catalogue itself is never copied).
    const rows = sampleRows(n, c.sampleSize, mix32(c.seed, 0x5a));
    const S = rows.length;
    const R = new Float32Array(S * dim);
    for (let i = 0; i < S; i++) {
      const src = rows[i]! * dim;
      let s = 0;
      for (let j = 0; j < dim; j++) { const v = x[src + j]!; R[i * dim + j] = v; s += v; }
      if (!Number.isFinite(s)) throw badRow(rows[i]!);
    }
    const codebooks = new Float32Array(L * K * dim);
    const lambda = new Float32Array(L * K);
    const dead = new Uint8Array(L * K);
    const iterations = new Int32Array(L);
    const assigner = new Assigner(dim, K, opts.runtime);
    try {
      for (let l = 0; l < L; l++) {
        const stage = `fit level ${l + 1}/${L}`;
        progress(stage, 0, c.maxIters);
        const res = await fitKMeans(assigner, R, S, dim, {
          k: K, maxIters: c.maxIters, tol: c.tol, balanced: c.balanced, initSample: c.initSample, maxShare: c.maxCodeShare, seed: mix32(c.seed, l + 1),
        }, (it) => progress(stage, it, c.maxIters));
        progress(stage, c.maxIters, c.maxIters);
        codebooks.set(res.centroids, l * K * dim);
        lambda.set(res.lambda, l * K);
        dead.set(res.dead, l * K);
        iterations[l] = res.iterations;
        if (res.refits > 0) log.info({ level: l + 1, refits: res.refits, maxCodeShare: c.maxCodeShare }, 'tokenizer: one code took most of a level; its items were shared out among more codes');
        if (log.isLevelEnabled('debug')) {
          const cnt = new Int32Array(K);
          for (let i = 0; i < S; i++) cnt[res.codes[i]!]!++;
          let h = 0;
          for (const m of cnt) if (m > 0) h -= (m / S) * Math.log(m / S);
          log.debug({ level: l + 1, iterations: res.iterations, inertia: res.inertia / S, sampleEntropy: h / Math.log(K), maxCount: Math.max(...cnt) }, 'tokenizer level fitted');
        }
        if (l + 1 < L) {
          for (let i = 0; i < S; i++) {
            const co = res.codes[i]! * dim, ro = i * dim;
            for (let j = 0; j < dim; j++) R[ro + j] = R[ro + j]! - res.centroids[co + j]!;
          }
        }
      }
    } finally {
      await assigner.release();
    }
    const tokenizer = new ResidualTokenizer(dim, c, codebooks, lambda, dead, iterations, opts.runtime);
    const enc = await tokenizer.encode(x, n, (done) => progress('encode', done, n));
    const ids = new SemanticIds(L, K, c.dedupCapacity, n);
    ids.append(enc.codes, n, true);
    c.dedupCapacity = ids.dedupCapacity; // widened when duplicates needed it
    ids.trie(); // verifies every code is unique; the generator needs the trie anyway
    const report = tokenizer.report(ids, enc, S, (performance.now() - t0) / 1000);
    return { tokenizer, ids, report };
  }

  /**
   * The L quantiser codes of n vectors (n × levels), squared residual norms after each level (n × levels)
   * and ‖x‖² per row. No de-duplication: this is the pure function of (vector, centroids).
   */
  async encode(x: Float32Array, n: number, onRows?: (done: number) => void): Promise<{ codes: Int32Array; err: Float32Array; norm: Float32Array }> {
    checkInput(x, n, this.dim);
    const L = this.levels;
    const codes = new Int32Array(n * L);
    const err = new Float32Array(n * L);
    const norm = new Float32Array(n);
    await this.engine().run(x, n, L, this.codebooks, this.bias, codes, err, norm, onRows);
    for (let i = 0; i < n; i++) if (!Number.isFinite(norm[i]!) || !Number.isFinite(err[i * L + L - 1]!)) throw badRow(i);
    return { codes, err, norm };
  }

  /** A fresh code table for n vectors: encode, then de-duplicate in row order. */
  async assign(x: Float32Array, n: number): Promise<SemanticIds> {
    const { codes } = await this.encode(x, n);
    const ids = new SemanticIds(this.levels, this.k, this.config.dedupCapacity, n);
    ids.append(codes, n, true);
    return ids;
  }

  /**
   * Incremental codes: append n new items to `ids` without refitting (their quantiser codes are exactly
   * what `encode` gives). When an item's group has no free de-duplication slot, it takes the next-nearest
   * last-level code that has one (logged); if none has, GENREC_E_TOKENIZER_FULL says to refit.
   * Returns the new items' full codes (n × depth), rows in input order = ids rows count..count+n-1.
   */
  async extend(ids: SemanticIds, x: Float32Array, n: number): Promise<Int32Array> {
    if (ids.levels !== this.levels || ids.k !== this.k) {
      throw new GenrecError('GENREC_E_TOKENIZER_MISMATCH', `code table has ${ids.levels} levels × ${ids.k}, the tokenizer ${this.levels} × ${this.k}`, 'use the code table saved with this tokenizer');
    }
    const { codes } = await this.encode(x, n);
    const L = this.levels, first = ids.count;
    for (let i = 0; i < n; i++) {
      const base = codes.subarray(i * L, (i + 1) * L);
      if (ids.room(base) <= 0) this.recodeLastLevel(ids, x.subarray(i * this.dim, (i + 1) * this.dim), base);
      ids.append(base, 1);
    }
    return ids.codes.slice(first * ids.depth);
  }

  /** Move `base`'s last code to the nearest last-level code whose group still has room. */
  private recodeLastLevel(ids: SemanticIds, v: Float32Array, base: Int32Array): void {
    const L = this.levels, K = this.k, d = this.dim;
    const r = Float32Array.from(v);
    for (let l = 0; l < L - 1; l++) {
      const co = (l * K + base[l]!) * d;
      for (let j = 0; j < d; j++) r[j] = r[j]! - this.codebooks[co + j]!;
    }
    const scores = new Float64Array(K);
    const off = (L - 1) * K;
    for (let c = 0; c < K; c++) {
      let dot = 0;
      const co = (off + c) * d;
      for (let j = 0; j < d; j++) dot += r[j]! * this.codebooks[co + j]!;
      scores[c] = this.bias[off + c]! - 2 * dot;
    }
    const order = Int32Array.from({ length: K }, (_, c) => c).sort((a, b) => scores[a]! - scores[b]! || a - b);
    const was = base[L - 1]!;
    for (const c of order) {
      if (scores[c]! >= DEAD_BIAS / 2) break;
      base[L - 1] = c;
      if (ids.room(base) > 0) {
        log.info({ from: was, to: c }, 'tokenizer: group full, new item takes the next-nearest last-level code');
        return;
      }
    }
    base[L - 1] = was;
    throw new GenrecError('GENREC_E_TOKENIZER_FULL', 'no free code near this new item: every last-level group under its prefix is full', 'refit the tokenizer (genrec tokenize) so codes are redistributed', { prefix: Array.from(base.subarray(0, L - 1)) });
  }

  /**
   * Refit on all items (the first oldIds.count rows of x must be the old items, in order) and map old
   * codes to new ones. The old tokenizer stays usable; release it when done.
   */
  async refit(x: Float32Array, n: number, oldIds: SemanticIds, cfg: Partial<TokenizerConfig> = {}, opts: FitOptions = {}): Promise<FitResult & { mapping: CodeMapping }> {
    const base = { ...this.config, codebookSize: 0, dedupCapacity: 0, sampleSize: 0, initSample: 0 };
    const res = await ResidualTokenizer.fit(x, n, this.dim, { ...base, ...cfg }, { runtime: this.runtime, ...opts });
    return { ...res, mapping: new CodeMapping(oldIds, res.ids) };
  }

  /** Utilisation, entropy, collisions and reconstruction error of a code table made by this tokenizer. */
  report(ids: SemanticIds, enc: { err: Float32Array; norm: Float32Array }, sampleSize: number, seconds: number): TokenizeReport {
    const L = this.levels, K = this.k, n = ids.count;
    const counts = ids.levelCounts();
    let total = 0;
    for (let i = 0; i < n; i++) total += enc.norm[i]!;
    const levels: LevelReport[] = [];
    for (let l = 0; l < L; l++) {
      let used = 0, h = 0, e = 0;
      for (let c = 0; c < K; c++) {
        const m = counts[l * K + c]!;
        if (m > 0) { used++; h -= (m / n) * Math.log(m / n); }
      }
      for (let i = 0; i < n; i++) e += enc.err[i * L + l]!;
      levels.push({ level: l + 1, k: K, used, utilisation: used / K, entropy: h / Math.log(K), iterations: this.iterations[l]!, reconError: e / Math.max(total, 1e-30) });
    }
    return {
      items: n, dim: this.dim, levels, collisionRate: ids.collisions / n, maxGroup: ids.maxGroup, soloPairShare: ids.soloPairShare(), dedupCapacity: ids.dedupCapacity,
      reconError: levels[L - 1]!.reconError, unique: ids.trie().items === n, sampleSize, seconds,
    };
  }

  async release(): Promise<void> {
    await this.assigner?.release();
    this.assigner = null;
  }
}
