import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../engine/index.js';
import { RunDir } from './run-dir.js';
import { splitWithRandomCodes } from './fixtures.js';
import { targetWeights, trainGenerator } from './generator-train.js';
import { PackedBatches, blankHistory } from './packing.js';
import { trainingSequences } from '../data/batches.js';

const setup = splitWithRandomCodes;

test('packed batches hold every training transition once, with positions as if left-padded alone', async () => {
  const { split } = await setup();
  const T = 10, seqs = trainingSequences(split, { maxLen: T });
  const packer = new PackedBatches(seqs, 8, T, 1);
  let targets = 0, expected = 0;
  for (let r = 0; r < seqs.count; r++) expected += Math.min(T, seqs.ends[r]! - seqs.starts[r]! - 1);
  for (const b of packer.epoch(0)) {
    for (let i = 0; i < b.items.length; i++) {
      if (b.targets[i]! > 0) targets++;
      if (b.segments[i] === 0) assert.equal(b.items[i], 0);
      // The last token of a segment sits at position T-1.
      const last = b.segments[i]! > 0 && (i % T === T - 1 || b.segments[i + 1] !== b.segments[i]);
      if (last) assert.equal(b.positions[i], T - 1);
    }
  }
  assert.equal(targets, expected);
  assert.equal(packer.batchesIn(0), [...packer.epoch(0)].length);
});

test('target weights: 1 for every target by default, ρ^j for a target j events before its sequence\'s end, 0 without one', async () => {
  const { split } = await setup();
  const T = 10, seqs = trainingSequences(split, { maxLen: T });
  const b = new PackedBatches(seqs, 8, T, 1).epoch(0).next().value!;
  const plain = targetWeights(b, T, {}, new Float32Array(8 * T));
  const recent = targetWeights(b, T, { recencyWeight: 0.5 }, new Float32Array(8 * T));
  let lasts = 0;
  for (let i = 0; i < plain.length; i++) {
    assert.equal(plain[i], b.targets[i]! > 0 ? 1 : 0);
    if (b.targets[i] === 0) { assert.equal(recent[i], 0); continue; }
    // Walking back from a segment's last target, each one before it weighs half as much.
    const last = i % T === T - 1 || b.segments[i + 1] !== b.segments[i];
    if (last) { lasts++; assert.equal(recent[i], 1); } else assert.equal(recent[i], recent[i + 1]! / 2);
  }
  assert.ok(lasts > 8, `${lasts} segments`);
  // Type weights multiply in: type 1 weighs 3 (ρ 1).
  const typed = targetWeights({ ...b, targetTypes: b.targetTypes.map(() => 1) }, T, { typeWeights: Float32Array.of(3) }, new Float32Array(8 * T));
  typed.forEach((w, i) => assert.equal(w, 3 * plain[i]!));
});

test('generator training is deterministic and a run killed after one epoch resumes to the same result', async () => {
  const { split, codes, sizes } = await setup();
  const base = { split, codes, codeSizes: sizes, maxLen: 10, epochs: 3, batchSize: 16, seed: 5, model: { dModel: 16, nHead: 2, nLayer: 1, dropout: 0.1 }, runtime: { threads: 1 } };
  const full = await trainGenerator({ ...base, runDir: new RunDir(mkdtempSync(join(tmpdir(), 'genrec-gt-'))) });
  assert.equal(full.result.epochs, 3);
  const losses = full.result.history.map((e) => e.loss);
  assert.ok(losses[2]! < losses[0]!, `loss falls: ${losses.join(', ')}`);

  const dir = new RunDir(mkdtempSync(join(tmpdir(), 'genrec-gt-')));
  const killed = await trainGenerator({ ...base, runDir: dir, stopAfterEpochs: 1 });
  assert.equal(killed.result.interrupted, true);
  const resumed = await trainGenerator({ ...base, runDir: dir });
  assert.equal(resumed.result.resumedFrom, 1);
  assert.deepEqual(resumed.result.history.map((e) => e.loss), losses);
  const p = full.model.parameters(), q = resumed.model.parameters();
  p.forEach((x, i) => assert.deepEqual(x.data, q[i]!.data, x.name));
});

test('history blanking drops about p of the real positions and never touches padding', () => {
  const mask = Float32Array.from({ length: 20000 }, (_, i) => (i % 4 === 0 ? 0 : 1));
  const n = blankHistory(mask, 0.2, new Rng(4));
  assert.ok(Math.abs(n / 15000 - 0.2) < 0.02, `blanked ${n} of 15000`);
  assert.equal(mask.reduce((a, b) => a + b, 0), 15000 - n);
  for (let i = 0; i < mask.length; i += 4) assert.equal(mask[i], 0);
  assert.equal(blankHistory(mask, 0, new Rng(4)), 0);
});
