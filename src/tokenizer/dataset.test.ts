import assert from 'node:assert/strict';
import { test } from 'node:test';
import { datasetFromData, generateSynthetic, leaveOneOut } from '../data/index.js';
import { itemTokenRows, itemTokenVocab, tokenRowsFromVocab, tokenizeDataset, trainSequences } from './index.js';

test('a dataset tokenizes end to end; items of one sub-topic share prefixes far more than random pairs', async (t) => {
  const ds = await datasetFromData(generateSynthetic({ seed: 3, users: 300, items: 400 }));
  const split = leaveOneOut(ds.interactions);
  // The collaborative source sees training events only.
  const seqs = trainSequences(split);
  let trainEvents = 0;
  for (let u = 0; u < ds.interactions.numUsers; u++) trainEvents += split.trainEnd[u]! - ds.interactions.userOffsets[u]!;
  assert.equal(seqs.items.length, trainEvents);
  assert.ok(trainEvents < ds.interactions.items.length);

  const { ids, report, tokenizer, embeddings } = await tokenizeDataset(ds, split, {
    embeddings: { textModel: 'hash', item2vec: { dim: 16, epochs: 2, progress: false } },
    tokenizer: { seed: 2 },
  });
  await tokenizer.release();
  assert.deepEqual(embeddings.blocks.map((b) => b.name), ['content', 'attributes', 'collaborative']);
  assert.equal(ids.count, ds.items.count);
  assert.equal(report.unique, true);

  // Sub-topic = the item's second category token (e.g. "science/astronomy").
  const cat = ds.items.categories;
  const sub = (i: number) => cat.values[cat.offsets[i]! + 1] ?? -1;
  const first = (i: number) => ids.code(i)[0];
  let same = 0, sameShared = 0, rnd = 0, rndShared = 0;
  for (let a = 0; a < ds.items.count; a++) {
    for (let b = a + 1; b < ds.items.count; b++) {
      const shared = first(a) === first(b);
      if (sub(a) >= 0 && sub(a) === sub(b)) { same++; if (shared) sameShared++; } else { rnd++; if (shared) rndShared++; }
    }
  }
  const pSame = sameShared / same, pRnd = rndShared / rnd;
  t.diagnostic(`P(same first code): same sub-topic ${pSame.toFixed(3)}, other pairs ${pRnd.toFixed(3)}`);
  assert.ok(pSame > 3 * pRnd, `same sub-topic pairs share the first code ${pSame.toFixed(3)}, other pairs ${pRnd.toFixed(3)}`);
});

test('token rows from the saved vocabulary: the ids itemTokenRows gave the catalogue; unknown tokens left out', async () => {
  const ds = await datasetFromData(generateSynthetic({ seed: 4, users: 20, items: 30 }));
  const vocab = itemTokenVocab(ds.items);
  const strings = (csr: typeof ds.items.categories, i: number) => Array.from(csr.values.subarray(csr.offsets[i]!, csr.offsets[i + 1]!), (v) => csr.vocab[v]!);
  const lists = Array.from({ length: ds.items.count }, (_, i) => ({ categories: strings(ds.items.categories, i), attributes: strings(ds.items.attributes, i) }));
  assert.ok(lists.some((l) => l.categories.length > 0));
  const rows = tokenRowsFromVocab(vocab)(lists), want = itemTokenRows(ds.items);
  assert.deepEqual(rows, want);
  const extra = tokenRowsFromVocab(vocab)([{ categories: ['never-seen', lists[0]!.categories[0]!], attributes: ['never-seen'] }]);
  assert.deepEqual(Array.from(extra.values), [vocab.categories.indexOf(lists[0]!.categories[0]!)]);
});
