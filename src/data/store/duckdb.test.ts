import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { EventColumnsBuilder } from '../columns.js';
import { storeConformance } from './conformance.js';
import { DuckDBDriver } from './duckdb.js';
import { Store, withStore } from './store.js';

const dir = mkdtempSync(join(tmpdir(), 'genrec-duck-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

storeConformance('duckdb', async () => DuckDBDriver.open(join(dir, `conf-${n++}.duckdb`)));

describe('duckdb store file', () => {
  it('persists across sessions and opens read-only for readers', async () => {
    const dataDir = join(dir, 'persist');
    const b = new EventColumnsBuilder('t', { timestamps: true, values: false });
    b.add('u', 'a', 'view', 1); b.add('u', 'b', 'like', 2);
    await withStore({ dir: dataDir }, (s) => s.importData({ label: 't', events: b.build() }));
    const ds = await withStore({ dir: dataDir, readOnly: true }, (s) => s.dataset());
    assert.deepEqual(ds.items.ids, ['a', 'b']);
    await assert.rejects(withStore({ dir: dataDir, readOnly: true }, (s) => s.importData({ label: 'x', events: b.build() })),
      (e: Error & { code?: string }) => e.code === 'GENREC_E_STORE_READ_ONLY');
  });

  it('says there is no store when reading an empty data directory', async () => {
    await assert.rejects(Store.open({ dir: join(dir, 'nothing'), readOnly: true }),
      (e: Error & { code?: string }) => e.code === 'GENREC_E_STORE_EMPTY');
  });
});
