/**
 * TrainStep end to end: forward + backward + optimizer in one ONNX graph on onnxruntime. Small models
 * learn small seeded tasks to stated losses; runs are deterministic, dropout masks depend only on
 * (seed, step) so a resumed run reproduces an uninterrupted one, clipping bounds the update, and bad
 * feeds fail with coded errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Block, causalMask } from '../models/layers.js';
import { GenrecError } from './errors.js';
import type { Graph, Tensor } from './graph.js';
import { Module, Parameter } from './module.js';
import { Embedding, LayerNorm, Linear } from './nn.js';
import * as op from './ops.js';
import type { OptimizerConfig } from './optim.js';
import { Rng } from './random.js';
import { TrainStep, type Feed } from './train-step.js';

const runtime = { threads: 2 };

// ---- a 2-layer MLP on a synthetic classification task ----------------------------------------------

const N = 128, D = 8, H = 32, C = 4;

class MLP extends Module {
  readonly fc1 = new Linear(D, H);
  readonly fc2 = new Linear(H, C);
  forward(x: Tensor): Tensor {
    return this.fc2.forward(this.fc1.forward(x).relu());
  }
}

/** N points in D dims labelled by the argmax of a random linear teacher (seeded). */
function classificationData(seed: number): Record<string, Feed> {
  const rng = new Rng(seed);
  const teacher = Array.from({ length: D * C }, () => rng.normal());
  const x = new Float32Array(N * D).map(() => rng.normal());
  const y = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    let best = -Infinity;
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let k = 0; k < D; k++) s += x[i * D + k]! * teacher[k * C + c]!;
      if (s > best) [best, y[i]] = [s, c];
    }
  }
  return { x: { data: x, dims: [N, D] }, y: { data: y, dims: [N] } };
}

async function compileMLP(model: MLP, optimizer: OptimizerConfig, clipNorm?: number): Promise<TrainStep> {
  return TrainStep.compile({
    module: model,
    build: (g: Graph) => ({ loss: op.crossEntropy(model.forward(g.input('x', 'float32', [N, D])), g.input('y', 'int32', [N])) }),
    optimizer,
    runtime,
    ...(clipNorm === undefined ? {} : { clipNorm }),
  });
}

/** Runs `steps` steps (batches cycling through `batch(i)`) and returns the losses. */
async function train(step: TrainStep, steps: number, lr: number, batch: (i: number) => Record<string, Feed>): Promise<number[]> {
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) losses.push((await step.run(batch(step.step), lr)).loss);
  return losses;
}

const data = classificationData(7);
const ADAMW: OptimizerConfig = { kind: 'adamw', weightDecay: 0.01 };
const SGD: OptimizerConfig = { kind: 'sgd', momentum: 0.9 };

// Chance level is ln 4 ≈ 1.386; the teacher's labels are a linear function of x, so an MLP fits them.
for (const [name, optimizer, lr] of [['AdamW', ADAMW, 0.01], ['SGD with momentum', SGD, 0.1]] as const) {
  test(`a 2-layer MLP learns a synthetic classification task with ${name} (loss < 0.05)`, async () => {
    const step = await compileMLP(new MLP().initialize(1), optimizer);
    const losses = await train(step, 300, lr, () => data);
    await step.dispose();
    assert.ok(losses[0]! > 1, `initial loss ${losses[0]}`);
    assert.ok(losses.at(-1)! < 0.05, `final loss ${losses.at(-1)} (first ${losses[0]})`);
  });
}

// ---- a 1-layer transformer on "copy the previous token" -------------------------------------------

const V = 16, T = 8, B = 16, DM = 32;

