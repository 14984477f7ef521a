import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainToyGenerator } from './toy-generator.js';
import { Generator, childCountGroups, codeOffsets, distanceBuckets, firstLevelGroupCount, gapBucket, itemTokenTable, itemTripleRows, pairRowTable, prefixChildren, firstLevelPrefixes, prefixPairs, tripleChildren, type GeneratorConfig } from './generator.js';
import { HstuBlock } from './layers.js';
import { PrefixTrie } from '../tokenizer/index.js';
import { Graph, Rng, runGraph } from '../engine/index.js';

for (const arch of ['causal', 'lazy'] as const) {
  test(`${arch} generator learns the toy next-item rule`, async () => {
    const { losses } = await trainToyGenerator(arch, 200);
    const last = losses.slice(-10).reduce((a, b) => a + b) / 10;
    // 3 code levels, 10% noise: the optimum is ≈ 1.0 nats; knowing nothing is ln(256) ≈ 5.5.
    assert.ok(losses[0]! > 5, `first loss ${losses[0]}`);
    assert.ok(last < 2, `last loss ${last}`);
  });
}

test('flat code tokens: level offsets, padding row and gap buckets', () => {
  assert.deepEqual(Array.from(codeOffsets([4, 3, 2])), [1, 5, 8]);
  // item 0 = (1, 2, 0), item 1 = (3, 0, 1); row 0 is padding (each level's first token).
  const t = itemTokenTable(Int32Array.from([1, 2, 0, 3, 0, 1]), 2, [4, 3, 2]);
  assert.deepEqual(Array.from(t), [1, 5, 8, 2, 7, 8, 4, 5, 9]);
  assert.equal(gapBucket(0, 8), 0);
  assert.equal(gapBucket(NaN, 8), 0);
  assert.ok(gapBucket(3600, 8) > gapBucket(60, 8));
  assert.equal(gapBucket(1e12, 8), 7);
});

test('first-level prototypes: a code logit is z·e + log Σₘ exp(z·pₘ), in the exported decode graph', async () => {
  const sizes = [4, 3, 2], d = 8, M = 3;
  const model = new Generator({ arch: 'causal', codeSizes: sizes, numItems: 5, maxLen: 4, dModel: d, nHead: 2, nLayer: 1, itemIdEmbedding: false, numEventTypes: 0, gapBuckets: 0, dropout: 0, firstLevelPrototypes: M }).initialize(3);
  // Make the prototypes matter (their init is ~0.02).
  const rng = new Rng(5);
  for (let i = 0; i < model.protoEmb!.data.length; i++) model.protoEmb!.data[i] = rng.normal();
  const g = new Graph('t', true);
  const z = g.input('z', 'float32', ['rows', d]);
  const zn = model.outNorm.forward(z);
  const out = await runGraph(g, { logits: model.levelLogits(z, 0), zn }, { z: { data: Float32Array.from({ length: 2 * d }, () => rng.normal()), dims: [2, d] } });
  const logits = out.logits as Float32Array, n = out.zn as Float32Array;
  const E = model.codeEmb.weight.data, P = model.protoEmb!.data, off = codeOffsets(sizes)[0]!;
  for (let r = 0; r < 2; r++) {
    for (let c = 0; c < sizes[0]!; c++) {
      let base = 0;
      for (let j = 0; j < d; j++) base += n[r * d + j]! * E[(off + c) * d + j]!;
      let s = 0;
      for (let m = 0; m < M; m++) {
        let dot = 0;
        for (let j = 0; j < d; j++) dot += n[r * d + j]! * P[(c * M + m) * d + j]!;
        s += Math.exp(dot);
      }
      assert.ok(Math.abs(logits[r * sizes[0]! + c]! - (base + Math.log(s))) < 1e-4, `row ${r} code ${c}`);
    }
  }
});

test('embStd sets the initial scale of the code, item, pair and prototype tables', () => {
  const std = (a: Float32Array) => Math.sqrt(a.reduce((s, x) => s + x * x, 0) / a.length);
  for (const embStd of [0.02, 0.125]) {
    const m = new Generator({ arch: 'causal', codeSizes: [16, 16, 4], numItems: 200, maxLen: 4, dModel: 16, nHead: 2, nLayer: 1, itemIdEmbedding: true, numEventTypes: 0, gapBuckets: 0, dropout: 0, firstLevelPrototypes: 4, embStd }).initialize(1);
    for (const t of [m.codeEmb.weight.data, m.itemEmb!.weight.data, m.pairEmb!.data, m.protoEmb!.data]) {
      assert.ok(Math.abs(std(t) / embStd - 1) < 0.1, `std ${std(t)} for embStd ${embStd}`);
    }
  }
});

