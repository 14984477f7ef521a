/**
 * Hot swap under load: while clients request recommendations non-stop, newer bundles appear (one found
 * by the models-dir watcher, one loaded through POST /api/admin/reload). No request may fail, versions
 * only move forward, and items inserted meanwhile are known to the new model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { installToyBundle, toyDataDir, toyItemId } from './fixtures.js';
import { startServer } from './server.js';

test('serve: hot swap to newer bundles under load with zero failed requests', { timeout: 60_000 }, async (t) => {
  const dataDir = await toyDataDir({ users: 20 });
  const s = await startServer({ dataDir, port: 0, flushIntervalMs: 0, watchModelsMs: 50, batchWaitMs: 1 });
  t.after(() => s.close());
  let stop = false, ok = 0;
  const failures: string[] = [];
  const versions: number[][] = [];
  const clients = Array.from({ length: 8 }, async (_, c) => {
    const seen: number[] = [];
    versions.push(seen);
    for (let k = 0; !stop; k++) {
      const path = c % 2 ? `/api/recommend/user${(c + k) % 20}?n=5` : `/api/session/recommend?n=5`;
      const res = await fetch(new URL(path, s.url), c % 2 ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([toyItemId(k % 200)]) });
      const body = (await res.json()) as { ModelVersion: number; Items: unknown[] };
      if (res.status !== 200 || body.Items.length !== 5) failures.push(`${res.status} ${JSON.stringify(body).slice(0, 200)}`);
      else { ok++; if (seen[seen.length - 1] !== body.ModelVersion) seen.push(body.ModelVersion); }
    }
  });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await sleep(400);
  await installToyBundle(dataDir, 2); // found by the watcher
  await sleep(300);
  // An item inserted while the next model loads must be in it.
  const insert = fetch(new URL('/api/item', s.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ItemId: 'during-swap', Categories: ['swap-only'] }) });
  await installToyBundle(dataDir, 3);
  const reload = await fetch(new URL('/api/admin/reload', s.url), { method: 'POST' });
  assert.equal(((await reload.json()) as { ModelVersion: number }).ModelVersion, 3);
  assert.equal((await insert).status, 200);
  await sleep(400);
  stop = true;
  await Promise.all(clients);
  assert.deepEqual(failures, [], 'no request failed during the swaps');
  assert.ok(ok > 100, `only ${ok} requests completed`);
  for (const seen of versions) {
    assert.deepEqual(seen, [...seen].sort((a, b) => a - b), 'versions only move forward');
    assert.equal(seen[seen.length - 1], 3);
  }
  assert.equal(s.host.swaps, 3);
  const r = await fetch(new URL('/api/session/recommend?n=1&category=swap-only', s.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([toyItemId(3)]) });
  const body = (await r.json()) as { ModelVersion: number; Items: Array<{ ItemId: string }> };
  assert.equal(body.ModelVersion, 3);
  assert.deepEqual(body.Items.map((x) => x.ItemId), ['during-swap']);
  t.diagnostic(`${ok} requests during 2 swaps, 0 failed`);
});

test('serve: the periodic retraining hook runs its command in a background process and the result is loaded', { timeout: 60_000 }, async (t) => {
  const dataDir = await toyDataDir({ users: 4 });
  const { toyBundle } = await import('./fixtures.js');
  const src = join(await toyBundle(), 'v1');
  // Stands in for `genrec train`: writes bundle v2 the way it does (temp name, then rename).
  const script = `const fs=require('fs');fs.cpSync(${JSON.stringify(src)},${JSON.stringify(join(dataDir, 'models', '.v2.tmp'))},{recursive:true});` +
    `const m=${JSON.stringify(join(dataDir, 'models', '.v2.tmp', 'manifest.json'))};const j=JSON.parse(fs.readFileSync(m));j.version=2;fs.writeFileSync(m,JSON.stringify(j));` +
    `fs.renameSync(${JSON.stringify(join(dataDir, 'models', '.v2.tmp'))},${JSON.stringify(join(dataDir, 'models', 'v2'))});`;
  const s = await startServer({ dataDir, port: 0, flushIntervalMs: 0, watchModelsMs: 0, retrainEveryMinutes: 0.005, retrainCommand: [process.execPath, '-e', script] });
  t.after(() => s.close());
  const version = () => s.host.current?.version;
  assert.equal(version(), 1);
  for (let i = 0; i < 100 && version() !== 2; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(version(), 2, 'the retrained bundle was loaded');
});
