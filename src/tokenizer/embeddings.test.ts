import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GenrecError } from '../engine/errors.js';
import { Rng } from '../engine/random.js';
import { buildItemEmbeddings, embedTexts, embedTextsHashed, embedTokenRows, fuseEmbeddings, item2vec, randomProjection } from './index.js';

function cos(x: Float32Array, d: number, a: number, b: number): number {
  let s = 0, na = 0, nb = 0;
  for (let j = 0; j < d; j++) { s += x[a * d + j]! * x[b * d + j]!; na += x[a * d + j]! ** 2; nb += x[b * d + j]! ** 2; }
  return s / Math.sqrt(na * nb);
}

const texts = [
  'red running shoes for men',
  'lightweight running shoes for women',
  'dark chocolate cake recipe',
  'easy chocolate cake with cream',
];

test('hashed TF-IDF text vectors: deterministic, similar texts closer, empty text → zero row', () => {
  const a = embedTextsHashed([...texts, ''], { dim: 128, seed: 2 });
  const b = embedTextsHashed([...texts, ''], { dim: 128, seed: 2 });
  assert.deepEqual(a.vectors, b.vectors);
  assert.ok(cos(a.vectors, 128, 0, 1) > cos(a.vectors, 128, 0, 2));
  assert.ok(cos(a.vectors, 128, 2, 3) > cos(a.vectors, 128, 1, 3));
  assert.ok(a.vectors.subarray(4 * 128).every((v) => v === 0));
});

test('the offline sentence encoder embeds text (512-d), similar texts closer', async () => {
  const r = await embedTexts(texts, { model: 'use' });
  assert.equal(r.model, 'use');
  assert.equal(r.dim, 512);
  assert.ok(cos(r.vectors, 512, 0, 1) > cos(r.vectors, 512, 0, 2));
  assert.ok(cos(r.vectors, 512, 2, 3) > cos(r.vectors, 512, 1, 3));
});

test('a catalogue\'s texts embedded by two threads side by side get the one-thread vectors, in order', async () => {
  // 600 short texts: over the size at which embedding splits into slices (and short, so the test is quick).
  const many = Array.from({ length: 600 }, (_, i) => i === 300 ? ' ' : `${texts[i % 4]} ${i}`);
  const seen: number[] = [];
  const one = await embedTexts(many, { model: 'use', threads: 1 });
  const two = await embedTexts(many, { model: 'use', threads: 2, onProgress: (d, n) => { assert.equal(n, 600); seen.push(d); } });
  assert.deepEqual(two.vectors, one.vectors);
  assert.ok(two.vectors.subarray(300 * 512, 301 * 512).every((v) => v === 0)); // an empty text stays a zero row
  assert.ok(cos(two.vectors, 512, 599, 3) > cos(two.vectors, 512, 599, 2)); // the last slice's rows are in place
  assert.equal(Math.max(...seen), 600);
});

test('attribute rows: items sharing a rare token are closer than items sharing a common one', () => {
  // token 0: on every item (a broad category); token 1: items 0, 1 only (a brand); token 2: items 2, 3.
  const rows = { offsets: Int32Array.from([0, 2, 4, 6, 8, 9]), values: Int32Array.from([0, 1, 0, 1, 0, 2, 0, 2, 0]) };
  const { vectors, dim } = embedTokenRows(rows, 5, { dim: 64, seed: 1 });
  assert.ok(cos(vectors, dim, 0, 1) > 0.99);
  assert.ok(cos(vectors, dim, 0, 2) < cos(vectors, dim, 0, 1));
  assert.throws(() => embedTokenRows({ offsets: Int32Array.from([0, 1]), values: Int32Array.from([-1]) }, 1), GenrecError);
});

