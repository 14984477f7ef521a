/**
 * Several processes share one store file (docs/data.md, "Sharing the store"): two importers and a reader
 * run at once. Every session waits its turn; the reader only ever sees whole imports.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { EVENT_CSV_MAPPING, writeEventsCsv } from '../csv.js';
import { generateSynthetic } from '../synthetic.js';
import { withStore } from './store.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'genrec-conc-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const storeModule = new URL('./store.js', import.meta.url).href;

function child(script: string): Promise<{ stdout: string; stderr: string }> {
  const code = `const { withStore } = await import(${JSON.stringify(storeModule)});\n${script}`;
  return run(process.execPath, ['--input-type=module', '-e', code], { env: { ...process.env, GENREC_LOG_LEVEL: 'warn' }, timeout: 120_000 });
}

describe('store shared by concurrent processes', () => {
  it('serialises two importers and a reader; the reader never sees a partial import', async (t) => {
    const dataDir = join(dir, 'data');
    const files = [1, 2].map((seed) => {
      const data = generateSynthetic({ seed, users: 1500, items: 2000 });
      const path = join(dir, `events-${seed}.csv`);
      // Distinct user ids per file, so the two imports add up.
      writeEventsCsv({ ...data.events!, userIds: data.events!.userIds.map((u) => `${u}-${seed}`) }, path);
      return { path, rows: data.events!.length };
    });
    await withStore({ dir: dataDir }, async () => {}); // create the (empty) store
    const importer = (path: string) => child(`
      const r = await withStore({ dir: ${JSON.stringify(dataDir)}, waitMs: 60000 }, (s) => s.import({ label: 'x',
        events: { kind: 'file', path: ${JSON.stringify(path)}, format: 'csv', mapping: ${JSON.stringify(EVENT_CSV_MAPPING)} } }));
      console.log(JSON.stringify(r));`);
    const reader = child(`
      const seen = [];
      for (let k = 0; k < 40; k++) {
        const c = await withStore({ dir: ${JSON.stringify(dataDir)}, readOnly: true, waitMs: 60000 }, (s) => s.counts());
        seen.push(c.events);
        await new Promise((r) => setTimeout(r, 15));
      }
      console.log(JSON.stringify(seen));`);
    const [a, b, r] = await Promise.all([importer(files[0]!.path), importer(files[1]!.path), reader]);
    const added = [a, b].map((p) => JSON.parse(p.stdout.trim()).eventsAdded as number);
    assert.ok(added[0]! > 0 && added[1]! > 0);
    const total = added[0]! + added[1]!;
    const allowed = new Set([0, added[0], added[1], total]);
    const seen = JSON.parse(r.stdout.trim()) as number[];
    for (const n of seen) assert.ok(allowed.has(n), `reader saw ${n} events, not one of ${[...allowed].join(', ')}`);
    t.diagnostic(`reader saw: ${[...new Set(seen)].join(", ")} (${seen.length} sessions); imports added ${added.join(" + ")}`);
    const final = await withStore({ dir: dataDir, readOnly: true }, (s) => s.counts());
    assert.equal(final.events, total);
  });
});
