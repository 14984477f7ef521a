import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { EXIT_OK, EXIT_USAGE } from '../main.js';

const dir = mkdtempSync(join(tmpdir(), 'genrec-cli-import-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const bin = fileURLToPath(new URL('../../../../bin/genrec.js', import.meta.url));

/** `genrec --data-dir <tmp> ...args` as a child process (the real binary), capturing stdout and stderr. */
function genrec(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, '--log-level', 'silent', '--data-dir', join(dir, 'data'), ...args], (error, out, err) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, out, err });
    });
  });
}
const lastJson = (out: string) => JSON.parse(out.trimEnd().split('\n').pop()!) as Record<string, unknown>;

describe('genrec import and stats', () => {
  it('imports generated data, then an event file idempotently, and reports stats', async () => {
    let r = await genrec('import', '--synthetic', '--synthetic-users', '50', '--synthetic-items', '80', '--json');
    assert.equal(r.code, EXIT_OK, r.err);
    assert.equal(lastJson(r.out).users_added, 50);
    const csv = join(dir, 'events.csv');
    writeFileSync(csv, 'visitor,sku,when,what,secs\nv1,s1,2024-03-01T10:00:00Z,view,30\nv1,s2,2024-03-01T10:05:00Z,skip,\n');
    const flags = ['--events', csv, '--user-col', 'visitor', '--item-col', 'sku', '--time-col', 'when', '--type-col', 'what', '--value-col', 'secs', '--json'];
    r = await genrec('import', ...flags);
    assert.equal(r.code, EXIT_OK, r.err);
    assert.deepEqual([lastJson(r.out).events_added, lastJson(r.out).users_added], [2, 1]);
    r = await genrec('import', ...flags);
    assert.deepEqual([lastJson(r.out).events_added, lastJson(r.out).duplicates], [0, 2]);
    r = await genrec('stats', '--json');
    assert.equal(r.code, EXIT_OK, r.err);
    assert.equal(lastJson(r.out).users, 51);
    r = await genrec('stats');
    assert.match(r.out, /sequence length per user/);
    assert.match(r.out, /\| █+/);
  });

  it('fails with a coded error naming the line, and leaves the store as it was', async () => {
    const before = lastJson((await genrec('stats', '--json')).out).events;
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, 'user_id,item_id,timestamp\nx1,y1,2024-01-01T00:00:00Z\nx2,y2,not-a-time\n');
    const r = await genrec('import', '--events', bad);
    assert.equal(r.code, EXIT_USAGE);
    assert.match(r.err, /GENREC_E_IMPORT_FIELD: .*bad\.csv:3: field "timestamp"/);
    assert.equal(lastJson((await genrec('stats', '--json')).out).events, before);
    const none = await genrec('import');
    assert.equal(none.code, EXIT_USAGE);
    assert.match(none.err, /GENREC_E_USAGE/);
  });

  it('stats reads a dataset folder directly and times the split', async () => {
    const folder = join(dir, 'seqs');
    rmSync(folder, { recursive: true, force: true });
    (await import('node:fs')).mkdirSync(folder);
    writeFileSync(join(folder, 'Toy.txt'), '1 1 2 3 4\n2 2 3 4\n3 1 4 5\n');
    const r = await genrec('stats', '--format', 's3rec', '--path', folder, '--timing', '--json');
    assert.equal(r.code, EXIT_OK, r.err);
    const s = lastJson(r.out);
    assert.deepEqual([s.users, s.items, s.events, s.training_sequences], [3, 5, 10, 1]);
    assert.equal(typeof s.total_s, 'number');
  });
});
