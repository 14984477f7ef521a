import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { GenrecError } from '../engine/errors.js';
import { Rng } from '../engine/random.js';
import { MIN_SOLO_PAIR_SHARE, ResidualTokenizer, autoCodebookSize, syntheticClusteredVectors, type FitResult } from './index.js';

const DIM = 32;
const opened: ResidualTokenizer[] = [];
after(async () => { for (const t of opened) await t.release(); });

async function fit(x: Float32Array, n: number, cfg: Parameters<typeof ResidualTokenizer.fit>[3] = {}, dim = DIM): Promise<FitResult> {
  const r = await ResidualTokenizer.fit(x, n, dim, { codebookSize: 16, seed: 7, ...cfg });
  opened.push(r.tokenizer);
  return r;
}

const data = syntheticClusteredVectors(3000, DIM, { factors: [16, 16, 16], seed: 11 });

function expectCode(code: string) {
  return (e: unknown) => e instanceof GenrecError && e.code === code;
}

test('codes are deterministic under a seed, and the seed matters', async () => {
  const a = await fit(data.vectors, 3000);
  const b = await fit(data.vectors, 3000);
  assert.deepEqual(a.ids.codes, b.ids.codes);
  assert.deepEqual(a.tokenizer.codebooks, b.tokenizer.codebooks);
  const c = await fit(data.vectors, 3000, { seed: 8 });
  assert.notDeepEqual(a.ids.codes, c.ids.codes);
});

test('every code is unique and the report is consistent', async () => {
  const { ids, report } = await fit(data.vectors, 3000);
  assert.equal(ids.count, 3000);
  assert.equal(ids.depth, 4);
  assert.equal(ids.trie().items, 3000); // building the trie throws on a repeated code
  assert.equal(report.unique, true);
  assert.equal(report.levels.length, 3);
  for (const l of report.levels) {
    assert.ok(l.utilisation > 0 && l.utilisation <= 1);
    assert.ok(l.entropy > 0 && l.entropy <= 1 + 1e-9);
    assert.ok(l.iterations >= 1);
  }
  // Residual error falls level by level.
  assert.ok(report.levels[0]!.reconError > report.levels[1]!.reconError && report.levels[1]!.reconError > report.levels[2]!.reconError);
  assert.ok(report.collisionRate >= 0 && report.collisionRate < 1);
});

test('items similar in content share prefixes more often than random pairs', async (t) => {
  const { ids } = await fit(data.vectors, 3000);
  const codes = ids.codes;
  const first = (i: number) => codes[i * 4]!;
  // Pairs of items with the same coarse factor vs. consecutive (random) pairs.
  let simPairs = 0, simShared = 0, rndPairs = 0, rndShared = 0;
  const byLabel = new Map<number, number[]>();
  data.labels[0]!.forEach((lab, i) => { if (i < 3000) (byLabel.get(lab) ?? byLabel.set(lab, []).get(lab)!).push(i); });
  for (const members of byLabel.values()) {
    for (let a = 0; a + 1 < members.length; a++) { simPairs++; if (first(members[a]!) === first(members[a + 1]!)) simShared++; }
  }
  for (let i = 0; i + 1 < 3000; i += 2) { rndPairs++; if (first(i) === first(i + 1)) rndShared++; }
  const sim = simShared / simPairs, rnd = rndShared / rndPairs;
  t.diagnostic(`P(same first code): same coarse factor ${sim.toFixed(3)}, random pairs ${rnd.toFixed(3)}`);
  assert.ok(sim > 3 * rnd && sim > 0.5, `same-factor pairs share the first code ${sim.toFixed(3)}, random pairs ${rnd.toFixed(3)}`);
});

test('incremental codes equal a fresh assignment with the same centroids', async () => {
  const nOld = 2000, nNew = 1000;
  // Room enough in every de-duplication group, so no new item has to move (that case is tested below).
  const { tokenizer, ids } = await fit(data.vectors.subarray(0, nOld * DIM), nOld, { dedupCapacity: 256 });
  const fresh = await tokenizer.encode(data.vectors, 3000);
  const added = await tokenizer.extend(ids, data.vectors.subarray(nOld * DIM), nNew);
  assert.equal(ids.count, 3000);
  for (let i = 0; i < nNew; i++) {
    for (let l = 0; l < 3; l++) assert.equal(added[i * 4 + l], fresh.codes[(nOld + i) * 3 + l], `item ${nOld + i} level ${l}`);
  }
  // Old items keep their codes; all codes stay unique and findable.
  const trie = ids.trie();
  assert.equal(trie.items, 3000);
  for (let i = 0; i < 3000; i += 97) assert.equal(ids.itemOf(ids.code(i)), i);
});