test('fusion: unit rows, weights decide each block\'s share, missing sources renormalised', () => {
  const n = 3;
  const a = { name: 'a', vectors: Float32Array.from([1, 0, 0, 1, 1, 1]), dim: 2, weight: 3, center: false };
  const b = { name: 'b', vectors: Float32Array.from([0, 0, 0, 2, 0, 5, 0, 0, 0]), dim: 3, weight: 1, center: false };
  const f = fuseEmbeddings(n, [a, b]);
  assert.equal(f.dim, 5);
  assert.deepEqual(f.blocks.map((x) => [x.name, x.start, x.end, x.weight]), [['a', 0, 2, 0.75], ['b', 2, 5, 0.25]]);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < 5; j++) s += f.vectors[i * 5 + j]! ** 2;
    assert.ok(Math.abs(s - 1) < 1e-5);
  }
  // Row 1 has both sources: block a carries 3/4 of the squared norm.
  const sq = (i: number, s: number, e: number) => { let t = 0; for (let j = s; j < e; j++) t += f.vectors[i * 5 + j]! ** 2; return t; };
  assert.ok(Math.abs(sq(1, 0, 2) - 0.75) < 1e-5);
  // Row 0 has no b data: a carries everything.
  assert.ok(Math.abs(sq(0, 0, 2) - 1) < 1e-5);
  assert.throws(() => fuseEmbeddings(n, [{ ...a, weight: 0 }]), (e) => e instanceof GenrecError && e.code === 'GENREC_E_TOKENIZER_CONFIG');
  assert.throws(() => fuseEmbeddings(n, [{ ...a, vectors: Float32Array.from([NaN, 0, 0, 1, 1, 1]) }]), (e) => e instanceof GenrecError && e.code === 'GENREC_E_TOKENIZER_INPUT');
});

/** Two communities of items; each user engages within one community only. */
function communities(users: number, itemsPerSide: number, len: number, seed: number) {
  const rng = new Rng(seed);
  const offsets = new Int32Array(users + 1);
  const items = new Int32Array(users * len);
  for (let u = 0; u < users; u++) {
    const side = u % 2;
    for (let k = 0; k < len; k++) items[u * len + k] = side * itemsPerSide + rng.int(itemsPerSide);
    offsets[u + 1] = (u + 1) * len;
  }
  return { offsets, items, numItems: 2 * itemsPerSide + 1 }; // the last item is never seen
}

test('item2vec on the engine: co-engaged items are closer; unseen items get a zero row; deterministic', async () => {
  const seqs = communities(200, 20, 10, 3);
  const opts = { dim: 16, epochs: 4, batchSize: 256, seed: 4, progress: false, lr: 0.02, subsample: 0 };
  const r = await item2vec(seqs, opts);
  assert.ok(Number.isFinite(r.loss) && r.pairs > 0);
  let within = 0, across = 0, nw = 0, na = 0;
  for (let a = 0; a < 40; a++) for (let b = a + 1; b < 40; b++) {
    const c = cos(r.vectors, 16, a, b);
    if ((a < 20) === (b < 20)) { within += c; nw++; } else { across += c; na++; }
  }
  assert.ok(within / nw > across / na + 0.2, `within ${within / nw} across ${across / na}`);
  assert.ok(r.vectors.subarray(40 * 16).every((v) => v === 0));
  const again = await item2vec(seqs, opts);
  assert.deepEqual(again.vectors, r.vectors);
  await assert.rejects(item2vec({ offsets: Int32Array.of(0, 1), items: Int32Array.of(5), numItems: 3 }), (e) => e instanceof GenrecError && e.code === 'GENREC_E_TOKENIZER_INPUT');
});

test('buildItemEmbeddings fuses whatever sources exist', async () => {
  const seqs = communities(100, 10, 8, 5);
  const n = seqs.numItems;
  const f = await buildItemEmbeddings({
    numItems: n,
    texts: Array.from({ length: n }, (_, i) => (i < 10 ? 'running shoes' : 'chocolate cake') + ` ${i}`),
    sequences: seqs,
  }, { textModel: 'hash', attributeDim: 32, item2vec: { dim: 8, epochs: 1, progress: false } });
  assert.deepEqual(f.blocks.map((b) => b.name), ['content', 'collaborative']);
  assert.equal(f.vectors.length, n * f.dim);
});

test('random projection (on ORT) roughly preserves distances and is seeded', async () => {
  const n = 5000, d = 96, p = 48;
  const x = embedTextsHashed(Array.from({ length: n }, (_, i) => `w${i % 50} w${i % 7} x${i}`), { dim: d }).vectors;
  const y = await randomProjection(x, n, d, p, 3);
  assert.deepEqual(y, await randomProjection(x, n, d, p, 3));
  assert.equal(y.length, n * p);
  const sq = (v: Float32Array, dd: number, a: number, b: number) => { let s = 0; for (let j = 0; j < dd; j++) s += (v[a * dd + j]! - v[b * dd + j]!) ** 2; return s; };
  let ratio = 0;
  for (let k = 0; k < 200; k++) ratio += sq(y, p, k, n - 1 - k) / sq(x, d, k, n - 1 - k);
  assert.ok(Math.abs(ratio / 200 - 1) < 0.15, `mean distance ratio ${ratio / 200}`);
});
