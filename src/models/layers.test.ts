import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CausalChunks, attention, causalMask } from './layers.js';
import { Graph, Rng, gradients, op, runGraph, type Tensor } from '../engine/index.js';

test('causal attention in query chunks equals the full attention, values and gradients, dropout included', async () => {
  const B = 2, H = 2, T = 11, dh = 4;
  const rng = new Rng(3);
  const rand = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  const feeds = {
    q: { data: rand(B * H * T * dh), dims: [B, H, T, dh] },
    k: { data: rand(B * H * T * dh), dims: [B, H, T, dh] },
    v: { data: rand(B * H * T * dh), dims: [B, H, T, dh] },
    // A per-head bias term (like the relative attention bias), and padded keys 1 and 2 in the first row (every
    // query still sees key 0: a query that sees no key at all averages whatever keys its scores cover).
    rel: { data: rand(H * T * T), dims: [H, T, T] },
    pad: { data: Float32Array.from({ length: B * T }, (_, i) => (i === 1 || i === 2 ? -1e9 : 0)), dims: [B, 1, 1, T] },
    r: { data: rand(B * H * T * dh), dims: [B, H, T, dh] },
    dropout_key: { data: Uint32Array.of(99), dims: [] },
  };
  const run = async (chunks: number, dropout: number) => {
    const g = new Graph('t', true);
    const [q, k, v] = (['q', 'k', 'v'] as const).map((n) => g.input(n, 'float32', [B, H, T, dh])) as [Tensor, Tensor, Tensor];
    const rel = g.input('rel', 'float32', [H, T, T]), pad = g.input('pad', 'float32', [B, 1, 1, T]), r = g.input('r', 'float32', [B, H, T, dh]);
    const terms = [causalMask(g, T), pad, rel]; // pad broadcasts along the rows: its chunks keep that dim
    const bias = chunks > 1 ? new CausalChunks(terms, T, chunks) : terms.reduce((a, b) => a.add(b));
    if (bias instanceof CausalChunks) assert.equal(bias.parts.length, chunks);
    // A dropout site before the attention's: the chunks must take the site number the whole attention would.
    const y = op.dropout(attention(q, k, v, bias, true, dropout), dropout, true).add(op.dropout(q, dropout, true));
    const [gq, gk, gv, grel] = gradients(op.sum(y.mul(r)), [q, k, v, rel]);
    return runGraph(g, { y, gq: gq!, gk: gk!, gv: gv!, grel: grel! }, feeds);
  };
  for (const dropout of [0, 0.3]) {
    const full = await run(1, dropout);
    for (const chunks of [2, 3, 4]) {
      const got = await run(chunks, dropout);
      for (const name of ['y', 'gq', 'gk', 'gv', 'grel'] as const) {
        const a = full[name] as Float32Array, b = got[name] as Float32Array;
        assert.equal(b.length, a.length);
        for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-5 * (1 + Math.abs(a[i]!)), `dropout ${dropout}, ${chunks} chunks, ${name}[${i}]: ${b[i]} against ${a[i]}`);
      }
    }
  }
  // The dropout did drop: with it the attention's output differs from the one without.
  const [off, on] = [await run(1, 0), await run(1, 0.3)];
  assert.ok((on.y as Float32Array).some((v, i) => Math.abs(v - (off.y as Float32Array)[i]!) > 1e-3), 'dropout changed nothing');
});

test('CausalChunks: chunk bounds cover every query once and each sees the keys up to its end', () => {
  const g = new Graph('t', true);
  const c = new CausalChunks([causalMask(g, 200)], 200, 4);
  assert.deepEqual(c.parts.map((p) => [p.start, p.end]), [[0, 50], [50, 100], [100, 150], [150, 200]]);
  assert.deepEqual(c.parts.map((p) => p.bias.shape), [[50, 50], [50, 100], [50, 150], [50, 200]]);
  assert.deepEqual(new CausalChunks([causalMask(g, 7)], 7, 3).parts.map((p) => [p.start, p.end]), [[0, 3], [3, 6], [6, 7]]);
});
