import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, GenrecError, exportOnnx } from '../engine/index.js';
import { TOY, toyCodes, toyNext, trainToyGenerator } from '../models/toy-generator.js';
import { latestBundle, readBundle, writeBundle } from '../train/bundle.js';
import { GenerativeModel } from './generative.js';
import { Generator, TransitionTable } from '../models/index.js';
import { trainGenerator } from '../train/index.js';
import { splitWithRandomCodes } from '../train/fixtures.js';
import { SequenceBatcher, trainingSequences } from '../data/index.js';

test('a trained generator round-trips through a bundle and recommends by beam search over valid IDs', async () => {
  const { model } = await trainToyGenerator('causal', 250);
  const dir = mkdtempSync(join(tmpdir(), 'genrec-bundle-'));
  const itemIds = Array.from({ length: TOY.items }, (_, i) => `item-${i}`);
  const path = writeBundle(dir, {
    model, codes: toyCodes(), itemIds, tokenizer: { version: 1 }, data: { label: 'toy', users: 0, items: TOY.items, events: 0 },
    writeTokenizer: (p) => writeFileSync(p, 'tokenizer bytes'),
  });
  assert.equal(latestBundle(dir), path);
  assert.equal(readBundle(path).manifest.files.tokenizer, 'tokenizer.safetensors');
  assert.equal(readFileSync(join(path, 'tokenizer.safetensors'), 'utf8'), 'tokenizer bytes', 'written inside the bundle before it is published');
  const gm = await GenerativeModel.load(path, { threads: 2 });
  assert.equal(gm.version, 1);
  const T = TOY.maxLen, U = 30, rng = new Rng(9);
  const items = new Int32Array(U * T);
  const last: number[] = [];
  for (let u = 0; u < U; u++) { const it = rng.int(TOY.items); items[u * T + T - 1] = it + 1; last.push(it); }
  const r = await gm.recommend({ users: U, items }, { k: 10, beam: 20, exclude: (u) => [last[u]!] });
  let hit1 = 0;
  for (let u = 0; u < U; u++) {
    if (r.items[u * 10] === toyNext(last[u]!)) hit1++;
    for (let j = 0; j < 10; j++) {
      const it = r.items[u * 10 + j]!;
      assert.ok(it >= 0 && it < TOY.items, 'every result is a real item');
      assert.notEqual(it, last[u], 'the excluded item never comes back');
    }
  }
  assert.ok(hit1 / U >= 0.9, `hit@1 ${hit1 / U}`);

  // "Why": the history item sharing the longest code prefix.
  const why = gm.explain(5, [5 + 32, 4, 100]);
  assert.deepEqual(why.items, [4]);
  assert.deepEqual(why.sharedPrefix, [0, 1]);

  // New items join the trie at once and are recommendable; duplicate IDs are refused.
  const [added] = gm.addItems(['new-1'], Int32Array.from([7, 7, 3]));
  assert.equal(added, TOY.items);
  assert.equal(gm.itemIds[added!], 'new-1');
  const others = Array.from({ length: TOY.items }, (_, i) => i);
  const only = await gm.recommend({ users: 1, items: items.subarray(0, T) }, { k: 1, beam: 4, exclude: () => others });
  assert.equal(only.items[0], added, 'the new item is reachable in the trie');
  assert.throws(() => gm.addItems(['dup'], Int32Array.from([0, 0, 0])), (e: unknown) => e instanceof GenrecError && e.code === 'GENREC_E_TOKENIZER_DUPLICATE');

  // A decode graph asking for a table this version does not build (a bundle from another version) is a coded error.
  const decode0 = (gm as unknown as { sessions: { decode: { inputNames: readonly string[] }[] }[] }).sessions[0]!.decode[0]!;
  Object.defineProperty(decode0, 'inputNames', { value: [...decode0.inputNames, 'prefix_parent'] });
  await assert.rejects(gm.recommend({ users: 1, items: items.subarray(0, T) }, { k: 1, beam: 4 }), (e: unknown) => e instanceof GenrecError && e.code === 'GENREC_E_BUNDLE' && /prefix_parent/.test(e.message));
  await gm.close();
});

