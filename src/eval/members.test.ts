import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenrecError } from '../engine/index.js';
import { splitWithRandomCodes } from '../train/fixtures.js';
import { TransitionTable } from '../models/index.js';
import { MEMORY_START_BETA, trainMember, trainMembers, tuneMemory, validate, type MemberJob } from './members.js';

async function jobs(n: number): Promise<MemberJob[]> {
  const { split, codes, sizes } = await splitWithRandomCodes();
  const itemIds = Array.from({ length: split.interactions.numItems }, (_, i) => `i${i}`);
  return Array.from({ length: n }, (_, i) => ({
    seed: 5 + 1000 * i, sampleSeed: 5, split, codes, codeSizes: sizes, itemIds, maxLen: 10, epochs: 2,
    train: { batchSize: 16, model: { dModel: 16, nHead: 2, nLayer: 1, dropout: 0.1 } }, patience: 4, evalEvery: 1, evalUsers: 50, beam: 10,
  }));
}

test('ensemble members trained side by side in worker threads equal the same members trained here, weights and all', async () => {
  const js = await jobs(2);
  const dir = mkdtempSync(join(tmpdir(), 'genrec-members-'));
  const parallel = await trainMembers(js.map((j, i) => ({ ...j, runDir: join(dir, `m${i}`) })), { threads: 2 }); // two workers, one engine thread each
  assert.equal(parallel.length, 2);
  for (const [i, j] of js.entries()) {
    const here = await trainMember({ ...j, runtime: { threads: 1 } });
    const got = parallel[i]!;
    assert.deepEqual(got.model.c, here.model.c);
    assert.equal(got.result.bestEpoch, here.result.bestEpoch);
    assert.equal(got.result.bestMetric, here.result.bestMetric);
    const a = got.model.parameters(), b = here.model.parameters();
    assert.equal(a.length, b.length);
    a.forEach((p, k) => assert.deepEqual(p.data, b[k]!.data, p.name));
  }
  const w0 = parallel[0]!.model.parameters()[0]!.data, w1 = parallel[1]!.model.parameters()[0]!.data;
  assert.notDeepEqual(w0, w1, 'members differ by their seeds');
});

test('a member that fails in its worker thread rejects with its coded error, and the other member stops at its next step', async () => {
  const [j] = await jobs(1);
  const bad = { ...j!, epochs: 0 }; // the training loop refuses 0 epochs
  const dir = mkdtempSync(join(tmpdir(), 'genrec-members-'));
  const long = { ...j!, epochs: 300, patience: 1000, runDir: dir }; // minutes of training if nothing stopped it
  const t0 = performance.now();
  await assert.rejects(trainMembers([long, bad], { threads: 2 }), (e: unknown) => e instanceof GenrecError && e.code === 'GENREC_E_CONFIG');
  const curves = join(dir, 'curves.json'); // written after each completed epoch
  const done = existsSync(curves) ? (JSON.parse(readFileSync(curves, 'utf8')).epochs.length as number) : 0;
  assert.ok(done < 300, `the long member was cancelled after ${done} epochs (${Math.round(performance.now() - t0)} ms)`);
});

test('validate gives the figures early stopping kept for a member, and an ensemble of a member with itself validates as that member', async () => {
  const [j0, j1] = await jobs(2);
  const here = { runtime: { threads: 1 } };
  const m0 = await trainMember({ ...j0!, ...here }), m1 = await trainMember({ ...j1!, ...here });
  const own = await validate(m0.model, { ...j0!, ...here });
  assert.deepEqual(own, m0.result.bestMetrics, 'the best epoch\'s weights, validated again, give its figures');
  assert.deepEqual(await validate([m0.model, m0.model], { ...j0!, ...here }), own);
  const both = await validate([m0.model, m1.model], { ...j0!, ...here });
  assert.ok(both['ndcg@10']! >= 0 && both['ndcg@10']! <= 1 && both['recall@10']! >= both['ndcg@10']!, JSON.stringify(both));
});

