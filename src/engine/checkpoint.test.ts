import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Linear, Module, TrainStep, loadCheckpoint, saveCheckpoint, loadSafetensors, saveSafetensors, op, Rng, GenrecError } from './index.js';

class Net extends Module {
  a = new Linear(6, 8);
  b = new Linear(8, 3);
  forward(x: Parameters<Linear['forward']>[0]) { return this.b.forward(this.a.forward(x).tanh()); }
}

const dir = () => mkdtempSync(join(tmpdir(), 'genrec-ckpt-'));

test('checkpoint round-trip restores parameters, optimizer state and metadata; resumed training matches', async () => {
  const B = 16;
  const rng = new Rng(5);
  const x = new Float32Array(B * 6).map(() => rng.normal());
  const y = new Int32Array(B).map(() => rng.int(3));
  const feeds = { x: { data: x, dims: [B, 6] }, y: { data: y, dims: [B] } };
  const make = async (net: Net) => TrainStep.compile({
    module: net, optimizer: { kind: 'adamw' }, runtime: { threads: 1 },
    build: (g) => ({ loss: op.crossEntropy(net.forward(g.input('x', 'float32', [B, 6])), g.input('y', 'int32', [B])) }),
  });
  const reference = new Net().initialize(3);
  const refStep = await make(reference);
  const refLosses: number[] = [];
  for (let i = 0; i < 6; i++) refLosses.push((await refStep.run(feeds, 1e-2)).loss);

  const first = new Net().initialize(3);
  const s1 = await make(first);
  for (let i = 0; i < 3; i++) await s1.run(feeds, 1e-2);
  const path = join(dir(), 'ckpt.safetensors');
  saveCheckpoint(path, first, { optimizer: s1.optimizerState(), metadata: { step: String(s1.step) } });

  const resumed = new Net().initialize(99); // different init: everything must come from the file
  const { optimizer, metadata } = loadCheckpoint(path, resumed);
  assert.equal(metadata.step, '3');
  for (const [p, q] of resumed.parameters().map((p, i) => [p, first.parameters()[i]!] as const)) assert.deepEqual(p.data, q.data);
  const s2 = await make(resumed);
  s2.loadOptimizerState(optimizer, Number(metadata.step));
  const tail: number[] = [];
  for (let i = 0; i < 3; i++) tail.push((await s2.run(feeds, 1e-2)).loss);
  assert.deepEqual(tail, refLosses.slice(3));
  await Promise.all([refStep.dispose(), s1.dispose(), s2.dispose()]);
});

test('checkpoint write is atomic and leaves no temp files', () => {
  const d = dir();
  const net = new Net().initialize(1);
  saveCheckpoint(join(d, 'a.safetensors'), net);
  saveCheckpoint(join(d, 'a.safetensors'), net);
  assert.deepEqual(readdirSync(d), ['a.safetensors']);
  const { tensors } = loadSafetensors(join(d, 'a.safetensors'));
  assert.deepEqual([...tensors.keys()].sort(), net.parameters().map((p) => p.name).sort());
});

test('loading a checkpoint with a wrong shape or a missing name names the parameter', () => {
  const d = dir();
  const path = join(d, 'n.safetensors');
  saveCheckpoint(path, new Net().initialize(1));
  class Wider extends Module { a = new Linear(6, 9); b = new Linear(9, 3); }
  assert.throws(() => loadCheckpoint(path, new Wider()), (e: unknown) => e instanceof GenrecError && e.code === 'GENREC_E_CHECKPOINT' && /a\.weight/.test(e.message) && /\[6,8\]/.test(e.message));
  class Other extends Module { c = new Linear(6, 8); }
  assert.throws(() => loadCheckpoint(path, new Other()), (e: unknown) => e instanceof GenrecError && /no parameter 'c\.weight'/.test(e.message));
  writeFileSync(join(d, 'bad.safetensors'), 'not a checkpoint');
  assert.throws(() => loadCheckpoint(join(d, 'bad.safetensors'), new Net()), (e: unknown) => e instanceof GenrecError && e.code === 'GENREC_E_CHECKPOINT');
});

test('int32 tensors round-trip exactly as I32, beyond what float32 holds (2^24 + 1)', () => {
  const d = dir(), path = join(d, 'ids.safetensors');
  const ids = Int32Array.from([0, 2 ** 24 + 1, -7, 2 ** 31 - 1]), f = Float32Array.from([0.5, -2]);
  saveSafetensors(path, new Map([['ids', { data: ids, shape: [4] }], ['f', { data: f, shape: [2] }]]));
  const { tensors } = loadSafetensors(path);
  const back = tensors.get('ids')!.data;
  assert.ok(back instanceof Int32Array);
  assert.deepEqual(Array.from(back), Array.from(ids));
  assert.ok(tensors.get('f')!.data instanceof Float32Array);
  assert.deepEqual(Array.from(tensors.get('f')!.data), [0.5, -2]);
});
