/**
 * Test fixture: a leave-one-out split of generated data with unique random 3-level codes (8 × 8 × 4),
 * for training tests that need codes but not the tokenizer (tested on its own).
 */
import { datasetFromData, generateSynthetic, leaveOneOut, type Split } from '../data/index.js';
import { Rng } from '../engine/index.js';

export async function splitWithRandomCodes(): Promise<{ split: Split; codes: Int32Array; sizes: number[] }> {
  const ds = await datasetFromData(generateSynthetic({ users: 120, items: 150, meanEvents: 12, seed: 3 }));
  const split = leaveOneOut(ds.interactions);
  const n = ds.interactions.numItems, sizes = [8, 8, 4];
  const rng = new Rng(2), used = new Set<number>(), codes = new Int32Array(n * 3);
  for (let i = 0; i < n; i++) {
    let key: number;
    do key = rng.int(256); while (used.has(key));
    used.add(key);
    codes.set([key >> 5, (key >> 2) & 7, key & 3], i * 3);
  }
  return { split, codes, sizes };
}
