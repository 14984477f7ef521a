/**
 * One level of k-means: k-means++ seeding on a subsample, then Lloyd iterations whose assignment step
 * runs on onnxruntime (`Assigner`) and whose centroid update is an O(n·d) typed-array loop (measured:
 * a few ms per iteration next to the assignment's GEMM). Optional balancing: per-code offsets λ_k added to
 * the assignment score (a Lagrangian price for crowding), nudged each iteration toward equal counts.
 */
import { Rng, mix32 } from '../engine/random.js';
import type { Assigner } from './assign.js';

/** Score offset of a code that must never win (dead: fewer distinct points than codes). */
export const DEAD_BIAS = 1e30;

export interface KMeansOptions {
  k: number;
  maxIters: number;
  /** Stop when the relative drop in inertia is below this. */
  tol: number;
  balanced: boolean;
  /** Rows used for k-means++ seeding (a prefix of a shuffled order). */
  initSample: number;
  seed: number;
  /**
   * Largest share of rows one code may end with: a more crowded code gets other codes moved onto its
   * rows and Lloyd runs again (see `splitCrowded`). Default 1 (never).
   */
  maxShare?: number;
}

export interface KMeansResult {
  centroids: Float32Array;
  /** Balancing offsets (0 when not balanced). */
  lambda: Float32Array;
  /** 1 for codes that could not be seeded (fewer distinct points than k). */
  dead: Uint8Array;
  iterations: number;
  /** Times a crowded code's rows were shared out among more codes (`maxShare`). */
  refits: number;
  /** Σ squared distance to the assigned centroid, final assignment. */
  inertia: number;
  /** Final assignment of each row and its squared distance to that centroid. */
  codes: Int32Array;
  err: Float32Array;
}

/**
 * Greedy k-means++ (D² sampling with 2 + ln k trials per centre, keeping the trial that lowers the
 * potential most — scikit-learn's variant, markedly better seeds) over m points given their Gram matrix
 * (m × m, from ORT): each trial costs O(m) here instead of O(m·d). Codes left without a distinct point
 * are marked dead. Returns the chosen point indices (−1 for dead codes).
 */
export function kmeansPlusPlus(gram: Float32Array, m: number, k: number, rng: Rng): Int32Array {
  const picks = new Int32Array(k).fill(-1);
  const d2 = new Float64Array(m);
  const diag = new Float64Array(m);
  for (let i = 0; i < m; i++) diag[i] = gram[i * m + i]!;
  // Row p of the (symmetric) Gram matrix gives every point's distance to point p, read contiguously.
  const distRow = (p: number, out: Float64Array) => {
    const o = p * m, dp = diag[p]!;
    for (let i = 0; i < m; i++) out[i] = Math.max(0, diag[i]! + dp - 2 * gram[o + i]!);
  };
  const trials = 2 + Math.floor(Math.log(k));
  const row = new Float64Array(m);
  let p = rng.int(m);
  picks[0] = p;
  distRow(p, d2);
  let scale = 0;
  for (let i = 0; i < m; i++) scale += diag[i]!;
  for (let c = 1; c < k; c++) {
    let total = 0;
    for (let i = 0; i < m; i++) total += d2[i]!;
    // Every point coincides with a chosen centre (up to float error): the remaining codes stay unused.
    if (!(total > 1e-9 * Math.max(scale, 1e-30))) break;
    let best = -1, bestPot = Infinity;
    for (let t = 0; t < trials; t++) {
      let r = rng.next() * total, cand = -1;
      for (let i = 0; i < m; i++) {
        r -= d2[i]!;
        if (r < 0 && d2[i]! > 0) { cand = i; break; }
      }
      if (cand < 0) for (let i = m - 1; i >= 0; i--) if (d2[i]! > 0) { cand = i; break; }
      distRow(cand, row);
      let pot = 0;
      for (let i = 0; i < m; i++) pot += Math.min(d2[i]!, row[i]!);
      if (pot < bestPot) { bestPot = pot; best = cand; }
    }
    p = best;
    picks[c] = p;
    distRow(p, row);
    for (let i = 0; i < m; i++) if (row[i]! < d2[i]!) d2[i] = row[i]!;
  }
  return picks;
}

