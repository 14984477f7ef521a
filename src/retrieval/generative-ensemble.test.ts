import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenrecError } from '../engine/index.js';
import { Generator } from '../models/index.js';
import { TOY, toyCodes, toyNext, trainToyGenerator } from '../models/toy-generator.js';
import { readBundle, writeBundle } from '../train/bundle.js';
import { GenerativeModel } from './generative.js';

const itemIds = Array.from({ length: TOY.items }, (_, i) => `item-${i}`);

/** One user's history [1, T]: the last two steps of the toy rule ending at `last`. */
function history(last: number): Int32Array {
  const items = new Int32Array(TOY.maxLen);
  items[TOY.maxLen - 1] = last + 1;
  return items;
}

/**
 * Every item's ensemble score computed apart from the beam search: per level, the members' logits at
 * the item's prefix are averaged and normalised over that prefix's valid children (the toy catalogue has
 * every code below every prefix it uses, so the children come from the codes alone).
 */
async function exactScores(members: GenerativeModel[], items: Int32Array): Promise<Float64Array> {
  const codes = toyCodes(), L = TOY.levels, N = TOY.items;
  const ctx = await Promise.all(members.map(async (m) => (await m.encodeHistories({ users: 1, items }))[0]!));
  const out = new Float64Array(N);
  for (let l = 0; l < L; l++) {
    const prefix = new Int32Array(N * l);
    for (let i = 0; i < N; i++) for (let j = 0; j < l; j++) prefix[i * l + j] = members[0]!.offsets[j]! + codes[i * L + j]!;
    const logits = await Promise.all(members.map((m, k) => m.decodeLevel([ctx[k]!], l, new Int32Array(N), prefix, N, new Int32Array(N))));
    const K = logits[0]!.length / N;
    for (let i = 0; i < N; i++) {
      const mean = (c: number) => logits.reduce((s, x) => s + x[i * K + c]!, 0) / members.length;
      // Valid children of item i's prefix: the level-l codes of the items that share it.
      const children = new Set<number>();
      for (let o = 0; o < N; o++) {
        let same = true;
        for (let j = 0; j < l; j++) if (codes[o * L + j] !== codes[i * L + j]) same = false;
        if (same) children.add(codes[o * L + l]!);
      }
      const lse = Math.log([...children].reduce((s, c) => s + Math.exp(mean(c)), 0));
      out[i] += mean(codes[i * L + l]!) - lse;
    }
  }
  return out;
}

