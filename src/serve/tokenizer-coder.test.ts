/**
 * TokenizerCoder on its own (codes for new items from the tokenizer file: unique, near similar items,
 * deterministic) and inside the server (a bundle with a tokenizer uses it; a restart gives the items it
 * codes again the same codes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { csrTokens, datasetFromData, generateSynthetic, type Dataset } from '../data/index.js';
import { GenrecError } from '../engine/errors.js';
import { saveDatasetTokenizer, saveTokenizer } from '../tokenizer/index.js';
import { OverlapCoder, type ItemMeta } from './codes.js';
import { fitTestTokenizer, tokenizerDataDir } from './fixtures.js';
import { startServer, type Server } from './server.js';
import { TokenizerCoder } from './tokenizer-coder.js';

/** Item i's metadata as serve holds it (Gorse's Categories, Labels, Title, Comment). */
const metaOf = (ds: Dataset, i: number): ItemMeta => ({
  categories: csrTokens(ds.items.categories, i), labels: csrTokens(ds.items.attributes, i), title: ds.items.titles[i] ?? '', comment: ds.items.texts[i] ?? '',
});

const sharedPrefix = (a: ArrayLike<number>, b: ArrayLike<number>) => { let p = 0; while (p < a.length && a[p] === b[p]) p++; return p; };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

