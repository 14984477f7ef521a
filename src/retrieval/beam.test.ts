import { test } from 'node:test';
import assert from 'node:assert/strict';
import { beamSearch } from './index.js';
import { PrefixTrie } from '../tokenizer/index.js';

// 6 items over codes of sizes [2, 3]: item i has codes (i >> 1 & 1... ) given explicitly.
const sizes = [2, 3];
const codes = Int32Array.from([0, 0, 0, 1, 0, 2, 1, 0, 1, 1, 1, 2]);
const offsets = Int32Array.from([1, 3]);

const trieOf = () => PrefixTrie.build(codes, 6, 2, sizes);

// A decoder that prefers code 1 at level 0 and, at level 1, code (user + prefix) % 3.
const decode = async (level: number, rowUser: Int32Array, prefix: Int32Array, rows: number) => {
  const K = sizes[level]!;
  const out = new Float32Array(rows * K);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < K; c++) {
      const fav = level === 0 ? 1 : (rowUser[r]! + prefix[r * level]! - offsets[0]!) % 3;
      out[r * K + c] = Math.log(c === fav ? 0.6 : 0.4 / (K - 1));
    }
  }
  return out;
};

test('beam search returns valid items ranked by total log-probability', async () => {
  const t = trieOf();
  const r = await beamSearch(t, 2, decode, { beam: 6, k: 6, offsets });
  // user 0: level-0 favourite is code 1 (items 3..5), then code (0 + 1) % 3 = 1 → item 4 first.
  assert.equal(r.items[0], 4);
  assert.equal(r.items[6], 5); // user 1: (1 + 1) % 3 = 2 → item 5
  for (let u = 0; u < 2; u++) {
    const got = Array.from(r.items.subarray(u * 6, u * 6 + 6)).sort();
    assert.deepEqual(got, [0, 1, 2, 3, 4, 5]);
    for (let j = 1; j < 6; j++) assert.ok(r.scores[u * 6 + j]! <= r.scores[u * 6 + j - 1]!);
  }
});

test('excluded items are removed inside the search and k results still come back', async () => {
  const t = trieOf();
  // Exclude the whole favourite subtree (items 3, 4, 5) with a beam of only 2: a post-filter would
  // return nothing; the search must descend into the other subtree.
  const r = await beamSearch(t, 1, decode, { beam: 2, k: 2, offsets, exclude: () => [3, 4, 5] });
  const got = Array.from(r.items);
  assert.equal(got.length, 2);
  for (const i of got) assert.ok(i >= 0 && i <= 2, `item ${i} must be from the non-excluded subtree`);
  const few = await beamSearch(t, 1, decode, { beam: 4, k: 4, offsets, exclude: () => [0, 1, 2, 3] });
  assert.deepEqual(Array.from(few.items).sort(), [-1, -1, 4, 5]);
});