for (const pairTemperature of [undefined, 0.1]) test(`pair softmax${pairTemperature ? ' (cosine / temperature)' : ''}: first-level marginal × second-level children = one softmax over the prefixes, in the decode steps`, async () => {
  const sizes = [4, 3, 2], d = 8, U = 2;
  // 8 distinct (c₀, c₁) prefixes; code 3 has none (the search must never need it).
  const codes = Int32Array.from([0, 0, 0, 0, 0, 1, 0, 2, 0, 1, 0, 0, 1, 1, 1, 2, 0, 0, 2, 1, 0, 2, 2, 1, 2, 2, 0, 0, 1, 1]);
  const trie = PrefixTrie.build(codes, codes.length / 3, 3, sizes);
  const pairs = prefixPairs(trie), P = pairs.length / 2;
  assert.equal(P, 8);
  const model = new Generator({ arch: 'causal', codeSizes: sizes, numItems: codes.length / 3, maxLen: 4, dModel: d, nHead: 2, nLayer: 1, itemIdEmbedding: false, numEventTypes: 0, gapBuckets: 0, dropout: 0, firstLevelPrototypes: 4, pairSoftmax: true, pairRows: P - 1, pairTemperature }).initialize(3);
  assert.equal(model.protoEmb, null, 'the pair softmax replaces the prototypes');
  if (pairTemperature) {
    const bad = (extra: Record<string, unknown>) => () => new Generator({ ...model.c, ...extra });
    assert.throws(bad({ pairTemperature: -1 }), /pairTemperature/);
    assert.throws(bad({ pairSoftmax: false }), /pairTemperature/, 'without the pair softmax it would be silently ignored');
  }
  const rng = new Rng(11);
  for (const t of [model.pairEmb!.data, model.codeEmb.weight.data]) for (let i = 0; i < t.length; i++) t[i] = rng.normal();
  const g = new Graph('t', true);
  const ctx = { kind: 'causal' as const, h: g.input('h', 'float32', [U, d]) };
  const users = g.constant(Int32Array.from([0, 1]), [U], 'int32');
  // The table knows all prefixes but the last (as if its item arrived after training): it scores through
  // its code vectors alone.
  const rowOf = pairRowTable(pairs.subarray(0, 2 * (P - 1)), 4, 3);
  const head = { pairs: g.input('pairs', 'int32', [P, 2]), rowOf: g.constant(rowOf, [12], 'int32') };
  const t = prefixChildren(trie, rowOf, P - 1, 4, 3), dims = [4, t.width];
  assert.equal(t.width, 3);
  const children = { codes: g.constant(t.codes, dims, 'int32'), rows: g.constant(t.rows, dims, 'int32'), known: g.constant(t.known, dims, 'float32'), mask: g.constant(t.mask, dims, 'float32') };
  const f = firstLevelPrefixes(trie, rowOf, P - 1, 4, 3);
  assert.equal(f.count, P);
  assert.equal(f.width, t.width);
  const prefixes = {
    codes: g.constant(f.codes, [P], 'int32'), rows: g.constant(f.rows, [P], 'int32'), known: g.constant(f.known, [P], 'float32'),
    groups: f.groups.map((t) => ({ index: g.constant(t.index, [t.count, t.width], 'int32'), mask: g.constant(t.mask, [t.count, t.width], 'float32') })), order: g.constant(f.order, [4], 'int32'),
  };
  // Level-1 rows: every (user, c₀) with c₀ < 3.
  const rowUser = g.constant(Int32Array.from([0, 0, 0, 1, 1, 1]), [6], 'int32');
  const prefix = g.constant(Int32Array.from([0, 1, 2, 0, 1, 2].map((c) => codeOffsets(sizes)[0]! + c)), [6, 1], 'int32');
  const out = await runGraph(g, {
    first: model.decodeStep(ctx, users, null, 0, { children, prefixes }),
    second: model.decodeStep(ctx, rowUser, prefix, 1, { children }),
    ...(pairTemperature ? {} : {
      childSecond: model.secondLevelChildLogits(ctx, rowUser, prefix, children),
      // As the decode graphs do it: from the first level's per-user score tables.
      handedOn: model.secondLevelChildLogits(ctx, rowUser, prefix, children, model.firstLevel(ctx, users, prefixes)),
    }),
    joint: model.pairLogits(model.decodeState(ctx, users, null, 0), head),
    zn: model.outNorm.forward(model.decodeState(ctx, users, null, 0)),
    z: model.decodeState(ctx, users, null, 0),
  }, { h: { data: Float32Array.from({ length: U * d }, () => rng.normal()), dims: [U, d] }, pairs: { data: pairs, dims: [P, 2] } });
  const first = out.first as Float32Array, second = out.second as Float32Array, joint = out.joint as Float32Array, zn = out.zn as Float32Array, z = out.z as Float32Array;
  // The unseen prefix's logit is z·(e₀ + e₁) only (cosine: of z and e₀ + e₁, over the temperature).
  const E = model.codeEmb.weight.data, off = codeOffsets(sizes), [u0, u1] = [pairs[2 * (P - 1)]!, pairs[2 * (P - 1) + 1]!];
  const norm = (v: number[]) => Math.sqrt(v.reduce((a, x) => a + x * x, 0));
  for (let u = 0; u < U; u++) {
    const w = Array.from({ length: d }, (_, j) => E[(off[0]! + u0) * d + j]! + E[(off[1]! + u1) * d + j]!);
    const q = Array.from(pairTemperature ? z.subarray(u * d, u * d + d) : zn.subarray(u * d, u * d + d));
    let dot = q.reduce((a, x, j) => a + x * w[j]!, 0);
    if (pairTemperature) dot /= norm(q) * norm(w) * pairTemperature;
    assert.ok(Math.abs(joint[u * P + P - 1]! - dot) < 1e-4, `unseen prefix logit ${joint[u * P + P - 1]} vs ${dot}`);
  }
  if (!pairTemperature) {
    // The second level's graph output: the same logits at each row's children, in trie order.
    const bc = out.childSecond as Float32Array, handed = out.handedOn as Float32Array;
    bc.forEach((x, i) => assert.ok(Math.abs(x - handed[i]!) < 1e-5, 'the same from the first level\'s score tables'));
    for (let r = 0; r < 6; r++) {
      const c0 = r % 3;
      for (let i = 0; i < t.width; i++) {
        if (t.mask[c0 * t.width + i] !== 0) assert.ok(bc[r * t.width + i]! < -1e8, 'padding');
        else assert.ok(Math.abs(bc[r * t.width + i]! - second[r * 3 + t.codes[c0 * t.width + i]!]!) < 1e-5);
      }
    }
  }
  const lse = (xs: number[]) => { const m = Math.max(...xs); return m + Math.log(xs.reduce((a, x) => a + Math.exp(x - m), 0)); };
  for (let u = 0; u < U; u++) {
    const row = Array.from(joint.subarray(u * P, u * P + P));
    const firstValid = [0, 1, 2].map((c) => first[u * 4 + c]!);
    assert.ok(first[u * 4 + 3]! < Math.max(...firstValid) - 50, 'a code without prefixes scores ≈ −∞');
    for (let p = 0; p < P; p++) {
      const c0 = pairs[2 * p]!, c1 = pairs[2 * p + 1]!;
      const kids = [...Array(P).keys()].filter((q) => pairs[2 * q] === c0).map((q) => second[(u * 3 + c0) * 3 + pairs[2 * q + 1]!]!);
      const chained = first[u * 4 + c0]! - lse(firstValid) + second[(u * 3 + c0) * 3 + c1]! - lse(kids);
      assert.ok(Math.abs(chained - (row[p]! - lse(row))) < 1e-4, `user ${u} prefix ${c0}-${c1}: ${chained} vs ${row[p]! - lse(row)}`);
    }
  }
});

