import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Graph } from './graph.js';
import { runGraph, sessionOptions } from './runtime.js';

const SPIN_OFF = { session: { intra_op: { allow_spinning: '0' } } };

test('sessions do not spin-wait unless asked to, and ORT accepts the setting', async () => {
  assert.deepEqual(sessionOptions({ threads: 2 }).extra, SPIN_OFF);
  assert.deepEqual(sessionOptions({ threads: 2, spinning: false }).extra, SPIN_OFF);
  assert.equal(sessionOptions({ threads: 2, spinning: true }).extra, undefined);
  // A session made with the entry runs like any other on a two-thread pool.
  const g = new Graph();
  const x = g.input('x', 'float32', [2, 3]);
  const out = await runGraph(g, { y: g.node('Mul', [x, g.scalar(2, 'float32')], [['float32', [2, 3]]])[0]! }, { x: { data: Float32Array.of(1, 2, 3, 4, 5, 6), dims: [2, 3] } }, { threads: 2 });
  assert.deepEqual([...out.y!], [2, 4, 6, 8, 10, 12]);
});
