/**
 * Durability: `genrec serve` is killed with SIGKILL under write load, restarted, and every event it
 * acknowledged (2xx) must be there — in the user's history and remembered by its EventId — over 10
 * kill cycles. Store writes run every 150 ms and checkpoints every 350 ms, so kills also land in the
 * middle of both.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../engine/random.js';
import { spawnServe } from './spawn.js';

const USERS = 6;
const startServe = (dataDir: string) => spawnServe(dataDir, ['--flush-interval', '150', '--checkpoint-interval', '350', '--watch-interval', '0', '--log-level', 'warn']);

interface Ev { FeedbackType: string; UserId: string; ItemId: string; EventId: string }

async function post(url: string, body: unknown): Promise<Response> {
  return fetch(new URL('/api/feedback', url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/** Every acknowledged event is in its user's history, and its EventId is remembered. */
async function verify(url: string, acked: Ev[]): Promise<void> {
  const byUser = new Map<string, Set<string>>();
  for (let u = 0; u < USERS; u++) {
    const res = await fetch(new URL(`/api/user/u${u}/feedback?n=100000`, url));
    const list = res.status === 200 ? (await res.json()) as Array<{ ItemId: string }> : [];
    byUser.set(`u${u}`, new Set(list.map((e) => e.ItemId)));
  }
  const missing = acked.filter((e) => !byUser.get(e.UserId)!.has(e.ItemId));
  assert.equal(missing.length, 0, `acknowledged events lost: ${missing.slice(0, 5).map((e) => e.EventId).join(', ')}`);
  // Sending them again is acknowledged without adding anything (ids survived the crash too).
  const again = acked.slice(-200);
  const r = (await (await post(url, again)).json()) as { RowAffected: number; Duplicates: number };
  assert.deepEqual(r, { RowAffected: 0, Duplicates: again.length });
}

test('serve: every acknowledged event survives SIGKILL, over 10 kill cycles', { timeout: 120_000 }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'genrec-crash-'));
  const rng = new Rng(7);
  const acked: Ev[] = [];
  let seq = 0;
  for (let cycle = 0; cycle < 10; cycle++) {
    const { child, url } = await startServe(dataDir);
    const exited = new Promise((r) => child.once('exit', r));
    await verify(url, acked);
    let stop = false;
    const writers = Array.from({ length: 6 }, async (_, w) => {
      while (!stop) {
        const n = w % 2 === 0 ? 1 : 1 + ((seq + w) % 8);
        const batch: Ev[] = Array.from({ length: n }, () => {
          const k = seq++;
          return { FeedbackType: 'view', UserId: `u${k % USERS}`, ItemId: `it${k}`, EventId: `ev${k}` };
        });
        try {
          const res = await post(url, n === 1 ? batch[0] : batch);
          if (res.ok) acked.push(...batch);
          else await res.arrayBuffer();
        } catch { break; } // the server is gone: the request was never acknowledged
      }
    });
    await new Promise((r) => setTimeout(r, 250 + rng.int(350)));
    child.kill('SIGKILL');
    stop = true;
    await Promise.all(writers);
    await exited;
  }
  const { child, url } = await startServe(dataDir);
  try {
    await verify(url, acked);
    assert.ok(acked.length > 500, `only ${acked.length} events were acknowledged`);
    t.diagnostic(`${acked.length} acknowledged events checked after 10 SIGKILLs`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
});