test('first-level groups: every prefix once, in its code\'s row; the cuts leave the fewest padded slots', () => {
  const rng = new Rng(5);
  // Padded slots of cutting the sorted counts at every choice of cut points (brute force, small K).
  const best = (w: number[], G: number): number => {
    if (G === 1) return w.length * w[w.length - 1]!;
    let m = Infinity;
    for (let i = 1; i <= w.length - G + 1; i++) m = Math.min(m, i * w[i - 1]! + best(w.slice(i), G - 1));
    return m;
  };
  for (let trial = 0; trial < 20; trial++) {
    const K = 1 + rng.int(9), G = 1 + rng.int(4);
    const counts = Int32Array.from({ length: K }, () => (rng.int(4) === 0 ? 0 : 1 + rng.int(12)));
    const { sorted, cuts } = childCountGroups(counts, G);
    assert.equal(cuts.length, Math.min(G, K));
    assert.deepEqual([cuts[0]![0], ...cuts.map((c) => c[1])], [0, ...cuts.slice(1).map((c) => c[0]), K], 'consecutive runs from 0 to K');
    assert.ok(cuts.every(([i, j]) => j > i), 'no empty group');
    const widths = Array.from(sorted, (c) => Math.max(1, counts[c]!));
    const slots = cuts.reduce((a, [i, j]) => a + (j - i) * widths[j - 1]!, 0);
    assert.equal(slots, best(widths, Math.min(G, K)), `counts ${counts}, ${G} groups`);
  }
  // Fewer distinct counts than groups: runs of equal counts split, nothing padded.
  const even = childCountGroups(Int32Array.from([3, 3, 3, 3, 3, 1]), 4);
  assert.equal(even.cuts.length, 4);
  assert.equal(even.cuts.reduce((a, [i, j]) => a + (j - i) * Math.max(1, [3, 3, 3, 3, 3, 1][even.sorted[j - 1]!]!), 0), 16);
  // A catalogue whose first-level codes have 0–9 prefixes.
  const sizes = [12, 10, 3], rows: number[] = [];
  for (let c0 = 0; c0 < 12; c0++) for (let c1 = 0; c1 < (c0 * 7) % 10; c1++) rows.push(c0, c1, rng.int(3));
  const codes = Int32Array.from(rows), n = codes.length / 3;
  const trie = PrefixTrie.build(codes, n, 3, sizes);
  const pairs = prefixPairs(trie), P = pairs.length / 2;
  const f = firstLevelPrefixes(trie, pairRowTable(pairs, 12, 10), P, 12, 10);
  assert.equal(f.groups.length, firstLevelGroupCount(12));
  const seen = new Int32Array(P);
  const at = f.groups.flatMap((t) => Array.from({ length: t.count }, (_, r) => ({ t, r })));
  for (let c0 = 0; c0 < 12; c0++) {
    const { t, r } = at[f.order[c0]!]!;
    const mine: number[] = [];
    for (let k = 0; k < t.width; k++) if (t.mask[r * t.width + k] === 0) mine.push(t.index[r * t.width + k]!);
    assert.deepEqual(mine.map((p) => pairs[2 * p]), mine.map(() => c0), 'a code\'s row lists its own prefixes');
    assert.equal(mine.length, (c0 * 7) % 10);
    for (const p of mine) seen[p]++;
  }
  assert.ok(seen.every((x) => x === 1), 'every prefix exactly once');
  assert.ok(f.groups.reduce((a, t) => a + t.count * t.width, 0) < 12 * f.width, 'fewer slots than one table padded to the widest code');
});

