import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GenrecError } from '../engine/index.js';
import { PrefixTrie } from '../tokenizer/index.js';
import { SPAN_GAIN, TransitionTable } from './transitions.js';

// Two users over 4 items; ends stop before each user's last two events (validation and test targets).
const items = Int32Array.from([0, 1, 2, 1, 3, /* u1 */ 1, 2, 1, 2, 0, 3]);
const offsets = [0, 5];
const ends = [3, 9];

test('transitions count consecutive training events only, per (item, next item)', () => {
  const t = TransitionTable.fromSequences(items, offsets, ends, 4);
  const pairs = new Map<string, number>();
  for (let a = 0; a < 4; a++) for (let i = t.start[a]!; i < t.start[a + 1]!; i++) pairs.set(`${a}>${t.next[i]}`, t.count[i]!);
  // u0 trains on 0 1 2; u1 on 1 2 1 2: 1→2 three times, 0→1 and 2→1 once. Nothing past `ends` (2→1→3, 2→0→3).
  assert.deepEqual(Object.fromEntries(pairs), { '0>1': 1, '1>2': 3, '2>1': 1 });
  assert.equal(t.size, 3);
  assert.equal(t.numItems, 4);
});

test('what is known before a part: the training part for validation, the validation events too for the test', () => {
  // Leave-one-out over the same two users: u0 holds out 1 (valid) and 3 (test), u1 holds out 0 and 3.
  const split = { interactions: { items, userOffsets: Int32Array.from([0, 5, 11]), numItems: 4 }, trainEnd: Int32Array.from([3, 9]), validEnd: Int32Array.from([4, 10]) };
  const pairs = (t: TransitionTable) => {
    const m: Record<string, number> = {};
    for (let a = 0; a < 4; a++) for (let i = t.start[a]!; i < t.start[a + 1]!; i++) m[`${a}>${t.next[i]}`] = t.count[i]!;
    return m;
  };
  assert.deepEqual(pairs(TransitionTable.knownBefore(split, 'valid')), { '0>1': 1, '1>2': 3, '2>1': 1 });
  // The test's table adds u0's 2→1 and u1's 2→0 (each user's last training item → validation item), and
  // never a test target (1→3, 0→3).
  assert.deepEqual(pairs(TransitionTable.knownBefore(split, 'test')), { '0>1': 1, '1>2': 3, '2>0': 1, '2>1': 2 });
  assert.equal(TransitionTable.knownBefore(split, 'test', 2).span, 2);
});

test('with a span, items further on count as successors too, each step weighing SPAN_GAIN of the one before', () => {
  const t = TransitionTable.fromSequences(items, offsets, ends, 4, 3);
  const pairs = new Map<string, number>();
  for (let a = 0; a < 4; a++) for (let i = t.start[a]!; i < t.start[a + 1]!; i++) pairs.set(`${a}>${t.next[i]}`, t.count[i]!);
  // u0 trains on 0 1 2; u1 on 1 2 1 2. One step on weighs 1, two 0.8, three 0.64; nothing past `ends`.
  const g = SPAN_GAIN, f = (x: number) => Math.fround(x);
  assert.deepEqual(Object.fromEntries(pairs), { '0>1': 1, '0>2': f(g), '1>2': f(3 + g * g), '1>1': f(g), '2>1': 1, '2>2': f(g) });
  assert.equal(t.span, 3);
  // Span 1 is the plain table, and the arrays round-trip with their span.
  const plain = TransitionTable.fromSequences(items, offsets, ends, 4, 1);
  assert.deepEqual([plain.next, plain.count], [TransitionTable.fromSequences(items, offsets, ends, 4).next, TransitionTable.fromSequences(items, offsets, ends, 4).count]);
  const a = t.toArrays();
  assert.equal(TransitionTable.fromArrays(a.start, a.next, a.count, 3).span, 3);
});

