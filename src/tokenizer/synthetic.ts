/**
 * Synthetic clustered item vectors for benchmarks and tests. Compositional, as real catalogues are
 * (category + brand + style): each vector is the sum of one centre from each of a few shared factor
 * tables, at decreasing scales, plus isotropic noise — so there is cluster structure at several scales,
 * which is what residual quantisation is for. Items that share their first factor are "similar in content".
 * Noise comes from a table of normal quantiles indexed by random 16-bit words (one PRNG call per two
 * values): 1M × 256 values in about a second instead of several with Box–Muller.
 */
import { Rng } from '../engine/random.js';

export interface SyntheticOptions {
  /** Centres per factor table, coarse to fine (default [256, 256, 256]). */
  factors?: number[];
  /** Norm (roughly) of each factor's centres (default [1, 0.5, 0.25]). */
  scales?: number[];
  /** Norm (roughly) of the noise (default 0.1). */
  noise?: number;
  seed?: number;
}

export interface SyntheticVectors {
  vectors: Float32Array;
  /** The factor centre chosen for each row, per factor: labels[f][i]. */
  labels: Int32Array[];
}

let normalTable: Float32Array | null = null;
/** 65536 standard-normal draws, built once (fixed seed). */
function normals(): Float32Array {
  if (normalTable) return normalTable;
  const t = new Float32Array(65536);
  const rng = new Rng(0x6e6f726d);
  for (let i = 0; i < t.length; i++) t[i] = rng.normal();
  normalTable = t;
  return t;
}

/** Fill `out` with N(0, std²) values. */
export function fillNormal(out: Float32Array, rng: Rng, std = 1): Float32Array {
  const t = normals();
  let i = 0;
  for (; i + 1 < out.length; i += 2) {
    const u = rng.nextU32();
    out[i] = t[u & 0xffff]! * std;
    out[i + 1] = t[u >>> 16]! * std;
  }
  if (i < out.length) out[i] = t[rng.nextU32() & 0xffff]! * std;
  return out;
}

export function syntheticClusteredVectors(n: number, dim: number, o: SyntheticOptions = {}): SyntheticVectors {
  const factors = o.factors ?? [256, 256, 256];
  const scales = o.scales ?? [1, 0.5, 0.25];
  const rng = new Rng(o.seed ?? 1);
  const s = 1 / Math.sqrt(dim);
  const tables = factors.map((m, f) => fillNormal(new Float32Array(m * dim), rng, (scales[f] ?? scales[scales.length - 1]!) * s));
  const vectors = fillNormal(new Float32Array(n * dim), rng, (o.noise ?? 0.1) * s);
  const labels = factors.map(() => new Int32Array(n));
  for (let i = 0; i < n; i++) {
    const vo = i * dim;
    for (let f = 0; f < factors.length; f++) {
      const c = rng.int(factors[f]!);
      labels[f]![i] = c;
      const t = tables[f]!, co = c * dim;
      for (let j = 0; j < dim; j++) vectors[vo + j] = vectors[vo + j]! + t[co + j]!;
    }
  }
  return { vectors, labels };
}
