/**
 * `genrec tokenize`: item embeddings → residual k-means semantic IDs → tokenizer file. Sources, one of:
 *   --vectors FILE       id → vector file (JSONL or float32 .npy, see src/tokenizer/vectors-io.ts)
 *   --path DIR           a dataset folder (--format s3rec|movielens|recbole|auto): content text,
 *                        categories/attributes and collaborative vectors from the leave-one-out TRAIN split,
 *                        plus --user-vectors FILE matched by item id
 *   --store              the store in the data dir (same embeddings as --path)
 *   --synthetic N        N synthetic clustered vectors (--dim D), for trying the tokenizer out
 * Writes <data dir>/tokenizer/tokenizer.safetensors unless --out is given, and prints a summary table
 * (or one JSON line with --json). Progress goes to stderr.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { intFlag } from '../flags.js';
import { GenrecError } from '../../engine/errors.js';
import { log, progress, type Progress } from '../../engine/log.js';
import { formatTable, formatValue, sink } from '../output.js';
import { configOf, globalOptions } from '../program.js';

interface TokenizeOptions {
  vectors?: string;
  ids?: string;
  path?: string;
  format: string;
  store?: boolean;
  synthetic?: string;
  dim: string;
  userVectors?: string;
  weights?: string;
  textModel: string;
  outputDim: string;
  out?: string;
  levels: string;
  codebookSize: string;
  balanced?: boolean;
  sample: string;
  maxIters: string;
  seed: string;
}

function parseWeights(spec: string | undefined): Record<string, number> {
  if (!spec) return {};
  const out: Record<string, number> = {};
  for (const part of spec.split(',')) {
    const [k, v] = part.split('=').map((s) => s.trim());
    const w = Number(v);
    if (!k || !['content', 'attributes', 'collaborative', 'user'].includes(k) || !(w >= 0)) {
      throw new GenrecError('GENREC_E_USAGE', `bad --weights entry "${part}"`, 'use e.g. --weights content=1,attributes=0.5,collaborative=1,user=1');
    }
    out[k] = w;
  }
  return out;
}

/** Progress bars per stage on stderr (one bar at a time). */
function stageBars(): { onProgress: (stage: string, done: number, total: number) => void; stop: () => void } {
  let cur: { stage: string; bar: Progress } | null = null;
  return {
    onProgress(stage, done, total) {
      if (cur?.stage !== stage) {
        cur?.bar.stop();
        log.info({ stage }, 'tokenize');
        cur = { stage, bar: progress(stage, total) };
      }
      cur.bar.update(done);
    },
    stop() { cur?.bar.stop(); cur = null; },
  };
}

async function embeddingsFrom(o: TokenizeOptions, dataDir: string, seed: number, onProgress: (s: string, d: number, t: number) => void) {
  const tok = await import('../../tokenizer/index.js');
  const sources = [o.vectors, o.path, o.store, o.synthetic].filter((s) => s !== undefined && s !== false).length;
  if (sources !== 1) {
    throw new GenrecError('GENREC_E_USAGE', sources === 0 ? 'no item source given' : 'give only one item source',
      'use one of --vectors FILE, --path DIR [--format F], --store, --synthetic N');
  }
  const weights = parseWeights(o.weights);
  const outputDim = intFlag('output-dim', o.outputDim, 0);
  if (o.synthetic !== undefined) {
    const n = intFlag('synthetic', o.synthetic, 1), dim = intFlag('dim', o.dim, 1);
    const { vectors } = tok.syntheticClusteredVectors(n, dim, { seed });
    return { vectors, dim, itemIds: Array.from({ length: n }, (_, i) => String(i)), embedder: null, meta: { source: 'synthetic', items: n, dim } };
  }
  if (o.vectors !== undefined) {
    const f = await tok.readVectorsFile(o.vectors, o.ids);
    const { fused, embedder } = await tok.ItemEmbedder.fit({ numItems: f.ids.length, userVectors: f.vectors, userDim: f.dim }, { outputDim, seed });
    return { vectors: fused.vectors, dim: fused.dim, itemIds: f.ids, embedder, meta: { source: 'vectors', file: o.vectors } };
  }
  const data = await import('../../data/index.js');
  // Co-engagement from engagements only, as `genrec train` reads them.
  const ds = data.positiveOnly(o.path !== undefined
    ? await data.loadDataset({ format: o.format as Parameters<typeof data.loadDataset>[0]['format'], path: o.path })
    : await data.withStore({ dir: dataDir, readOnly: true }, (s) => s.dataset()));
  // Collaborative vectors from the training part only: leave-one-out holds out each user's last two events.
  const split = data.leaveOneOut(ds.interactions);
  const userVectors = o.userVectors ? await tok.readVectorsFile(o.userVectors) : undefined;
  const { fused, embedder } = await tok.datasetItemEmbeddings(ds, split, {
    weights, textModel: o.textModel as 'auto' | 'use' | 'hash', outputDim, seed, onProgress, ...(userVectors ? { userVectors } : {}),
  });
  const inter = ds.interactions;
  return {
    vectors: fused.vectors, dim: fused.dim, itemIds: ds.items.ids, embedder,
    meta: { source: o.path ?? 'store', label: ds.label, items: ds.items.count, users: inter.numUsers, events: inter.items.length, split: 'leave-one-out', blocks: fused.blocks },
  };
}