test('memorised transitions ride in the bundle and lift a memorised successor for users whose last item has one; others get the model alone', async () => {
  const { model } = await trainToyGenerator('causal', 250);
  // Users always went 10 → 50 (the model's favourite after 10 is toyNext(10) = 73).
  const seq = Int32Array.from(Array.from({ length: 8 }, () => [10, 50]).flat());
  const table = TransitionTable.fromSequences(seq, Array.from({ length: 8 }, (_, u) => 2 * u), Array.from({ length: 8 }, (_, u) => 2 * u + 2), TOY.items);
  const dir = mkdtempSync(join(tmpdir(), 'genrec-bundle-'));
  const itemIds = Array.from({ length: TOY.items }, (_, i) => `item-${i}`);
  const options = { beta: 4, window: 3, decay: 0.5, reverse: 0 };
  const path = writeBundle(dir, { model, codes: toyCodes(), itemIds, tokenizer: { version: 1 }, data: { label: 'toy', users: 8, items: TOY.items, events: 16 }, memory: { table, options } });
  assert.deepEqual(readBundle(path).manifest.memory, { ...options, transitions: 1 });
  const gm = await GenerativeModel.load(path, { threads: 1 });
  assert.deepEqual(gm.memoryOptions, options);
  const T = TOY.maxLen, items = new Int32Array(2 * T);
  items[T - 1] = 10 + 1; // user 0: last item 10
  items[2 * T - 1] = 20 + 1; // user 1: last item 20, never followed by anything in the table
  const mixed = await gm.recommend({ users: 2, items }, { k: 5, beam: 10 });
  const alone = await gm.recommend({ users: 2, items }, { k: 5, beam: 10, memory: false });
  assert.equal(alone.items[0], toyNext(10), 'the model alone ranks its own favourite first');
  assert.equal(mixed.items[0], 50, 'eight memorised transitions against β = 4 put 50 first');
  assert.ok(Array.from(mixed.items.subarray(0, 5)).includes(toyNext(10)), 'the model\'s favourite stays in the list');
  assert.deepEqual(Array.from(mixed.items.subarray(5)), Array.from(alone.items.subarray(5)), 'no counts: the model alone');
  assert.deepEqual(gm.explain(50, [3, 10]).followed, [{ item: 10, times: 8 }], 'the why names the memorised transition');
  assert.deepEqual(gm.explain(toyNext(10), [3, 10]).followed, []);
  // Live transitions (a server's events after training) count from the next search on: 20 → 60 nine times.
  gm.addTransitions(Int32Array.from(Array.from({ length: 9 }, () => [20, 60, 1]).flat()));
  gm.addTransitions(Int32Array.from([20, 61, 2])); // further back than this table's span (1): not counted
  const live = await gm.recommend({ users: 2, items }, { k: 5, beam: 10 });
  assert.equal(live.items[5], 60);
  assert.deepEqual(gm.explain(60, [20]).followed, [{ item: 20, times: 9 }]);
  assert.deepEqual(gm.explain(61, [20]).followed, []);
  // Options and table must name the same span: a mismatch is refused and the memory stays as it was.
  assert.throws(() => gm.setMemory({ table, options: { ...options, span: 10 } }), (e: unknown) => e instanceof GenrecError && e.code === 'GENREC_E_MEMORY' && /span 10/.test(e.message));
  assert.deepEqual(gm.memoryOptions, options);
  gm.setMemory(null);
  assert.equal(gm.memoryOptions, null);
  assert.deepEqual(Array.from((await gm.recommend({ users: 2, items }, { k: 5, beam: 10 })).items), Array.from(alone.items));
  await gm.close();
});

test('the lazy generator exports and decodes through the same beam search', async () => {
  const { model } = await trainToyGenerator('lazy', 60);
  const itemIds = Array.from({ length: TOY.items }, (_, i) => `item-${i}`);
  const gm = await GenerativeModel.fromModule(model, toyCodes(), itemIds, { threads: 2 });
  const T = TOY.maxLen, U = 5, items = new Int32Array(U * T);
  for (let u = 0; u < U; u++) items[u * T + T - 1] = u + 1;
  const r = await gm.recommend({ users: U, items }, { k: 10, beam: 10, exclude: (u) => [u] });
  for (let j = 0; j < U * 10; j++) assert.ok(r.items[j]! >= 0 && r.items[j]! < TOY.items, 'valid items');
  for (let u = 0; u < U; u++) assert.ok(!Array.from(r.items.subarray(u * 10, u * 10 + 10)).includes(u), 'excluded item absent');
  await gm.close();
});

