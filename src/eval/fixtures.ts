/**
 * Small in-memory datasets for tests and quick checks: a leave-one-out split from literal sequences,
 * and a synthetic sequential task whose next item follows the previous one by a fixed rule.
 */
import { Rng } from '../engine/random.js';
import { CooBuilder, buildInteractions } from '../data/dataset.js';
import { leaveOneOut, type Split } from '../data/split.js';

/** A leave-one-out split over users' item sequences (item ids 0..numItems-1, oldest first). */
export function splitFromSequences(seqs: readonly (readonly number[])[], numItems: number): Split {
  const coo = new CooBuilder();
  seqs.forEach((s, u) => s.forEach((it, p) => coo.push(u, it, 0, NaN, p, NaN)));
  return leaveOneOut(buildInteractions(coo.view(), seqs.length, numItems, false).interactions);
}

export interface SyntheticOptions {
  users: number;
  items: number;
  /** Events per user (min, max). */
  length: [number, number];
  /** Probability that the next item is random instead of the rule's. */
  noise: number;
  seed: number;
}

/**
 * Each user starts at a random item; the next item is next[prev] for a fixed random cyclic permutation
 * (one cycle through all items, so a sequence shorter than the catalogue never repeats by the rule),
 * replaced by a random item with probability `noise`. Popularity is flat, so MostPop is near chance and
 * a sequence model that learns the rule is far above it.
 */
export function syntheticSequences(o: SyntheticOptions): number[][] {
  const rng = new Rng(o.seed);
  const order = rng.shuffle(Int32Array.from({ length: o.items }, (_, i) => i));
  const next = new Int32Array(o.items);
  for (let i = 0; i < o.items; i++) next[order[i]!] = order[(i + 1) % o.items]!;
  return Array.from({ length: o.users }, () => {
    const len = o.length[0] + rng.int(o.length[1] - o.length[0] + 1);
    const s = [rng.int(o.items)];
    while (s.length < len) s.push(rng.next() < o.noise ? rng.int(o.items) : next[s[s.length - 1]!]!);
    return s;
  });
}