export function register(program: Command): void {
  program
    .command('tokenize')
    .description('learn semantic IDs for the items (embeddings → residual k-means) and save the tokenizer')
    .option('--vectors <file>', 'item vectors: JSONL {"id","vector"} per line, or float32 .npy')
    .option('--ids <file>', 'with a .npy --vectors: item ids, one per line in row order')
    .option('--path <dir>', 'a dataset folder (content, attributes and co-engagement are embedded)')
    .option('--format <fmt>', 'dataset folder format: s3rec|movielens|recbole|auto', 'auto')
    .option('--store', 'use the store in the data dir')
    .option('--synthetic <n>', 'N synthetic clustered vectors instead of real items')
    .option('--dim <n>', 'dimension of --synthetic vectors', '256')
    .option('--user-vectors <file>', 'extra item vectors (JSONL/.npy) fused in, matched by item id')
    .option('--weights <spec>', 'fusion weights, e.g. content=1,attributes=0.5,collaborative=1,user=1')
    .option('--text-model <m>', 'content text model: auto|use|hash', 'auto')
    .option('--output-dim <n>', 'random-project the fused vector to n dims (0 = keep)', '0')
    .option('--out <file>', 'tokenizer file (default <data dir>/tokenizer/tokenizer.safetensors)')
    .option('--levels <n>', 'quantiser levels (the ID adds a de-duplication code)', '3')
    .option('--codebook-size <n>', 'codes per level (0 = from the catalogue size)', '0')
    .option('--balanced', 'balanced assignment: use codes evenly')
    .option('--sample <n>', 'rows to fit on (0 = 256 per code)', '0')
    .option('--max-iters <n>', 'Lloyd iterations per level at most', '20')
    .option('--seed <n>', 'seed', '1')
    .action(async (o: TokenizeOptions, cmd: Command) => {
      const config = configOf(cmd);
      const { json = false } = globalOptions(cmd);
      const seed = intFlag('seed', o.seed, 0);
      const { ResidualTokenizer, saveTokenizer } = await import('../../tokenizer/index.js');
      const bars = stageBars();
      try {
        const t0 = performance.now();
        const src = await embeddingsFrom(o, config.dataDir, seed, bars.onProgress);
        const n = src.itemIds.length;
        const { tokenizer, ids, report } = await ResidualTokenizer.fit(src.vectors, n, src.dim, {
          levels: intFlag('levels', o.levels, 1), codebookSize: intFlag('codebook-size', o.codebookSize, 0), balanced: Boolean(o.balanced),
          sampleSize: intFlag('sample', o.sample, 0), maxIters: intFlag('max-iters', o.maxIters, 1), seed,
        }, { runtime: config.engine.threads ? { threads: config.engine.threads } : {}, onProgress: bars.onProgress });
        bars.stop();
        const out = o.out ?? join(config.dataDir, 'tokenizer', 'tokenizer.safetensors');
        saveTokenizer(out, tokenizer, ids, { itemIds: src.itemIds, report, meta: src.meta, ...(src.embedder ? { embedder: src.embedder } : {}) });
        await tokenizer.release();
        const total = (performance.now() - t0) / 1000;
        if (json) {
          sink.out(JSON.stringify({ out, totalSeconds: total, codeSizes: Array.from(ids.sizes), ...report }) + '\n');
          return;
        }
        sink.out(formatTable(['level', 'K', 'used', 'utilisation', 'entropy', 'iterations', 'recon error'],
          report.levels.map((l) => [l.level, l.k, l.used, l.utilisation, l.entropy, l.iterations, l.reconError].map(formatValue))));
        sink.out('\n' + formatTable(['summary', 'value'], [
          ['items', n], ['dim', src.dim], ['code sizes', Array.from(ids.sizes).join(' × ')],
          ['collision rate (before dedup)', report.collisionRate], ['largest collision group', report.maxGroup], ['items with a (c0, c1) prefix to themselves', report.soloPairShare],
          ['all codes unique', String(report.unique)], ['reconstruction error', report.reconError],
          ['fit sample', report.sampleSize], ['tokenizer seconds', report.seconds], ['total seconds', total], ['saved to', out],
        ].map(([k, v]) => [String(k), formatValue(v)])));
      } finally {
        bars.stop();
      }
    });
}