for (const [pairInput, tripleVectors, tripleInput, pairTemperature] of [[false, false, false, 0], [true, false, false, 0], [false, true, false, 0], [true, true, true, 0], [true, true, true, 0.1]] as const) {
  test(`a pair-softmax generator (pair input ${pairInput}, triple vectors ${tripleVectors}, triple input ${tripleInput}, temperature ${pairTemperature || 'off'}) trains and its exported graphs recommend only real items`, async () => {
    const { split, codes, sizes } = await splitWithRandomCodes();
    const n = split.interactions.numItems;
    const base = { split, codes, codeSizes: sizes, maxLen: 10, epochs: 3, batchSize: 16, seed: 5, runtime: { threads: 1 } };
    const { model, result } = await trainGenerator({ ...base, model: { dModel: 16, nHead: 2, nLayer: 1, dropout: 0.1, pairSoftmax: true, pairInput, tripleVectors, tripleInput, pairTemperature } });
    const losses = result.history.map((e) => e.loss);
    assert.ok(losses[2]! < losses[0]!, `loss falls: ${losses.join(', ')}`);
    assert.equal(model.protoEmb, null);
    const gm = await GenerativeModel.fromModule(model, codes, Array.from({ length: n }, (_, i) => `i${i}`), { threads: 1 });
    try {
      const T = 10, U = 4, items = new Int32Array(U * T);
      for (let u = 0; u < U; u++) items[u * T + T - 1] = 1 + u;
      const r = await gm.recommend({ users: U, items }, { k: 20, beam: 20 });
      for (let i = 0; i < U * 20; i++) assert.ok(r.items[i]! >= 0 && r.items[i]! < n, `result ${i}: ${r.items[i]}`);
      assert.equal(new Set(r.items.subarray(0, 20)).size, 20, 'distinct items');
      if (tripleVectors) assert.equal(model.tripleEmb!.shape[0], model.c.tripleRows, 'one row per training (c₀, c₁, c₂) prefix');
      // An item with a (c₀, c₁, c₂) prefix the tables have never seen is still reachable.
      const taken = new Set(Array.from({ length: n }, (_, i) => codes.slice(i * 3, i * 3 + 3).join('-')));
      let fresh = 0;
      while (taken.has([fresh >> 5, (fresh >> 2) & 7, fresh & 3].join('-'))) fresh++;
      const [added] = gm.addItems(['new'], Int32Array.from([fresh >> 5, (fresh >> 2) & 7, fresh & 3]));
      const others = Array.from({ length: n }, (_, i) => i);
      const only = await gm.recommend({ users: 1, items: items.subarray(0, T) }, { k: 1, beam: 4, exclude: () => others });
      assert.equal(only.items[0], added);
    } finally {
      await gm.close();
    }
  });
}

test('serving refuses a model that reads event types or time gaps (it passes item ids only)', async () => {
  const base = { arch: 'causal' as const, codeSizes: [4, 3, 2], numItems: 10, maxLen: 6, dModel: 8, nHead: 2, nLayer: 1, itemIdEmbedding: true, numEventTypes: 0, gapBuckets: 0, dropout: 0 };
  const codes = Int32Array.from({ length: 30 }, (_, k) => [Math.floor(k / 3) % 4, Math.floor(k / 12) % 3, 0][k % 3]!); // distinct per item
  const ids = Array.from({ length: 10 }, (_, i) => `i${i}`);
  for (const [extra, what] of [[{}, null], [{ gapBuckets: 4 }, /time gaps/], [{ numEventTypes: 3 }, /event types/]] as const) {
    const gm = await GenerativeModel.fromModule(new Generator({ ...base, ...extra }).initialize(1), codes, ids, { threads: 1 });
    try {
      if (what) assert.throws(() => gm.requireItemIdInputsOnly(), (e: unknown) => e instanceof GenrecError && e.code === 'GENREC_E_BUNDLE' && what.test(e.message));
      else assert.doesNotThrow(() => gm.requireItemIdInputsOnly());
    } finally {
      await gm.close();
    }
  }
});

