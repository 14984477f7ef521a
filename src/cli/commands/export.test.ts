import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Generator } from '../../models/index.js';
import { PrefixTrie } from '../../tokenizer/index.js';
import { readBundle, writeBundle } from '../../train/bundle.js';
import { graphsReadme } from './export.js';

test('genrec export: the README lists each graph\'s real inputs, with the tables a pair-softmax, tied-input model needs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'genrec-export-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sizes = [4, 3, 2], n = 10;
  const codes = Int32Array.from({ length: n * 3 }, (_, k) => [Math.floor(k / 3) % 4, Math.floor(k / 12) % 3, 0][k % 3]!); // distinct per item
  const trie = PrefixTrie.build(codes, n, 3, sizes);
  const model = new Generator({
    arch: 'causal', codeSizes: sizes, numItems: n, maxLen: 6, dModel: 8, nHead: 2, nLayer: 1, itemIdEmbedding: false, numEventTypes: 0, gapBuckets: 0, dropout: 0,
    pairSoftmax: true, pairRows: trie.nodeCount[2]!, pairInput: true, tripleVectors: true, tripleRows: trie.nodeCount[3]!, tripleInput: true,
  }).initialize(1);
  const path = writeBundle(dir, { model, codes, itemIds: Array.from({ length: n }, (_, i) => `i${i}`), tokenizer: { version: 1 }, data: { label: 't', users: 0, items: n, events: 0 } });
  const readme = await graphsReadme(readBundle(path));
  const section = (file: string) => readme.split('## ').find((s) => s.startsWith(file))!;
  for (const name of ['items', 'mask', 'item_tokens', 'pair_rows', 'item_triple_rows', 'ctx_h']) assert.match(section('encode.onnx'), new RegExp(`\`${name}\``), name);
  for (const name of ['prefix_codes', 'prefix_rows', 'prefix_known', 'prefix_index_0', 'prefix_mask_0', 'prefix_order', 'row_user', 'logits', 'user_code_scores', 'user_pair_scores']) assert.match(section('decode-0.onnx'), new RegExp(`\`${name}\``), name);
  assert.doesNotMatch(section('decode-0.onnx'), /`child_mask`|`prefix_index`/, 'the grouped first-level tables replace the single padded one');
  for (const name of ['child_codes', 'child_rows', 'child_known', 'child_mask', 'prefix', 'user_code_scores', 'user_pair_scores', 'child_logits']) assert.match(section('decode-1.onnx'), new RegExp(`\`${name}\``), name);
  for (const name of ['prefix', 'triple_node', 'triple_codes', 'triple_rows', 'triple_known']) assert.match(section('decode-2.onnx'), new RegExp(`\`${name}\``), name);
  assert.doesNotMatch(section('decode-2.onnx'), /child_codes/, 'only the inputs that graph has');
  assert.doesNotMatch(readme, /see src\/models/, 'every input and output is described');
});

test('genrec export: an ensemble bundle\'s README names every member\'s graphs and how to combine them', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'genrec-export-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sizes = [4, 3], n = 12;
  const codes = Int32Array.from({ length: n * 2 }, (_, k) => (k % 2 === 0 ? Math.floor(k / 2) % 4 : Math.floor(k / 8)));
  const cfg = { arch: 'causal' as const, codeSizes: sizes, numItems: n, maxLen: 6, dModel: 8, nHead: 2, nLayer: 1, itemIdEmbedding: true, numEventTypes: 0, gapBuckets: 0, dropout: 0 };
  const path = writeBundle(dir, {
    model: new Generator(cfg).initialize(1), members: [new Generator(cfg).initialize(2)], codes,
    itemIds: Array.from({ length: n }, (_, i) => `i${i}`), tokenizer: { version: 1 }, data: { label: 't', users: 0, items: n, events: 0 },
  });
  const readme = await graphsReadme(readBundle(path));
  assert.match(readme, /## An ensemble of 2 generators/);
  for (const f of ['member1/encode.onnx', 'member1/decode-0.onnx', 'member1/decode-1.onnx']) assert.ok(readme.includes(`\`${f}\``), f);
  assert.match(readme, /average the members' `logits`/);
});