test('an ensemble decodes the normalised geometric mean of its members, exactly as scored apart from the search', async () => {
  const [a, b] = await Promise.all([trainToyGenerator('causal', 60, 1), trainToyGenerator('causal', 60, 2)]);
  const A = await GenerativeModel.fromModule(a.model, toyCodes(), itemIds, { threads: 1 });
  const B = await GenerativeModel.fromModule(b.model, toyCodes(), itemIds, { threads: 1 });
  const items = history(17), k = 10, beam = TOY.items; // a beam as wide as the catalogue: the search is exhaustive

  // A model with itself is that model.
  const alone = await A.recommend({ users: 1, items }, { k, beam });
  const AA = await GenerativeModel.fromModule([a.model, a.model], toyCodes(), itemIds, { threads: 1 });
  const twice = await AA.recommend({ users: 1, items }, { k, beam });
  assert.deepEqual(Array.from(twice.items), Array.from(alone.items));
  for (let j = 0; j < k; j++) assert.ok(Math.abs(twice.scores[j]! - alone.scores[j]!) < 1e-4);

  // Two different members: the search returns the best items under the averaged, renormalised logits.
  const ens = await GenerativeModel.fromModule([a.model, b.model], toyCodes(), itemIds, { threads: 1 });
  assert.equal(ens.members, 2);
  const got = await ens.recommend({ users: 1, items }, { k, beam });
  const want = await exactScores([A, B], items);
  const order = Array.from(want.keys()).sort((x, y) => want[y]! - want[x]!).slice(0, k);
  assert.deepEqual(Array.from(got.items), order);
  for (let j = 0; j < k; j++) assert.ok(Math.abs(got.scores[j]! - want[order[j]!]!) < 1e-3, `score ${j}: ${got.scores[j]} vs ${want[order[j]!]}`);
  // Neither member alone ranks this way (else the test could not tell a mean from a copy).
  const onlyB = await B.recommend({ users: 1, items }, { k, beam });
  const differs = (r: { scores: Float32Array }) => Array.from(r.scores).some((s, j) => Math.abs(s - got.scores[j]!) > 1e-3);
  assert.ok(differs(alone) && differs(onlyB));
  assert.equal(got.items[0], toyNext(17), 'the trained rule still wins');

  // Excluded items stay out, and new items join every member.
  const ex = await ens.recommend({ users: 1, items }, { k, beam: 20, exclude: () => [toyNext(17)] });
  assert.ok(!Array.from(ex.items).includes(toyNext(17)));
  // Searches that share the context and first level return what separate requests do.
  const [withSeen, withoutSeen] = await ens.recommendEach({ users: 1, items }, [{ k, beam: 20 }, { k, beam: 20, exclude: () => [toyNext(17)] }]);
  assert.deepEqual(Array.from(withoutSeen!.items), Array.from(ex.items));
  assert.deepEqual(Array.from(withSeen!.items), Array.from((await ens.recommend({ users: 1, items }, { k, beam: 20 })).items));
  const [added] = ens.addItems(['new-1'], Int32Array.from([7, 7, 3]));
  assert.equal(added, TOY.items);
  const others = Array.from({ length: TOY.items }, (_, i) => i);
  const only = await ens.recommend({ users: 1, items }, { k: 1, beam: 4, exclude: () => others });
  assert.equal(only.items[0], added);

  // Written as one bundle and loaded back, the ensemble ranks as it did in memory.
  const dir = mkdtempSync(join(tmpdir(), 'genrec-ensemble-'));
  const path = writeBundle(dir, { model: a.model, members: [b.model], codes: toyCodes(), itemIds, tokenizer: { version: 1 }, data: { label: 'toy', users: 0, items: TOY.items, events: 0 } });
  assert.deepEqual(readBundle(path).manifest.files.members, [{ checkpoint: 'member1/model.safetensors', encode: 'member1/encode.onnx', decode: ['member1/decode-0.onnx', 'member1/decode-1.onnx', 'member1/decode-2.onnx'] }]);
  const loaded = await GenerativeModel.load(path, { threads: 1 });
  assert.equal(loaded.members, 2);
  const again = await loaded.recommend({ users: 1, items }, { k, beam });
  assert.deepEqual(Array.from(again.items), Array.from(got.items));
  for (let j = 0; j < k; j++) assert.ok(Math.abs(again.scores[j]! - got.scores[j]!) < 1e-5);
  await Promise.all([ens.close(), A.close(), B.close(), AA.close(), loaded.close()]);
});

test('an ensemble refuses members whose configs differ, in memory and in a bundle', async () => {
  const { model } = await trainToyGenerator('causal', 2, 1);
  const wider = new Generator({ ...model.c, dModel: 48 }).initialize(2);
  const refused = (e: unknown) => e instanceof GenrecError && e.code === 'GENREC_E_BUNDLE';
  await assert.rejects(GenerativeModel.fromModule([model, wider], toyCodes(), itemIds, { threads: 1 }), refused);
  const dir = mkdtempSync(join(tmpdir(), 'genrec-ensemble-'));
  assert.throws(() => writeBundle(dir, { model, members: [wider], codes: toyCodes(), itemIds, tokenizer: { version: 1 }, data: { label: 'toy', users: 0, items: TOY.items, events: 0 } }), refused);
  assert.deepEqual(readdirSync(dir), [], 'a refused bundle leaves nothing behind');
});