// Training and serving must score an item alike: the teacher-forced loss is the mean over its targets
// of −log P(target | history) as the exported graphs' search computes it (a softmax over the valid
// children at each level). The targets are each row's last: an earlier target's history sits at other
// positions in the row than it would left-padded alone. Without dropout, and with an lr far below
// float32's resolution of the weights (a schedule needs a positive peak), one step's loss is that.
for (const pairSoftmax of [true, false]) {
  test(`the training loss equals the exported graphs' −log P of each target (${pairSoftmax ? 'pair softmax, pair and triple input, relative bias' : 'chained head'})`, async () => {
    const { split, codes, sizes } = await splitWithRandomCodes();
    const inter = split.interactions, n = inter.numItems, T = 10;
    // Event type 1 marks each user's last training event; type weights [0, 1] make it the only target.
    inter.types.fill(0);
    for (let u = 0; u < inter.numUsers; u++) if (split.trainEnd[u]! > inter.userOffsets[u]!) inter.types[split.trainEnd[u]! - 1] = 1;
    const model = pairSoftmax
      ? { pairSoftmax: true, pairInput: true, tripleVectors: true, tripleInput: true, relativeBuckets: 8, itemIdEmbedding: false }
      : { pairSoftmax: false, tripleVectors: false };
    const { model: gen, result } = await trainGenerator({
      split, codes, codeSizes: sizes, maxLen: T, epochs: 1, batchSize: 256, lr: 1e-20, seed: 9, runtime: { threads: 1 },
      typeWeights: Float32Array.of(0, 1), model: { dModel: 16, nHead: 2, nLayer: 2, dropout: 0, ...model },
    });
    const seqs = trainingSequences(split, { maxLen: T });
    assert.ok(seqs.count > 64 && result.history.length === 1, 'one batch holds every training row');
    // The same rows left-padded alone: the last input position's target is the row's last event.
    const [rows] = new SequenceBatcher(seqs, { batchSize: seqs.count, maxLen: T, shuffle: false }).epoch();
    const U = seqs.count, items = rows!.inputs;
    const targets = Int32Array.from({ length: U }, (_, r) => rows!.targets[r * T + T - 1]! - 1);
    const gm = await GenerativeModel.fromModule(gen, codes, Array.from({ length: n }, (_, i) => `i${i}`), { threads: 1 });
    try {
      const r = await gm.recommend({ users: U, items }, { k: n, beam: n }); // the whole catalogue: exact scores
      let nll = 0;
      for (let u = 0; u < U; u++) {
        const at = r.items.subarray(u * n, (u + 1) * n).indexOf(targets[u]!);
        assert.ok(at >= 0, `target of row ${u} scored`);
        nll -= r.scores[u * n + at]!;
      }
      const loss = result.history[0]!.loss;
      assert.ok(Math.abs(loss - nll / U) < 1e-4 * loss, `training loss ${loss} vs the search's mean −log P ${nll / U} over ${U} targets`);
    } finally {
      await gm.close();
    }
  });
}

