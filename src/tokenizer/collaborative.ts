/**
 * Collaborative item vectors from co-engagement: item2vec (skip-gram with negative sampling over user
 * sequences), trained on the engine as one compiled ONNX step (forward, backward, AdamW). Pass the
 * TRAINING split only — vectors learned from validation/test events would leak the held-out items
 * into the codes.
 *
 * Sequences come as CSR typed arrays (the data layer's `Interactions` fits): user u's items are
 * items[offsets[u] .. offsets[u+1]). Pairs are (item, neighbour within a randomly shrunk window), frequent
 * items are down-sampled as in word2vec, negatives are drawn from the unigram^0.75 distribution. Every
 * random choice comes from the seed. Items never seen in training get a zero row (fusion then relies on
 * their other sources).
 *
 * Cost note: AdamW here is dense over both V × dim tables each step, fine up to ~100k items; larger
 * catalogues want sparse updates (see ARCHITECTURE.md) or a smaller dim.
 */
import { GenrecError } from '../engine/errors.js';
import type { Graph, Tensor } from '../engine/graph.js';
import { log, progress as progressBar } from '../engine/log.js';
import { Module, Parameter } from '../engine/module.js';
import * as op from '../engine/ops.js';
import { Rng } from '../engine/random.js';
import type { RuntimeOptions } from '../engine/runtime.js';
import { TrainStep } from '../engine/train-step.js';

export interface ItemSequences {
  /** Length users + 1. */
  offsets: Int32Array;
  items: Int32Array;
  numItems: number;
}

export interface Item2VecOptions {
  dim?: number;
  /** Maximum distance between paired positions (each position draws its window in [1, window]). */
  window?: number;
  negatives?: number;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  /** word2vec's frequent-item down-sampling threshold (0 = off). */
  subsample?: number;
  seed?: number;
  runtime?: RuntimeOptions;
  /** Show a progress bar on stderr (default true). */
  progress?: boolean;
}

class Item2Vec extends Module {
  readonly input: Parameter;
  readonly output: Parameter;
  constructor(v: number, d: number) {
    super();
    this.input = new Parameter([v, d], { init: { kind: 'uniform', bound: 0.5 / d }, decay: false });
    // Not zeros (word2vec's choice): the stable softplus below has a zero subgradient at exactly 0.
    this.output = new Parameter([v, d], { init: { kind: 'uniform', bound: 0.5 / d }, decay: false });
  }
}

/** log(1 + e^z), stable for large |z|. */
function softplus(z: Tensor): Tensor {
  return op.add(op.relu(z), op.log(op.add(op.exp(op.neg(op.abs(z))), 1)));
}

function checkSequences(s: ItemSequences): void {
  const { offsets, items, numItems } = s;
  const bad = (what: string) => new GenrecError('GENREC_E_TOKENIZER_INPUT', `item sequences: ${what}`, 'pass CSR sequences: offsets (users + 1, non-decreasing, ending at items.length) and item ids in [0, numItems)');
  if (!Number.isInteger(numItems) || numItems < 1) throw bad(`numItems must be ≥ 1, got ${numItems}`);
  if (offsets.length < 1 || offsets[0] !== 0 || offsets[offsets.length - 1] !== items.length) throw bad('offsets must start at 0 and end at items.length');
  for (let u = 0; u + 1 < offsets.length; u++) if (offsets[u + 1]! < offsets[u]!) throw bad(`offsets decrease at user ${u}`);
  for (let i = 0; i < items.length; i++) if (!(items[i]! >= 0 && items[i]! < numItems)) throw bad(`item id ${items[i]} at position ${i} is outside [0, ${numItems})`);
}

/** Skip-gram pairs of one epoch (centre, context), shuffled. */
function epochPairs(s: ItemSequences, window: number, keep: Float32Array, rng: Rng): { centre: Int32Array; context: Int32Array } {
  const { offsets, items } = s;
  let cap = 1024, n = 0;
  let centre = new Int32Array(cap), context = new Int32Array(cap);
  const kept = new Int32Array(items.length);
  for (let u = 0; u + 1 < offsets.length; u++) {
    // Down-sample frequent items first, then pair within the surviving sequence (as word2vec does).
    let m = 0;
    for (let k = offsets[u]!; k < offsets[u + 1]!; k++) if (rng.next() < keep[items[k]!]!) kept[m++] = items[k]!;
    for (let i = 0; i < m; i++) {
      const w = 1 + rng.int(window);
      for (let j = Math.max(0, i - w); j <= Math.min(m - 1, i + w); j++) {
        if (j === i || kept[j] === kept[i]) continue;
        if (n === cap) {
          cap *= 2;
          const c2 = new Int32Array(cap); c2.set(centre); centre = c2;
          const x2 = new Int32Array(cap); x2.set(context); context = x2;
        }
        centre[n] = kept[i]!; context[n] = kept[j]!; n++;
      }
    }
  }
  // Shuffle pairs in place (both arrays by the same permutation).
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    let t = centre[i]!; centre[i] = centre[j]!; centre[j] = t;
    t = context[i]!; context[i] = context[j]!; context[j] = t;
  }
  return { centre: centre.subarray(0, n), context: context.subarray(0, n) };
}

