import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GenrecError } from '../engine/errors.js';
import { Rng } from '../engine/random.js';
import { PrefixTrie, sortCodes } from './index.js';

/** Brute force: tokens allowed after `prefix` among `codes`. */
function bruteAllowed(codes: Int32Array, n: number, D: number, prefix: number[]): Set<number> {
  const out = new Set<number>();
  for (let i = 0; i < n; i++) {
    let ok = true;
    for (let l = 0; l < prefix.length; l++) if (codes[i * D + l] !== prefix[l]) { ok = false; break; }
    if (ok) out.add(codes[i * D + prefix.length]!);
  }
  return out;
}

function randomCodes(n: number, sizes: number[], seed: number): Int32Array {
  const rng = new Rng(seed);
  const D = sizes.length;
  const seen = new Set<string>();
  const codes = new Int32Array(n * D);
  for (let i = 0; i < n;) {
    const c = sizes.map((s) => rng.int(s));
    if (seen.has(c.join())) continue;
    seen.add(c.join());
    codes.set(c, i * D);
    i++;
  }
  return codes;
}

test('small trie: nodes, tokens, masks, lists, lookup', () => {
  // Items: 0:(1,0,0) 1:(0,2,0) 2:(0,2,1) 3:(1,1,0) 4:(0,0,0)
  const codes = Int32Array.from([1, 0, 0, 0, 2, 0, 0, 2, 1, 1, 1, 0, 0, 0, 0]);
  const t = PrefixTrie.build(codes, 5, 3, [2, 3, 2]);
  assert.deepEqual(Array.from(t.nodeCount), [1, 2, 4, 5]);
  assert.deepEqual(Array.from(t.allowed(0, 0)), [0, 1]);
  assert.deepEqual(Array.from(t.allowed(1, t.child(0, 0, 0))), [0, 2]);
  assert.deepEqual(Array.from(t.allowed(1, t.child(0, 0, 1))), [0, 1]);
  const mask = t.allowedMask(1, Int32Array.of(0, 1, -1), new Uint8Array(9));
  assert.deepEqual(Array.from(mask), [1, 0, 1, 1, 1, 0, 0, 0, 0]);
  const lm = t.allowedLogitMask(0, Int32Array.of(0), new Float32Array(2));
  assert.deepEqual(Array.from(lm), [0, 0]);
  const list = t.allowedList(2, t.walk(Int32Array.of(0, 2, 1, 1), 2, 2));
  assert.deepEqual(Array.from(list.offsets), [0, 2, 3]);
  assert.deepEqual(Array.from(list.tokens), [0, 1, 0]);
  assert.equal(t.lookup([0, 2, 1]), 2);
  assert.equal(t.lookup([1, 1, 0]), 3);
  assert.equal(t.lookup([1, 2, 0]), -1);
  assert.deepEqual(Array.from(t.itemsUnder(1, t.child(0, 0, 0))).sort(), [1, 2, 4]);
  assert.equal(t.child(0, 0, 5), -1);
  assert.deepEqual(Array.from(t.next(0, Int32Array.of(0, 0, -1), Int32Array.of(1, 3, 0))), [1, -1, -1]);
});

test('random tries agree with brute force at every level', () => {
  const sizes = [8, 8, 8, 4];
  const n = 600, D = sizes.length;
  const codes = randomCodes(n, sizes, 3);
  const t = PrefixTrie.build(codes, n, D, sizes);
  const rng = new Rng(4);
  for (let l = 0; l < D; l++) {
    // Prefixes from real items (valid) and random ones (often invalid).
    const B = 64;
    const prefixes = new Int32Array(B * D);
    for (let b = 0; b < B; b++) {
      const item = rng.int(n);
      for (let k = 0; k < l; k++) prefixes[b * D + k] = b % 2 === 0 ? codes[item * D + k]! : rng.int(sizes[k]!);
    }
    const nodes = t.walk(prefixes, B, l, D);
    const mask = t.allowedMask(l, nodes, new Uint8Array(B * sizes[l]!));
    const list = t.allowedList(l, nodes);
    for (let b = 0; b < B; b++) {
      const want = bruteAllowed(codes, n, D, Array.from(prefixes.subarray(b * D, b * D + l)));
      const got = new Set<number>();
      for (let v = 0; v < sizes[l]!; v++) if (mask[b * sizes[l]! + v]) got.add(v);
      assert.deepEqual(got, want, `level ${l} row ${b}`);
      assert.deepEqual(new Set(list.tokens.subarray(list.offsets[b]!, list.offsets[b + 1]!)), want);
      assert.equal(nodes[b]! >= 0, want.size > 0 || l === 0);
    }
  }
  for (let i = 0; i < n; i++) {
    assert.equal(t.lookup(codes.subarray(i * D, i * D + D)), i);
    assert.equal(t.leafItem[t.itemLeaf[i]!], i);
  }
  // Leaves under each level-1 node are exactly the items with that first code.
  for (let p = 0; p < t.nodeCount[1]!; p++) {
    const tok = t.tokens[0]![p]!;
    const under = Array.from(t.itemsUnder(1, p)).sort((a, b) => a - b);
    const want = Array.from({ length: n }, (_, i) => i).filter((i) => codes[i * D] === tok);
    assert.deepEqual(under, want);
  }
});

test('sortCodes is lexicographic and stable', () => {
  const codes = Int32Array.from([2, 1, 0, 3, 2, 0, 0, 3, 2, 1]);
  assert.deepEqual(Array.from(sortCodes(codes, 5, 2, [4, 4])), [1, 3, 2, 0, 4]);
});

test('repeated or out-of-range codes are coded errors', () => {
  assert.throws(() => PrefixTrie.build(Int32Array.from([0, 1, 0, 1]), 2, 2, [2, 2]), (e) => e instanceof GenrecError && e.code === 'GENREC_E_TOKENIZER_DUPLICATE');
  assert.throws(() => PrefixTrie.build(Int32Array.from([0, 2]), 1, 2, [2, 2]), (e) => e instanceof GenrecError && e.code === 'GENREC_E_TOKENIZER_CODES');
  const empty = PrefixTrie.build(new Int32Array(0), 0, 2, [2, 2]);
  assert.equal(empty.allowed(0, 0).length, 0);
});
