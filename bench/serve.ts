/**
 * `genrec bench serve`: `genrec serve` under load, on a Beauty-size model.
 *
 * Model: synthetic data with about Beauty's shape (12,000 items, 22,000 users, ~9 events each; the
 * data room's generator), stored in a DuckDB store, then genrec's own pipeline (`fitGenrec`: fused
 * item embeddings → residual k-means semantic IDs → causal generator, history 50) trained for
 * `--epochs` epochs and written as a bundle — the same steps as `genrec train`. Built once per option
 * set into the cache folder.
 *
 * Measured, with the server (`genrec serve`, its own process) and the load generator
 * (bench/serve-load.ts, another process) on this machine over loopback:
 *   1. open loop: `--rate` requests/s for `--seconds` s over up to `--connections` sockets, each a top-10
 *      recommendation (beam 20) for a different user, latency from the scheduled send time;
 *   2. max_rps: closed loop with `--connections` connections for `--closed-seconds` s;
 *   3. ingest: batches of `--batch` feedback events through POST /api/feedback (durable before 2xx);
 *   4. rss_mb: the server's peak resident memory (VmHWM: all threads) read from /proc.
 * No result cache exists in the server, so every request runs the generator.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnServe } from '../src/serve/spawn.js';
import type { BenchSuite } from './index.js';

const LOAD = fileURLToPath(new URL('./serve-load.js', import.meta.url));

/**
 * A digest of the compiled code under `src/` (this file's sibling folder), so a model cached by an
 * older build is rebuilt rather than served with that build's behaviour and metadata.
 */
function codeVersion(): string {
  const root = fileURLToPath(new URL('../src/', import.meta.url));
  const files = (readdirSync(root, { recursive: true }) as string[]).filter((f) => f.endsWith('.js') && !f.endsWith('.test.js')).sort();
  const h = createHash('sha256');
  for (const f of files) h.update(f).update('\0').update(readFileSync(join(root, f))).update('\0');
  return h.digest('hex').slice(0, 12);
}

async function buildModel(dir: string, o: { items: number; users: number; epochs: number; seed: number; pairSoftmax: boolean; members: number }): Promise<void> {
  const { generateSynthetic, withStore, leaveOneOut } = await import('../src/data/index.js');
  const { fitGenrec } = await import('../src/eval/genrec.js');
  const { bundleData, servingMemory, writeBundle } = await import('../src/train/index.js');
  const { TOKENIZER_VERSION } = await import('../src/tokenizer/index.js');
  const { log } = await import('../src/engine/log.js');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  const data = generateSynthetic({ seed: o.seed, users: o.users, items: o.items, meanEvents: 9, minEvents: 5 });
  await withStore({ dir }, (s) => s.importData(data));
  const ds = await withStore({ dir, readOnly: true }, (s) => s.dataset());
  const split = leaveOneOut(ds.interactions);
  log.info({ users: ds.users.count, items: ds.items.count, events: ds.interactions.items.length }, 'bench serve: training the model (once)');
  const fit = await fitGenrec({ dataset: ds, split, seed: o.seed, maxLen: 50, epochs: o.epochs, evalUsers: 500, beam: 20, patience: 100, model: { pairSoftmax: o.pairSoftmax }, members: o.members });
  const inter = ds.interactions;
  writeBundle(join(dir, 'models'), {
    model: fit.model, members: fit.members.slice(1).map((m) => m.model), codes: fit.codes, itemIds: ds.items.ids,
    tokenizer: { version: TOKENIZER_VERSION },
    data: bundleData(ds.label, inter),
    metrics: { valid_ndcg10: fit.valid['ndcg@10']! }, train: { epochs: fit.result.epochs, members: fit.members.length, seconds: fit.trainSeconds },
    // As `genrec train` writes it: memorised transitions when validation kept them (requests pay for them).
    ...(fit.memory ? { memory: servingMemory(fit.memory, inter) } : {}),
  });
  writeFileSync(join(dir, 'READY'), JSON.stringify({ seconds: (performance.now() - t0) / 1000, codeSizes: fit.codeSizes, valid_ndcg10: fit.valid['ndcg@10'], memory_beta: fit.memory?.options.beta ?? null }));
}