test('prefix mass sums the recent items\' successors below each trie node, decayed by recency', () => {
  const t = TransitionTable.fromSequences(items, offsets, ends, 4);
  // Items 0, 1 under code 0; items 2, 3 under code 1.
  const trie = PrefixTrie.build(Int32Array.from([0, 0, 0, 1, 1, 0, 1, 1]), 4, 2, [2, 2]);
  const m = t.prefixMass(trie, [1, 0], { decay: 0.5, reverse: 0 }); // last item 1 (→2 ×3), then 0 (→1 ×1, weight 0.5)
  assert.equal(m[0]!.get(0), 3.5, 'the root holds the total');
  const c0 = trie.parent[1]![trie.itemLeaf[1]!]!, c1 = trie.parent[1]![trie.itemLeaf[2]!]!;
  assert.equal(m[1]!.get(c0), 0.5);
  assert.equal(m[1]!.get(c1), 3);
  assert.equal(m[2]!.get(trie.itemLeaf[2]!), 3);
  assert.equal(m[2]!.get(trie.itemLeaf[1]!), 0.5);
  assert.equal(m[2]!.get(trie.itemLeaf[3]!), undefined);
  // Items the table never saw (added after training) and padding (−1) add nothing.
  assert.equal(t.prefixMass(trie, [3, -1], { decay: 0.5, reverse: 0 })[0]!.size, 0);
  // With reverse 0.25, item 1's predecessors count too: 0 (0→1 once) and 2 (2→1 once).
  const r = t.prefixMass(trie, [1], { decay: 0.5, reverse: 0.25 });
  assert.equal(r[0]!.get(0), 3 + 0.25 + 0.25);
  assert.equal(r[2]!.get(trie.itemLeaf[0]!), 0.25);
  assert.equal(r[2]!.get(trie.itemLeaf[2]!), 3.25);
});

test('with shares, each recent item\'s transitions weigh as fractions of its own total (live ones included)', () => {
  const t = TransitionTable.fromSequences(items, offsets, ends, 4);
  const trie = PrefixTrie.build(Int32Array.from([0, 0, 0, 1, 1, 0, 1, 1]), 4, 2, [2, 2]);
  // Item 1 went to 2 three times: share 1; item 0 once to 1: share 1, at weight 0.5. Counts would give 3 and 0.5.
  const m = t.prefixMass(trie, [1, 0], { decay: 0.5, reverse: 0, shares: true });
  assert.equal(m[0]!.get(0), 1.5);
  assert.equal(m[2]!.get(trie.itemLeaf[2]!), 1);
  assert.equal(m[2]!.get(trie.itemLeaf[1]!), 0.5);
  // Read both ways, item 1's total is 3 out + 2 in (0 → 1, 2 → 1): item 2 holds (3 + 1) / 5, item 0 1 / 5.
  const r = t.prefixMass(trie, [1], { decay: 0.5, reverse: 1, shares: true });
  assert.ok(Math.abs(r[2]!.get(trie.itemLeaf[2]!)! - 0.8) < 1e-12 && Math.abs(r[2]!.get(trie.itemLeaf[0]!)! - 0.2) < 1e-12);
  assert.ok(Math.abs(r[0]!.get(0)! - 1) < 1e-12);
  // A live transition joins the row's total: 1 → 3 once makes item 2's share 3/4.
  t.add(1, 3);
  const l = t.prefixMass(trie, [1], { decay: 0.5, reverse: 0, shares: true });
  assert.deepEqual([l[2]!.get(trie.itemLeaf[2]!), l[2]!.get(trie.itemLeaf[3]!), l[0]!.get(0)], [0.75, 0.25, 1]);
  // An item without transitions adds nothing (no division by zero).
  assert.equal(t.prefixMass(trie, [3], { decay: 0.5, reverse: 0, shares: true })[0]!.size, 0);
});

test('a table round-trips through its arrays, and malformed arrays are a coded bundle error', () => {
  const t = TransitionTable.fromSequences(items, offsets, ends, 4);
  const a = t.toArrays();
  const back = TransitionTable.fromArrays(a.start, a.next, a.count);
  assert.deepEqual([back.start, back.next, back.count], [t.start, t.next, t.count]);
  const bad = (start: number[], next: number[], count: number[]) =>
    assert.throws(() => TransitionTable.fromArrays(Int32Array.from(start), Int32Array.from(next), Float32Array.from(count)), (e: unknown) => e instanceof GenrecError && e.code === 'GENREC_E_BUNDLE');
  bad([0, 2, 1], [1, 0], [1, 1]); // offsets out of order
  bad([0, 1, 2], [1, 5], [1, 1]); // successor out of range
  bad([0, 1, 2], [1, 0], [1, 0]); // a zero count
  bad([0, 1, 3], [1, 0], [1, 1]); // offsets past the end
});