test('TokenizerCoder: new items get unique codes next to the items they resemble, the same on every run', async (t) => {
  const ds = await datasetFromData(generateSynthetic({ users: 300, items: 240, meanEvents: 20, seed: 11 }));
  const fit = await fitTestTokenizer(ds);
  await fit.tokenizer.release();
  const path = join(mkdtempSync(join(tmpdir(), 'genrec-tokcoder-')), 'tokenizer.safetensors');
  saveDatasetTokenizer(path, fit, ds);
  const codes = fit.ids.codes.slice(), n = ds.items.count, sizes = Array.from(fit.ids.sizes), L = sizes.length, levels = L - 1;
  const open = () => new TokenizerCoder(path, codes, n, sizes, { threads: 1 });

  // New items: copies of every 10th item's metadata (same title, description, categories and labels).
  const sources = Array.from({ length: 24 }, (_, k) => k * 10);
  const metas = sources.map((i) => metaOf(ds, i));
  const a = open();
  const t0 = performance.now();
  await a.load();
  const loadMs = performance.now() - t0;
  const got: Int32Array[] = [], ms: number[] = [];
  for (const m of metas) {
    const t1 = performance.now();
    got.push(Int32Array.from(await a.assign(m)));
    ms.push(performance.now() - t1);
  }
  t.diagnostic(`load ${loadMs.toFixed(1)} ms; per new item (embed + extend, hashed text model, 1 ORT thread): median ${median(ms).toFixed(2)} ms, max ${Math.max(...ms).toFixed(2)} ms`);

  // A copy lands in its source's group (same quantiser codes) unless that group is full; either way it
  // shares far more prefix with its source than with the other sources.
  let sameBase = 0, own = 0, other = 0, pairs = 0;
  got.forEach((c, k) => {
    const src = codes.subarray(sources[k]! * L, (sources[k]! + 1) * L);
    const p = sharedPrefix(c, src);
    own += p;
    if (p >= levels) sameBase++;
    sources.forEach((s, j) => { if (j !== k) { other += sharedPrefix(c, codes.subarray(s * L, (s + 1) * L)); pairs++; } });
  });
  t.diagnostic(`copies sharing all ${levels} quantiser codes with their source: ${sameBase}/${got.length}; mean shared prefix with the source ${(own / got.length).toFixed(2)}, with other items ${(other / pairs).toFixed(2)}`);
  assert.ok(sameBase >= got.length * 0.75, `${sameBase}/${got.length} copies in their source's group`);
  assert.ok(own / got.length > 2 * (other / pairs) + 1);

  // Items with no metadata at all (first named by feedback) all embed to the same vector: their group
  // fills, then the next-nearest last-level codes take them; every code stays unique and in range.
  for (let k = 0; k < 40; k++) got.push(Int32Array.from(await a.assign({ categories: [], labels: [], title: '' })));
  const seen = new Set<string>();
  for (let m = 0; m < n + got.length; m++) {
    const c = a.codeOf(m);
    c.forEach((v, l) => assert.ok(v >= 0 && v < sizes[l]!, `code ${Array.from(c)} in range`));
    seen.add(Array.from(c).join());
  }
  assert.equal(seen.size, n + got.length, 'every code unique');
  got.forEach((c, k) => assert.deepEqual(Array.from(a.codeOf(n + k)), Array.from(c), 'codeOf(m) = the code handed out for model item m'));
  assert.deepEqual(Array.from(a.codeOf(5)), Array.from(codes.subarray(5 * L, 6 * L)), 'bundle items keep their codes');

  // Deterministic: another coder over the same file, given the same items in the same order (what a
  // restart replays), hands out the same codes — without an explicit load(), and with calls in flight
  // at once (they are serialised).
  const b = open();
  const again = await Promise.all([...metas, ...Array.from({ length: 40 }, () => ({ categories: [], labels: [], title: '' }))].map((m) => b.assign(m)));
  assert.deepEqual(again.map((c) => Array.from(c)), got.map((c) => Array.from(c)));

  // Bad input is a coded error, and the coder goes on working.
  await assert.rejects(b.assign({ categories: 'news' as unknown as string[], labels: [], title: 'x' }), (e: unknown) => e instanceof GenrecError && e.code === 'GENREC_E_VALIDATION');
  assert.equal((await b.assign(metas[0]!)).length, L);
  await a.release();
  await b.release();

  // A tokenizer file without the token vocabulary (saved before genrec train saved it) cannot embed
  // categories as training did: a coded error at load (serve then falls back to the overlap coder).
  const old = join(mkdtempSync(join(tmpdir(), 'genrec-tokcoder-')), 'tokenizer.safetensors');
  saveTokenizer(old, fit.tokenizer, fit.ids, { itemIds: ds.items.ids, embedder: fit.embedder });
  await assert.rejects(new TokenizerCoder(old, codes, n, sizes).load(), (e: unknown) => e instanceof GenrecError && e.code === 'GENREC_E_TOKENIZER_FILE' && /vocabulary/.test(e.message));
  await assert.rejects(new TokenizerCoder(path, codes, n, [...sizes.slice(0, -1), sizes[L - 1]!, 4]).load(), (e: unknown) => e instanceof GenrecError && e.code === 'GENREC_E_TOKENIZER_MISMATCH');
});

async function call(s: Server, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(new URL(path, s.url), { method, ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}) });
  return { status: res.status, json: await res.json() };
}