test('triple vectors: a third-level code scores z·(e₂ + triple[c₀, c₁, c₂]) at its prefix, z·e₂ for a prefix newer than the table', async () => {
  const sizes = [2, 2, 3], d = 8, U = 2, off = codeOffsets(sizes);
  // Training catalogue: 6 items under 3 (c₀, c₁) prefixes; one item arrives later with a new triple.
  const trained = Int32Array.from([0, 0, 0, 0, 0, 2, 0, 1, 1, 1, 0, 0, 1, 0, 1, 1, 0, 2]);
  const codes = Int32Array.from([...trained, 0, 0, 1]);
  const trainedTrie = PrefixTrie.build(trained, 6, 3, sizes), trie = PrefixTrie.build(codes, 7, 3, sizes);
  const model = new Generator({ arch: 'causal', codeSizes: sizes, numItems: 6, maxLen: 4, dModel: d, nHead: 2, nLayer: 1, itemIdEmbedding: false, numEventTypes: 0, gapBuckets: 0, dropout: 0, tripleVectors: true, tripleRows: trainedTrie.nodeCount[3]! }).initialize(3);
  assert.equal(model.tripleEmb!.shape[0], 6);
  const rng = new Rng(5);
  for (const t of [model.tripleEmb!.data, model.codeEmb.weight.data]) for (let i = 0; i < t.length; i++) t[i] = rng.normal();
  const t = tripleChildren(trie, trainedTrie), dims = [t.nodes, t.width];
  assert.deepEqual([t.nodes, t.width], [3, 3]);
  // Beam rows: every (user, depth-2 node) pair; node p's prefix comes from the trie.
  const rowsUser: number[] = [], rowsNode: number[] = [], prefix: number[] = [];
  for (let u = 0; u < U; u++) for (let p = 0; p < t.nodes; p++) {
    rowsUser.push(u); rowsNode.push(p);
    prefix.push(off[0]! + trie.tokens[0]![trie.parent[1]![p]!]!, off[1]! + trie.tokens[1]![p]!);
  }
  const R = rowsUser.length;
  const g = new Graph('t', true); // weights embedded
  const ctx = { kind: 'causal' as const, h: g.input('h', 'float32', [U, d]) };
  const rowUser = g.constant(Int32Array.from(rowsUser), [R], 'int32'), pre = g.constant(Int32Array.from(prefix), [R, 2], 'int32');
  const triples = { node: g.constant(Int32Array.from(rowsNode), [R], 'int32'), codes: g.constant(t.codes, dims, 'int32'), rows: g.constant(t.rows, dims, 'int32'), known: g.constant(t.known, dims, 'float32') };
  const out = await runGraph(g, {
    logits: model.decodeStep(ctx, rowUser, pre, 2, { triples }),
    zn: model.outNorm.forward(model.decodeState(ctx, rowUser, pre, 2)),
  }, { h: { data: Float32Array.from({ length: U * d }, () => rng.normal()), dims: [U, d] } });
  const logits = out.logits as Float32Array, zn = out.zn as Float32Array;
  const E = model.codeEmb.weight.data, V = model.tripleEmb!.data;
  const dot = (r: number, table: Float32Array, row: number) => { let s = 0; for (let j = 0; j < d; j++) s += zn[r * d + j]! * table[row * d + j]!; return s; };
  let newer = 0;
  for (let r = 0; r < R; r++) {
    const p = rowsNode[r]!, c0 = prefix[2 * r]! - off[0]!, c1 = prefix[2 * r + 1]! - off[1]!;
    for (let c2 = 0; c2 < 3; c2++) {
      const k = trie.child(2, p, c2);
      const row = k < 0 ? -1 : trainedTrie.child(2, trainedTrie.child(1, trainedTrie.child(0, 0, c0), c1), c2);
      const want = dot(r, E, off[2]! + c2) + (row >= 0 ? dot(r, V, row) : 0);
      if (k >= 0 && row < 0) newer++;
      assert.ok(Math.abs(logits[r * 3 + c2]! - want) < 1e-4, `row ${r} (${c0}-${c1}) code ${c2}: ${logits[r * 3 + c2]} vs ${want}`);
    }
  }
  assert.equal(newer, U, 'the new triple (0-0-1) was scored through its code vector alone, once per user');
});

