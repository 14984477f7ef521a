/**
 * `genrec recommend` as a user runs it (the binary in a child process) on a store with the toy bundle, whose
 * generator predicts toyNext(last item): the history it reads is the user's engagements (a trailing skip
 * does not steer it), every event — a dislike too — counts as seen, and an unknown user is a coded error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { EventColumnsBuilder } from '../../data/columns.js';
import { withStore } from '../../data/store/store.js';
import { toyNext } from '../../models/toy-generator.js';
import { GENREC_BIN } from '../../serve/spawn.js';
import { toyDataDir, toyItemId } from '../../serve/fixtures.js';

function recommend(dataDir: string, args: string[]) {
  return spawnSync(process.execPath, [GENREC_BIN, '--data-dir', dataDir, '--log-level', 'warn', 'recommend', ...args], {
    env: { ...process.env, GENREC_PROGRESS: '0', GENREC_ENGINE_THREADS: '1' }, encoding: 'utf8',
  });
}

test('genrec recommend: engagements are the history, every event is seen, an unknown user is a coded error', async (t) => {
  const dataDir = await toyDataDir({ users: 3 });
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const s = 40, n1 = toyNext(s), n2 = toyNext(n1), z = 150;
  const ev = new EventColumnsBuilder('more', { timestamps: true, values: false });
  // skipper: two views along the toy chain, then a skip far off it.
  ev.add('skipper', toyItemId(s), 'view', 1); ev.add('skipper', toyItemId(n1), 'view', 2); ev.add('skipper', toyItemId(z), 'skip', 3);
  // disliker: the same views, then a dislike of the item the chain predicts.
  ev.add('disliker', toyItemId(s), 'view', 1); ev.add('disliker', toyItemId(n1), 'view', 2); ev.add('disliker', toyItemId(n2), 'dislike', 3);
  await withStore({ dir: dataDir }, (st) => st.importData({ label: 'more', events: ev.build() }));

  const r = recommend(dataDir, ['--users', 'skipper,disliker', '-n', '5', '--beam', '10']);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { user: string; items: Array<{ item: string; score: number }> });
  assert.deepEqual(lines.map((l) => l.user), ['skipper', 'disliker']);
  const [skipper, disliker] = lines.map((l) => l.items.map((x) => x.item));
  assert.equal(skipper!.length, 5);
  assert.equal(skipper![0], toyItemId(n2), 'the next item after the last engagement, not after the skip');
  assert.ok(!skipper!.includes(toyItemId(z)), 'the skipped item is seen');
  assert.ok(!disliker!.includes(toyItemId(n2)), 'the disliked item is seen, so never recommended');
  assert.ok(!disliker!.includes(toyItemId(n1)) && !disliker!.includes(toyItemId(s)));

  const bad = recommend(dataDir, ['--users', 'nobody']);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /GENREC_E_UNKNOWN_USER/);
  assert.match(bad.stderr, /nobody/);
});
