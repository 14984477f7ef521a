import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainToyGenerator } from './toy-generator.js';
import { codeOffsets, gapBucket, itemTokenTable } from './generator.js';

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
