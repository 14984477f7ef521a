import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constantLr, warmupCosine } from './schedule.js';

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);

test('warm-up is linear, then cosine decays to min at totalSteps and stays', () => {
  const lr = warmupCosine({ peak: 1e-3, warmupSteps: 10, totalSteps: 110, min: 1e-5 });
  close(lr(0), 1e-4);
  close(lr(4), 5e-4);
  close(lr(9), 1e-3);
  close(lr(10), 1e-3); // start of the decay
  close(lr(60), 1e-5 + (1e-3 - 1e-5) * 0.5); // half-way: cos(π/2) = 0
  close(lr(35), 1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + Math.cos(Math.PI / 4)));
  close(lr(110), 1e-5);
  close(lr(500), 1e-5);
  for (let s = 10; s < 110; s++) assert.ok(lr(s + 1) <= lr(s), `monotone after warm-up at ${s}`);
});

test('no warm-up and constant schedules', () => {
  const lr = warmupCosine({ peak: 2, warmupSteps: 0, totalSteps: 4 });
  assert.deepEqual([0, 1, 2, 3, 4].map(lr).map((v) => Number(v.toFixed(12))), [2, 1 + Math.SQRT1_2, 1, 1 - Math.SQRT1_2, 0].map((v) => Number(v.toFixed(12))));
  const c = constantLr(0.1, 2);
  assert.deepEqual([0, 1, 2, 9].map(c), [0.05, 0.1, 0.1, 0.1]);
  assert.throws(() => warmupCosine({ peak: 0, warmupSteps: 0, totalSteps: 1 }), /GENREC|bad schedule/);
});