test('tuneMemory measures each β against the model alone on the same validation users and keeps the best', async () => {
  const [j] = await jobs(1);
  const here = { ...j!, runtime: { threads: 1 } };
  const m = await trainMember(here);
  const inter = here.split.interactions;
  const table = TransitionTable.fromSequences(inter.items, inter.userOffsets, here.split.trainEnd, inter.numItems);
  assert.ok(table.size > 0);
  const t = await tuneMemory(m.model, () => table, here, { betas: [0.5, 30], reverses: [0, 1], rows: 'counts', spans: [1] });
  assert.deepEqual(t.modelMetrics, await validate(m.model, here), 'the model alone is measured as validate measures it');
  // Both weights at the middle β (30), then the other β at the better weight.
  const r = t.tried[1]!.ndcg10 > t.tried[0]!.ndcg10 ? 1 : 0;
  assert.deepEqual(t.tried.map((x) => `${x.reverse}/${x.beta}`), ['0/30', '1/30', `${r}/0.5`]);
  assert.ok(t.tried.every((x) => !x.shares));
  const best = t.tried.reduce((a, b) => (b.ndcg10 > a.ndcg10 ? b : a));
  if (best.ndcg10 > t.modelMetrics['ndcg@10']!) {
    assert.equal(t.options?.beta, best.beta);
    assert.equal(t.metrics['ndcg@10'], best.ndcg10);
  } else {
    assert.equal(t.options, null);
    assert.equal(t.metrics, t.modelMetrics);
  }
  assert.notEqual(t.tried[2]!.ndcg10, t.tried[r]!.ndcg10, 'β changes the ranking');
  // A grid holding the starting β starts there (not at its middle), then steps down and up.
  const grid = await tuneMemory(m.model, () => table, here, { betas: [10, 30, 100, 300, 1000, 3000, 10000], reverses: [0], rows: 'counts', spans: [1] });
  assert.equal(grid.tried[0]!.beta, MEMORY_START_BETA);
  assert.ok(grid.tried.length >= 3 && grid.tried.some((x) => x.beta < 100) && grid.tried.some((x) => x.beta > 100), 'one step each way at least');
  // Forced: a pair is kept even when the model alone validates better.
  const forced = await tuneMemory(m.model, () => table, here, { betas: [1e-3], reverses: [0], force: true, rows: 'counts', spans: [1] });
  assert.deepEqual(forced.options, { beta: 1e-3, window: 3, decay: 0.5, reverse: 0 });
  assert.equal(forced.metrics['ndcg@10'], forced.tried[0]!.ndcg10);
  // Auto: each grid's start with each weight, β walked in each grid at its better weight, then the
  // wider table at each grid's best setting.
  const wide = TransitionTable.fromSequences(inter.items, inter.userOffsets, here.split.trainEnd, inter.numItems, 10);
  const auto = await tuneMemory(m.model, (span) => (span === 1 ? table : wide), here, { betas: [30, 100], shareBetas: [1, 3, 10], reverses: [0, 1] });
  const starts = auto.tried.slice(0, 4);
  assert.deepEqual(starts.map((x) => `${x.shares}/${x.beta}/${x.reverse}/${x.span}`), ['false/100/0/1', 'false/100/1/1', 'true/3/0/1', 'true/3/1/1']);
  const weight = (shares: boolean) => { const [a, b] = starts.filter((x) => x.shares === shares); return b!.ndcg10 > a!.ndcg10 ? 1 : 0; };
  const walked = auto.tried.slice(4), spanAt = walked.findIndex((x) => x.span === 10);
  assert.ok(spanAt >= 0 && walked.every((x) => x.reverse === weight(x.shares)), JSON.stringify(auto.tried));
  assert.ok(walked.slice(0, spanAt).some((x) => !x.shares) && walked.slice(0, spanAt).some((x) => x.shares), 'β is walked in both grids');
  assert.ok(walked.slice(0, spanAt).every((x) => x.span === 1), 'β is walked before the wider table is tried');
  // The wider table at each grid's best narrow setting, counts' β moved by the tables' mass ratio.
  const bestOf = (shares: boolean) => auto.tried.filter((x) => x.span === 1 && x.shares === shares).reduce((a, b) => (b.ndcg10 > a.ndcg10 ? b : a));
  const firstWide = (shares: boolean) => walked.find((x) => x.span === 10 && x.shares === shares)!;
  const mass = (t: TransitionTable) => t.count.reduce((a, b) => a + b, 0);
  assert.ok(mass(wide) > 2 * mass(table), 'the span-10 table holds more than twice the mass');
  const want = Math.log(bestOf(false).beta * mass(wide) / mass(table));
  const nearest = [30, 100].reduce((a, b) => (Math.abs(Math.log(b) - want) < Math.abs(Math.log(a) - want) ? b : a));
  assert.deepEqual([walked[spanAt]!.shares, walked[spanAt]!.beta], [false, nearest], 'counts try the wider table at β scaled by its mass');
  assert.equal(firstWide(true).beta, bestOf(true).beta, 'shares try it at their best β');
  const wideBetas = (shares: boolean) => walked.filter((x) => x.span === 10 && x.shares === shares).map((x) => x.beta).sort((a, b) => a - b);
  assert.deepEqual(wideBetas(false), [30, 100], 'and β is walked from there, one step each way at least');
  assert.ok(wideBetas(true).length >= 2, JSON.stringify(auto.tried));
  const top = auto.tried.reduce((a, b) => (b.ndcg10 > a.ndcg10 ? b : a));
  if (top.ndcg10 > auto.modelMetrics['ndcg@10']!) {
    assert.deepEqual([auto.options?.beta, auto.options?.shares ?? false, auto.options?.window, auto.options?.span ?? 1], [top.beta, top.shares, top.shares ? 10 : 3, top.span]);
    assert.equal(auto.table, top.span === 1 ? table : wide, 'the kept table is the one the kept options read');
  } else assert.equal(auto.table, null);
});
