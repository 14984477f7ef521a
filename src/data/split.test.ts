import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventColumnsBuilder } from './columns.js';
import { datasetFromData } from './load.js';
import { evalCases, leaveOneOut, partRange, temporalSplit } from './split.js';

async function sample(timestamps = true) {
  const b = new EventColumnsBuilder('t', { timestamps, values: false });
  // u0: 5 events, u1: 2 events, u2: 3 events
  [[0, 'a', 10], [0, 'b', 20], [0, 'c', 30], [0, 'd', 40], [0, 'e', 50], [1, 'a', 15], [1, 'b', 45], [2, 'c', 5], [2, 'a', 35], [2, 'e', 55]]
    .forEach(([u, i, t]) => b.add(`u${u}`, String(i), 'view', Number(t)));
  return datasetFromData({ label: 't', events: b.build() }, { catalog: 'all' });
}

describe('splits', () => {
  it('leave-one-out: last event tests, the one before validates, short users train only', async () => {
    const ds = await sample();
    const s = leaveOneOut(ds.interactions);
    assert.deepEqual(partRange(s, 'train', 0), [0, 3]);
    assert.deepEqual(partRange(s, 'valid', 0), [3, 4]);
    assert.deepEqual(partRange(s, 'test', 0), [4, 5]);
    assert.deepEqual(partRange(s, 'train', 1), [5, 7]);
    assert.deepEqual(partRange(s, 'test', 1), [7, 7]);
    const test = evalCases(s, 'test');
    assert.deepEqual(Array.from(test.users), [0, 2]);
    assert.deepEqual(Array.from(test.targets, (i) => ds.items.ids[i]), ['e', 'e']);
    assert.deepEqual(Array.from(test.historyEnd), [4, 9]);
    const valid = evalCases(s, 'valid');
    assert.deepEqual(Array.from(valid.targets, (i) => ds.items.ids[i]), ['d', 'a']);
  });

  it('a sampled set of cases is a seeded subset in the original order', async () => {
    const ds = await sample();
    const s = temporalSplit(ds.interactions, { validFrom: 30, testFrom: 45 });
    const all = evalCases(s, 'test');
    const a = evalCases(s, 'test', { sample: 2, sampleSeed: 7 }), b = evalCases(s, 'test', { sample: 2, sampleSeed: 7 });
    assert.equal(a.count, 2);
    assert.deepEqual(a, b);
    const pos = Array.from(a.users, (u) => Array.from(all.users).indexOf(u));
    assert.ok(pos[0]! < pos[1]!, 'original order kept');
    assert.equal(evalCases(s, 'test', { sample: 99 }).count, all.count);
  });

  it('global temporal split cuts everybody at the same times', async () => {
    const ds = await sample();
    const s = temporalSplit(ds.interactions, { validFrom: 30, testFrom: 45 });
    assert.deepEqual([partRange(s, 'train', 0), partRange(s, 'valid', 0), partRange(s, 'test', 0)], [[0, 2], [2, 4], [4, 5]]);
    assert.deepEqual([partRange(s, 'train', 1), partRange(s, 'valid', 1), partRange(s, 'test', 1)], [[5, 6], [6, 6], [6, 7]]);
    const test = evalCases(s, 'test');
    assert.deepEqual(Array.from(test.users), [0, 1, 2]);
    const q = temporalSplit(ds.interactions, { validFraction: 0.2, testFraction: 0.2 });
    assert.ok(q.cutoffs!.valid <= q.cutoffs!.test);
  });

  it('a temporal split needs timestamps', async () => {
    const ds = await sample(false);
    assert.throws(() => temporalSplit(ds.interactions), (e: Error & { code?: string }) => e.code === 'GENREC_E_SPLIT_NO_TIMESTAMPS');
    assert.equal(evalCases(leaveOneOut(ds.interactions), 'test').count, 2);
  });
});
