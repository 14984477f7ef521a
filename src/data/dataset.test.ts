import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventColumnsBuilder } from './columns.js';
import { buildInteractions, compactDataset, CooBuilder, csrFromLists, csrTokens, IdMap, positiveOnly, userItems } from './dataset.js';
import { datasetFromData } from './load.js';

describe('IdMap and CSR', () => {
  it('maps strings to dense ids in first-seen order', () => {
    const m = new IdMap(['b', 'a']);
    assert.equal(m.add('c'), 2);
    assert.equal(m.add('a'), 1);
    assert.deepEqual(m.ids, ['b', 'a', 'c']);
  });
  it('builds token CSRs', () => {
    const c = csrFromLists([['x', 'y'], null, ['y']]);
    assert.deepEqual(Array.from(c.offsets), [0, 2, 2, 3]);
    assert.deepEqual(csrTokens(c, 2), ['y']);
    assert.deepEqual(c.vocab, ['x', 'y']);
  });
});

describe('buildInteractions', () => {
  it('groups by user, orders by (time, position, insertion) with NaN first, and drops duplicate keys', () => {
    const b = new CooBuilder(2);
    b.push(1, 5, 0, 30, 0, 1);
    b.push(0, 1, 0, 20, 0, NaN);
    b.push(1, 6, 0, 10, 0, 2);
    b.push(0, 2, 0, NaN, 3, NaN);
    b.push(0, 3, 0, NaN, 1, NaN);
    b.push(1, 5, 0, 30, 0, 9); // duplicate of the first event
    b.push(1, 7, 0, 30, 0, 3); // same time, another item: kept after the first
    const { interactions: r, duplicates, source } = buildInteractions(b.view(), 2, 8);
    assert.equal(duplicates, 1);
    assert.deepEqual(Array.from(r.userOffsets), [0, 3, 6]);
    assert.deepEqual(Array.from(r.items), [3, 2, 1, 6, 5, 7]);
    assert.deepEqual(Array.from(source), [4, 3, 1, 2, 0, 6]);
    assert.equal(r.values[4], 1);
    assert.equal(r.hasTimestamps, false);
  });
  it('de-duplicates long runs of equal timestamps', () => {
    const b = new CooBuilder();
    for (let k = 0; k < 100; k++) b.push(0, k % 50, 0, 5, 0, NaN);
    const r = buildInteractions(b.view(), 1, 50);
    assert.equal(r.duplicates, 50);
    assert.equal(r.interactions.items.length, 50);
  });
});

describe('dataset transforms', () => {
  it('keeps engagements (positive weight) only and compacts ids', async () => {
    const e = new EventColumnsBuilder('t', { timestamps: true, values: false });
    e.add('u1', 'a', 'view', 1); e.add('u1', 'b', 'skip', 2); e.add('u2', 'c', 'dislike', 1); e.add('u1', 'd', 'like', 3);
    e.add('u2', 'e', 'impression', 2); // a zero-weight type carries no signal either
    const ds = await datasetFromData({ label: 't', events: e.build(), eventTypes: [{ name: 'impression', weight: 0 }] });
    assert.equal(ds.eventTypes.weight(ds.eventTypes.code('impression')), 0);
    const pos = positiveOnly(ds);
    assert.deepEqual(Array.from(userItems(pos.interactions, 0), (i) => pos.items.ids[i]), ['a', 'd']);
    assert.equal(pos.interactions.userOffsets[2]! - pos.interactions.userOffsets[1]!, 0);
    const compact = compactDataset(pos);
    assert.deepEqual(compact.items.ids, ['a', 'd']);
    assert.deepEqual(compact.users.ids, ['u1']);
    assert.deepEqual(Array.from(compact.interactions.items), [0, 1]);
  });
});