test('triple input: a history item also enters as its (c₀, c₁, c₂) row of the triple table; an item whose triple is newer than the table, through its codes alone', async () => {
  const sizes = [2, 2, 3], d = 8, T = 4;
  // The triple-vectors fixture: 6 training items (6 triples, in trie order), then item 6 with a new triple 0-0-1.
  const trained = Int32Array.from([0, 0, 0, 0, 0, 2, 0, 1, 1, 1, 0, 0, 1, 0, 1, 1, 0, 2]);
  const codes = Int32Array.from([...trained, 0, 0, 1]);
  const trainedTrie = PrefixTrie.build(trained, 6, 3, sizes);
  const rows = itemTripleRows(trainedTrie, codes, 7, 3);
  assert.deepEqual(Array.from(rows), [-1, 0, 1, 2, 3, 4, 5, -1], 'index 0 is padding; the new triple has no row');
  const cfg: GeneratorConfig = { arch: 'causal', codeSizes: sizes, numItems: 6, maxLen: T, dModel: d, nHead: 2, nLayer: 1, itemIdEmbedding: true, numEventTypes: 0, gapBuckets: 0, dropout: 0, tripleVectors: true, tripleRows: 6 };
  const tied = new Generator({ ...cfg, tripleInput: true }).initialize(3), plain = new Generator(cfg).initialize(3);
  const history = Int32Array.from([7, 3, 0, 6]); // the new item, item 2, padding, item 5 (dense id + 1)
  const embed = async (model: Generator) => {
    const g = new Graph('e', true);
    const h = {
      items: g.constant(history, [1, T], 'int32'), mask: g.constant(Float32Array.from(history, (v) => (v > 0 ? 1 : 0)), [1, T], 'float32'),
      itemTokens: g.constant(itemTokenTable(codes, 7, sizes), [8, 3], 'int32'), tripleRowOf: g.constant(rows, [8], 'int32'),
    };
    return (await runGraph(g, { x: model.embedHistory(h) }, {})).x as Float32Array;
  };
  const [on, off] = [await embed(tied), await embed(plain)];
  const V = tied.tripleEmb!.data;
  for (let t = 0; t < T; t++) {
    const row = rows[history[t]!]!;
    for (let j = 0; j < d; j++) {
      const want = history[t]! > 0 && row >= 0 ? V[row * d + j]! : 0;
      assert.ok(Math.abs(on[t * d + j]! - off[t * d + j]! - want) < 1e-5, `position ${t} (row ${row}) dim ${j}`);
    }
  }
});

