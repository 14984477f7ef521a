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

/** Runs scatterAdd(data, idx, upd) `runs` times on two threads; returns each run's output and the graph's scatter ops. */
async function scatterTwice(V: number, D: number, idxA: Int32Array, updA: Float32Array, base: Float32Array, runs: number) {
  const N = idxA.length;
  const g = new Graph();
  const out = op.scatterAdd(g.input('data', 'float32', [V, D]), g.input('idx', 'int32', [N]), g.input('upd', 'float32', [N, D]));
  const ops = g.nodes.map((n) => n.op).filter((o) => o.startsWith('Scatter'));
  const session = await createSession(emit(g, { out }).bytes, { threads: 2 });
  const outs: Float32Array[] = [];
  try {
    for (let r = 0; r < runs; r++) {
      outs.push((await session.run({ data: toOrt(base, [V, D]), idx: toOrt(idxA, [N]), upd: toOrt(updA, [N, D]) })).out!.data as Float32Array);
    }
  } finally {
    await session.release();
  }
  return { outs, ops };
}

test('scatterAdd sums every duplicate exactly with two intra-op threads, run after run (chunked ScatterND)', async () => {
  const V = 2, D = 64, N = 40_000; // 2 rows, each hit 20,000 times
  const idxA = Int32Array.from({ length: N }, (_, i) => (i * 7) % V);
  const updA = Float32Array.from({ length: N * D }, (_, k) => 1 + (k % D)); // column j adds j + 1 each time
  const base = Float32Array.from({ length: V * D }, (_, k) => k);
  const { outs, ops } = await scatterTwice(V, D, idxA, updA, base, 25);
  assert.ok(ops.length > 1 && ops.every((o) => o === 'ScatterND'), `chunks of ScatterND: ${ops.length}`);
  outs.forEach((out, run) => {
    for (let k = 0; k < V * D; k++) assert.equal(out[k], k + (N / V) * (1 + (k % D)), `run ${run}, row ${Math.floor(k / D)}, column ${k % D}`);
  });
});

test('scatterAdd into a table too large to copy once a chunk uses ScatterElements, exact with two threads', async () => {
  const V = 50_000, D = 4, N = 3_000; // 3,000 updates into 5 of 50,000 rows
  const idxA = Int32Array.from({ length: N }, (_, i) => 1000 * (i % 5));
  const updA = Float32Array.from({ length: N * D }, (_, k) => 0.5 * (1 + (k % D)));
  const { outs, ops } = await scatterTwice(V, D, idxA, updA, new Float32Array(V * D), 3);
  assert.deepEqual(ops, ['ScatterElements']);
  for (const out of outs) {
    for (let r = 0; r < 5; r++) for (let j = 0; j < D; j++) assert.equal(out[1000 * r * D + j], (N / 5) * 0.5 * (1 + j));
    assert.equal(out.reduce((a, b) => a + b, 0), N * 0.5 * (1 + 2 + 3 + 4), 'nothing lands elsewhere');
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

test('a graph built for one thread scatters with one ScatterND, equal to the chunked scatter to the bit', async () => {
  const V = 300, D = 64, N = 5_000; // 5 chunks on a shared graph; rows hit about 17 times each, in index order
  const idxA = Int32Array.from({ length: N }, (_, i) => (i * 37) % V);
  const updA = Float32Array.from({ length: N * D }, (_, k) => Math.sin(k) * 1.7);
  const base = Float32Array.from({ length: V * D }, (_, k) => Math.cos(k));
  const run = async (oneThread: boolean) => {
    const g = new Graph();
    g.oneThread = oneThread;
    const out = op.scatterAdd(g.input('data', 'float32', [V, D]), g.input('idx', 'int32', [N]), g.input('upd', 'float32', [N, D]));
    const ops = g.nodes.map((n) => n.op).filter((o) => o.startsWith('Scatter'));
    const session = await createSession(emit(g, { out }).bytes, { threads: 1 });
    try {
      return { ops, out: (await session.run({ data: toOrt(base, [V, D]), idx: toOrt(idxA, [N]), upd: toOrt(updA, [N, D]) })).out!.data as Float32Array };
    } finally {
      await session.release();
    }
  };
  const one = await run(true), chunked = await run(false);
  assert.deepEqual(one.ops, ['ScatterND']);
  assert.ok(chunked.ops.length > 1, `chunked: ${chunked.ops.length} ScatterNDs`);
  assert.deepEqual(Array.from(one.out), Array.from(chunked.out));
  const want = Float64Array.from(base);
  for (let i = 0; i < N; i++) for (let j = 0; j < D; j++) want[idxA[i]! * D + j]! += updA[i * D + j]!;
  for (let k = 0; k < V * D; k++) assert.ok(Math.abs(one.out[k]! - want[k]!) < 1e-4, `entry ${k}: ${one.out[k]} vs ${want[k]}`);
});