test('refit maps old codes to new ones', async () => {
  const { tokenizer, ids } = await fit(data.vectors.subarray(0, 2000 * DIM), 2000);
  const r = await tokenizer.refit(data.vectors, 3000, ids, { seed: 9 });
  opened.push(r.tokenizer);
  assert.equal(r.ids.count, 3000);
  const mapped = r.mapping.map(ids.codes, 2000);
  for (let i = 0; i < 2000; i += 37) assert.deepEqual(mapped.subarray(i * 4, i * 4 + 4), r.ids.code(i));
  assert.deepEqual(Array.from(r.mapping.map(Int32Array.of(99, 99, 99, 99), 1)), [-1, -1, -1, -1]);
});

test('duplicate vectors still get unique codes (the de-duplication level widens if it must)', async () => {
  const n = 400;
  const x = new Float32Array(n * DIM);
  // 300 copies of one vector + 100 distinct ones.
  for (let i = 0; i < n; i++) x.set(data.vectors.subarray((i < 300 ? 0 : i) * DIM, ((i < 300 ? 0 : i) + 1) * DIM), i * DIM);
  const { ids, report } = await fit(x, n);
  assert.equal(ids.trie().items, n);
  assert.ok(report.maxGroup >= 300);
  assert.ok(ids.dedupCapacity >= 300);
  assert.ok(report.collisionRate >= 299 / n);
});

test('fewer items than codes: unused codes stay dead, codes are still unique', async () => {
  const { ids, report, tokenizer } = await fit(data.vectors.subarray(0, 10 * DIM), 10, { codebookSize: 16 });
  assert.equal(ids.trie().items, 10);
  assert.ok(report.levels[0]!.used <= 10);
  assert.ok(tokenizer.dead.some((d) => d === 1));
  // A single item works too.
  const one = await fit(data.vectors.subarray(0, DIM), 1);
  assert.equal(one.ids.count, 1);
});

test('NaN, wrong dimension and empty input are coded errors', async () => {
  const bad = Float32Array.from(data.vectors.subarray(0, 100 * DIM));
  bad[57 * DIM + 3] = NaN;
  await assert.rejects(fit(bad, 100), (e) => expectCode('GENREC_E_TOKENIZER_INPUT')(e) && /57/.test((e as Error).message));
  await assert.rejects(fit(data.vectors.subarray(0, 100 * DIM + 5), 100), expectCode('GENREC_E_TOKENIZER_INPUT'));
  await assert.rejects(fit(new Float32Array(0), 0), expectCode('GENREC_E_TOKENIZER_INPUT'));
  const { tokenizer, ids } = await fit(data.vectors.subarray(0, 200 * DIM), 200);
  await assert.rejects(tokenizer.extend(ids, new Float32Array(DIM + 1), 1), expectCode('GENREC_E_TOKENIZER_INPUT'));
  const nanItem = new Float32Array(DIM).fill(NaN);
  await assert.rejects(tokenizer.extend(ids, nanItem, 1), expectCode('GENREC_E_TOKENIZER_INPUT'));
  assert.equal(ids.count, 200); // nothing was appended
  await assert.rejects(fit(data.vectors.subarray(0, 100 * DIM), 100, { levels: 0 }), expectCode('GENREC_E_TOKENIZER_CONFIG'));
});

test('a full de-duplication group sends a new item to the next-nearest last-level code', async () => {
  const { tokenizer, ids } = await fit(data.vectors.subarray(0, 500 * DIM), 500, { dedupCapacity: 20 });
  const item = data.vectors.subarray(0, DIM); // copies of item 0 fill its group, then must move
  const base = ids.code(0).slice(0, 3);
  const copies = ids.room(base) + 3;
  const x = new Float32Array(copies * DIM);
  for (let i = 0; i < copies; i++) x.set(item, i * DIM);
  const added = await tokenizer.extend(ids, x, copies);
  const moved = Array.from({ length: copies }, (_, i) => added.subarray(i * 4, i * 4 + 3)).filter((c) => c[2] !== base[2]);
  assert.equal(moved.length, 3);
  for (const c of moved) assert.deepEqual(Array.from(c.subarray(0, 2)), Array.from(base.subarray(0, 2)));
  assert.equal(ids.trie().items, 500 + copies);
});