/** bias[k] = ‖c_k‖² + λ_k, or DEAD_BIAS for dead codes: the per-code score offset fed to the assigner. */
export function scoreBias(centroids: Float32Array, lambda: Float32Array, dead: Uint8Array, d: number, out: Float32Array): void {
  const k = lambda.length;
  for (let c = 0; c < k; c++) {
    if (dead[c]) { out[c] = DEAD_BIAS; continue; }
    let s = 0;
    for (let j = 0; j < d; j++) { const v = centroids[c * d + j]!; s += v * v; }
    out[c] = s + lambda[c]!;
  }
}

/**
 * Fit k centroids to rows [0, n) of x (row-major, dim d) with `assigner` (built for this d and k).
 * Deterministic for a seed (and a fixed ORT thread count).
 */
export async function fitKMeans(assigner: Assigner, x: Float32Array, n: number, d: number, o: KMeansOptions, onIter?: (it: number, inertia: number) => void): Promise<KMeansResult> {
  const { k } = o;
  const rng = new Rng(o.seed);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  rng.shuffle(order);
  const m = Math.min(n, Math.max(k, o.initSample));
  const init = new Float32Array(m * d);
  for (let i = 0; i < m; i++) init.set(x.subarray(order[i]! * d, order[i]! * d + d), i * d);
  const picks = kmeansPlusPlus(await assigner.gram(init, m), m, k, rng);
  const centroids = new Float32Array(k * d);
  const dead = new Uint8Array(k);
  for (let c = 0; c < k; c++) {
    if (picks[c]! < 0) dead[c] = 1;
    else centroids.set(init.subarray(picks[c]! * d, picks[c]! * d + d), c * d);
  }
  const lambda = new Float32Array(k);
  const st: LloydState = { x, n, d, centroids, lambda, dead, bias: new Float32Array(k), codes: new Int32Array(n), err: new Float32Array(n), counts: new Int32Array(k), sums: new Float64Array(k * d) };
  let { inertia, iterations: it } = await lloyd(assigner, st, o.maxIters, o.tol, onIter);
  let live = 0;
  for (let c = 0; c < k; c++) if (!dead[c]) live++;
  const { codes, err, bias, counts } = st;
  // A level where one code takes most rows names nothing (seen on ml-1m's third level: 97% in one code,
  // 21% of items then told apart only by the de-duplication code). Lloyd cannot leave that optimum: the
  // crowded rows sit close together, and a centre moved among them is pulled out again by far-away rows
  // that are nearer to it than to their own centre. So the crowded rows get their share of the codes and
  // are clustered among themselves; the other centres stay, and every row then takes its nearest code.
  let refits = 0;
  for (; refits < 4 && live > 2; refits++) {
    const big = largestCode(codes, n, counts);
    if (counts[big]! <= (o.maxShare ?? 1) * n) break;
    const give = Math.min(live - 1, Math.max(1, Math.round(live * counts[big]! / n) - 1));
    const { rows, group } = splitCrowded(st, big, give, new Rng(mix32(o.seed, refits + 7)));
    const sub = new Float32Array(rows.length * d);
    rows.forEach((i, j) => sub.set(x.subarray(i * d, i * d + d), j * d));
    const others = Uint8Array.from(dead, (v, c) => (v || !group.has(c) ? 1 : 0));
    const local = await lloyd(assigner, { ...st, x: sub, n: rows.length, dead: others, codes: new Int32Array(rows.length), err: new Float32Array(rows.length) }, o.maxIters, o.tol, onIter);
    it += local.iterations;
    scoreBias(centroids, lambda, dead, d, bias);
    await assigner.run(x, n, 1, centroids, bias, codes, err);
    inertia = 0;
    for (let i = 0; i < n; i++) inertia += err[i]!;
  }
  if (o.balanced && live > 1) inertia = await balancePrices(assigner, x, n, d, centroids, lambda, dead, codes, err, bias, counts, inertia);
  return { centroids, lambda, dead, iterations: it, refits, inertia, codes, err };
}

