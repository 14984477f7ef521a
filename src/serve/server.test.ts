import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toyNext } from '../models/toy-generator.js';
import { toyCategory, toyDataDir, toyItemId } from './fixtures.js';
import { startServer, type Server } from './server.js';

const KEY = 'test-key';

async function call(s: Server, method: string, path: string, body?: unknown, key: string | null = KEY): Promise<{ status: number; json: any }> {
  const res = await fetch(new URL(path, s.url), {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(key ? { 'x-api-key': key } : {}) },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: any = text;
  try { json = JSON.parse(text); } catch { /* text */ }
  return { status: res.status, json };
}

const ids = (r: { json: { Items: Array<{ ItemId: string }> } }) => r.json.Items.map((x) => x.ItemId);
const num = (id: string) => Number(id.replace('item', ''));

test('serve: API end to end on a real toy model', async (t) => {
  const dataDir = await toyDataDir({ users: 20 });
  const start = () => startServer({ dataDir, port: 0, apiKey: KEY, flushIntervalMs: 0, watchModelsMs: 0, batchWaitMs: 1, bodyLimit: 64 << 10 });
  let s = await start();
  t.after(() => s.close());

  await t.test('health, docs, metrics, errors are JSON with a code', async () => {
    assert.equal((await call(s, 'GET', '/api/health/live')).status, 200);
    const ready = await call(s, 'GET', '/api/health/ready');
    assert.equal(ready.status, 200);
    assert.equal(ready.json.ModelVersion, 1);
    const doc = await call(s, 'GET', '/openapi.json');
    assert.equal(doc.status, 200);
    assert.ok(doc.json.paths['/api/recommend/{userId}'], 'OpenAPI documents the routes');
    assert.equal((await fetch(new URL('/docs', s.url))).status, 200);
    const m = await call(s, 'GET', '/metrics');
    assert.match(m.json, /genrec_http_requests_total/);
    const nf = await call(s, 'GET', '/nope');
    assert.equal(nf.status, 404);
    assert.equal(nf.json.code, 'GENREC_E_NOT_FOUND');
    const bad = await call(s, 'POST', '/api/feedback', { UserId: 'u' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, 'GENREC_E_VALIDATION');
    const badJson = await call(s, 'POST', '/api/feedback', '{not json');
    assert.equal(badJson.status, 400);
    assert.ok(badJson.json.code.startsWith('GENREC_E_'));
    const big = await call(s, 'POST', '/api/feedback', Array.from({ length: 2000 }, (_, i) => ({ FeedbackType: 'view', UserId: 'u', ItemId: `x${i}`, Comment: 'padding padding' })));
    assert.equal(big.status, 413);
    assert.equal(big.json.code, 'GENREC_E_BODY_TOO_LARGE');
    const badN = await call(s, 'GET', '/api/recommend/user1?n=0');
    assert.equal(badN.json.code, 'GENREC_E_VALIDATION');
  });

  await t.test('items and users are listed with cursors', async () => {
    const first = await call(s, 'GET', '/api/items?n=150');
    assert.equal(first.json.Items.length, 150);
    assert.equal(first.json.Items[0].Title, 'Title of item0');
    assert.deepEqual(first.json.Items[0].Categories, ['cat0']);
    const rest = await call(s, 'GET', `/api/items?n=150&cursor=${first.json.Cursor}`);
    assert.equal(rest.json.Items.length, 50);
    assert.equal(rest.json.Cursor, '');
    const users = await call(s, 'GET', '/api/users?n=5');
    assert.equal(users.json.Users.length, 5);
    assert.equal(users.json.Users[0].Events, 5);
  });

  await t.test('writes need the API key; reads do not (unless configured)', async () => {
    const w = await call(s, 'POST', '/api/user', { UserId: 'nokey' }, null);
    assert.equal(w.status, 401);
    assert.equal(w.json.code, 'GENREC_E_UNAUTHORIZED');
    assert.equal((await call(s, 'POST', '/api/user', { UserId: 'nokey' }, 'wrong')).status, 401);
    assert.equal((await call(s, 'GET', '/api/recommend/user1', undefined, null)).status, 200);
  });

  await t.test('user recommendations: generator, n items, seen excluded, scores and why', async () => {
    const r = await call(s, 'GET', '/api/recommend/user3?n=5');
    assert.equal(r.status, 200);
    assert.equal(r.json.Source, 'generator');
    assert.equal(r.json.ModelVersion, 1);
    assert.ok(r.json.RecommendationId);
    assert.equal(r.json.Items.length, 5);
    const seen = (await call(s, 'GET', '/api/user/user3/feedback')).json.map((e: { ItemId: string }) => e.ItemId);
    assert.equal(seen.length, 5);
    for (const it of ids(r)) assert.ok(!seen.includes(it), 'seen items are excluded');
    // user3's last item is L; the toy rule makes toyNext(L) the top prediction (seen or not).
    assert.equal(ids(await call(s, 'GET', '/api/recommend/user3?n=5&excludeSeen=false'))[0], toyItemId(toyNext(num(seen[4]))));
    const scores = r.json.Items.map((x: { Score: number }) => x.Score);
    assert.deepEqual(scores, [...scores].sort((a, b) => b - a));
    for (const x of r.json.Items) assert.ok(Array.isArray(x.Why.SharedPrefix) && Array.isArray(x.Why.Items));
    const withSeen = await call(s, 'GET', '/api/recommend/user3?n=20&excludeSeen=false');
    assert.equal(withSeen.json.Items.length, 20);
    const page2 = await call(s, 'GET', '/api/recommend/user3?n=5&offset=5');
    const top10 = ids(await call(s, 'GET', '/api/recommend/user3?n=10'));
    assert.deepEqual(ids(page2), top10.slice(5));
  });

  await t.test('concurrent requests are micro-batched into shared generator runs', async () => {
    const before = { ...s.host.current!.stats };
    const all = await Promise.all(Array.from({ length: 24 }, (_, u) => call(s, 'GET', `/api/recommend/user${u % 20}?n=10`)));
    for (const r of all) assert.equal(r.json.Items.length, 10);
    const runs = s.host.current!.stats.batches - before.batches, reqs = s.host.current!.stats.requests - before.requests;
    assert.equal(reqs, 24);
    assert.ok(runs < reqs, `${reqs} requests took ${runs} generator runs`);
  });

  await t.test('feedback shows in the next recommendation; idempotent by EventId', async () => {
    const f = { FeedbackType: 'view', UserId: 'user5', ItemId: toyItemId(42), EventId: 'e-42' };
    const a = await call(s, 'POST', '/api/feedback', f);
    assert.deepEqual(a.json, { RowAffected: 1, Duplicates: 0 });
    const b = await call(s, 'POST', '/api/feedback', [f, { ...f, EventId: 'e-43', ItemId: toyItemId(43) }]);
    assert.deepEqual(b.json, { RowAffected: 1, Duplicates: 1 });
    const r = await call(s, 'GET', '/api/recommend/user5?n=3');
    assert.equal(ids(r)[0], toyItemId(toyNext(43)), 'the last event drives the next recommendation');
    const hist = (await call(s, 'GET', '/api/user/user5/feedback')).json;
    assert.equal(hist.filter((e: { ItemId: string }) => e.ItemId === toyItemId(42)).length, 1, 'the repeated event was not added twice');
  });

  await t.test('deleted and hidden items are never recommended, at once; category filter and prefix cap apply inside the search', async () => {
    await call(s, 'POST', '/api/feedback', { FeedbackType: 'view', UserId: 'user6', ItemId: toyItemId(10) });
    const top = toyItemId(toyNext(10));
    assert.equal(ids(await call(s, 'GET', '/api/recommend/user6?n=5'))[0], top);
    assert.equal((await call(s, 'DELETE', `/api/item/${top}`)).status, 200);
    const after = ids(await call(s, 'GET', '/api/recommend/user6?n=10'));
    assert.equal(after.length, 10);
    assert.ok(!after.includes(top), 'deleted item gone');
    assert.equal((await call(s, 'GET', `/api/item/${top}`)).status, 404);
    const next = after[0]!;
    await call(s, 'PATCH', `/api/item/${next}`, { IsHidden: true });
    assert.ok(!ids(await call(s, 'GET', '/api/recommend/user6?n=10')).includes(next), 'hidden item gone');
    await call(s, 'PATCH', `/api/item/${next}`, { IsHidden: false });
    assert.ok(ids(await call(s, 'GET', '/api/recommend/user6?n=10')).includes(next), 'unhidden item back');

    const cat = await call(s, 'GET', '/api/recommend/user6?n=10&category=cat2');
    assert.equal(cat.json.Items.length, 10, 'n items come back with a filter');
    for (const it of ids(cat)) assert.equal(toyCategory(num(it)), 'cat2');
    assert.deepEqual(ids(await call(s, 'GET', '/api/recommend/user6/cat2?n=10')), ids(cat), "Gorse's path form");

    // The toy items use first codes 0-6: seven prefixes, so six items at one per prefix.
    const capped = await call(s, 'GET', '/api/recommend/user6?n=6&maxPerPrefix=1&prefixLevels=1');
    assert.equal(capped.json.Items.length, 6);
    const firstCodes = await Promise.all(ids(capped).map(async (it) => (await call(s, 'GET', `/api/item/${it}`)).json.SemanticId[0]));
    assert.equal(new Set(firstCodes).size, 6, 'at most one item per first code');
  });

  await t.test('a new item gets a semantic ID on insert and can be recommended', async () => {
    const ins = await call(s, 'POST', '/api/item', { ItemId: 'fresh', Categories: ['cat1', 'only-fresh'], Title: 'A fresh item' });
    assert.equal(ins.status, 200);
    const item = (await call(s, 'GET', '/api/item/fresh')).json;
    assert.equal(item.SemanticId.length, 3);
    const r = await call(s, 'POST', '/api/session/recommend?n=3&category=only-fresh', [toyItemId(1)]);
    assert.equal(r.json.Source, 'generator');
    assert.deepEqual(ids(r), ['fresh'], 'the new item is in the trie');
  });

  await t.test('cold users get trending, and the response says so; sessions and similar items use the generator', async () => {
    const cold = await call(s, 'GET', '/api/recommend/nobody?n=4');
    assert.equal(cold.json.Source, 'trending');
    assert.equal(cold.json.Items.length, 4);
    const sess = await call(s, 'POST', '/api/session/recommend?n=3', [toyItemId(7), { ItemId: toyItemId(50) }]);
    assert.equal(sess.json.Source, 'generator');
    assert.equal(ids(sess)[0], toyItemId(toyNext(50)));
    const nb = await call(s, 'GET', `/api/item/${toyItemId(60)}/neighbors?n=3`);
    assert.equal(ids(nb)[0], toyItemId(toyNext(60)));
    assert.ok(!ids(nb).includes(toyItemId(60)));
    const pop = await call(s, 'GET', '/api/popular?n=3');
    assert.equal(pop.json.Items.length, 3);
  });

  await t.test('impressions and clicks give click-through per model version', async () => {
    const r = await call(s, 'GET', '/api/recommend/user8?n=4');
    await call(s, 'POST', '/api/feedback', { FeedbackType: 'click', UserId: 'user8', ItemId: ids(r)[1], RecommendationId: r.json.RecommendationId });
    // Clicking the same item again (or an item not shown) does not count twice.
    await call(s, 'POST', '/api/feedback', { FeedbackType: 'click', UserId: 'user8', ItemId: ids(r)[1], RecommendationId: r.json.RecommendationId });
    const ctr = (await call(s, 'GET', '/api/stats/ctr')).json.Versions.find((v: { ModelVersion: number }) => v.ModelVersion === 1);
    assert.ok(ctr.Recommendations >= 1 && ctr.Impressions >= 4);
    assert.equal(ctr.Clicks, 1);
  });

  await t.test('deleting a user removes their events', async () => {
    assert.equal((await call(s, 'DELETE', '/api/user/user9')).status, 200);
    assert.equal((await call(s, 'GET', '/api/user/user9')).status, 404);
    await call(s, 'POST', '/api/feedback', { FeedbackType: 'view', UserId: 'user9', ItemId: toyItemId(3) });
    const h = (await call(s, 'GET', '/api/user/user9/feedback')).json;
    assert.deepEqual(h.map((e: { ItemId: string }) => e.ItemId), [toyItemId(3)], 'a re-created user starts fresh');
  });

  await t.test('everything survives a restart (store flush, checkpoint and log replay)', async () => {
    const before = (await call(s, 'GET', '/api/stats/ctr')).json;
    const hist5 = (await call(s, 'GET', '/api/user/user5/feedback')).json;
    await s.durable.flush();
    // Changes after the flush live only in the log.
    await call(s, 'POST', '/api/feedback', { FeedbackType: 'view', UserId: 'user11', ItemId: toyItemId(99), EventId: 'after-flush' });
    await call(s, 'DELETE', '/api/user/user12');
    await s.close();
    s = await start();
    assert.deepEqual((await call(s, 'GET', '/api/user/user5/feedback')).json, hist5);
    assert.deepEqual((await call(s, 'GET', '/api/stats/ctr')).json.Versions.filter((v: { ModelVersion: number }) => v.ModelVersion === 1), before.Versions.filter((v: { ModelVersion: number }) => v.ModelVersion === 1));
    assert.equal((await call(s, 'GET', `/api/item/${toyItemId(toyNext(10))}`)).status, 404, 'deletion kept');
    assert.equal((await call(s, 'GET', '/api/user/user9/feedback')).json.length, 1, 'user deletion kept');
    assert.equal((await call(s, 'GET', '/api/user/user12')).status, 404);
    assert.deepEqual((await call(s, 'POST', '/api/feedback', { FeedbackType: 'view', UserId: 'user11', ItemId: toyItemId(99), EventId: 'after-flush' })).json, { RowAffected: 0, Duplicates: 1 });
    assert.deepEqual((await call(s, 'POST', '/api/feedback', { FeedbackType: 'view', UserId: 'user5', ItemId: toyItemId(42), EventId: 'e-42' })).json, { RowAffected: 0, Duplicates: 1 });
    assert.equal((await call(s, 'GET', '/api/item/fresh')).json.Title, 'A fresh item');
  });
});

test('serve: optional read auth and rate limiting answer with coded JSON errors', async (t) => {
  const dataDir = await toyDataDir({ users: 2, model: false });
  const s = await startServer({ dataDir, port: 0, apiKey: KEY, authReads: true, rateLimit: 3, flushIntervalMs: 0, watchModelsMs: 0 });
  t.after(() => s.close());
  const anon = await call(s, 'GET', '/api/recommend/user1', undefined, null);
  assert.equal(anon.status, 401);
  const withKey = await call(s, 'GET', '/api/recommend/user1');
  assert.equal(withKey.status, 200);
  assert.equal(withKey.json.Source, 'trending', 'no model: the fallback, and the response says so');
  assert.equal(withKey.json.Reason, 'no model loaded');
  await call(s, 'GET', '/api/popular');
  await call(s, 'GET', '/api/popular');
  const limited = await call(s, 'GET', '/api/popular'); // the fourth counted request this minute
  assert.equal(limited.status, 429);
  assert.equal(limited.json.code, 'GENREC_E_RATE_LIMIT');
  assert.equal((await call(s, 'GET', '/api/health/live', undefined, null)).status, 200, 'health is neither limited nor authenticated');
});
