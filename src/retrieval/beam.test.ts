import { test } from 'node:test';
import assert from 'node:assert/strict';
import { beamSearch } from './index.js';
import { PrefixTrie } from '../tokenizer/index.js';
import { TransitionTable } from '../models/index.js';

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

test('prefixes with one child are not decoded, and their items score as if they were', async () => {
  // Items 0..3 under code 0 (four children); item 4 alone under code 1 (one child).
  const t = PrefixTrie.build(Int32Array.from([0, 0, 0, 1, 0, 2, 0, 3, 1, 0]), 5, 2, [2, 4]);
  const off = Int32Array.from([1, 3]);
  const asked: number[] = [];
  const logit = (level: number, c: number) => (level === 0 ? [0.2, 0.9][c]! : 0.5 * c);
  const dec = async (level: number, _u: Int32Array, _p: Int32Array, rows: number) => {
    asked.push(rows);
    const K = [2, 4][level]!;
    return Float32Array.from({ length: rows * K }, (_, i) => logit(level, i % K));
  };
  const r = await beamSearch(t, 1, dec, { beam: 5, k: 5, offsets: off });
  assert.deepEqual(asked, [1, 1], 'level 1 decodes the prefix with four children only');
  // Exhaustive scores: log-softmax over each prefix's children, summed over levels.
  const lse = (xs: number[]) => Math.log(xs.reduce((s, x) => s + Math.exp(x), 0));
  const top = [logit(0, 0), logit(0, 1)], second = [0, 1, 2, 3].map((c) => logit(1, c));
  const want = new Map<number, number>([[4, top[1]! - lse(top)]]);
  for (let i = 0; i < 4; i++) want.set(i, top[0]! - lse(top) + second[i]! - lse(second));
  const order = [...want.keys()].sort((a, b) => want.get(b)! - want.get(a)!);
  assert.deepEqual(Array.from(r.items), order);
  order.forEach((it, j) => assert.ok(Math.abs(r.scores[j]! - want.get(it)!) < 1e-6));
});

test('an ensemble\'s logits are averaged by the search', async () => {
  const t = trieOf();
  const twice = async (level: number, rowUser: Int32Array, prefix: Int32Array, rows: number) => {
    const one = await decode(level, rowUser, prefix, rows);
    return { logits: [one, one.map((x) => x + 1)] }; // a constant shift per row: the same distribution
  };
  const a = await beamSearch(t, 2, decode, { beam: 6, k: 6, offsets });
  const b = await beamSearch(t, 2, twice, { beam: 6, k: 6, offsets });
  assert.deepEqual(Array.from(b.items), Array.from(a.items));
  for (let j = 0; j < 12; j++) assert.ok(Math.abs(a.scores[j]! - b.scores[j]!) < 1e-5);
});

test('a prior mixes observed counts into the model item by item: (n + β·P_model) / (N + β), a distribution over the catalogue', async () => {
  const t = trieOf();
  // Item 5 was followed by item 0 twice and by item 2 once (user 0's last item); user 1's last item by nothing.
  const table = TransitionTable.fromSequences(Int32Array.from([5, 0, 5, 0, 5, 2]), [0, 2, 4], [2, 4, 6], 6);
  const beta = 2;
  const prior = { beta, mass: (u: number) => (u === 0 ? table.prefixMass(t, [5], { decay: 0.5, reverse: 0 }) : null) };
  const alone = await beamSearch(t, 2, decode, { beam: 6, k: 6, offsets });
  const mixed = await beamSearch(t, 2, decode, { beam: 6, k: 6, offsets, prior });
  const scoreOf = (r: typeof alone, u: number) => new Map(Array.from(r.items.subarray(u * 6, u * 6 + 6), (it, j) => [it, r.scores[u * 6 + j]!]));
  const model = scoreOf(alone, 0), got = scoreOf(mixed, 0), n = [2, 0, 1, 0, 0, 0];
  let total = 0;
  for (let it = 0; it < 6; it++) {
    const want = Math.log((n[it]! + beta * Math.exp(model.get(it)!)) / (3 + beta));
    assert.ok(Math.abs(got.get(it)! - want) < 1e-5, `item ${it}: ${got.get(it)} vs ${want}`);
    total += Math.exp(got.get(it)!);
  }
  assert.ok(Math.abs(total - 1) < 1e-5, `the mixture sums to ${total}`);
  assert.equal(mixed.items[0], 0, 'the twice-seen successor comes first, though the model prefers item 4');
  assert.deepEqual(Array.from(mixed.items.subarray(6)), Array.from(alone.items.subarray(6)), 'a user without counts gets the model alone');
  assert.deepEqual(Array.from(mixed.scores.subarray(6)), Array.from(alone.scores.subarray(6)));
  // A narrow beam still finds the memorised item, and exclusion still applies under the prior.
  const narrow = await beamSearch(t, 1, decode, { beam: 1, k: 1, offsets, prior });
  assert.equal(narrow.items[0], 0);
  const without0 = await beamSearch(t, 1, decode, { beam: 2, k: 2, offsets, prior, exclude: () => [0] });
  assert.ok(!Array.from(without0.items).includes(0));
});
