import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { GenrecError } from '../engine/errors.js';
import { Rng } from '../engine/random.js';
import { ItemEmbedder, ResidualTokenizer, loadTokenizer, saveTokenizer, type ItemEmbeddingInput } from './index.js';

/**
 * 120 items in 3 topics: text and a topic attribute follow the topic; users engage within one topic.
 * Items 110..119 never appear in any sequence (cold).
 */
function catalogue(): ItemEmbeddingInput {
  const n = 120, rng = new Rng(9);
  const words = [['running', 'shoes', 'sport'], ['chocolate', 'cake', 'baking'], ['guitar', 'album', 'concert']];
  const topic = (i: number) => i % 3;
  const texts = Array.from({ length: n }, (_, i) => `${words[topic(i)]!.join(' ')} ${words[topic(i)]![i % 3]} item${i}`);
  const offsets = Int32Array.from({ length: n + 1 }, (_, i) => i);
  const values = Int32Array.from({ length: n }, (_, i) => topic(i));
  const users = 300, len = 8;
  const so = new Int32Array(users + 1), items = new Int32Array(users * len);
  for (let u = 0; u < users; u++) {
    const t = u % 3;
    for (let k = 0; k < len; k++) {
      let it;
      do it = rng.int(110); while (topic(it) !== t);
      items[u * len + k] = it;
    }
    so[u + 1] = (u + 1) * len;
  }
  return { numItems: n, texts, tokens: { offsets, values, vocabSize: 3 }, sequences: { offsets: so, items, numItems: n } };
}

const opts = { textModel: 'hash' as const, attributeDim: 16, item2vec: { dim: 16, epochs: 3, batchSize: 256, subsample: 0, progress: false, lr: 0.02 } };

function cos(a: Float32Array, ao: number, b: Float32Array, bo: number, d: number): number {
  let s = 0, na = 0, nb = 0;
  for (let j = 0; j < d; j++) { s += a[ao + j]! * b[bo + j]!; na += a[ao + j]! ** 2; nb += b[bo + j]! ** 2; }
  return s / Math.sqrt(na * nb);
}

test('a new item embeds exactly like a cold item of the fitted catalogue', async () => {
  const input = catalogue();
  const { embedder, fused, aligned } = await ItemEmbedder.fit(input, opts);
  assert.equal(aligned, 10); // items 110..119 had no co-engagement: predicted from content
  assert.deepEqual(fused.blocks.map((b) => b.name), ['content', 'attributes', 'collaborative']);
  const cold = { numItems: 10, texts: input.texts!.slice(110), tokens: { offsets: Int32Array.from({ length: 11 }, (_, i) => i), values: Int32Array.from({ length: 10 }, (_, i) => (110 + i) % 3) } };
  const x = await embedder.embed(cold);
  const d = fused.dim;
  for (let i = 0; i < 10; i++) {
    for (let j = 0; j < d; j++) assert.ok(Math.abs(x[i * d + j]! - fused.vectors[(110 + i) * d + j]!) < 1e-5, `item ${110 + i} dim ${j}`);
  }
});

test('alignment (measured): cold items sit closer to the warm items of their own topic', async (t) => {
  const input = catalogue();
  const score = async (align: boolean) => {
    const { fused } = await ItemEmbedder.fit(input, { ...opts, align });
    const d = fused.dim;
    // Topic centroids of warm items (0..109).
    const cent = new Float32Array(3 * d);
    for (let i = 0; i < 110; i++) for (let j = 0; j < d; j++) cent[(i % 3) * d + j]! += fused.vectors[i * d + j]!;
    let margin = 0;
    for (let i = 110; i < 120; i++) {
      const own = cos(fused.vectors, i * d, cent, (i % 3) * d, d);
      let other = 0;
      for (let k = 0; k < 3; k++) if (k !== i % 3) other += cos(fused.vectors, i * d, cent, k * d, d) / 2;
      margin += (own - other) / 10;
    }
    return margin;
  };
  const withAlign = await score(true), without = await score(false);
  t.diagnostic(`cold items: cos(own topic) − cos(other topics): aligned ${withAlign.toFixed(3)}, not aligned ${without.toFixed(3)}`);
  assert.ok(withAlign > without + 0.05);
});

test('the embedder is saved with the tokenizer and restored; new items then code like fresh ones', async () => {
  const input = catalogue();
  const { embedder, fused } = await ItemEmbedder.fit(input, { ...opts, outputDim: 24 });
  assert.equal(fused.dim, 24);
  const { tokenizer, ids } = await ResidualTokenizer.fit(fused.vectors, 120, 24, { codebookSize: 8, seed: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'genrec-emb-'));
  try {
    const path = join(dir, 'tok.safetensors');
    saveTokenizer(path, tokenizer, ids, { embedder });
    const back = loadTokenizer(path);
    assert.ok(back.embedder);
    const newItems = { numItems: 2, texts: ['running shoes for the marathon', 'vanilla cake'], tokens: { offsets: Int32Array.of(0, 1, 2), values: Int32Array.of(0, 1) } };
    const a = await embedder.embed(newItems);
    const b = await back.embedder.embed(newItems);
    assert.deepEqual(b, a);
    const fresh = await tokenizer.encode(a, 2);
    const added = await back.tokenizer.extend(back.ids, b, 2);
    assert.deepEqual(Array.from(added.subarray(0, 3)), Array.from(fresh.codes.subarray(0, 3)));
    await back.tokenizer.release();
  } finally {
    await tokenizer.release();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('embedder input errors are coded', async () => {
  const input = catalogue();
  await assert.rejects(ItemEmbedder.fit({ numItems: 3 }, opts), (e) => e instanceof GenrecError && e.code === 'GENREC_E_TOKENIZER_CONFIG');
  await assert.rejects(ItemEmbedder.fit(input, { ...opts, weights: { content: -1 } }), (e) => e instanceof GenrecError && e.code === 'GENREC_E_TOKENIZER_CONFIG');
  const { embedder } = await ItemEmbedder.fit({ numItems: 2, userVectors: Float32Array.of(1, 2, 3, 4), userDim: 2 }, {});
  await assert.rejects(embedder.embed({ numItems: 1, userVectors: Float32Array.of(1, 2, 3), userDim: 3 }), (e) => e instanceof GenrecError && e.code === 'GENREC_E_TOKENIZER_INPUT');
  await assert.rejects(embedder.embed({ numItems: 1, userVectors: Float32Array.of(1, NaN), userDim: 2 }), (e) => e instanceof GenrecError && e.code === 'GENREC_E_TOKENIZER_INPUT');
});
