/**
 * Test fixtures for serve: a data directory with a store (items with categories, a few users) and a REAL
 * model bundle — the toy generator (200 items, next = 7·i + 3 mod 200) trained for a few seconds.
 * The trained bundle is cached per process, and copied into each data directory. `tokenizerDataDir`: a
 * store of generated data and a bundle that carries its tokenizer, as `genrec train` writes it.
 */
import { cpSync, mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withStore } from '../data/store/store.js';
import { EventColumnsBuilder } from '../data/columns.js';
import { generateSynthetic, leaveOneOut, type Dataset } from '../data/index.js';
import { Generator } from '../models/generator.js';
import { DEFAULT_MEMORY_DECAY, DEFAULT_MEMORY_WINDOW, TransitionTable } from '../models/transitions.js';
import { TOY, toyCodes, toyNext, trainToyGenerator } from '../models/toy-generator.js';
import { TOKENIZER_VERSION, saveDatasetTokenizer, tokenizeDataset } from '../tokenizer/index.js';
import { writeBundle } from '../train/bundle.js';

export const toyItemId = (i: number) => `item${i}`;
export const toyCategory = (i: number) => `cat${i % 4}`;

let trained: Promise<string> | null = null;
let toyModel: ReturnType<typeof trainToyGenerator> | null = null;

/** A models dir holding v1 (the toy generator), trained once per process. */
export function toyBundle(): Promise<string> {
  trained ??= (async () => {
    const { model } = await (toyModel ??= trainToyGenerator('causal', 300, 1));
    const dir = mkdtempSync(join(tmpdir(), 'genrec-serve-bundle-'));
    writeBundle(dir, {
      model, codes: toyCodes(), itemIds: Array.from({ length: TOY.items }, (_, i) => toyItemId(i)),
      tokenizer: { version: 1 }, data: { label: 'toy', users: 0, items: TOY.items, events: 0 },
    });
    return dir;
  })();
  return trained;
}

/** Copy the toy bundle in as models/v<version>. */
export async function installToyBundle(dataDir: string, version = 1): Promise<void> {
  const src = await toyBundle();
  mkdirSync(join(dataDir, 'models'), { recursive: true });
  // Copy to a temp name and rename: the server's watcher must never see half a bundle.
  const tmp = join(dataDir, 'models', `.v${version}.copy`);
  cpSync(join(src, 'v1'), tmp, { recursive: true });
  const { renameSync, readFileSync, writeFileSync } = await import('node:fs');
  const mf = join(tmp, 'manifest.json');
  const manifest = JSON.parse(readFileSync(mf, 'utf8')) as { version: number };
  manifest.version = version;
  writeFileSync(mf, JSON.stringify(manifest));
  renameSync(tmp, join(dataDir, 'models', `v${version}`));
}

/**
 * Write the toy generator into `<dataDir>/models` (the next version) with memorised transitions: an
 * empty trained table (the server's live events fill it) with these settings, and `lastEventAt` as the
 * newest training event.
 */
export async function installToyMemoryBundle(dataDir: string, o: { beta: number; reverse?: number; span?: number; lastEventAt?: number | null }): Promise<string> {
  const { model } = await (toyModel ??= trainToyGenerator('causal', 300, 1));
  const span = o.span ?? 1, table = TransitionTable.fromSequences(new Int32Array(0), [], [], TOY.items, span);
  return writeBundle(join(dataDir, 'models'), {
    model, codes: toyCodes(), itemIds: Array.from({ length: TOY.items }, (_, i) => toyItemId(i)), tokenizer: { version: 1 },
    data: { label: 'toy', users: 0, items: TOY.items, events: 0, ...(o.lastEventAt !== undefined ? { lastEventAt: o.lastEventAt } : {}) },
    memory: { table, options: { beta: o.beta, window: DEFAULT_MEMORY_WINDOW, decay: DEFAULT_MEMORY_DECAY, reverse: o.reverse ?? 0, ...(span > 1 ? { span } : {}) } },
  });
}

/** A data dir with a store: the toy items (with titles and categories) and `users` users who follow the toy rule. */
export async function toyDataDir(opts: { users?: number; model?: boolean } = {}): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'genrec-serve-'));
  const users = opts.users ?? 20;
  const ev = new EventColumnsBuilder('toy', { timestamps: true, values: false });
  const t0 = 1_700_000_000;
  for (let u = 0; u < users; u++) {
    let cur = (u * 37) % TOY.items;
    for (let k = 0; k < 5; k++) { ev.add(`user${u}`, toyItemId(cur), 'view', t0 + u * 100 + k); cur = toyNext(cur); }
  }
  const ids = Array.from({ length: TOY.items }, (_, i) => toyItemId(i));
  await withStore({ dir }, (s) => s.importData({
    label: 'toy', events: ev.build(),
    items: { source: 'toy', ids, title: ids.map((id) => `Title of ${id}`), categories: ids.map((_, i) => [toyCategory(i)]) },
  }));
  if (opts.model !== false) await installToyBundle(dir, 1);
  return dir;
}

/** A dataset's semantic IDs fitted as `genrec train` fits them, with the hashed text model and one ORT thread. */
export function fitTestTokenizer(ds: Dataset): ReturnType<typeof tokenizeDataset> {
  return tokenizeDataset(ds, leaveOneOut(ds.interactions), { tokenizer: { seed: 1 }, embeddings: { textModel: 'hash' }, runtime: { threads: 1 } });
}

/**
 * A data dir whose store holds generated data (titles, descriptions, categories, labels) and whose
 * bundle v1 carries the tokenizer fitted on the store's items, as `genrec train` writes it. The generator
 * is untrained: these tests are about codes, not about what it recommends.
 */
export async function tokenizerDataDir(o: { users?: number; items?: number; seed?: number } = {}): Promise<{ dataDir: string; ds: Dataset }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'genrec-serve-tok-'));
  const data = generateSynthetic({ users: o.users ?? 200, items: o.items ?? 160, meanEvents: 15, seed: o.seed ?? 5 });
  const ds = await withStore({ dir: dataDir }, async (s) => { await s.importData(data); return s.dataset(); });
  const fit = await fitTestTokenizer(ds);
  await fit.tokenizer.release();
  const codeSizes = Array.from(fit.ids.sizes);
  const model = new Generator({
    arch: 'causal', dModel: 16, nHead: 2, nLayer: 1, itemIdEmbedding: true, numEventTypes: 0, gapBuckets: 0, dropout: 0,
    codeSizes, numItems: ds.items.count, maxLen: 8,
  }).initialize(1);
  writeBundle(join(dataDir, 'models'), {
    model, codes: fit.ids.codes, itemIds: ds.items.ids, tokenizer: { version: TOKENIZER_VERSION },
    data: { label: 'synthetic', users: ds.interactions.numUsers, items: ds.items.count, events: ds.interactions.items.length },
    writeTokenizer: (path) => saveDatasetTokenizer(path, fit, ds),
  });
  return { dataDir, ds };
}