test('live transitions add to the trained counts, for new items too, and both read back through times()', () => {
  const t = TransitionTable.fromSequences(items, offsets, ends, 4);
  assert.equal(t.times(1, 2), 3);
  assert.equal(t.times(2, 1), 1);
  assert.equal(t.times(0, 3), 0);
  // Item 4 was added after training (the table indexes 4 items); live events went 1 → 4 twice and 4 → 0 once.
  t.add(1, 4); t.add(1, 4); t.add(4, 0); t.add(1, 2);
  assert.deepEqual([t.times(1, 4), t.times(4, 0), t.times(1, 2), t.liveCount, t.size], [2, 1, 4, 4, 3]);
  const codes = Int32Array.from([0, 0, 0, 1, 1, 0, 1, 1, 1, 2]); // item 4 under code 1
  const trie = PrefixTrie.build(codes, 5, 2, [2, 3]);
  const m = t.prefixMass(trie, [1], { decay: 0.5, reverse: 0 });
  assert.equal(m[0]!.get(0), 4 + 2, '1 → 2 three trained and once live, 1 → 4 twice');
  assert.equal(m[2]!.get(trie.itemLeaf[4]!), 2);
  // Read backwards (reverse 1), the new item's own row holds its live predecessor and successor.
  const r = t.prefixMass(trie, [4], { decay: 0.5, reverse: 1 });
  assert.equal(r[2]!.get(trie.itemLeaf[0]!), 1);
  assert.equal(r[2]!.get(trie.itemLeaf[1]!), 2);
  // The arrays a bundle stores hold the trained table only.
  assert.equal(t.toArrays().next.length, 3);
  // Taking live counts back (a deleted user) never goes below zero, nor touches the trained counts.
  t.add(1, 4, -2); t.add(1, 2, -5);
  assert.deepEqual([t.times(1, 4), t.times(1, 2), t.liveCount], [0, 3, 1]);
  assert.equal(t.prefixMass(trie, [4], { decay: 0.5, reverse: 1 })[2]!.get(trie.itemLeaf[1]!), undefined);
});

test('prefix mass equals a direct sum over every node\'s items, call after call, on two tries, with live transitions, reverse and shares', () => {
  // A random table over 60 items (span 4) and two random 3-level tries over them.
  let seed = 12345;
  const rand = (n: number) => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return (seed >>> 8) % n; };
  const N = 60, seqs: number[] = [], offs = [0], stops: number[] = [];
  for (let u = 0; u < 40; u++) { for (let k = 0; k < 12; k++) seqs.push(rand(N)); offs.push(seqs.length); stops.push(seqs.length - 2); }
  const t = TransitionTable.fromSequences(Int32Array.from(seqs), offs, stops, N, 4);
  t.add(5, 61, 2); t.add(61, 7, 1.5); // live transitions, a new item (61) among them
  const trieOf = () => {
    const codes = new Int32Array(N * 3), used = new Set<string>();
    for (let i = 0; i < N; i++) { let c: number[]; do c = [rand(4), rand(4), rand(8)]; while (used.has(c.join())); used.add(c.join()); codes.set(c, 3 * i); }
    return PrefixTrie.build(codes, N, 3, [4, 4, 8]);
  };
  const direct = (trie: PrefixTrie, recent: number[], o: { decay: number; reverse: number; shares?: boolean }) => {
    // n(b) for every item b, then each node's mass as the sum over the items below it.
    const n = new Float64Array(N);
    recent.forEach((a, w) => {
      let total = 0;
      for (let b = 0; b < 62; b++) total += t.times(a, b) + o.reverse * t.times(b, a);
      const wt = 0.5 ** w / (o.shares ? total : 1);
      if (!(total > 0)) return;
      for (let b = 0; b < N; b++) n[b]! += (t.times(a, b) + o.reverse * t.times(b, a)) * wt;
    });
    return Array.from({ length: 4 }, (_, l) => {
      const m = new Map<number, number>();
      for (let b = 0; b < N; b++) {
        if (n[b] === 0) continue;
        let node = trie.itemLeaf[b]!;
        for (let d = 3; d > l; d--) node = trie.parent[d - 1]![node]!;
        m.set(node, (m.get(node) ?? 0) + n[b]!);
      }
      return m;
    });
  };
  for (const trie of [trieOf(), trieOf()]) {
    for (let call = 0; call < 30; call++) {
      const recent = Array.from({ length: 1 + rand(5) }, () => rand(N));
      const o = { decay: 0.5, reverse: call % 3 === 0 ? 0 : 0.5, ...(call % 2 ? { shares: true } : {}) };
      const got = t.prefixMass(trie, recent, o), want = direct(trie, recent, o);
      for (let l = 0; l <= 3; l++) {
        assert.deepEqual([...got[l]!.keys()].sort((a, b) => a - b), [...want[l]!.keys()].sort((a, b) => a - b), `call ${call}, depth ${l}: the same nodes`);
        for (const [node, m] of want[l]!) assert.ok(Math.abs(got[l]!.get(node)! - m) < 1e-9 * Math.max(1, m), `call ${call}, depth ${l}, node ${node}: ${got[l]!.get(node)} vs ${m}`);
      }
    }
  }
});
