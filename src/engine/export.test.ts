import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Graph, TrainStep, WorkerSession, createSession, exportOnnxFile, op, Rng, toOrt } from './index.js';
import { TinyLM } from '../models/index.js';

const cfg = { vocab: 40, maxLen: 8, nLayer: 1, dModel: 16, nHead: 2, dFF: 32 };

test('exported model (weights embedded, dynamic batch) reproduces the training graph forward', async () => {
  const B = 4, T = 8;
  const model = new TinyLM(cfg).initialize(2);
  const rng = new Rng(1);
  const ids = new Int32Array(B * T).map(() => rng.int(cfg.vocab));
  const targets = new Int32Array(B * T).map(() => rng.int(cfg.vocab));
  // Train two steps so the exported weights are not the initial ones, and read the logits from the step.
  const step = await TrainStep.compile({
    module: model, optimizer: { kind: 'adamw' }, runtime: { threads: 1 },
    build: (g) => {
      const logits = model.forward(g.input('ids', 'int32', [B, T]));
      return { loss: op.crossEntropy(logits, g.input('targets', 'int32', [B * T])), outputs: { logits } };
    },
  });
  const feeds = { ids: { data: ids, dims: [B, T] }, targets: { data: targets, dims: [B * T] } };
  await step.run(feeds, 1e-2);
  const before = model.parameters().map((p) => p.data.slice());
  // The logits output of a step are computed with the weights *before* that step's update.
  const { outputs } = await step.run(feeds, 1e-2);
  const trainLogits = outputs.logits as Float32Array;
  model.parameters().forEach((p, i) => p.data.set(before[i]!));

  const path = join(mkdtempSync(join(tmpdir(), 'genrec-export-')), 'lm.onnx');
  const size = exportOnnxFile(path, { module: model, build: (g) => ({ logits: model.forward(g.input('ids', 'int32', ['batch', T])) }) });
  assert.ok(size > model.numParameters() * 4, 'weights are embedded in the file');
  const session = await createSession(readFileSync(path), { threads: 1 });
  assert.deepEqual(session.inputNames, ['ids']);
  const res = await session.run({ ids: toOrt(ids, [B, T]) });
  const logits = res.logits!.data as Float32Array;
  assert.equal(logits.length, trainLogits.length);
  let maxDiff = 0;
  for (let i = 0; i < logits.length; i++) maxDiff = Math.max(maxDiff, Math.abs(logits[i]! - trainLogits[i]!));
  assert.ok(maxDiff < 1e-4, `max |Δ| ${maxDiff}`);
  // A different batch size runs on the same file (the 'batch' dim is symbolic).
  const res1 = await session.run({ ids: toOrt(ids.subarray(0, T), [1, T]) });
  assert.equal((res1.logits!.data as Float32Array).length, T * cfg.vocab);
  await Promise.all([session.release(), step.dispose()]);
});

test('WorkerSession runs a model off the main thread and returns the same numbers', async () => {
  const g = new Graph('w');
  const a = g.input('a', 'float32', ['n', 3]);
  const w = g.constant(Float32Array.from([1, 2, 3, 4, 5, 6]), [3, 2], 'float32');
  const { emit } = await import('./emit.js');
  const bytes = emit(g, { y: a.matmul(w).relu() }).bytes;
  const ws = await WorkerSession.create(bytes, { threads: 1 });
  const out = await ws.run({ a: { data: Float32Array.from([1, 0, 0, 0, 1, -1]), dims: [2, 3] } });
  assert.deepEqual(Array.from(out.y!.data as Float32Array), [1, 2, 0, 0]);
  assert.deepEqual(out.y!.dims, [2, 2]);
  await assert.rejects(ws.run({ b: { data: new Float32Array(3), dims: [1, 3] } }), /GENREC_E_ORT_RUN|model run failed/);
  await ws.close();
});
