import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OverlapCoder } from './codes.js';
import { Wal, frame, readSegment, segmentName, segments } from './wal.js';

test('wal: concurrent appends share commits, apply in order, and seal between segments', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'genrec-wal-'));
  const applied: number[] = [];
  let commits = 0;
  const wal = new Wal<{ n: number }>({ dir, segment: 1, apply: (rs) => { for (const r of rs) applied.push(r.n); }, onCommit: () => { commits++; } });
  await Promise.all(Array.from({ length: 100 }, (_, n) => wal.append({ n })));
  assert.deepEqual(applied, Array.from({ length: 100 }, (_, n) => n));
  assert.ok(commits < 100, `${commits} commits for 100 concurrent records`);
  let seenAtSeal = -1;
  const first = wal.append({ n: 100 });
  const sealed = wal.seal(() => { seenAtSeal = applied.length; });
  const second = wal.append({ n: 101 });
  assert.equal(await sealed, 1);
  await Promise.all([first, second]);
  assert.equal(seenAtSeal, 101, 'the seal runs after the sealed segment and before the next');
  await wal.close();
  assert.deepEqual(segments(dir), [1, 2]);
  assert.deepEqual(readSegment<{ n: number }>(join(dir, segmentName(2))).records, [{ n: 101 }]);
});

test('wal: a torn tail is cut off on replay', () => {
  const dir = mkdtempSync(join(tmpdir(), 'genrec-wal-'));
  const path = join(dir, segmentName(1));
  appendFileSync(path, Buffer.concat([frame(Buffer.from('{"n":1}')), frame(Buffer.from('{"n":2}'))]));
  const good = statSync(path).size;
  appendFileSync(path, frame(Buffer.from('{"n":3}')).subarray(0, 9)); // a crash mid-write
  const r = readSegment<{ n: number }>(path, true);
  assert.deepEqual(r.records, [{ n: 1 }, { n: 2 }]);
  assert.equal(r.torn, true);
  assert.equal(statSync(path).size, good, 'repaired: later appends follow the last whole record');
  // A flipped byte fails the checksum the same way.
  const bytes = readFileSync(path);
  bytes[bytes.length - 2] ^= 0xff;
  writeFileSync(path, bytes);
  assert.deepEqual(readSegment(path).records, [{ n: 1 }]);
});

test('new-item codes: borrow the prefix of the item with the most metadata overlap, take a free code', () => {
  // Four items: [0,0,0] [0,0,1] [1,0,0] [1,1,0]; sizes 2×2×2.
  const codes = Int32Array.from([0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0]);
  const meta = [
    { categories: ['shoes'], labels: [], title: 'red running shoe' },
    { categories: ['shoes'], labels: [], title: 'blue shoe' },
    { categories: ['hats'], labels: ['brand=acme'], title: 'wool hat' },
    { categories: ['hats'], labels: [], title: 'sun hat' },
  ];
  const coder = new OverlapCoder(codes, 4, [2, 2, 2], (m) => meta[m]!, () => 3);
  assert.equal(coder.nearest({ categories: ['hats'], labels: ['brand=acme'], title: '' }), 2);
  // Under [1,0] the last level has a free code (1).
  assert.deepEqual(Array.from(coder.assign({ categories: ['hats'], labels: ['brand=acme'], title: '' })), [1, 0, 1]);
  // [0,0,*] is full: the next free code under prefix [0] is [0,1,0].
  assert.deepEqual(Array.from(coder.assign({ categories: ['shoes'], labels: [], title: 'shoe' })), [0, 1, 0]);
  // No overlap at all: the popular item's prefix (item 3: [1,1,*]).
  assert.deepEqual(Array.from(coder.assign({ categories: [], labels: [], title: '' })), [1, 1, 1]);
  const all = new Set<string>();
  for (let m = 0; m < 7; m++) all.add(Array.from(coder.codeOf(m)).join());
  assert.equal(all.size, 7, 'every code unique');
});
