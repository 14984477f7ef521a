/**
 * The store conformance suite: the one set of tests every `StoreDriver` passes (the in-memory reference
 * driver, DuckDB, and any future PostgreSQL driver). A driver's test file calls
 * `storeConformance(name, factory)`; the factory returns a fresh, empty driver each time.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { GenrecError } from '../../engine/errors.js';
import { EventColumnsBuilder } from '../columns.js';
import { csrTokens, userItems, type Dataset } from '../dataset.js';
import type { EventColumns } from '../schema.js';
import type { StoreDriver } from './driver.js';
import { Store } from './store.js';

function events(rows: Array<[string, string, string, number, number?]>, timestamps = true, source = 'test'): EventColumns {
  const b = new EventColumnsBuilder(source, { timestamps, values: true });
  for (const [u, i, t, time, v] of rows) b.add(u, i, t, time, v ?? NaN);
  return b.build();
}

function seq(ds: Dataset, user: string): string[] {
  const u = ds.users.ids.indexOf(user);
  return Array.from(userItems(ds.interactions, u), (i) => ds.items.ids[i]!);
}

async function expectCode(p: Promise<unknown>, code: string, details: Record<string, unknown> = {}): Promise<GenrecError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof GenrecError, `expected GenrecError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const [k, v] of Object.entries(details)) assert.deepEqual(e.details[k], v, `details.${k} in ${e.message}`);
    return e;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

export function storeConformance(name: string, factory: () => Promise<StoreDriver>): void {
  describe(`store driver conformance: ${name}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'genrec-conf-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const fresh = async () => Store.open({ driver: await factory() });
    const file = (fname: string, text: string) => { const p = join(dir, fname); writeFileSync(p, text); return p; };

    it('starts empty with the default event types', async () => {
      const s = await fresh();
      assert.deepEqual(await s.counts(), { users: 0, items: 0, events: 0 });
      const types = await s.eventTypes();
      assert.ok(types.code('view') >= 0 && types.weight(types.code('dislike')) < 0);
      const ds = await s.dataset({ catalog: 'all' });
      assert.equal(ds.interactions.items.length, 0);
      await s.close();
    });

    it('maps external ids densely in order of first appearance and orders events by time', async () => {
      const s = await fresh();
      const r = await s.importData({ label: 't', events: events([
        ['bob', 'x', 'view', 30, 5], ['amy', 'y', 'like', 10], ['bob', 'y', 'view', 20], ['amy', 'z', 'view', 5],
      ]) });
      assert.deepEqual([r.eventsRead, r.eventsAdded, r.duplicates, r.usersAdded, r.itemsAdded], [4, 4, 0, 2, 3]);
      const ds = await s.dataset({ catalog: 'all' });
      assert.deepEqual(ds.users.ids, ['bob', 'amy']);
      assert.deepEqual(ds.items.ids, ['x', 'y', 'z']);
      assert.deepEqual(seq(ds, 'bob'), ['y', 'x']);
      assert.deepEqual(seq(ds, 'amy'), ['z', 'y']);
      assert.equal(ds.interactions.hasTimestamps, true);
      const bob = ds.interactions.userOffsets[0]!;
      assert.deepEqual(Array.from(ds.interactions.timestamps.subarray(bob, bob + 2)), [20, 30]);
      assert.ok(Number.isNaN(ds.interactions.values[bob]!));
      assert.equal(ds.interactions.values[bob + 1], 5);
      const like = ds.eventTypes.code('like');
      assert.equal(ds.interactions.types[ds.interactions.userOffsets[1]! + 1], like);
      await s.close();
    });

    it('re-importing the same events adds nothing (idempotency key), repeats within one input count once', async () => {
      const s = await fresh();
      const ev = events([['u1', 'a', 'view', 1], ['u1', 'b', 'view', 2], ['u1', 'a', 'view', 1], ['u2', 'a', 'click', 1]]);
      const r1 = await s.importData({ label: 'a', events: ev });
      assert.deepEqual([r1.eventsAdded, r1.duplicates], [3, 1]);
      const r2 = await s.importData({ label: 'a', events: ev });
      assert.deepEqual([r2.eventsRead, r2.eventsAdded, r2.duplicates, r2.usersAdded, r2.itemsAdded], [4, 0, 4, 0, 0]);
      // Same user and item but another time or type is another event.
      const r3 = await s.importData({ label: 'b', events: events([['u1', 'a', 'view', 3], ['u1', 'a', 'like', 1]]) });
      assert.equal(r3.eventsAdded, 2);
      assert.deepEqual(await s.counts(), { users: 2, items: 2, events: 5 });
      await s.close();
    });

    it('orders by sequence position when there are no timestamps, and keys on it', async () => {
      const s = await fresh();
      const ev = events([['u', 'c', 'interaction', 3], ['u', 'a', 'interaction', 1], ['u', 'b', 'interaction', 2], ['u', 'a', 'interaction', 4]], false);
      assert.equal((await s.importData({ label: 'p', events: ev })).eventsAdded, 4);
      assert.equal((await s.importData({ label: 'p', events: ev })).eventsAdded, 0);
      const ds = await s.dataset();
      assert.deepEqual(seq(ds, 'u'), ['a', 'b', 'c', 'a']);
      assert.equal(ds.interactions.hasTimestamps, false);
      assert.ok(Number.isNaN(ds.interactions.timestamps[0]!));
      await s.close();
    });

    it('upserts items and users by external id', async () => {
      const s = await fresh();
      await s.importData({ label: 'i', items: { source: 'items', ids: ['a', 'b'], title: ['A', 'B'], categories: [['x', 'y'], null], duration: Float32Array.of(10, NaN) } });
      const r = await s.importData({
        label: 'i2',
        items: { source: 'items', ids: ['b', 'c'], title: ['B2', null], text: ['bee', 'sea'] },
        users: { source: 'users', ids: ['u'], attributes: [['age=30']] },
        events: events([['u', 'd', 'view', 1]]),
      });
      assert.deepEqual([r.itemsAdded, r.itemsUpdated, r.usersAdded], [2, 1, 1]);
      const ds = await s.dataset({ catalog: 'all' });
      assert.deepEqual(ds.items.ids, ['a', 'b', 'c', 'd']);
      assert.deepEqual(ds.items.titles, ['A', 'B2', '', '']);
      assert.deepEqual(ds.items.texts, ['', 'bee', 'sea', '']);
      assert.deepEqual(csrTokens(ds.items.categories, 0), ['x', 'y']);
      assert.equal(ds.items.duration[0], 10);
      assert.ok(Number.isNaN(ds.items.duration[1]!));
      assert.deepEqual(csrTokens(ds.users.attributes, 0), ['age=30']);
      const compact = await s.dataset();
      assert.deepEqual(compact.items.ids, ['d']);
      const users = file('users.csv', 'id,gender,age\nu,F,31\nw,M,\n');
      const ru = await s.import({ label: 'u', users: { kind: 'file', path: users, format: 'csv', mapping: { id: 'id', attributes: ['gender', 'age'] } } });
      assert.equal(ru.usersAdded, 1);
      const withUsers = await s.dataset({ catalog: 'all' });
      assert.deepEqual(withUsers.users.ids, ['u', 'w']);
      assert.deepEqual(csrTokens(withUsers.users.attributes, 0), ['gender=F', 'age=31']);
      assert.deepEqual(csrTokens(withUsers.users.attributes, 1), ['gender=M']);
      await s.close();
    });

    it('adds unknown event types with weight 1, or rejects them naming the line', async () => {
      const s = await fresh();
      const r = await s.importData({ label: 'w', events: events([['u', 'a', 'binge', 1]]), eventTypes: [{ name: 'skip', weight: -2 }] });
      assert.deepEqual(r.newEventTypes, ['binge']);
      const types = await s.eventTypes();
      assert.equal(types.weight(types.code('binge')), 1);
      assert.equal(types.weight(types.code('skip')), -2);
      await expectCode(s.importData({ label: 'x', events: events([['u', 'a', 'view', 2], ['u', 'b', 'rewatch', 3]], true, 'ev.csv') }, 'error'),
        'GENREC_E_IMPORT_FIELD', { file: 'ev.csv', line: 2, field: 'type' });
      assert.deepEqual(await s.counts(), { users: 1, items: 1, events: 1 });
      await s.close();
    });

    it('imports CSV with column mapping, ISO and epoch timestamps', async () => {
      const s = await fresh();
      const csv = file('ev.csv', 'uid,product,when,kind,secs\nu1,p1,2024-01-01T00:00:10Z,view,12.5\nu1,p2,2024-01-01T01:00:00+01:00,like,\nu2,"p,3",2024-01-02 00:00:00,view,3\n');
      const r = await s.import({ label: 'csv', events: { kind: 'file', path: csv, format: 'csv', mapping: { user: 'uid', item: 'product', time: 'when', type: 'kind', value: 'secs' } } });
      assert.equal(r.eventsAdded, 3);
      const ds = await s.dataset({ catalog: 'all' });
      assert.deepEqual(seq(ds, 'u1'), ['p2', 'p1']); // 01:00+01:00 is 00:00Z, before 00:00:10Z
      assert.deepEqual(Array.from(ds.interactions.timestamps.subarray(0, 2)), [1704067200, 1704067210]);
      assert.deepEqual(ds.items.ids, ['p1', 'p2', 'p,3']);
      const epoch = file('ep.csv', 'user,item,ts\nu9,p1,1704067200000\n');
      await s.import({ label: 'ep', events: { kind: 'file', path: epoch, format: 'csv', mapping: { user: 'user', item: 'item', time: 'ts', eventType: 'click' } } });
      const ds2 = await s.dataset({ catalog: 'all' });
      const u9 = ds2.users.ids.indexOf('u9');
      assert.equal(ds2.interactions.timestamps[ds2.interactions.userOffsets[u9]!], 1704067200);
      assert.equal(ds2.interactions.types[ds2.interactions.userOffsets[u9]!], ds2.eventTypes.code('click'));
      assert.equal((await s.import({ label: 'csv', events: { kind: 'file', path: csv, format: 'csv', mapping: { user: 'uid', item: 'product', time: 'when', type: 'kind', value: 'secs' } } })).eventsAdded, 0);
      await s.close();
    });

    it('imports JSONL and Parquet events and items', async () => {
      const s = await fresh();
      const jl = file('ev.jsonl', '{"user": 1, "item": "a", "t": 100}\n{"user": "1", "item": "b", "t": 200, "extra": [1]}\n');
      await s.import({ label: 'j', events: { kind: 'file', path: jl, format: 'jsonl', mapping: { user: 'user', item: 'item', time: 't' } } });
      const items = file('items.jsonl', '{"id": "a", "name": "Alpha", "tags": ["x", "y"], "brand": "acme"}\n{"id": "b", "name": "Beta", "tags": "y|z"}\n');
      await s.import({ label: 'ji', items: { kind: 'file', path: items, format: 'jsonl', mapping: { id: 'id', title: 'name', categories: 'tags', attributes: ['brand'] } } });
      const pq = join(dir, 'ev.parquet');
      const inst = await DuckDBInstance.create(':memory:');
      const c = await inst.connect();
      await c.run(`COPY (SELECT * FROM (VALUES ('2', 'a', TIMESTAMP '2024-01-01 00:00:00', 4.0), ('2', 'c', TIMESTAMP '2024-01-01 00:00:01', NULL)) t(u, i, ts, v)) TO '${pq}' (FORMAT parquet)`);
      c.closeSync(); inst.closeSync();
      await s.import({ label: 'p', events: { kind: 'file', path: pq, format: 'parquet', mapping: { user: 'u', item: 'i', time: 'ts', value: 'v' } } });
      const ds = await s.dataset({ catalog: 'all' });
      assert.deepEqual(seq(ds, '1'), ['a', 'b']);
      assert.deepEqual(seq(ds, '2'), ['a', 'c']);
      assert.deepEqual(ds.items.titles.slice(0, 2), ['Alpha', 'Beta']);
      assert.deepEqual(csrTokens(ds.items.categories, 0), ['x', 'y']);
      assert.deepEqual(csrTokens(ds.items.categories, 1), ['y', 'z']);
      assert.deepEqual(csrTokens(ds.items.attributes, 0), ['brand=acme']);
      const u2 = ds.users.ids.indexOf('2');
      assert.equal(ds.interactions.values[ds.interactions.userOffsets[u2]!], 4);
      await s.close();
    });

    it('rejects bad input with a coded error naming file, line and field, and leaves the store unchanged', async () => {
      const s = await fresh();
      await s.importData({ label: 'base', events: events([['u0', 'i0', 'view', 1]]) });
      const before = await s.counts();
      const items = file('it.csv', 'id,title\nnew1,New\n');
      const bad = file('bad.csv', 'user,item,ts\nu1,i1,2024-01-01T00:00:00Z\nu2,i2,2024-01-01T00:00:00Z\nu3,i3,yesterday\n');
      const mapping = { user: 'user', item: 'item', time: 'ts' };
      await expectCode(s.import({ label: 'bad', items: { kind: 'file', path: items, format: 'csv', mapping: { id: 'id', title: 'title' } }, events: { kind: 'file', path: bad, format: 'csv', mapping } }),
        'GENREC_E_IMPORT_FIELD', { file: bad, line: 4, field: 'ts' });
      const noItem = file('noitem.csv', 'user,item,ts\nu1,i1,1\nu2,,2\n');
      await expectCode(s.import({ label: 'bad', events: { kind: 'file', path: noItem, format: 'csv', mapping } }), 'GENREC_E_IMPORT_FIELD', { line: 3, field: 'item' });
      const badValue = file('badv.csv', 'user,item,ts,v\nu1,i1,1,2.5\nu2,i2,2,lots\n');
      await expectCode(s.import({ label: 'bad', events: { kind: 'file', path: badValue, format: 'csv', mapping: { ...mapping, value: 'v' } } }), 'GENREC_E_IMPORT_FIELD', { line: 3, field: 'v' });
      await expectCode(s.import({ label: 'bad', events: { kind: 'file', path: bad, format: 'csv', mapping: { ...mapping, user: 'customer' } } }), 'GENREC_E_IMPORT_COLUMN', { field: 'customer' });
      await expectCode(s.import({ label: 'bad', events: { kind: 'file', path: join(dir, 'missing.csv'), format: 'csv', mapping } }), 'GENREC_E_IMPORT_FILE');
      const ragged = file('ragged.csv', 'user,item,ts\nu1,i1,1\nu2,i2,2,extra,fields\n');
      await expectCode(s.import({ label: 'bad', events: { kind: 'file', path: ragged, format: 'csv', mapping } }), 'GENREC_E_IMPORT_FIELD', { line: 3 });
      const badJson = file('bad.jsonl', '{"user": "u", "item": "i", "ts": 1}\n{"user": "u", oops}\n');
      await expectCode(s.import({ label: 'bad', events: { kind: 'file', path: badJson, format: 'jsonl', mapping } }), 'GENREC_E_IMPORT_FIELD', { line: 2 });
      assert.deepEqual(await s.counts(), before);
      const ds = await s.dataset({ catalog: 'all' });
      assert.deepEqual(ds.items.ids, ['i0']);
      await s.close();
    });

    it('rejects bad column input naming the source and row', async () => {
      const s = await fresh();
      const ev = events([['u', 'a', 'view', 1], ['u', 'b', 'view', NaN]], true, 'api');
      await expectCode(s.importData({ label: 'x', events: ev }), 'GENREC_E_IMPORT_FIELD', { file: 'api', line: 2, field: 'timestamp' });
      assert.deepEqual(await s.counts(), { users: 0, items: 0, events: 0 });
      await s.close();
    });
  });
}