test('balanced assignment spreads codes at least as evenly', async () => {
  const plain = await fit(data.vectors, 3000, { levels: 2 });
  const bal = await fit(data.vectors, 3000, { levels: 2, balanced: true });
  const e = (r: FitResult) => r.report.levels[1]!.entropy;
  assert.ok(e(bal) >= e(plain) - 0.01, `balanced ${e(bal)} vs plain ${e(plain)}`);
});

test('a level where one code would take most items is refitted so the crowded items share the codes', async () => {
  // 90% of the rows sit in a tiny ball at the origin, 10% far out: k-means++ seeds mostly on the far rows
  // and Lloyd leaves the whole ball in one code (the ml-1m third-level collapse in miniature).
  const n = 3000, d = 16, x = new Float32Array(n * d);
  const rng = new Rng(1);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] = rng.normal() * (i < 0.9 * n ? 0.001 : 1);
  const share = (r: FitResult) => {
    const cnt = new Map<number, number>();
    for (let i = 0; i < n; i++) cnt.set(r.ids.codes[i * 2]!, (cnt.get(r.ids.codes[i * 2]!) ?? 0) + 1);
    return Math.max(...cnt.values()) / n;
  };
  const plain = await fit(x, n, { levels: 1, codebookSize: 32, maxCodeShare: 1 }, d);
  const fixed = await fit(x, n, { levels: 1, codebookSize: 32 }, d);
  assert.ok(share(plain) > 0.85, `without the refit one code takes ${share(plain)} of the items`);
  assert.ok(share(fixed) <= 0.5, `with it the largest code takes ${share(fixed)}`);
  assert.ok(fixed.report.levels[0]!.entropy > 0.7 && plain.report.levels[0]!.entropy < 0.3, `entropy ${plain.report.levels[0]!.entropy} → ${fixed.report.levels[0]!.entropy}`);
  await assert.rejects(fit(x, n, { maxCodeShare: 0 }, d), expectCode('GENREC_E_TOKENIZER_CONFIG'));
});

test('an automatic K doubles when few items have a (c0, c1) prefix to themselves; an explicit K is kept', async () => {
  // 1,000 items whose coarse structure is 8 × 8 groups: at the catalogue-size K (32) most share a prefix.
  const n = 1000;
  const crowded = syntheticClusteredVectors(n, DIM, { factors: [8, 8, 1000], scales: [1, 0.6, 0.3], noise: 0.05, seed: 3 });
  const auto = autoCodebookSize(n);
  const atAuto = await fit(crowded.vectors, n, { codebookSize: auto });
  assert.equal(atAuto.tokenizer.k, auto);
  assert.ok(atAuto.report.soloPairShare < MIN_SOLO_PAIR_SHARE, `share ${atAuto.report.soloPairShare} at K ${auto}`);
  const grown = await fit(crowded.vectors, n, { codebookSize: 0 });
  assert.ok(grown.tokenizer.k > auto && grown.tokenizer.k <= 4 * auto, `K ${grown.tokenizer.k}`);
  assert.ok(grown.report.soloPairShare > atAuto.report.soloPairShare, `${atAuto.report.soloPairShare} → ${grown.report.soloPairShare}`);
  assert.equal(grown.ids.trie().items, n);
  // The share is what the code table says: count the items alone under their (c0, c1) prefix.
  const D = grown.ids.depth, codes = grown.ids.codes, seen = new Map<string, number>();
  for (let i = 0; i < n; i++) { const key = `${codes[i * D]}-${codes[i * D + 1]}`; seen.set(key, (seen.get(key) ?? 0) + 1); }
  assert.equal(grown.report.soloPairShare, [...seen.values()].filter((m) => m === 1).length / n);
  // A catalogue spread over its prefixes keeps the catalogue-size K.
  const spread = syntheticClusteredVectors(3000, DIM, { seed: 5 });
  const kept = await fit(spread.vectors, 3000, { codebookSize: 0 });
  assert.equal(kept.tokenizer.k, autoCodebookSize(3000));
  assert.ok(kept.report.soloPairShare >= MIN_SOLO_PAIR_SHARE);
});

test('K from catalogue size', () => {
  assert.equal(autoCodebookSize(1_000_000), 1024);
  assert.equal(autoCodebookSize(12_101), 512);
  assert.equal(autoCodebookSize(10_000), 256);
  assert.equal(autoCodebookSize(3_706), 128);
  assert.equal(autoCodebookSize(1000), 32);
  assert.equal(autoCodebookSize(5), 16);
});