test('relative attention bias: distance buckets, and a packed row encodes each sequence as it would alone, left-padded', async () => {
  const b = distanceBuckets(6, 200, 8);
  assert.deepEqual(Array.from(b.subarray(5 * 6, 6 * 6)), [5, 4, 3, 2, 1, 0], 'exact below the exact range');
  assert.equal(b[0 * 6 + 3], 0, 'a key after the query (masked anyway) is distance 0');
  const far = distanceBuckets(200, 200, 32);
  let prev = 0;
  for (let d = 0; d < 200; d++) { assert.ok(far[d * 200]! >= prev && far[d * 200]! < 32); prev = far[d * 200]!; }
  assert.equal(far[16 * 200], 16);
  assert.equal(far[199 * 200], 31);

  const { model, encodeLast, alone } = await packedMatchesAlone({});
  // The bias changes what the encoder computes (else the check above could not fail).
  model.relBias!.data.fill(0);
  const flat = await encodeLast([[0, 0, 0, 4, 8, 2]], {}, [[0, 5]]);
  assert.ok(flat[0]!.some((x, j) => Math.abs(x - alone[0]![j]!) > 1e-3));
});

test('HSTU block: a packed row encodes each sequence as it would alone, and the block is not the transformer one', async () => {
  const hstu = await packedMatchesAlone({ block: 'hstu' });
  assert.ok(hstu.model.encoder.every((b) => b instanceof HstuBlock) && hstu.model.encoder.length === 2);
  const transformer = await packedMatchesAlone({});
  assert.ok(hstu.alone[0]!.some((x, j) => Math.abs(x - transformer.alone[0]![j]!) > 1e-3), 'the HSTU encoder computes something else');
  assert.throws(() => new Generator({ ...tinyCausal, block: 'mamba' as 'hstu' }), /block must be/);
});

const tinyCausal = { arch: 'causal' as const, codeSizes: [4, 3, 2], numItems: 10, maxLen: 6, dModel: 8, nHead: 2, nLayer: 2, itemIdEmbedding: true, numEventTypes: 0, gapBuckets: 0, dropout: 0, relativeBuckets: 4 };

/**
 * Encodes two 3-item sequences once packed into one row of 6 (segments, per-token positions) and once
 * left-padded alone, asserts the last tokens' states agree (to 1e-4), and returns the pieces.
 */