class TinyLM extends Module {
  readonly tok = new Embedding(V, DM, { std: 0.1 });
  readonly pos = new Parameter([T, DM], { init: { kind: 'normal', std: 0.1 } });
  readonly block: Block;
  readonly norm = new LayerNorm(DM);
  constructor(dropout = 0) {
    super();
    this.block = new Block({ dModel: DM, nHead: 2, dFF: 2 * DM, dropout });
  }
  /** ids [B, T] → logits [B·T, V] through the tied embedding. */
  forward(ids: Tensor): Tensor {
    const g = ids.graph;
    const x = this.block.forward(this.tok.forward(ids).add(this.pos.on(g)), causalMask(g, T));
    return this.norm.forward(x).matmul(op.transposeLast(this.tok.table(g))).reshape([B * T, V]);
  }
}

/** Random tokens; the target at t is the token at t − 1 (none at t = 0). Batch i is a function of i. */
function copyBatch(i: number): Record<string, Feed> {
  const rng = new Rng(1000 + i);
  const ids = new Int32Array(B * T).map(() => rng.int(V));
  const targets = ids.map((_, k) => (k % T === 0 ? -1 : ids[k - 1]!));
  return { ids: { data: ids, dims: [B, T] }, targets: { data: targets, dims: [B * T] } };
}

async function compileLM(model: TinyLM, seed = 0): Promise<TrainStep> {
  return TrainStep.compile({
    module: model,
    build: (g) => ({ loss: op.crossEntropy(model.forward(g.input('ids', 'int32', [B, T])), g.input('targets', 'int32', [B * T]), { ignoreIndex: -1 }) }),
    optimizer: ADAMW,
    clipNorm: 1,
    seed,
    runtime,
  });
}

// Chance level is ln 16 ≈ 2.77 on the 7 scored positions of each sequence.
test('a 1-layer transformer block learns to copy the previous token (mean loss of the last 10 steps < 0.1)', async () => {
  const step = await compileLM(new TinyLM().initialize(3));
  const losses = await train(step, 300, 3e-3, copyBatch);
  await step.dispose();
  const last = losses.slice(-10).reduce((a, b) => a + b, 0) / 10;
  assert.ok(losses[0]! > 2.5, `initial loss ${losses[0]}`);
  assert.ok(last < 0.1, `mean of the last 10 losses ${last} (first ${losses[0]})`);
});

// ---- determinism, dropout and resume ----------------------------------------------------------------

test('the same seed gives identical losses', async () => {
  const run = async () => {
    const step = await compileLM(new TinyLM().initialize(5));
    const losses = await train(step, 5, 3e-3, copyBatch);
    await step.dispose();
    return losses;
  };
  assert.deepEqual(await run(), await run());
});

/** The transformer with dropout 0.1 (three sites), initialised with seed 11: the first `steps` losses. */
async function dropoutRun(seed: number, steps: number): Promise<number[]> {
  const step = await compileLM(new TinyLM(0.1).initialize(11), seed);
  const losses = await train(step, steps, 3e-3, copyBatch);
  await step.dispose();
  return losses;
}

test('dropout: the same seed repeats the losses, another seed changes them', async () => {
  const a = await dropoutRun(1, 6);
  assert.deepEqual(await dropoutRun(1, 6), a);
  const c = await dropoutRun(2, 6);
  assert.notEqual(c[0], a[0], 'another seed draws other masks from the first step');
});

test('dropout: a resumed run reproduces the rest of an uninterrupted run exactly', async () => {
  const full = await dropoutRun(4, 10);
  // Five steps, then parameters and optimizer state copied into a fresh model and a fresh step.
  const first = new TinyLM(0.1).initialize(11);
  const stepA = await compileLM(first, 4);
  const head = await train(stepA, 5, 3e-3, copyBatch);
  const state = new Map([...stepA.optimizerState()].map(([k, v]) => [k, v.slice()]));
  await stepA.dispose();
  const second = new TinyLM(0.1).initialize(99);
  const saved = new Map(first.parameters().map((p) => [p.name, p.data]));
  for (const p of second.parameters()) p.data.set(saved.get(p.name)!);
  const stepB = await compileLM(second, 4);
  stepB.loadOptimizerState(state, 5);
  const tail = await train(stepB, 5, 3e-3, copyBatch);
  await stepB.dispose();
  assert.deepEqual([...head, ...tail], full);
});