interface LloydState {
  x: Float32Array; n: number; d: number;
  centroids: Float32Array; lambda: Float32Array; dead: Uint8Array; bias: Float32Array;
  codes: Int32Array; err: Float32Array; counts: Int32Array; sums: Float64Array;
}

/** Lloyd iterations from the current centroids until the inertia settles; leaves the final assignment. */
async function lloyd(assigner: Assigner, st: LloydState, maxIters: number, tol: number, onIter?: (it: number, inertia: number) => void): Promise<{ inertia: number; iterations: number }> {
  const { x, n, d, centroids, lambda, dead, bias, codes, err, counts, sums } = st;
  const k = counts.length;
  const prev = new Int32Array(n).fill(-1);
  let inertia = Infinity;
  let it = 0;
  for (;;) {
    it++;
    scoreBias(centroids, lambda, dead, d, bias);
    await assigner.run(x, n, 1, centroids, bias, codes, err);
    let cur = 0, changed = 0;
    for (let i = 0; i < n; i++) {
      cur += err[i]!;
      if (codes[i] !== prev[i]) changed++;
    }
    prev.set(codes);
    onIter?.(it, cur);
    const rel = (inertia - cur) / Math.max(cur, 1e-30);
    const converged = changed === 0 || Math.abs(rel) < tol;
    inertia = cur;
    if (converged || it >= maxIters) break;

    // Centroid update (mean of assigned rows).
    sums.fill(0);
    counts.fill(0);
    for (let i = 0; i < n; i++) {
      const c = codes[i]!;
      counts[c]!++;
      const xo = i * d, so = c * d;
      for (let j = 0; j < d; j++) sums[so + j] += x[xo + j]!;
    }
    let empty = 0;
    for (let c = 0; c < k; c++) {
      if (dead[c]) continue;
      const cnt = counts[c]!;
      if (cnt === 0) { empty++; continue; }
      const so = c * d;
      for (let j = 0; j < d; j++) centroids[so + j] = sums[so + j]! / cnt;
    }
    if (empty > 0) reseedEmpty(x, d, n, codes, err, counts, dead, centroids, lambda);
  }
  return { inertia, iterations: it };
}

/** Rows per code of the first n rows' assignment, into `counts`. */
function countCodes(codes: Int32Array, n: number, counts: Int32Array): void {
  counts.fill(0);
  for (let i = 0; i < n; i++) counts[codes[i]!]!++;
}

/** The code holding the most rows (fills `counts`). */
function largestCode(codes: Int32Array, n: number, counts: Int32Array): number {
  countCodes(codes, n, counts);
  let big = 0;
  for (let c = 1; c < counts.length; c++) if (counts[c]! > counts[big]!) big = c;
  return big;
}

/**
 * Move the `give` least-used live codes onto distinct rows of code `big`, drawn uniformly (D² sampling
 * would pick the few far-away rows the crowded code also holds). Expects `counts` from `largestCode`;
 * returns the crowded rows and the codes now meant for them.
 */
