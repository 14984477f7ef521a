import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, Rng, runGraph } from '../engine/index.js';
import { Generator, itemTokenTable } from '../models/generator.js';
import { PrefixTrie } from '../tokenizer/index.js';
import { ChildSlotFeeds } from './child-slots.js';

test('child slots give the same loss as dense masks over the valid children', async () => {
  const sizes = [4, 12, 3], L = 3, numItems = 24, B = 2, T = 5, d = 8;
  const rng = new Rng(7), used = new Set<string>(), codes = new Int32Array(numItems * L);
  for (let i = 0; i < numItems; i++) {
    let c: number[];
    do c = sizes.map((k) => rng.int(k)); while (used.has(c.join()));
    used.add(c.join());
    codes.set(c, i * L);
  }
  const trie = PrefixTrie.build(codes, numItems, L, sizes);
  const slots = new ChildSlotFeeds(trie, numItems, B * T);
  assert.ok(slots.width[1]! < sizes[1]!, 'a prefix has fewer children than the codebook');
  const model = new Generator({ arch: 'causal', codeSizes: sizes, numItems, maxLen: T, dModel: d, nHead: 2, nLayer: 1, itemIdEmbedding: true, numEventTypes: 0, gapBuckets: 0, dropout: 0, firstLevelPrototypes: 2 }).initialize(3);
  for (let i = 0; i < model.pairEmb!.data.length; i++) model.pairEmb!.data[i] = rng.normal();

  const items = Int32Array.from({ length: B * T }, (_, i) => (i % T === 0 ? 0 : 1 + rng.int(numItems)));
  const targets = Int32Array.from({ length: B * T }, (_, i) => (i % T === 0 ? 0 : 1 + rng.int(numItems)));
  const mask = Float32Array.from(items, (t) => (t > 0 ? 1 : 0));
  const weights = Float32Array.from(targets, (t) => (t > 0 ? 1 : 0));
  const dims = [B, T];
  const feeds: Record<string, { data: Int32Array | Float32Array; dims: number[] }> = {
    items: { data: items, dims }, mask: { data: mask, dims }, targets: { data: targets, dims }, weights: { data: weights, dims },
  };
  const nodes = new Int32Array(B * T);
  for (let l = 0; l < L; l++) {
    feeds[`mask_${l}`] = { data: trie.allowedLogitMask(l, slots.prefixNodes(l, targets, nodes), new Float32Array(B * T * sizes[l]!), -1e9), dims: [B * T, sizes[l]!] };
    if (l === 0) continue;
    slots.fill(l, targets);
    const C = slots.width[l]!;
    feeds[`codes_${l}`] = { data: slots.codes[l]!.slice(), dims: [B * T, C] };
    feeds[`smask_${l}`] = { data: slots.mask[l]!.slice(), dims: [B * T, C] };
    feeds[`target_${l}`] = { data: slots.target[l]!.slice(), dims: [B * T] };
  }
  const g = new Graph('slots', true);
  const h = { items: g.input('items', 'int32', dims), mask: g.input('mask', 'float32', dims), itemTokens: g.constant(itemTokenTable(codes, numItems, sizes), [numItems + 1, L], 'int32') };
  const tg = g.input('targets', 'int32', dims), w = g.input('weights', 'float32', dims);
  const masks = sizes.map((k, l) => g.input(`mask_${l}`, 'float32', [B * T, k]));
  const slotInputs = sizes.map((_, l) => (l === 0 ? null : {
    codes: g.input(`codes_${l}`, 'int32', [B * T, slots.width[l]!]), mask: g.input(`smask_${l}`, 'float32', [B * T, slots.width[l]!]), target: g.input(`target_${l}`, 'int32', [B * T]),
  }));
  const out = await runGraph(g, { dense: model.loss(h, tg, w, masks), slots: model.loss(h, tg, w, [masks[0]!], slotInputs) }, feeds);
  const dense = (out.dense as Float32Array)[0]!, sl = (out.slots as Float32Array)[0]!;
  assert.ok(Number.isFinite(dense) && dense > 0, `dense loss ${dense}`);
  assert.ok(Math.abs(dense - sl) < 1e-4 * dense, `dense ${dense} vs slots ${sl}`);
});
