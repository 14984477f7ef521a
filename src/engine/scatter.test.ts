/**
 * `scatterAdd` (gather's gradient) must add every duplicate index, whatever the thread count: ORT's CPU
 * ScatterND splits indices among threads with non-atomic adds and loses updates of a row two threads hit
 * at once, which silently dropped embedding-gradient contributions in multi-threaded training.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emit } from './emit.js';
import { Graph } from './graph.js';
import * as op from './ops.js';
import { createSession, toOrt } from './runtime.js';

test('scatterAdd sums every duplicate exactly with two intra-op threads, run after run', async () => {
  const V = 2, D = 64, N = 40_000; // 2 rows, each hit 20,000 times
  const g = new Graph();
  const data = g.input('data', 'float32', [V, D]);
  const idx = g.input('idx', 'int32', [N]);
  const upd = g.input('upd', 'float32', [N, D]);
  const { bytes } = emit(g, { out: op.scatterAdd(data, idx, upd) });
  const session = await createSession(bytes, { threads: 2 });
  const idxA = Int32Array.from({ length: N }, (_, i) => (i * 7) % V);
  const updA = Float32Array.from({ length: N * D }, (_, k) => 1 + (k % D)); // column j adds j + 1 each time
  const base = Float32Array.from({ length: V * D }, (_, k) => k);
  try {
    for (let run = 0; run < 25; run++) {
      const out = (await session.run({ data: toOrt(base, [V, D]), idx: toOrt(idxA, [N]), upd: toOrt(updA, [N, D]) })).out!.data as Float32Array;
      for (let k = 0; k < V * D; k++) assert.equal(out[k], k + (N / V) * (1 + (k % D)), `run ${run}, row ${Math.floor(k / D)}, column ${k % D}`);
    }
  } finally {
    await session.release();
  }
});

test('scatterAdd takes indices of any shape and rows of any trailing shape', async () => {
  const g = new Graph();
  const data = g.input('data', 'float32', [4, 2, 3]);
  const idx = g.input('idx', 'int32', [2, 2]);
  const upd = g.input('upd', 'float32', [2, 2, 2, 3]);
  const { bytes } = emit(g, { out: op.scatterAdd(data, idx, upd) });
  const session = await createSession(bytes, { threads: 1 });
  const updA = Float32Array.from({ length: 24 }, (_, k) => k);
  const out = (await session.run({ data: toOrt(new Float32Array(24), [4, 2, 3]), idx: toOrt(Int32Array.from([3, 0, 3, 1]), [2, 2]), upd: toOrt(updA, [2, 2, 2, 3]) })).out!.data as Float32Array;
  await session.release();
  const want = new Float32Array(24);
  [3, 0, 3, 1].forEach((row, i) => { for (let j = 0; j < 6; j++) want[row * 6 + j]! += updA[i * 6 + j]!; });
  assert.deepEqual(Array.from(out), Array.from(want));
});