function splitCrowded(st: LloydState, big: number, give: number, rng: Rng): { rows: number[]; group: Set<number> } {
  const { x, n, d, centroids, lambda, dead, codes, counts } = st;
  const donors = Array.from({ length: counts.length }, (_, c) => c).filter((c) => c !== big && !dead[c]).sort((a, b) => counts[a]! - counts[b]! || a - b).slice(0, give);
  const rows: number[] = [];
  for (let i = 0; i < n; i++) if (codes[i] === big) rows.push(i);
  const order = Int32Array.from(rows);
  rng.shuffle(order);
  donors.forEach((c, j) => {
    const i = order[j % order.length]!;
    centroids.set(x.subarray(i * d, i * d + d), c * d);
    lambda[c] = 0;
  });
  return { rows, group: new Set([big, ...donors]) };
}

/** Move each empty code onto the worst-served point of a code that has more than one point. */
function reseedEmpty(x: Float32Array, d: number, n: number, codes: Int32Array, err: Float32Array, counts: Int32Array, dead: Uint8Array, centroids: Float32Array, lambda: Float32Array): void {
  const byErr = new Int32Array(n);
  for (let i = 0; i < n; i++) byErr[i] = i;
  byErr.sort((a, b) => err[b]! - err[a]! || a - b);
  let p = 0;
  for (let c = 0; c < counts.length; c++) {
    if (dead[c] || counts[c] !== 0) continue;
    while (p < n && (counts[codes[byErr[p]!]!]! <= 1 || !(err[byErr[p]!]! > 0))) p++;
    if (p >= n) { dead[c] = 1; continue; } // nothing left to split: this code stays unused
    const i = byErr[p++]!;
    counts[codes[i]!]!--;
    counts[c] = 1;
    centroids.set(x.subarray(i * d, i * d + d), c * d);
    lambda[c] = 0;
  }
}

/** Unevenness of code use: Σ count² relative to perfectly even use (1 = even; K·… when all in one code). */
function crowding(codes: Int32Array, n: number, counts: Int32Array, live: number): number {
  countCodes(codes, n, counts);
  let sq = 0;
  for (let c = 0; c < counts.length; c++) sq += counts[c]! * counts[c]!;
  return sq / ((n * n) / live);
}

/**
 * Balanced assignment with fixed centroids: per-code prices λ (dual ascent on "every code gets n/K
 * rows"), crowded codes dearer, empty ones cheaper. The step adapts — grows while the crowding falls,
 * halves when it does not — because the useful step depends on score gaps the data decides. The prices
 * are kept with the centroids, so the catalogue pass and new items see the same balanced rule.
 */
async function balancePrices(
  assigner: Assigner, x: Float32Array, n: number, d: number, centroids: Float32Array, lambda: Float32Array, dead: Uint8Array,
  codes: Int32Array, err: Float32Array, bias: Float32Array, counts: Int32Array, inertia: number, rounds = 24,
): Promise<number> {
  const k = lambda.length;
  let live = 0;
  for (let c = 0; c < k; c++) if (!dead[c]) live++;
  const target = n / live;
  let best = crowding(codes, n, counts, live);
  let bestLambda = Float32Array.from(lambda), bestCodes = Int32Array.from(codes), bestErr = Float32Array.from(err), bestInertia = inertia;
  let step = 0.02 * (inertia / n);
  for (let r = 0; r < rounds && best > 1.01; r++) {
    for (let c = 0; c < k; c++) {
      if (dead[c]) continue;
      lambda[c] = lambda[c]! + step * Math.max(-2, Math.min(2, Math.log((counts[c]! + 0.5) / target)));
    }
    scoreBias(centroids, lambda, dead, d, bias);
    await assigner.run(x, n, 1, centroids, bias, codes, err);
    const cur = crowding(codes, n, counts, live);
    if (cur < best) {
      best = cur;
      bestLambda = Float32Array.from(lambda); bestCodes.set(codes); bestErr.set(err);
      bestInertia = 0;
      for (let i = 0; i < n; i++) bestInertia += err[i]!;
      step *= 1.5;
    } else {
      lambda.set(bestLambda);
      step *= 0.5;
    }
  }
  lambda.set(bestLambda); codes.set(bestCodes); err.set(bestErr);
  return bestInertia;
}
