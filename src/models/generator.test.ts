import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainToyGenerator } from './toy-generator.js';
import { Generator, codeOffsets, gapBucket, itemTokenTable } from './generator.js';
import { Graph, Rng, runGraph } from '../engine/index.js';

for (const arch of ['causal', 'lazy'] as const) {
  test(`${arch} generator learns the toy next-item rule`, async () => {
    const { losses } = await trainToyGenerator(arch, 200);
    const last = losses.slice(-10).reduce((a, b) => a + b) / 10;
    // 3 code levels, 10% noise: the optimum is ≈ 1.0 nats; knowing nothing is ln(256) ≈ 5.5.
    assert.ok(losses[0]! > 5, `first loss ${losses[0]}`);
    assert.ok(last < 2, `last loss ${last}`);
  });
}

test('flat code tokens: level offsets, padding row and gap buckets', () => {
  assert.deepEqual(Array.from(codeOffsets([4, 3, 2])), [1, 5, 8]);
  // item 0 = (1, 2, 0), item 1 = (3, 0, 1); row 0 is padding (each level's first token).
  const t = itemTokenTable(Int32Array.from([1, 2, 0, 3, 0, 1]), 2, [4, 3, 2]);
  assert.deepEqual(Array.from(t), [1, 5, 8, 2, 7, 8, 4, 5, 9]);
  assert.equal(gapBucket(0, 8), 0);
  assert.equal(gapBucket(NaN, 8), 0);
  assert.ok(gapBucket(3600, 8) > gapBucket(60, 8));
  assert.equal(gapBucket(1e12, 8), 7);
});

test('first-level prototypes: a code logit is z·e + log Σₘ exp(z·pₘ), in the exported decode graph', async () => {
  const sizes = [4, 3, 2], d = 8, M = 3;
  const model = new Generator({ arch: 'causal', codeSizes: sizes, numItems: 5, maxLen: 4, dModel: d, nHead: 2, nLayer: 1, itemIdEmbedding: false, numEventTypes: 0, gapBuckets: 0, dropout: 0, firstLevelPrototypes: M }).initialize(3);
  // Make the prototypes matter (their init is ~0.02).
  const rng = new Rng(5);
  for (let i = 0; i < model.protoEmb!.data.length; i++) model.protoEmb!.data[i] = rng.normal();
  const g = new Graph('t', true);
  const z = g.input('z', 'float32', ['rows', d]);
  const zn = model.outNorm.forward(z);
  const out = await runGraph(g, { logits: model.levelLogits(z, 0), zn }, { z: { data: Float32Array.from({ length: 2 * d }, () => rng.normal()), dims: [2, d] } });
  const logits = out.logits as Float32Array, n = out.zn as Float32Array;
  const E = model.codeEmb.weight.data, P = model.protoEmb!.data, off = codeOffsets(sizes)[0]!;
  for (let r = 0; r < 2; r++) {
    for (let c = 0; c < sizes[0]!; c++) {
      let base = 0;
      for (let j = 0; j < d; j++) base += n[r * d + j]! * E[(off + c) * d + j]!;
      let s = 0;
      for (let m = 0; m < M; m++) {
        let dot = 0;
        for (let j = 0; j < d; j++) dot += n[r * d + j]! * P[(c * M + m) * d + j]!;
        s += Math.exp(dot);
      }
      assert.ok(Math.abs(logits[r * sizes[0]! + c]! - (base + Math.log(s))) < 1e-4, `row ${r} code ${c}`);
    }
  }
});

test('embStd sets the initial scale of the code, item, pair and prototype tables', () => {
  const std = (a: Float32Array) => Math.sqrt(a.reduce((s, x) => s + x * x, 0) / a.length);
  for (const embStd of [0.02, 0.125]) {
    const m = new Generator({ arch: 'causal', codeSizes: [16, 16, 4], numItems: 200, maxLen: 4, dModel: 16, nHead: 2, nLayer: 1, itemIdEmbedding: true, numEventTypes: 0, gapBuckets: 0, dropout: 0, firstLevelPrototypes: 4, embStd }).initialize(1);
    for (const t of [m.codeEmb.weight.data, m.itemEmb!.weight.data, m.pairEmb!.data, m.protoEmb!.data]) {
      assert.ok(Math.abs(std(t) / embStd - 1) < 0.1, `std ${std(t)} for embStd ${embStd}`);
    }
  }
});