export async function item2vec(s: ItemSequences, o: Item2VecOptions = {}): Promise<{ vectors: Float32Array; dim: number; loss: number; pairs: number; steps: number }> {
  checkSequences(s);
  const dim = o.dim ?? 64, window = o.window ?? 3, negatives = o.negatives ?? 5, epochs = o.epochs ?? 5;
  const B = o.batchSize ?? 2048, lr = o.lr ?? 0.01, seed = o.seed ?? 1, sub = o.subsample ?? 1e-3;
  const V = s.numItems;
  const rng = new Rng(seed);

  const freq = new Float64Array(V);
  for (const it of s.items) freq[it]++;
  const total = s.items.length;
  const keep = new Float32Array(V);
  for (let v = 0; v < V; v++) {
    const f = freq[v]! / Math.max(1, total);
    keep[v] = sub > 0 && f > 0 ? Math.min(1, Math.sqrt(sub / f) + sub / f) : 1;
  }
  // Negative-sampling table (unigram^0.75), as in word2vec: uniform draws into it are O(1).
  const tableSize = Math.max(1 << 16, Math.min(1 << 22, 64 * V));
  const table = new Int32Array(tableSize);
  let z = 0;
  for (let v = 0; v < V; v++) z += freq[v]! ** 0.75;
  if (z === 0) {
    log.warn('item2vec: no interactions; collaborative vectors are all zero');
    return { vectors: new Float32Array(V * dim), dim, loss: NaN, pairs: 0, steps: 0 };
  }
  for (let v = 0, acc = 0, t = 0; v < V; v++) {
    acc += freq[v]! ** 0.75 / z;
    const end = Math.min(tableSize, Math.round(acc * tableSize));
    for (; t < end; t++) table[t] = v;
    if (v === V - 1) for (; t < tableSize; t++) table[t] = v;
  }

  const model = new Item2Vec(V, dim).initialize(seed);
  const step = await TrainStep.compile({
    module: model,
    optimizer: { kind: 'adamw', weightDecay: 0 },
    ...(o.runtime ? { runtime: o.runtime } : {}),
    build: (g: Graph) => {
      const c = g.input('centre', 'int32', [B]);
      const p = g.input('context', 'int32', [B]);
      const neg = g.input('negatives', 'int32', [B, negatives]);
      const w = g.input('weight', 'float32', [B]);
      const u = op.gather(model.input.on(g), c);
      const vpos = op.gather(model.output.on(g), p);
      const vneg = op.gather(model.output.on(g), neg);
      const pos = op.sum(op.mul(u, vpos), -1);
      const negs = op.sum(op.mul(op.unsqueeze(u, 1), vneg), -1);
      const per = op.add(softplus(op.neg(pos)), op.sum(softplus(negs), -1));
      return { loss: op.div(op.sum(op.mul(per, w)), op.maximum(op.sum(w), 1)) };
    },
  });
  const cb = new Int32Array(B), pb = new Int32Array(B), nb = new Int32Array(B * negatives), wb = new Float32Array(B);
  const feeds = {
    centre: { data: cb, dims: [B] }, context: { data: pb, dims: [B] },
    negatives: { data: nb, dims: [B, negatives] }, weight: { data: wb, dims: [B] },
  };
  let lastLoss = NaN, steps = 0, pairsSeen = 0;
  try {
    for (let e = 0; e < epochs; e++) {
      const { centre, context } = epochPairs(s, window, keep, rng);
      const n = centre.length;
      pairsSeen += n;
      const nSteps = Math.ceil(n / B);
      const bar = o.progress === false ? null : progressBar(`item2vec epoch ${e + 1}/${epochs}`, nSteps);
      let sum = 0;
      for (let st = 0; st < nSteps; st++) {
        const off = st * B, m = Math.min(B, n - off);
        cb.set(centre.subarray(off, off + m)); pb.set(context.subarray(off, off + m));
        cb.fill(0, m); pb.fill(0, m);
        wb.fill(1, 0, m); wb.fill(0, m);
        for (let i = 0; i < B * negatives; i++) nb[i] = table[rng.int(tableSize)]!;
        // Linear decay to 10% of lr over the run, as word2vec does.
        const progress = (e * nSteps + st) / Math.max(1, epochs * nSteps);
        const { loss } = await step.run(feeds, lr * (1 - 0.9 * progress));
        sum += loss;
        steps++;
        bar?.tick(1, { loss });
      }
      bar?.stop();
      lastLoss = sum / Math.max(1, nSteps);
      log.info({ epoch: e + 1, pairs: n, loss: lastLoss }, 'item2vec epoch');
    }
  } finally {
    await step.dispose();
  }
  const vectors = Float32Array.from(model.input.data);
  // Items never trained keep their random init: zero them so fusion treats them as "no collaborative data".
  for (let v = 0; v < V; v++) if (freq[v] === 0) vectors.fill(0, v * dim, (v + 1) * dim);
  return { vectors, dim, loss: lastLoss, pairs: pairsSeen, steps };
}
