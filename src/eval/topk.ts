/**
 * Top-K over score matrices [rows, numItems] in typed arrays, for score-based models (MostPop, item-kNN,
 * SASRec when it returns scores). Selection is partial — a size-K min-heap per row, so most items cost
 * one comparison against the heap's root — never a full sort of the catalogue.
 *
 * Ties break towards the lower item id (deterministic); -Infinity and NaN scores are never returned, so
 * a row with fewer than K finite scores is padded with NO_ITEM (-1).
 */
import { NO_ITEM } from './metrics.js';

/**
 * Writes the top `k` item ids of each row of `scores` (best first) into `out` [rows, k].
 * @param scores row-major [rows, n]
 */
export function topKRows(scores: Float32Array, rows: number, n: number, k: number, out: Int32Array = new Int32Array(rows * k)): Int32Array {
  const hs = new Float32Array(k), hi = new Int32Array(k);
  for (let r = 0; r < rows; r++) {
    const base = r * n;
    let size = 0;
    // Min-heap on (score, -id): the root is the worst kept entry (lowest score, then highest id).
    for (let j = 0; j < n; j++) {
      const s = scores[base + j]!;
      if (!(s > -Infinity)) continue; // -Infinity (masked) and NaN
      if (size < k) {
        // sift up
        let c = size++;
        while (c > 0) {
          const p = (c - 1) >> 1;
          if (hs[p]! < s || (hs[p] === s && hi[p]! > j)) break;
          hs[c] = hs[p]!; hi[c] = hi[p]!; c = p;
        }
        hs[c] = s; hi[c] = j;
      } else if (s > hs[0]!) {
        // Scanning ids upwards, an equal score never displaces the root (a lower id wins ties).
        siftDown(hs, hi, k, s, j);
      }
    }
    // Pop the heap from worst to best into the row's tail.
    const o = r * k;
    for (let j = size; j < k; j++) out[o + j] = NO_ITEM;
    for (let m = size - 1; m >= 0; m--) {
      out[o + m] = hi[0]!;
      siftDown(hs, hi, m, hs[m]!, hi[m]!);
    }
  }
  return out;
}

/** Places (s, j) at the root of the min-heap hs/hi of `size` entries and sifts it down. */
function siftDown(hs: Float32Array, hi: Int32Array, size: number, s: number, j: number): void {
  let c = 0;
  for (;;) {
    const l = 2 * c + 1;
    if (l >= size) break;
    const r = l + 1;
    let m = l;
    if (r < size && (hs[r]! < hs[l]! || (hs[r] === hs[l] && hi[r]! > hi[l]!))) m = r;
    if (hs[m]! > s || (hs[m] === s && hi[m]! < j)) break;
    hs[c] = hs[m]!; hi[c] = hi[m]!; c = m;
  }
  hs[c] = s; hi[c] = j;
}

/**
 * Sets to -Infinity the scores of items in each row's history: row r's seen items are
 * `items[starts[r] .. ends[r])` (absolute CSR ranges, e.g. a case's full history).
 */
export function maskSeen(scores: Float32Array, rows: number, n: number, items: Int32Array, starts: Int32Array, ends: Int32Array): void {
  for (let r = 0; r < rows; r++) {
    const base = r * n;
    for (let k = starts[r]!, e = ends[r]!; k < e; k++) {
      const it = items[k]!;
      if (it >= 0 && it < n) scores[base + it] = -Infinity;
    }
  }
}
