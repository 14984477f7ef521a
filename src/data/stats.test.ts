import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventColumnsBuilder } from './columns.js';
import { datasetFromData } from './load.js';
import { datasetStats, formatStats } from './stats.js';

describe('stats', () => {
  it('counts users, items, events, sparsity and the length histogram', async () => {
    const b = new EventColumnsBuilder('t', { timestamps: true, values: false });
    b.add('a', 'x', 'view', 0); b.add('a', 'x', 'view', 60); b.add('a', 'y', 'skip', 120);
    b.add('b', 'y', 'view', 30);
    const s = datasetStats(await datasetFromData({ label: 'tiny', events: b.build() }));
    assert.deepEqual([s.users, s.items, s.events, s.pairs, s.negativeEvents], [2, 2, 4, 3, 1]);
    assert.equal(s.sparsity, 1 - 3 / 4);
    assert.deepEqual(s.histogram, [{ lo: 1, hi: 1, users: 1 }, { lo: 2, hi: 3, users: 1 }]);
    assert.equal(s.firstEvent, '1970-01-01T00:00:00.000Z');
    const text = formatStats(s);
    assert.match(text, /users\s+2/);
    assert.match(text, /2-3 \| █+ 1/);
  });
});
