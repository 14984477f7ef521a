import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { datasetFromData, generateSynthetic, leaveOneOut } from '../data/index.js';
import { RunDir } from '../train/index.js';
import { evaluate } from './harness.js';
import { itemknn, mostpop, sasrec, type QualityContext } from './models.js';

test('a SASRec ensemble reports its own validation NDCG@10 (the ranker it returns), its members\' beside it', async (t) => {
  const dataset = await datasetFromData(generateSynthetic({ users: 80, items: 60, meanEvents: 10, seed: 4 }));
  const split = leaveOneOut(dataset.interactions);
  const dir = mkdtempSync(join(tmpdir(), 'genrec-sasrec-ens-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ctx: QualityContext = {
    dataset, split, seed: 3, runDir: new RunDir(dir), maxLen: 10, epochs: 2, runtime: { threads: 1 },
    options: { members: 2, dModel: 16, blocks: 1, batchSize: 32, warmupSteps: 2 },
  };
  const trained = await sasrec(ctx);
  t.after(() => trained.dispose?.());
  const own = (await evaluate(trained.ranker, split, 'valid', { includeSeen: false })).exclude['ndcg@10'];
  assert.equal(trained.info.members, 2);
  assert.equal(trained.info.valid_ndcg10, own);
  const memberFigures = String(trained.info.member_valid_ndcg10).split('/');
  assert.equal(memberFigures.length, 2, 'each member\'s own best beside the ensemble\'s');
});

test('with refitValid, the baselines\' test rankers count the validation events too; without, only training', async (t) => {
  const dataset = await datasetFromData(generateSynthetic({ users: 80, items: 60, meanEvents: 10, seed: 5 }));
  const split = leaveOneOut(dataset.interactions);
  // Item x appears only as the first half's validation target and the second half's test target: only a
  // fit that reads the validation events knows it at all.
  const { items, userOffsets, numUsers, numItems } = split.interactions;
  const x = numItems - 1;
  for (let k = 0; k < items.length; k++) if (items[k] === x) items[k] = 0;
  const half = numUsers >> 1;
  let held = 0;
  for (let u = 0; u < numUsers; u++) {
    if (split.validEnd[u]! === userOffsets[u + 1]!) continue; // too short to hold anything out
    items[u < half ? split.trainEnd[u]! : split.validEnd[u]!] = x;
    if (u >= half) held++;
  }
  const dir = mkdtempSync(join(tmpdir(), 'genrec-baselines-final-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ctx: QualityContext = { dataset, split, seed: 1, runDir: new RunDir(dir), maxLen: 10, options: { knnNeighbours: '50', knnShrink: '10', knnRecency: '0.8' } };
  const tested = async (refitValid: boolean) => {
    const pop = await evaluate((await mostpop({ ...ctx, refitValid })).ranker, split, 'test', { includeSeen: false });
    const knn = await evaluate((await itemknn({ ...ctx, refitValid })).ranker, split, 'test', { includeSeen: false });
    return { pop: pop.exclude['recall@5']!, knn: knn.exclude['recall@20']!, share: held / pop.cases };
  };
  assert.ok(held > 20);
  // x is the most popular item once validation counts: every second-half user finds it first, and
  // item-kNN's neighbours find it for most of them.
  const refit = await tested(true);
  assert.ok(refit.pop >= refit.share, `MostPop recall@5 ${refit.pop}`);
  assert.ok(refit.knn >= refit.share, `item-kNN recall@20 ${refit.knn}`);
  // The protocol's fit never knew x: only the first half's own hits remain (0.06 and 0.29 here).
  const plain = await tested(false);
  assert.ok(plain.pop < 0.5 * refit.share && plain.knn < 0.7 * refit.share, `MostPop ${plain.pop}, item-kNN ${plain.knn}`);
});
