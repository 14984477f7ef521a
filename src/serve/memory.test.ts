/**
 * Memorised transitions while serving: events the server takes in after training teach the bundle's
 * memory at once (known and brand-new items alike), the "why" names the transition, a restart rebuilds
 * the live part from the state (every transition into an event newer than the bundle's data), and a
 * deleted user's live transitions are forgotten.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toyNext } from '../models/toy-generator.js';
import { installToyMemoryBundle, toyDataDir, toyItemId } from './fixtures.js';
import { startServer, type Server } from './server.js';

const T0 = 1_700_000_000; // toyDataDir's first event: user u's 5 events are at T0 + 100·u + k

async function post(s: Server, path: string, body: unknown): Promise<any> {
  const res = await fetch(new URL(path, s.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return res.json();
}

/** n new users who each engaged with `from`, then `to`. */
const pairs = (from: string, to: string, n: number, tag: string) => Array.from({ length: n }, (_, u) => [
  { FeedbackType: 'view', UserId: `${tag}${u}`, ItemId: from, Timestamp: T0 + 10_000 + u },
  { FeedbackType: 'view', UserId: `${tag}${u}`, ItemId: to, Timestamp: T0 + 10_001 + u },
]).flat();

test('serve: live events teach the memorised transitions, the why names them, a restart keeps them, deleting users forgets them', { timeout: 60_000 }, async (t) => {
  const dataDir = await toyDataDir({ users: 20, model: false });
  // The bundle's data ends at T0 + 1050: users 11–19 (4 transitions each) came later.
  await installToyMemoryBundle(dataDir, { beta: 0.5, lastEventAt: T0 + 1050 });
  const start = () => startServer({ dataDir, port: 0, flushIntervalMs: 0, watchModelsMs: 0, batchWaitMs: 1 });
  let s = await start();
  t.after(() => s.close());
  assert.equal(s.host.current!.transitionsSent, 9 * 4, 'transitions into events after the bundle\'s data are replayed on load');

  const a = 10, x = 77;
  assert.notEqual(toyNext(a), x);
  const session = async (item: string) => (await post(s, '/api/session/recommend?n=3', [item])) as { Items: Array<{ ItemId: string; Why: { Followed: Array<{ ItemId: string; Times: number }> } }> };
  const before = await session(toyItemId(a));
  assert.equal(before.Items[0]!.ItemId, toyItemId(toyNext(a)), 'the model alone follows the toy rule');
  assert.deepEqual(before.Items[0]!.Why.Followed, []);

  // Six users go a → x: with β 0.5 the memory now outweighs the model's choice.
  await post(s, '/api/feedback', pairs(toyItemId(a), toyItemId(x), 6, 'm'));
  const after = await session(toyItemId(a));
  assert.equal(after.Items[0]!.ItemId, toyItemId(x));
  assert.deepEqual(after.Items[0]!.Why.Followed, [{ ItemId: toyItemId(a), Times: 6 }]);
  assert.equal(after.Items[1]!.ItemId, toyItemId(toyNext(a)), 'the model\'s own choice comes next');

  // An item inserted after training is coded first; the transitions into it wait for its code.
  await post(s, '/api/item', { ItemId: 'fresh', Categories: ['cat1'] });
  await post(s, '/api/feedback', pairs(toyItemId(20), 'fresh', 6, 'f'));
  assert.equal((await session(toyItemId(20))).Items[0]!.ItemId, 'fresh', 'a new item is memorised from live events');
  assert.equal(s.host.current!.transitionsSent, 36 + 12);

  await s.close();
  s = await start();
  assert.equal(s.host.current!.transitionsSent, 36 + 12, 'a restart replays every transition after the bundle\'s data');
  const again = await session(toyItemId(a));
  assert.equal(again.Items[0]!.ItemId, toyItemId(x));
  assert.deepEqual(again.Items[0]!.Why.Followed, [{ ItemId: toyItemId(a), Times: 6 }]);
  assert.equal((await session(toyItemId(20))).Items[0]!.ItemId, 'fresh');

  // Deleting users takes their live transitions back out.
  const del = async (id: string) => assert.equal((await fetch(new URL(`/api/user/${id}`, s.url), { method: 'DELETE' })).status, 200);
  for (const id of ['m0', 'm1', 'm2', 'm3']) await del(id);
  assert.deepEqual((await session(toyItemId(a))).Items[0]!.Why.Followed, [{ ItemId: toyItemId(a), Times: 2 }]);
  for (const id of ['m4', 'm5']) await del(id);
  const forgotten = await session(toyItemId(a));
  assert.equal(forgotten.Items[0]!.ItemId, toyItemId(toyNext(a)), 'with every a → x user deleted, the model alone again');
  assert.deepEqual(forgotten.Items.map((x) => x.Why.Followed), [[], [], []]);
  assert.equal(s.host.current!.transitionsSent, 36 + 6);
});

test('serve: a bundle that does not record its data\'s last event time replays nothing on load; live events still count', { timeout: 60_000 }, async (t) => {
  const dataDir = await toyDataDir({ users: 20, model: false });
  await installToyMemoryBundle(dataDir, { beta: 0.5 }); // lastEventAt not recorded (an older bundle)
  const s = await startServer({ dataDir, port: 0, flushIntervalMs: 0, watchModelsMs: 0, batchWaitMs: 1 });
  t.after(() => s.close());
  assert.equal(s.host.current!.transitionsSent, 0);
  await post(s, '/api/feedback', pairs(toyItemId(3), toyItemId(9), 2, 'n'));
  assert.equal(s.host.current!.transitionsSent, 2, 'live events still count');
});

test('serve: a bundle whose table spans two events memorises each live event after the two before it, the further one weighing 0.8', { timeout: 60_000 }, async (t) => {
  const dataDir = await toyDataDir({ users: 20, model: false });
  await installToyMemoryBundle(dataDir, { beta: 0.5, span: 2 });
  const s = await startServer({ dataDir, port: 0, flushIntervalMs: 0, watchModelsMs: 0, batchWaitMs: 1 });
  t.after(() => s.close());
  const a = 10, y = 33, x = 77;
  assert.ok(![y, x].includes(toyNext(a)));
  // Six new users go a → y → x: a → y and y → x one event on, a → x two on.
  await post(s, '/api/feedback', Array.from({ length: 6 }, (_, u) => [a, y, x].map((i, k) => ({ FeedbackType: 'view', UserId: `s${u}`, ItemId: toyItemId(i), Timestamp: T0 + 20_000 + 10 * u + k }))).flat());
  assert.equal(s.host.current!.transitionsSent, 6 * 3);
  const r = (await post(s, '/api/session/recommend?n=3', [toyItemId(a)])) as { Items: Array<{ ItemId: string; Why: { Followed: Array<{ ItemId: string; Times: number }> } }> };
  assert.deepEqual(r.Items.map((i) => i.ItemId), [toyItemId(y), toyItemId(x), toyItemId(toyNext(a))], 'y (6) before x (6 × 0.8) before the model\'s own choice');
  assert.deepEqual(r.Items[0]!.Why.Followed, [{ ItemId: toyItemId(a), Times: 6 }]);
  assert.ok(Math.abs(r.Items[1]!.Why.Followed[0]!.Times - 4.8) < 1e-5, JSON.stringify(r.Items[1]!.Why));
});