test('a bundle written before the first level\'s child-count groups (one prefix table padded to the widest code) decodes as a new one does', async () => {
  const { split, codes, sizes } = await splitWithRandomCodes();
  const n = split.interactions.numItems, itemIds = Array.from({ length: n }, (_, i) => `i${i}`);
  const { model } = await trainGenerator({ split, codes, codeSizes: sizes, maxLen: 10, epochs: 1, batchSize: 16, seed: 3, runtime: { threads: 1 }, model: { dModel: 16, nHead: 2, nLayer: 1, pairSoftmax: true, pairInput: true } });
  const path = writeBundle(mkdtempSync(join(tmpdir(), 'genrec-bundle-')), { model, codes, itemIds, tokenizer: { version: 1 }, data: { label: 't', users: 0, items: n, events: 0 } });
  // The old first-level graph: one group holding the whole padded [K₀, C] table, in code order.
  const K0 = sizes[0]!;
  const old = exportOnnx({
    module: model,
    build: (g) => {
      const f = model.firstLevel({ kind: 'causal', h: g.input('ctx_h', 'float32', ['users', 16]) }, g.input('row_user', 'int32', ['rows']), {
        codes: g.input('prefix_codes', 'int32', ['prefixes']), rows: g.input('prefix_rows', 'int32', ['prefixes']), known: g.input('prefix_known', 'float32', ['prefixes']),
        groups: [{ index: g.input('prefix_index', 'int32', [K0, 'width']), mask: g.input('child_mask', 'float32', [K0, 'width']) }],
        order: g.constant(Int32Array.from({ length: K0 }, (_, c) => c), [K0], 'int32'),
      });
      return { logits: f.logits, user_code_scores: f.codeScores, user_pair_scores: f.pairScores! };
    },
  });
  writeFileSync(join(path, readBundle(path).manifest.files.decode[0]!), old);
  const before = await GenerativeModel.load(path, { threads: 1 }), now = await GenerativeModel.fromModule(model, codes, itemIds, { threads: 1 });
  try {
    const T = 10, U = 6, items = new Int32Array(U * T);
    for (let u = 0; u < U; u++) for (let t = 6; t < T; t++) items[u * T + t] = 1 + ((u * 7 + t * 3) % n);
    const search = { k: 10, beam: 20, exclude: (u: number) => [items[u * T + T - 1]! - 1] };
    const [a, b] = [await before.recommend({ users: U, items }, search), await now.recommend({ users: U, items }, search)];
    assert.deepEqual(Array.from(a.items), Array.from(b.items));
    a.scores.forEach((s, i) => assert.ok(Math.abs(s - b.scores[i]!) < 1e-5, `score ${i}: ${s} vs ${b.scores[i]}`));
  } finally {
    await Promise.all([before.close(), now.close()]);
  }
});

test('reuseFirstLevels: searches over histories seen before skip the encode graph and give what a fresh search gives, until the catalogue changes', async () => {
  const { model } = await trainToyGenerator('causal', 250);
  const seq = Int32Array.from(Array.from({ length: 8 }, () => [10, 50]).flat());
  const table = TransitionTable.fromSequences(seq, Array.from({ length: 8 }, (_, u) => 2 * u), Array.from({ length: 8 }, (_, u) => 2 * u + 2), TOY.items);
  const itemIds = () => Array.from({ length: TOY.items }, (_, i) => `item-${i}`);
  const T = TOY.maxLen, history = (last: number[]) => { const x = new Int32Array(last.length * T); last.forEach((it, u) => { x[u * T + T - 1] = it + 1; }); return x; };
  const plain = await GenerativeModel.fromModule(model, toyCodes(), itemIds(), { threads: 1 });
  const kept = await GenerativeModel.fromModule(model, toyCodes(), itemIds(), { threads: 1 });
  const memory = { table, options: { beta: 4, window: 3, decay: 0.5, reverse: 0 } };
  plain.setMemory(memory); kept.setMemory(memory);
  kept.reuseFirstLevels(true);
  let encodes = 0;
  const encode = kept.encodeHistories.bind(kept);
  kept.encodeHistories = (h) => { encodes++; return encode(h); };
  const same = async (items: Int32Array, o: { memory?: false } = {}) => {
    const a = await plain.recommend({ users: items.length / T, items }, { k: 5, beam: 10, ...o });
    const b = await kept.recommend({ users: items.length / T, items: items.slice() }, { k: 5, beam: 10, ...o });
    assert.deepEqual([Array.from(b.items), Array.from(b.scores)], [Array.from(a.items), Array.from(a.scores)]);
  };
  await same(history([10, 20]));
  await same(history([10, 20]), { memory: false }); // the same histories in a new array, another prior
  await same(history([10, 20]));
  assert.equal(encodes, 1, 'one encode for three searches over the same histories');
  await same(history([10, 21]));
  assert.equal(encodes, 2, 'other histories are encoded');
  plain.addItems(['new-1'], Int32Array.from([7, 7, 3])); kept.addItems(['new-1'], Int32Array.from([7, 7, 3]));
  await same(history([10, 20]));
  assert.equal(encodes, 3, 'a grown catalogue has another first level');
  kept.reuseFirstLevels(false);
  await same(history([10, 20]));
  assert.equal(encodes, 4, 'off: nothing kept');
  await plain.close(); await kept.close();
});
