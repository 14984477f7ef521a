import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { GenrecError } from '../engine/errors.js';
import { ResidualTokenizer, alignVectors, codesForItems, loadTokenizer, readVectorsFile, saveTokenizer, syntheticClusteredVectors, writeNpy } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'genrec-tok-'));
const released: ResidualTokenizer[] = [];
after(async () => {
  for (const t of released) await t.release();
  rmSync(dir, { recursive: true, force: true });
});
const fileErr = (e: unknown) => e instanceof GenrecError && e.code === 'GENREC_E_TOKENIZER_FILE';

const DIM = 16, N = 500;
const { vectors } = syntheticClusteredVectors(N, DIM, { factors: [8, 8], seed: 5 });
const itemIds = Array.from({ length: N }, (_, i) => `item-${i}-é`);

async function fitted() {
  const r = await ResidualTokenizer.fit(vectors, N, DIM, { codebookSize: 8, balanced: true, seed: 3 });
  released.push(r.tokenizer);
  return r;
}

test('save → load round-trips tokenizer, codes, ids, report and metadata', async () => {
  const { tokenizer, ids, report } = await fitted();
  const path = join(dir, 'tok.safetensors');
  saveTokenizer(path, tokenizer, ids, { itemIds, report, meta: { data: 'synthetic' } });
  const back = loadTokenizer(path);
  released.push(back.tokenizer);
  assert.deepEqual(back.ids.codes, ids.codes);
  assert.deepEqual(back.ids.sizes, ids.sizes);
  assert.deepEqual(back.tokenizer.codebooks, tokenizer.codebooks);
  assert.deepEqual(back.tokenizer.lambda, tokenizer.lambda);
  assert.deepEqual(back.tokenizer.config, { ...tokenizer.config, dedupCapacity: ids.dedupCapacity });
  assert.deepEqual(back.itemIds, itemIds);
  assert.deepEqual(back.report, report);
  assert.deepEqual(back.meta, { data: 'synthetic' });
  const aligned = codesForItems(back, ['item-3-é', 'unknown', 'item-0-é']);
  assert.deepEqual(aligned.codes.subarray(0, 4), ids.code(3));
  assert.deepEqual(Array.from(aligned.codes.subarray(4, 8)), [-1, -1, -1, -1]);
  assert.deepEqual(aligned.codes.subarray(8, 12), ids.code(0));
  assert.deepEqual(Array.from(aligned.missing), [1]);
  // The loaded tokenizer codes new items exactly as the original does.
  const a = await tokenizer.encode(vectors.subarray(0, 50 * DIM), 50);
  const b = await back.tokenizer.encode(vectors.subarray(0, 50 * DIM), 50);
  assert.deepEqual(a.codes, b.codes);
  // And continues de-duplication where the saved table left off.
  const x = vectors.subarray(0, DIM);
  assert.deepEqual(await back.tokenizer.extend(back.ids, x, 1), await tokenizer.extend(ids, x, 1));
});

test('damaged, foreign or future files are rejected with GENREC_E_TOKENIZER_FILE', async () => {
  const { tokenizer, ids } = await fitted();
  const path = join(dir, 'tok2.safetensors');
  saveTokenizer(path, tokenizer, ids);
  const good = readFileSync(path);

  const flipped = Buffer.from(good);
  flipped[flipped.length - 3] ^= 0xff; // inside the last tensor's data
  writeFileSync(join(dir, 'flip'), flipped);
  assert.throws(() => loadTokenizer(join(dir, 'flip')), (e) => fileErr(e) && /checksum/.test((e as Error).message));

  writeFileSync(join(dir, 'short'), good.subarray(0, good.length - 100));
  assert.throws(() => loadTokenizer(join(dir, 'short')), fileErr);

  writeFileSync(join(dir, 'garbage'), Buffer.from('not a tokenizer at all'));
  assert.throws(() => loadTokenizer(join(dir, 'garbage')), fileErr);
  assert.throws(() => loadTokenizer(join(dir, 'missing')), fileErr);

  const hlen = Number(good.readBigUInt64LE(0));
  const header = good.subarray(8, 8 + hlen).toString('utf8');
  const future = Buffer.concat([good.subarray(0, 8), Buffer.from(header.replace('"version":"1"', '"version":"9"')), good.subarray(8 + hlen)]);
  writeFileSync(join(dir, 'future'), future);
  assert.throws(() => loadTokenizer(join(dir, 'future')), (e) => fileErr(e) && /version 9/.test((e as Error).message) && /upgrade/.test((e as GenrecError).hint));
});

test('duplicate codes in a file are caught on load', async () => {
  const { tokenizer, ids } = await fitted();
  const codes = ids.codes;
  codes.set(codes.subarray(0, 4), 4); // item 1 := item 0's code (checksums are computed on save, so it saves)
  const path = join(dir, 'dup.safetensors');
  saveTokenizer(path, tokenizer, ids);
  assert.throws(() => loadTokenizer(path), (e) => fileErr(e) && /same code/.test((e as Error).message));
});

test('vector files: JSONL and .npy, aligned by id; bad files are coded errors', async () => {
  const jl = join(dir, 'v.jsonl');
  writeFileSync(jl, '{"id":"a","vector":[1,2,3]}\n\n{"id":"b","embedding":[4,5,6]}\n');
  const f = await readVectorsFile(jl);
  assert.deepEqual(f.ids, ['a', 'b']);
  assert.equal(f.dim, 3);
  assert.deepEqual(Array.from(f.vectors), [1, 2, 3, 4, 5, 6]);
  const al = alignVectors(f, ['b', 'zz', 'a']);
  assert.equal(al.matched, 2);
  assert.deepEqual(Array.from(al.vectors), [4, 5, 6, 0, 0, 0, 1, 2, 3]);

  const npy = join(dir, 'v.npy');
  writeNpy(npy, vectors, N, DIM);
  const g = await readVectorsFile(npy);
  assert.equal(g.dim, DIM);
  assert.deepEqual(g.vectors, vectors);
  assert.equal(g.ids[7], '7');

  const vErr = (e: unknown) => e instanceof GenrecError && e.code === 'GENREC_E_VECTORS_FILE';
  writeFileSync(jl, '{"id":"a","vector":[1,2,3]}\n{"id":"b","vector":[4,5]}\n');
  await assert.rejects(readVectorsFile(jl), (e) => vErr(e) && /line 2/.test((e as Error).message));
  writeFileSync(jl, '{"id":"a","vector":[1,null,3]}\n');
  await assert.rejects(readVectorsFile(jl), vErr);
  writeFileSync(jl, '{"id":"a","vector":[1]}\n{"id":"a","vector":[2]}\n');
  await assert.rejects(readVectorsFile(jl), vErr);
  await assert.rejects(readVectorsFile(join(dir, 'nope.jsonl')), vErr);
});