// ---- clipping and feed errors -------------------------------------------------------------------------

/** One plain-SGD step (lr 1): the reported gradient norm and the L2 norm of the parameter update. */
async function updateNorm(clipNorm: number): Promise<{ gradNorm: number; update: number }> {
  const model = new MLP().initialize(1);
  const before = model.parameters().map((p) => p.data.slice());
  const step = await compileMLP(model, { kind: 'sgd' }, clipNorm);
  const { outputs } = await step.run(data, 1);
  await step.dispose();
  let sq = 0;
  model.parameters().forEach((p, i) => p.data.forEach((v, k) => (sq += (v - before[i]![k]!) ** 2)));
  return { gradNorm: Number(outputs.grad_norm![0]), update: Math.sqrt(sq) };
}

test('gradient clipping bounds the update; grad_norm reports the norm before clipping', async () => {
  // Unclipped, plain SGD with lr 1 moves the parameters by exactly the gradient: |Δθ| = grad_norm.
  const free = await updateNorm(1e6);
  assert.ok(Math.abs(free.update - free.gradNorm) < 1e-3 * free.gradNorm, `update ${free.update} vs grad_norm ${free.gradNorm}`);
  const clip = free.gradNorm / 10;
  const clipped = await updateNorm(clip);
  assert.ok(Math.abs(clipped.gradNorm - free.gradNorm) < 1e-6 * free.gradNorm, 'grad_norm is the pre-clip norm');
  assert.ok(Math.abs(clipped.update - clip) < 1e-3 * clip, `clipped update ${clipped.update}, clip ${clip}`);
});

test('a wrong feed shape fails with GENREC_E_SHAPE, a missing feed with GENREC_E_FEED', async () => {
  const step = await compileMLP(new MLP().initialize(1), ADAMW);
  const coded = (code: string, what: RegExp) => (e: unknown) => e instanceof GenrecError && e.code === code && what.test(e.message);
  await assert.rejects(step.run({ ...data, x: { data: new Float32Array((N + 1) * D), dims: [N + 1, D] } }, 0.01), coded('GENREC_E_SHAPE', /\[129,8\].*\[128,8\]/));
  await assert.rejects(step.run({ x: data.x! }, 0.01), coded('GENREC_E_FEED', /'y'/));
  assert.equal(step.step, 0, 'a rejected run does not count as a step');
  await step.dispose();
});

test('a one-thread step scatters an embedding gradient in one ScatterND; the update is the same as on two threads', async () => {
  const V = 50, E = 64, M = 2048; // M·E = 131,072 updates: two chunks on a graph built for any thread count
  const rng = new Rng(11);
  const ids = Int32Array.from({ length: M }, () => Math.floor(rng.next() * V));
  const coef = Float32Array.from({ length: M * E }, () => rng.normal());
  const init = Float32Array.from({ length: V * E }, () => rng.normal());
  const run = async (threads: number) => {
    const emb = new Embedding(V, E);
    emb.weight.data.set(init);
    const step = await TrainStep.compile({
      module: emb,
      build: (g) => ({ loss: op.sum(op.mul(emb.forward(g.input('ids', 'int32', [M])), g.input('coef', 'float32', [M, E]))) }),
      optimizer: { kind: 'sgd' },
      runtime: { threads },
    });
    await step.run({ ids: { data: ids, dims: [M] }, coef: { data: coef, dims: [M, E] } }, 0.1);
    return { table: emb.weight.data.slice(), nodes: step.nodeCount };
  };
  const one = await run(1), two = await run(2);
  assert.ok(one.nodes < two.nodes, `one thread: ${one.nodes} nodes, two: ${two.nodes}`);
  const want = Float64Array.from(init);
  for (let i = 0; i < M; i++) for (let j = 0; j < E; j++) want[ids[i]! * E + j]! -= 0.1 * coef[i * E + j]!;
  for (let k = 0; k < V * E; k++) {
    assert.ok(Math.abs(one.table[k]! - want[k]!) < 1e-4, `one thread, entry ${k}: ${one.table[k]} vs ${want[k]}`);
    assert.ok(Math.abs(two.table[k]! - want[k]!) < 1e-4, `two threads, entry ${k}: ${two.table[k]} vs ${want[k]}`);
  }
});