function runLoad(spec: Record<string, unknown>, dir: string): Promise<Record<string, number>> {
  const file = join(dir, `load-${String(spec.mode)}.json`);
  writeFileSync(file, JSON.stringify(spec));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LOAD, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`load generator exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>);
    });
  });
}

const peakRssMb = (pid: number) => {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};

const round = (x: number, d = 2) => Number(x.toFixed(d));

/** The server's own latency histogram of the recommend route (cumulative counts by upper bound, s). */
async function serverBuckets(url: string): Promise<Map<number, number>> {
  const text = await (await fetch(new URL('/metrics', url))).text();
  const out = new Map<number, number>();
  for (const m of text.matchAll(/^genrec_http_request_duration_seconds_bucket\{route="\/api\/recommend\/:userId",le="([^"]+)"\} (\d+)$/gm)) {
    out.set(m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2]));
  }
  return out;
}

/** Upper bound (ms) of the bucket holding quantile q of the requests between two histogram readings. */
function bucketQuantile(before: Map<number, number>, after: Map<number, number>, q: number): number {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  for (const b of bounds) if ((after.get(b) ?? 0) - (before.get(b) ?? 0) >= q * total) return b * 1000;
  return NaN;
}

export const serve: BenchSuite = {
  name: 'serve',
  description: 'genrec serve on a Beauty-size model: open-loop latency at a fixed rate, closed-loop max rps, durable batch ingest, peak RSS',
  options: [
    { flags: '--items <n>', description: 'catalogue size', default: '12000' },
    { flags: '--users <n>', description: 'users in the synthetic data', default: '22000' },
    { flags: '--epochs <n>', description: 'training epochs of the model', default: '2' },
    { flags: '--pair-softmax <bool>', description: 'the model\'s head: true (default) or false (chained per-level softmax)', default: 'true' },
    { flags: '--members <n>', description: 'generators in the served model (an ensemble on the same codes when > 1)', default: '1' },
    { flags: '--seed <n>', description: 'data and model seed', default: '1' },
    { flags: '--rate <n>', description: 'open-loop arrival rate, requests/s', default: '500' },
    { flags: '--seconds <n>', description: 'open-loop duration', default: '20' },
    { flags: '--closed-seconds <n>', description: 'closed-loop duration', default: '10' },
    { flags: '--ingest-seconds <n>', description: 'ingest duration', default: '5' },
    { flags: '--connections <n>', description: 'most connections of the load generator', default: '64' },
    { flags: '--batch <n>', description: 'events per ingest request', default: '500' },
    { flags: '--workers <n>', description: 'server model workers', default: '1' },
    { flags: '--threads <n>', description: 'ORT threads per model worker', default: '1' },
    { flags: '--batch-wait <ms>', description: 'server micro-batch gathering wait', default: '0' },
    { flags: '--max-batch <n>', description: 'server micro-batch size', default: '32' },
    { flags: '--cache-dir <dir>', description: 'where the trained model is kept between runs (default: OS temp folder)' },
  ],
  async run(opts) {
    const { log } = await import('../src/engine/log.js');
    const { Rng } = await import('../src/engine/random.js');
    const { boolOption, modelNumberOption } = await import('../src/eval/flags.js');
    const { intFlag: int, numberFlag, positiveFlag } = await import('../src/cli/flags.js');
    const seconds = (flag: string, v: unknown) => positiveFlag(flag, v, 10);
    // The load's settings, checked before minutes of model building; the server checks its own flags again.
    const load = {
      rate: positiveFlag('rate', opts.rate, 500), seconds: seconds('seconds', opts.seconds), closedSeconds: seconds('closed-seconds', opts.closedSeconds),
      ingestSeconds: seconds('ingest-seconds', opts.ingestSeconds), connections: int('connections', opts.connections), batch: int('batch', opts.batch),
    };
    int('workers', opts.workers); int('threads', opts.threads, 0); numberFlag('batch-wait', opts.batchWait); int('max-batch', opts.maxBatch);
    const o = { items: int('items', opts.items), users: int('users', opts.users), epochs: int('epochs', opts.epochs), seed: int('seed', opts.seed, 0), pairSoftmax: boolOption('pair-softmax', opts.pairSoftmax) ?? true, members: modelNumberOption('members', opts.members) ?? 1 };
    // The key names the options and the code version, so a model cached by other settings or an older
    // build is not reused.
    const head = o.pairSoftmax ? 'pair-softmax' : 'chained';
    const cache = join(opts.cacheDir ? String(opts.cacheDir) : join(tmpdir(), 'genrec-bench'), `serve-${head}-${o.items}-${o.users}-${o.epochs}-${o.seed}${o.members > 1 ? `-x${o.members}` : ''}-${codeVersion()}`);
    if (!existsSync(join(cache, 'READY'))) await buildModel(cache, o);
    const model = JSON.parse(readFileSync(join(cache, 'READY'), 'utf8')) as { codeSizes: number[]; valid_ndcg10: number; memory_beta?: number | null };
    // The server works on a copy of the store, so ingest never changes the cached data.
    const dataDir = join(tmpdir(), `genrec-bench-serve-${process.pid}`);
    rmSync(dataDir, { recursive: true, force: true });
    mkdirSync(dataDir);
    const { cpSync } = await import('node:fs');
    cpSync(join(cache, 'store.duckdb'), join(dataDir, 'store.duckdb'));
    cpSync(join(cache, 'models'), join(dataDir, 'models'), { recursive: true });
    const { withStore } = await import('../src/data/index.js');
    const snap = await withStore({ dir: dataDir, readOnly: true }, (s) => s.dataset());
    const rng = new Rng(o.seed);
    const users = snap.users.ids.slice();
    for (let i = users.length - 1; i > 0; i--) { const j = rng.int(i + 1); [users[i], users[j]] = [users[j]!, users[i]!]; }
    const items = snap.items.ids;

    const { child, url } = await spawnServe(dataDir, ['--log-level', 'warn', '--workers', String(opts.workers), '--threads', String(opts.threads), '--batch-wait', String(opts.batchWait), '--max-batch', String(opts.maxBatch), '--beam', '20', '--flush-interval', '5000']);
    const load0 = loadavg()[0]!;
    try {
      const connections = load.connections;
      // Warm-up (JIT, ORT arenas) with users not used by the measured runs' first pass.
      await runLoad({ mode: 'closed', url, users: users.slice(-2000), seconds: 2, connections: 8, n: 10 }, dataDir);
      log.info({ rate: load.rate, seconds: load.seconds }, 'bench serve: open loop');
      const h0 = await serverBuckets(url);
      const openRes = await runLoad({ mode: 'open', url, users, rate: load.rate, seconds: load.seconds, connections, n: 10 }, dataDir);
      const h1 = await serverBuckets(url);
      log.info(openRes, 'open loop done; closed loop');
      const closedRes = await runLoad({ mode: 'closed', url, users, seconds: load.closedSeconds, connections, n: 10 }, dataDir);
      log.info(closedRes, 'closed loop done; ingest');
      const ingestRes = await runLoad({ mode: 'ingest', url, users, items, seconds: load.ingestSeconds, connections: 8, batch: load.batch, seed: o.seed }, dataDir);
      log.info(ingestRes, 'ingest done');
      const rss = peakRssMb(child.pid!);
      return {
        items: items.length,
        target_rps: load.rate,
        achieved_rps: round(openRes.achieved_rps!, 1),
        p50_ms: round(openRes.p50_ms!),
        p99_ms: round(openRes.p99_ms!),
        errors: openRes.errors! + closedRes.errors! + ingestRes.errors!,
        max_rps: round(closedRes.rps!, 1),
        ingest_events_per_s: Math.round(ingestRes.events_per_s!),
        rss_mb: Math.round(rss),
        p90_ms: round(openRes.p90_ms!), max_ms: round(openRes.max_ms!), closed_p99_ms: round(closedRes.p99_ms!),
        // The server's own view (fastify's request time; bucket upper bounds): the rest is waiting outside it.
        server_p50_ms_le: bucketQuantile(h0, h1, 0.5), server_p99_ms_le: bucketQuantile(h0, h1, 0.99),
        users: users.length, beam: 20, k: 10, members: o.members, code_sizes: model.codeSizes.join('x'), valid_ndcg10: round(model.valid_ndcg10, 4), memory_beta: model.memory_beta ?? null,
        load_1m_before: round(load0), load_1m_after: round(loadavg()[0]!),
      };
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
};
