/**
 * The interim `genrec demo`: trains a TinyLM on generated sequences with a learnable rule (each token
 * is a fixed function of the one before it, replaced by a random token 10% of the time) and reports the loss falling. Replaced by the
 * full pipeline demo (data → semantic IDs → generator → server) as those rooms land.
 */
import { Rng, TrainStep, op, progress, log } from '../engine/index.js';
import { TinyLM } from '../models/index.js';

export interface LmDemoOptions { steps?: number; seed?: number; batch?: number }

export async function demoTrainLoss(opts: LmDemoOptions = {}): Promise<Record<string, number>> {
  const steps = opts.steps ?? 150, seed = opts.seed ?? 1, B = opts.batch ?? 64, T = 32, V = 256;
  const cfg = { vocab: V, maxLen: T, nLayer: 2, dModel: 64, nHead: 4, dFF: 256 };
  const model = new TinyLM(cfg).initialize(seed);
  const step = await TrainStep.compile({
    module: model, optimizer: { kind: 'adamw', weightDecay: 0.01 }, clipNorm: 1, seed,
    build: (g) => ({ loss: op.crossEntropy(model.forward(g.input('ids', 'int32', [B, T])), g.input('targets', 'int32', [B * T]), { ignoreIndex: -1 }) }),
  });
  const rng = new Rng(seed);
  const ids = new Int32Array(B * T), targets = new Int32Array(B * T);
  const bar = progress('demo: training', steps);
  const t0 = performance.now();
  let first = NaN, last = NaN;
  for (let s = 0; s < steps; s++) {
    for (let b = 0; b < B; b++) {
      let prev = rng.int(V);
      for (let t = 0; t < T; t++) {
        const next = rng.next() < 0.1 ? rng.int(V) : (prev * 37 + 11) % V;
        ids[b * T + t] = prev;
        targets[b * T + t] = next;
        prev = next;
      }
    }
    const lr = 3e-3 * Math.min(1, (s + 1) / 10);
    const { loss } = await step.run({ ids: { data: ids, dims: [B, T] }, targets: { data: targets, dims: [B * T] } }, lr);
    if (s === 0) first = loss;
    last = loss;
    bar.tick(1, { loss });
    if (s % 10 === 0 || s === steps - 1) log.info({ step: s, loss: Number(loss.toFixed(4)) }, 'demo loss');
  }
  bar.stop();
  await step.dispose();
  return { steps, first_loss: Number(first.toFixed(4)), last_loss: Number(last.toFixed(4)), seconds: Number(((performance.now() - t0) / 1000).toFixed(2)), parameters: model.numParameters() };
}