test('AdamW with clipping, weight decay and bias correction matches a plain reference over three steps', async () => {
  // loss = Σ p ⊙ x, so the gradient is x: steps with norms below and above the clip exercise the folded factor.
  class Weights extends Module {
    readonly w = new Parameter([2, 3], { init: { kind: 'normal', std: 1 } });
    readonly b = new Parameter([3], { init: { kind: 'normal', std: 1 } }); // 1-D: no weight decay
  }
  const model = new Weights().initialize(5);
  const start = model.parameters().map((p) => Float64Array.from(p.data));
  const [b1, b2, eps, wd, lr, clip] = [0.9, 0.999, 1e-8, 0.1, 0.01, 2];
  const step = await TrainStep.compile({
    module: model,
    build: (g) => ({ loss: op.add(op.sum(op.mul(model.w.on(g), g.input('xw', 'float32', [2, 3]))), op.sum(op.mul(model.b.on(g), g.input('xb', 'float32', [3])))) }),
    optimizer: { kind: 'adamw', beta1: b1, beta2: b2, eps, weightDecay: wd },
    clipNorm: clip,
    runtime: { threads: 1 },
  });
  const xs = [[0.3, -0.2, 0.1, 0.4, 0.0, -0.1, 0.2, 0.1, -0.3], [3, -1, 2, 0.5, 4, -2, 1, 1, -3], [-0.5, 0.25, 1, 2, -1, 0.5, 0.1, -0.2, 0.3]];
  const ref = start.map((p) => Float64Array.from(p));
  const m = ref.map((p) => new Float64Array(p.length)), v = ref.map((p) => new Float64Array(p.length));
  for (let t = 1; t <= xs.length; t++) {
    const x = xs[t - 1]!;
    const { outputs } = await step.run({ xw: { data: Float32Array.from(x.slice(0, 6)), dims: [2, 3] }, xb: { data: Float32Array.from(x.slice(6)), dims: [3] } }, lr);
    const norm = Math.hypot(...x);
    assert.ok(Math.abs(Number(outputs.grad_norm![0]) - norm) < 1e-5 * norm, `step ${t}: grad_norm ${outputs.grad_norm![0]} vs ${norm}`);
    const scale = Math.min(1, clip / (norm + 1e-6));
    const grads = [x.slice(0, 6), x.slice(6)];
    ref.forEach((p, i) => {
      const decay = i === 0 ? 1 - lr * wd : 1;
      for (let k = 0; k < p.length; k++) {
        const gk = grads[i]![k]! * scale;
        m[i]![k] = b1 * m[i]![k]! + (1 - b1) * gk;
        v[i]![k] = b2 * v[i]![k]! + (1 - b2) * gk * gk;
        const mh = m[i]![k]! / (1 - b1 ** t), vh = v[i]![k]! / (1 - b2 ** t);
        p[k] = p[k]! * decay - lr * mh / (Math.sqrt(vh) + eps);
      }
    });
  }
  await step.dispose();
  model.parameters().forEach((p, i) => p.data.forEach((val, k) => assert.ok(Math.abs(val - ref[i]![k]!) < 1e-5, `${p.name}[${k}]: ${val} vs ${ref[i]![k]}`)));
  assert.ok(model.parameters().some((p, i) => p.data.some((val, k) => Math.abs(val - start[i]![k]!) > 1e-3)), 'the parameters moved');
});