async function packedMatchesAlone(extra: Partial<GeneratorConfig>) {
  const sizes = tinyCausal.codeSizes, d = tinyCausal.dModel, T = tinyCausal.maxLen, numItems = tinyCausal.numItems;
  const model = new Generator({ ...tinyCausal, ...extra }).initialize(7);
  const rng = new Rng(3);
  for (let i = 0; i < model.relBias!.data.length; i++) model.relBias!.data[i] = 2 * rng.normal();
  const codes = Int32Array.from({ length: numItems * 3 }, (_, k) => (k % 3 === 0 ? k % 4 : k % 3 === 1 ? k % 3 : k % 2));
  const tokens = itemTokenTable(codes, numItems, sizes);
  const seqA = [3, 7, 1], seqB = [5, 6, 8]; // lengths 3 and 3: one row of T = 6 holds both
  // Encoded state of each sequence's last token, from a packed row and from left-padded rows.
  const encodeLast = async (items: number[][], ex: { segments?: number[][]; positions?: number[][]; lastOnly?: boolean }, pick: Array<[number, number]>) => {
    const g = new Graph('t', true); // weights embedded as constants, inference mode
    const B = items.length;
    const t = (rows: number[][]) => g.constant(Int32Array.from(rows.flat()), [B, T], 'int32');
    const h = {
      items: t(items), mask: g.constant(Float32Array.from(items.flat(), (x) => (x > 0 ? 1 : 0)), [B, T], 'float32'),
      itemTokens: g.constant(tokens, [numItems + 1, 3], 'int32'),
      ...(ex.segments ? { segments: t(ex.segments), positions: t(ex.positions!) } : {}),
    };
    // lastOnly: the inference path, which computes the last position alone in the last block.
    const out = (await runGraph(g, { x: model.encode(h, ex.lastOnly) }, {})).x as Float32Array, rows = ex.lastOnly ? 1 : T;
    return pick.map(([r, i]) => Array.from(out.subarray((r * rows + (ex.lastOnly ? 0 : i)) * d, (r * rows + (ex.lastOnly ? 0 : i) + 1) * d)));
  };
  const id = (s: number[]) => s.map((x) => x + 1);
  const alone = await encodeLast([[0, 0, 0, ...id(seqA)], [0, 0, 0, ...id(seqB)]], {}, [[0, 5], [1, 5]]);
  const lastOnly = await encodeLast([[0, 0, 0, ...id(seqA)], [0, 0, 0, ...id(seqB)]], { lastOnly: true }, [[0, 5], [1, 5]]);
  for (let s = 0; s < 2; s++) for (let j = 0; j < d; j++) assert.ok(Math.abs(alone[s]![j]! - lastOnly[s]![j]!) < 1e-5, `last position alone, sequence ${s} dim ${j}: ${alone[s]![j]} vs ${lastOnly[s]![j]}`);
  const packed = await encodeLast([[...id(seqA), ...id(seqB)]], { segments: [[1, 1, 1, 2, 2, 2]], positions: [[3, 4, 5, 3, 4, 5]] }, [[0, 2], [0, 5]]);
  for (let s = 0; s < 2; s++) for (let j = 0; j < d; j++) assert.ok(Math.abs(alone[s]![j]! - packed[s]![j]!) < 1e-4, `sequence ${s} dim ${j}: ${alone[s]![j]} vs ${packed[s]![j]}`);
  return { model, encodeLast, alone };
}

test('a training graph encodes in query chunks with the states of the unchunked inference graph', async () => {
  // 120 positions: two chunks of 60 rows. Two users packed into each row, relative bias on.
  const T = 120, B = 2, numItems = 30, sizes = [4, 3, 2], d = 8;
  const model = new Generator({ ...tinyCausal, numItems, maxLen: T, relativeBuckets: 8 }).initialize(5);
  const rng = new Rng(9);
  for (let i = 0; i < model.relBias!.data.length; i++) model.relBias!.data[i] = rng.normal();
  const codes = Int32Array.from({ length: numItems * 3 }, () => rng.int(2));
  const items = Int32Array.from({ length: B * T }, () => 1 + rng.int(numItems));
  const segments = Int32Array.from({ length: B * T }, (_, k) => (k % T < 70 ? 1 : 2));
  const positions = Int32Array.from({ length: B * T }, (_, k) => (k % T < 70 ? k % T + 50 : k % T));
  const encode = async (training: boolean) => {
    const g = new Graph('t', true, training);
    const t = (x: Int32Array) => g.constant(x, [B, T], 'int32');
    const h = { items: t(items), mask: g.constant(new Float32Array(B * T).fill(1), [B, T], 'float32'), itemTokens: g.constant(itemTokenTable(codes, numItems, sizes), [numItems + 1, 3], 'int32'), segments: t(segments), positions: t(positions) };
    const x = model.encode(h);
    // Chunked: the second chunk's scores are [B, H, 60, 120].
    assert.equal(g.nodes.some((n) => n.op === 'MatMul' && n.outputs[0]!.shape.join() === `${B},2,60,${T}`), training);
    return (await runGraph(g, { x }, {})).x as Float32Array;
  };
  const [chunked, whole] = [await encode(true), await encode(false)];
  assert.equal(chunked.length, B * T * d);
  for (let i = 0; i < whole.length; i++) assert.ok(Math.abs(chunked[i]! - whole[i]!) < 1e-4, `state ${i}: ${chunked[i]} vs ${whole[i]}`);
});
