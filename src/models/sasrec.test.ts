import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Graph, createSession, op, toOrt } from '../engine/index.js';
import { evalBatches } from '../data/batches.js';
import { splitFromSequences, syntheticSequences } from '../eval/fixtures.js';
import { evaluate } from '../eval/harness.js';
import { mostpop, sasrecEnsembleRanker, sasrecRanker, trainSasRec } from '../eval/models.js';
import { RunDir } from '../train/run-dir.js';
import { SasRec, SasRecInference } from './sasrec.js';

const ITEMS = 150;
const split = splitFromSequences(syntheticSequences({ users: 300, items: ITEMS, length: [6, 14], noise: 0.1, seed: 11 }), ITEMS);

test('SASRec learns a synthetic sequential rule far above MostPop; ORT and JS top-k agree; export runs', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'genrec-sasrec-'));
  try {
    const ctx = {
      dataset: null as never, split, seed: 1, runDir: new RunDir(tmp), maxLen: 12, epochs: 12,
      options: { dModel: 32, heads: 2, blocks: 1, dropout: 0.1, batchSize: 64, lr: 5e-3, warmupSteps: 10, patience: 4 },
      runtime: { threads: 1 },
    };
    const { model, result } = await trainSasRec(ctx);
    assert.ok(result.bestEpoch >= 1);
    const ort = await sasrecRanker(model, 128, { threads: 1 }, 'ort');
    const js = await sasrecRanker(model, 128, { threads: 1 }, 'js');
    const r = await evaluate(ort, split, 'test');
    const rj = await evaluate(js, split, 'test');
    const pop = await evaluate((await mostpop(ctx)).ranker, split, 'test');
    assert.ok(r.exclude['recall@10']! > 0.6, `SASRec recall@10 ${r.exclude['recall@10']}`);
    assert.ok(r.exclude['recall@10']! > 5 * pop.exclude['recall@10']!, `SASRec ${r.exclude['recall@10']} vs MostPop ${pop.exclude['recall@10']}`);
    assert.equal(r.seenLeaks, 0);
    for (const key of Object.keys(r.exclude)) {
      assert.ok(Math.abs(r.exclude[key]! - rj.exclude[key]!) < 1e-9, `${key}: ort ${r.exclude[key]} js ${rj.exclude[key]}`);
      assert.ok(Math.abs(r.include[key]! - rj.include[key]!) < 1e-9, `${key} incl.`);
    }
    await Promise.all([ort.dispose(), js.dispose()]);

    // The standalone export (weights embedded) returns the same top-k as the training-time session.
    const B = 16;
    const session = await createSession(model.exportInference(B, 10), { threads: 1 });
    const batch = evalBatches(split, 'test', { batchSize: B, maxLen: 12 }).next().value!;
    const seen = new Int32Array(B);
    const out = await session.run({ tokens: toOrt(batch.inputs, [B, 12]), seen: toOrt(seen, [B, 1]) });
    const ids = out.include!.data as Int32Array;
    const small = await sasrecRanker(model, B, { threads: 1 }, 'js');
    const items = new Int32Array(0);
    const expect = await small.topK({ batch, rows: B, numItems: ITEMS, items, historyStart: new Int32Array(B), historyEnd: new Int32Array(B) }, 10, false);
    assert.deepEqual([...ids], [...expect]);
    await Promise.all([session.release(), small.dispose()]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('a SASRec ensemble ranks by its members\' mean logits, seen items masked', async () => {
  const cfg = { numItems: ITEMS, maxLen: 12, dModel: 16, nHead: 2, nLayer: 1, dropout: 0 };
  const [a, b] = [new SasRec(cfg).initialize(1), new SasRec(cfg).initialize(2)];
  const B = 16, V = ITEMS;
  const batch = evalBatches(split, 'test', { batchSize: B, maxLen: 12 }).next().value!;
  const items = Int32Array.from({ length: B }, (_, r) => r % V), starts = Int32Array.from({ length: B }, (_, r) => r), ends = Int32Array.from({ length: B }, (_, r) => r + 1);
  const rb = { batch, rows: B, numItems: V, items, historyStart: starts, historyEnd: ends };
  const ens = await sasrecEnsembleRanker([a, b], B, { threads: 1 });
  const got = await ens.topKBoth!(rb, 10);
  // The mean of the members' scores, ranked apart from the ensemble ranker.
  const [sa, sb] = await Promise.all([a, b].map(async (m) => {
    const inf = await SasRecInference.create(m, B, 0, { threads: 1 });
    try { return Float32Array.from(await inf.scores(batch.inputs)); } finally { await inf.dispose(); }
  }));
  const rank = (r: number, skip: number) => Array.from({ length: V }, (_, i) => i).filter((i) => i !== skip).sort((x, y) => (sa![r * V + y]! + sb![r * V + y]!) - (sa![r * V + x]! + sb![r * V + x]!)).slice(0, 10);
  for (let r = 0; r < B; r++) {
    assert.deepEqual(Array.from(got.include.subarray(r * 10, r * 10 + 10)), rank(r, -1), `row ${r} include`);
    assert.deepEqual(Array.from(got.exclude.subarray(r * 10, r * 10 + 10)), rank(r, items[r]!), `row ${r} exclude`);
  }
  const one = await sasrecRanker(a, B, { threads: 1 }, 'js');
  assert.notDeepEqual(Array.from((await one.topKBoth!(rb, 10)).include), Array.from(got.include), 'the mean is not one member');
  await Promise.all([ens.dispose(), one.dispose()]);
});

