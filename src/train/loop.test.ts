import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SequenceBatcher, trainingSequences } from '../data/batches.js';
import { splitFromSequences, syntheticSequences } from '../eval/fixtures.js';
import { evaluate, flatMetrics } from '../eval/harness.js';
import { sasrecRanker } from '../eval/models.js';
import { SasRec, compileSasRecStep, sasrecFeeds } from '../models/sasrec.js';
import { trainLoop, type TrainLoopResult } from './loop.js';
import { RunDir } from './run-dir.js';
import { warmupCosine } from './schedule.js';

const split = splitFromSequences(syntheticSequences({ users: 120, items: 40, length: [5, 10], noise: 0.2, seed: 3 }), 40);
const cfg = { numItems: 40, maxLen: 8, dModel: 16, nHead: 2, nLayer: 1, dropout: 0.2 };
const B = 32, SEED = 5, EPOCHS = 6;

/** One training run (a fresh model, step and ranker each call, as a new process would build them). */
async function run(dir: RunDir, stopAfterEpochs?: number): Promise<{ result: TrainLoopResult; params: Float32Array[] }> {
  const model = new SasRec(cfg).initialize(SEED);
  const batcher = new SequenceBatcher(trainingSequences(split, { maxLen: cfg.maxLen }), { batchSize: B, maxLen: cfg.maxLen, seed: SEED });
  const step = await compileSasRecStep(model, { batchSize: B, seed: SEED, runtime: { threads: 1 } });
  const ranker = await sasrecRanker(model, 64, { threads: 1 });
  try {
    const result = await trainLoop({
      step, module: model, maxEpochs: EPOCHS, stepsPerEpoch: batcher.numBatches, seed: SEED, runDir: dir, patience: 100,
      batches: function* (e) { for (const b of batcher.epoch(e)) yield sasrecFeeds(b, 64); },
      lr: warmupCosine({ peak: 5e-3, warmupSteps: 5, totalSteps: EPOCHS * batcher.numBatches }),
      evaluate: async () => flatMetrics(await evaluate(ranker, split, 'valid', { includeSeen: false })),
      ...(stopAfterEpochs !== undefined ? { stopAfterEpochs } : {}),
    });
    return { result, params: model.parameters().map((p) => p.data.slice()) };
  } finally {
    await Promise.all([step.dispose(), ranker.dispose()]);
  }
}

test('a run stopped after 2 epochs and resumed reaches the uninterrupted run\'s numbers', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'genrec-loop-'));
  try {
    const full = await run(new RunDir(join(tmp, 'full')));
    assert.equal(full.result.epochs, EPOCHS);
    assert.ok(full.result.bestEpoch >= 1);

    const dir = new RunDir(join(tmp, 'resumed'));
    const first = await run(dir, 2);
    assert.equal(first.result.interrupted, true);
    assert.equal(first.result.epochs, 2);
    const second = await run(dir);
    assert.equal(second.result.resumedFrom, 2);
    assert.equal(second.result.epochs, EPOCHS);

    assert.deepEqual(second.result.history.map((e) => [e.epoch, e.step, e.loss, e.metrics]), full.result.history.map((e) => [e.epoch, e.step, e.loss, e.metrics]));
    assert.equal(second.result.bestEpoch, full.result.bestEpoch);
    assert.equal(second.result.bestMetric, full.result.bestMetric);
    second.params.forEach((p, i) => assert.deepEqual(p, full.params[i], `parameter ${i} after restoring the best epoch`));

    const curves = dir.readJson<{ epochs: unknown[]; stepLoss: number[] }>('curves.json')!;
    assert.equal(curves.epochs.length, EPOCHS);
    assert.equal(curves.stepLoss.length, full.result.steps);
    assert.ok(dir.has('checkpoint.safetensors') && dir.has('best.safetensors'));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('early stopping: patience counts evaluations without improvement, best epoch restored', async () => {
  const model = new SasRec({ ...cfg, dropout: 0 }).initialize(1);
  const batcher = new SequenceBatcher(trainingSequences(split, { maxLen: cfg.maxLen }), { batchSize: B, maxLen: cfg.maxLen, seed: 1 });
  const step = await compileSasRecStep(model, { batchSize: B, seed: 1, runtime: { threads: 1 } });
  const scripted = [0.1, 0.3, 0.2, 0.25, 0.29, 0.5];
  let bestParams: Float32Array[] = [];
  try {
    const r = await trainLoop({
      step, module: model, maxEpochs: 6, stepsPerEpoch: batcher.numBatches, seed: 1, patience: 3,
      batches: function* (e) { for (const b of batcher.epoch(e)) yield sasrecFeeds(b, 64); },
      lr: () => 1e-3,
      evaluate: async (epoch) => {
        if (epoch === 2) bestParams = model.parameters().map((p) => p.data.slice());
        return { 'ndcg@10': scripted[epoch - 1]! };
      },
    });
    assert.equal(r.stoppedEarly, true);
    assert.equal(r.epochs, 5);
    assert.equal(r.bestEpoch, 2);
    assert.equal(r.bestMetric, 0.3);
    model.parameters().forEach((p, i) => assert.deepEqual(p.data, bestParams[i]));
  } finally {
    await step.dispose();
  }
});
