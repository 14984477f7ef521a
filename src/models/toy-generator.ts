/**
 * A toy task for generator tests: 200 items with 3-level codes, next item = (7·i + 3) mod 200 with 10%
 * noise. Small enough to train in seconds; deterministic under its seed.
 */
import { Rng, TrainStep } from '../engine/index.js';
import { Generator, itemTokenTable, type GeneratorConfig } from './generator.js';

export const TOY = { sizes: [8, 8, 4], items: 200, levels: 3, maxLen: 8 } as const;
export const toyNext = (i: number) => (i * 7 + 3) % TOY.items;

export function toyCodes(): Int32Array {
  const L = TOY.levels, codes = new Int32Array(TOY.items * L);
  for (let i = 0; i < TOY.items; i++) { codes[i * L] = (i >> 5) & 7; codes[i * L + 1] = (i >> 2) & 7; codes[i * L + 2] = i & 3; }
  return codes;
}

export async function trainToyGenerator(arch: GeneratorConfig['arch'], steps = 250, seed = 1): Promise<{ model: Generator; losses: number[] }> {
  const { sizes, items: N, levels: L, maxLen: T } = TOY;
  const B = 64;
  const table = itemTokenTable(toyCodes(), N, sizes);
  const model = new Generator({ arch, codeSizes: [...sizes], numItems: N, maxLen: T, dModel: 32, nHead: 2, nLayer: 2, itemIdEmbedding: true, numEventTypes: 0, gapBuckets: 0, dropout: 0 }).initialize(seed);
  const step = await TrainStep.compile({
    module: model, optimizer: { kind: 'adamw' }, clipNorm: 1, runtime: { threads: 2 },
    build(g) {
      const items = g.input('items', 'int32', [B, T]), mask = g.input('mask', 'float32', [B, T]);
      const targets = g.input('targets', 'int32', [B, T]), w = g.input('w', 'float32', [B, T]);
      return { loss: model.loss({ items, mask, itemTokens: g.constant(table, [N + 1, L], 'int32') }, targets, w) };
    },
  });
  const rng = new Rng(seed);
  const items = new Int32Array(B * T), mask = new Float32Array(B * T), targets = new Int32Array(B * T), w = new Float32Array(B * T);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    items.fill(0); mask.fill(0); targets.fill(0); w.fill(0);
    for (let b = 0; b < B; b++) {
      const len = 2 + rng.int(T - 1);
      let cur = rng.int(N);
      for (let t = T - len; t < T; t++) {
        const o = b * T + t, nx = rng.next() < 0.9 ? toyNext(cur) : rng.int(N);
        items[o] = cur + 1; mask[o] = 1; targets[o] = nx + 1; w[o] = 1; cur = nx;
      }
    }
    const feeds = { items: { data: items, dims: [B, T] }, mask: { data: mask, dims: [B, T] }, targets: { data: targets, dims: [B, T] }, w: { data: w, dims: [B, T] } };
    losses.push((await step.run(feeds, 3e-3)).loss);
  }
  await step.dispose();
  return { model, losses };
}
