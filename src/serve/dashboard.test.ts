import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TOY, toyCodes } from '../models/toy-generator.js';
import { RunDir } from '../train/run-dir.js';
import { toyDataDir, toyItemId } from './fixtures.js';
import { startServer } from './server.js';

async function get(base: string, path: string): Promise<{ status: number; type: string; json: any; text: string }> {
  const res = await fetch(new URL(path, base));
  const text = await res.text();
  let json: any = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, type: res.headers.get('content-type') ?? '', json, text };
}

test('dashboard: page, chart assets and JSON endpoints on a real toy model', async (t) => {
  const dataDir = await toyDataDir({ users: 20 });
  // Point the bundle at a run directory with curves, as `genrec train` / `genrec demo` do. The run
  // directory holds one epoch more than the bundle saw (a later run reused it): that one is left out.
  const run = new RunDir(mkdtempSync(join(tmpdir(), 'genrec-dash-run-')));
  const epochs = [1, 2, 3, 4].map((e) => ({ epoch: e, step: 10 * e, loss: 5 - e, lr: 1e-3, seconds: 1, ...(e % 2 === 0 ? { metrics: { 'ndcg@10': 0.01 * e, 'recall@10': 0.02 * e } } : {}) }));
  run.writeJson('curves.json', { metric: 'ndcg@10', epochs, stepLoss: [] });
  const mf = join(dataDir, 'models', 'v1', 'manifest.json');
  const manifest = JSON.parse(readFileSync(mf, 'utf8'));
  manifest.train = { epochs: 3, bestEpoch: 2, runDir: run.path };
  manifest.metrics = { 'test_ndcg@10': 0.5, 'mostpop_test_ndcg@10': 0.1 };
  writeFileSync(mf, JSON.stringify(manifest));

  const s = await startServer({ dataDir, port: 0, flushIntervalMs: 0, watchModelsMs: 0, batchWaitMs: 1 });
  t.after(() => s.close());

  await t.test('the page, its script and the charting library come from the server itself', async () => {
    const page = await get(s.url, '/');
    assert.equal(page.status, 200);
    assert.match(page.type, /text\/html/);
    assert.match(page.text, /<script src="\/vendor\/uplot\.js">/);
    assert.equal((await get(s.url, '/app.js')).status, 200);
    const js = await get(s.url, '/vendor/uplot.js');
    assert.equal(js.status, 200);
    assert.match(js.type, /javascript/);
    assert.match(js.text, /uPlot/);
    assert.match((await get(s.url, '/vendor/uplot.css')).type, /text\/css/);
    const nope = await get(s.url, '/vendor/..%2Fpackage.json');
    assert.equal(nope.status, 404);
    assert.equal(nope.json.code, 'GENREC_E_NOT_FOUND');
  });

  await t.test('overview: counts, the model, offline metrics from the manifest, click-through per version', async () => {
    const o = (await get(s.url, '/api/dashboard/overview')).json;
    assert.equal(o.Users, 20);
    assert.equal(o.Items, TOY.items);
    assert.equal(o.Events, 20 * 5);
    assert.equal(o.Model.Version, 1);
    assert.deepEqual(o.Model.CodeSizes, [...TOY.sizes]);
    assert.equal(o.Model.Metrics['test_ndcg@10'], 0.5);
    assert.deepEqual(o.Ctr, []);
    const rec = (await get(s.url, '/api/recommend/user3?n=5')).json;
    assert.equal(rec.Source, 'generator');
    const res = await fetch(new URL('/api/feedback', s.url), {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ FeedbackType: 'like', UserId: 'user3', ItemId: rec.Items[0].ItemId, RecommendationId: rec.RecommendationId }),
    });
    assert.equal(res.status, 200);
    const after = (await get(s.url, '/api/dashboard/overview')).json;
    assert.deepEqual(after.Ctr, [{ ModelVersion: 1, Recommendations: 1, Impressions: 5, Clicks: 1, Ctr: 0.2 }]);
    assert.equal(after.Events, 20 * 5 + 1);
  });

  await t.test('curves: the epochs this bundle was trained for, from its run directory', async () => {
    const c = (await get(s.url, '/api/dashboard/curves')).json;
    assert.equal(c.Metric, 'ndcg@10');
    assert.equal(c.BestEpoch, 2);
    assert.deepEqual(c.Epochs.map((e: { Epoch: number }) => e.Epoch), [1, 2, 3]);
    assert.deepEqual(c.Epochs.map((e: { Loss: number }) => e.Loss), [4, 3, 2]);
    assert.equal(c.Epochs[1].Metrics['ndcg@10'], 0.02);
  });

  await t.test('latency: recommendation requests are counted, the dashboard\'s own are not', async () => {
    for (let u = 0; u < 5; u++) await get(s.url, `/api/recommend/user${u}`);
    const l = (await get(s.url, '/api/dashboard/latency')).json;
    assert.equal(l.Window, 120);
    assert.equal(l.Kinds.recommend.Rps.length, 120);
    assert.ok(l.Kinds.recommend.Summary.Count >= 6, JSON.stringify(l.Kinds.recommend.Summary));
    assert.ok(l.Kinds.recommend.Summary.P50 > 0);
    assert.ok(l.Kinds.recommend.Summary.P95 >= l.Kinds.recommend.Summary.P50);
    assert.equal(l.Kinds.read.Summary.Count, 0, 'dashboard and page requests are not service traffic');
    assert.equal(l.Kinds.write.Summary.Count, 1);
  });

  await t.test('semantic-ID tree: counts per code, titles under each prefix, items when few', async () => {
    const codes = toyCodes();
    const root = (await get(s.url, '/api/dashboard/codes')).json;
    assert.equal(root.Items, TOY.items);
    assert.equal(root.ItemList, null, 'too many to list at the root');
    assert.deepEqual(root.Children.map((c: { Code: number }) => c.Code), [0, 1, 2, 3, 4, 5, 6]);
    assert.equal(root.Children.reduce((a: number, c: { Items: number }) => a + c.Items, 0), TOY.items);
    assert.equal(root.Children[0].Items, 32);
    assert.equal(root.Children[0].Sample[0].Title, `Title of ${toyItemId(0)}`);
    const p = (await get(s.url, '/api/dashboard/codes?prefix=1,2')).json;
    const expect = Array.from({ length: TOY.items }, (_, i) => i).filter((i) => codes[i * 3] === 1 && codes[i * 3 + 1] === 2);
    assert.equal(p.Items, expect.length);
    assert.deepEqual(p.ItemList.map((x: { ItemId: string }) => x.ItemId), expect.map(toyItemId));
    for (const x of p.ItemList) {
      assert.deepEqual(x.SemanticId.slice(0, 2), [1, 2]);
      assert.equal(x.Title, `Title of ${x.ItemId}`);
    }
    assert.equal((await get(s.url, '/api/dashboard/codes?prefix=1,2,3')).status, 400);
    assert.equal((await get(s.url, '/api/dashboard/codes?prefix=../x')).status, 400);
    assert.equal((await get(s.url, '/api/dashboard/codes?prefix=9')).json.Items, 0);
  });

  await t.test('users and a user\'s history with titles; item search', async () => {
    const all = (await get(s.url, '/api/dashboard/users?n=3')).json;
    assert.equal(all.Users.length, 3);
    assert.equal(all.Matches, 20);
    assert.equal(all.Users[0].UserId, 'user3', 'the user with the live event is the most active');
    const q = (await get(s.url, '/api/dashboard/users?q=user1&n=50')).json;
    assert.deepEqual(q.Users.map((u: { UserId: string }) => u.UserId).sort(), ['user1', ...Array.from({ length: 10 }, (_, i) => `user1${i}`)].sort());
    const u = (await get(s.url, '/api/dashboard/user/user5?n=3')).json;
    assert.equal(u.Events, 5);
    assert.equal(u.History.length, 3, 'the last n events');
    for (const e of u.History) {
      assert.equal(e.Title, `Title of ${e.ItemId}`);
      assert.equal(e.FeedbackType, 'view');
      assert.equal(e.SemanticId.length, 3);
    }
    const missing = await get(s.url, '/api/dashboard/user/nobody');
    assert.equal(missing.status, 404);
    assert.equal(missing.json.code, 'GENREC_E_NOT_FOUND');
    const items = (await get(s.url, '/api/dashboard/items?q=item12')).json;
    assert.deepEqual(items.Items[0], { ItemId: 'item12', Title: 'Title of item12' }, 'the exact id first');
    // The exact id leads even when more than a page of ids contain it (item1 → item10…item19, item100…).
    const page = (await get(s.url, '/api/dashboard/items?q=item1&n=2')).json;
    assert.ok(page.Matches > 2);
    assert.equal(page.Items[0].ItemId, 'item1');
    assert.ok(items.Items.every((x: { ItemId: string }) => x.ItemId.includes('item12')));
  });
});

test('dashboard: a server without a model says so instead of failing', async (t) => {
  const dataDir = await toyDataDir({ users: 3, model: false });
  const s = await startServer({ dataDir, port: 0, flushIntervalMs: 0, watchModelsMs: 0 });
  t.after(() => s.close());
  const o = (await get(s.url, '/api/dashboard/overview')).json;
  assert.equal(o.Model, null);
  assert.equal(o.Users, 3);
  for (const path of ['/api/dashboard/curves', '/api/dashboard/codes']) {
    const r = await get(s.url, path);
    assert.equal(r.status, 404);
    assert.equal(r.json.code, 'GENREC_E_NOT_FOUND');
    assert.ok(r.json.hint);
  }
});
