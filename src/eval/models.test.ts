import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { datasetFromData, generateSynthetic, leaveOneOut } from '../data/index.js';
import { RunDir } from '../train/index.js';
import { evaluate } from './harness.js';
import { sasrec, type QualityContext } from './models.js';

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