test('serve: a bundle with a tokenizer codes new items with it, and a restart gives them the same codes', { timeout: 120_000 }, async (t) => {
  const { dataDir, ds } = await tokenizerDataDir();
  const start = () => startServer({ dataDir, port: 0, flushIntervalMs: 0, watchModelsMs: 0, threads: 1 });
  let s = await start();
  t.after(() => s.close());
  const model = s.host.current!;
  assert.ok(model.coder instanceof TokenizerCoder, 'the bundle has tokenizer.safetensors');
  const L = model.codeSizes.length;

  // Copies of existing items, twice each (the second copy takes the next free code of the group), an item
  // with only a category, and one first named by feedback.
  const copies = [3, 17, 42].flatMap((i) => [i, i]).map((i, k) => ({ id: `new-${k}`, src: i }));
  const codeOf = async (id: string) => (await call(s, 'GET', `/api/item/${id}`)).json.SemanticId as number[] | null;
  for (const c of copies) {
    const m = metaOf(ds, c.src);
    assert.equal((await call(s, 'POST', '/api/item', { ItemId: c.id, Categories: m.categories, Labels: m.labels, Title: m.title, Comment: m.comment })).status, 200);
    assert.equal((await codeOf(c.id))?.length, L, 'coded when the insert is answered');
  }
  await s.durable.flush(); // these are in the store now; the rest only in the log
  await call(s, 'POST', '/api/item', { ItemId: 'cat-only', Categories: metaOf(ds, 42).categories });
  await call(s, 'POST', '/api/feedback', { FeedbackType: 'view', UserId: ds.users.ids[0], ItemId: 'named-by-feedback' });
  await model.settled(); // an item named by feedback is coded after the event is acknowledged
  const ids = [...copies.map((c) => c.id), 'cat-only', 'named-by-feedback'];
  const before = await Promise.all(ids.map(codeOf));
  for (const c of before) assert.equal(c?.length, L);
  assert.equal(new Set(before.map((c) => c!.join())).size, ids.length, 'unique');
  for (const [k, c] of copies.entries()) {
    const src = await codeOf(ds.items.ids[c.src]!);
    assert.ok(sharedPrefix(before[k]!, src!) >= 1, `${c.id} shares a prefix with ${ds.items.ids[c.src]} (${before[k]} vs ${src})`);
  }
  // Exactly the tokenizer's codes: a coder of its own, given the same items in the same order, agrees.
  const bundleCodes = new Int32Array(model.numBundleItems * L);
  for (let m = 0; m < model.numBundleItems; m++) bundleCodes.set(model.coder.codeOf(m), m * L);
  const own = new TokenizerCoder((model.coder as TokenizerCoder).path, bundleCodes, model.numBundleItems, model.codeSizes, { threads: 1 });
  const order = Array.from({ length: model.items - model.numBundleItems }, (_, k) => model.modelToState[model.numBundleItems + k]!);
  const mine = [];
  for (const st of order) mine.push(Array.from(await own.assign({ categories: s.state.itemCats[st]!, labels: s.state.itemLabels[st]!, title: s.state.itemTitle[st]!, comment: s.state.itemComment[st]! })));
  await own.release();
  assert.deepEqual(mine, order.map((_, k) => Array.from(model.coder.codeOf(model.numBundleItems + k))));
  assert.ok(model.coder instanceof TokenizerCoder, 'no fallback happened');
  t.diagnostic(`${order.length} items coded by the tokenizer (${order.length - ids.length} store items the bundle lacked, at start-up)`);

  // Stop without a checkpoint, as a crash would: the first six items are in the store, the last two only
  // in the log. Restart: store snapshot + log replay, the items are coded again, in the same order, to
  // the same codes.
  await s.app.close();
  await s.durable.close(false);
  await s.host.close();
  s = await start(); // a model becomes current only once it has coded every item the state has
  assert.deepEqual(await Promise.all(ids.map(codeOf)), before);

  // A bundle whose tokenizer file is unusable: the model falls back to the overlap coder (logged), and
  // every item still gets a unique code.
  const models = join(dataDir, 'models'), tmp = join(models, '.v2.tmp');
  cpSync(join(models, 'v1'), tmp, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(tmp, 'manifest.json'), 'utf8')) as { version: number };
  writeFileSync(join(tmp, 'manifest.json'), JSON.stringify({ ...manifest, version: 2 }));
  writeFileSync(join(tmp, 'tokenizer.safetensors'), 'not a tokenizer');
  renameSync(tmp, join(models, 'v2'));
  assert.equal(await s.reload(), 2);
  assert.ok(s.host.current!.coder instanceof OverlapCoder);
  assert.equal((await call(s, 'POST', '/api/item', { ItemId: 'after-fallback', Categories: metaOf(ds, 3).categories })).status, 200);
  const v2 = await Promise.all([...ids, 'after-fallback'].map(codeOf));
  for (const c of v2) assert.equal(c?.length, L);
  assert.equal(new Set(v2.map((c) => c!.join())).size, ids.length + 1);
});
