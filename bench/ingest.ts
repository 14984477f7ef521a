/**
 * `genrec bench ingest`: the real `genrec import` path — DuckDB's CSV reader into staging, validation,
 * id mapping, de-duplication and commit into a fresh store file — on synthetic events in CSV with string
 * ids and ISO 8601 timestamps. The CSV is generated once per (rows, seed) into the OS temp folder, in a
 * child process so the timed process's memory is the import's. Timed: open the store, import, close.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchSuite } from './index.js';

/** Writes `rows` synthetic events to `path` (in a child process: generation memory is not the import's). */
function generateCsv(rows: number, seed: number, path: string): void {
  const modules = ['synthetic', 'csv'].map((m) => new URL(`../src/data/${m}.js`, import.meta.url).href);
  const script = `
    const { generateSynthetic } = await import(${JSON.stringify(modules[0])});
    const { writeEventsCsv } = await import(${JSON.stringify(modules[1])});
    const rows = ${rows}, meanEvents = 60;
    const data = generateSynthetic({ seed: ${seed}, users: Math.ceil(rows / meanEvents * 1.1), items: Math.max(1000, Math.round(rows / 200)), meanEvents });
    const e = data.events;
    const n = Math.min(rows, e.length);
    const cut = (a) => a && a.subarray(0, n);
    writeEventsCsv({ ...e, length: n, user: cut(e.user), item: cut(e.item), type: cut(e.type), ts: cut(e.ts), pos: cut(e.pos), value: cut(e.value) }, ${JSON.stringify(path + '.part')});
  `;
  const r = spawnSync(process.execPath, ['--max-old-space-size=8192', '--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`generating ${path} failed (exit ${r.status})`);
  renameSync(path + '.part', path);
}

export const ingest: BenchSuite = {
  name: 'ingest',
  description: 'genrec import of synthetic CSV events (string ids, ISO timestamps) into a fresh DuckDB store: events/s',
  options: [
    { flags: '--rows <n>', description: 'events in the CSV', default: '10000000' },
    { flags: '--seed <n>', description: 'synthetic data seed', default: '1' },
    { flags: '--threads <n>', description: 'DuckDB threads (0 = one per core)', default: '0' },
    { flags: '--cache-dir <dir>', description: 'where the generated CSV is kept between runs (default: OS temp folder)' },
  ],
  async run(opts) {
    const { withStore, EVENT_CSV_MAPPING } = await import('../src/data/index.js');
    const { log } = await import('../src/engine/log.js');
    const { intFlag } = await import('../src/cli/flags.js');
    const rows = intFlag('rows', opts.rows);
    const seed = intFlag('seed', opts.seed, 0);
    const threads = intFlag('threads', opts.threads, 0);
    const cacheDir = opts.cacheDir ? String(opts.cacheDir) : join(tmpdir(), 'genrec-bench');
    mkdirSync(cacheDir, { recursive: true });
    const csv = join(cacheDir, `ingest-${rows}-${seed}.csv`);
    if (!existsSync(csv)) {
      log.info({ csv, rows }, 'generating synthetic CSV (once)');
      const t = performance.now();
      generateCsv(rows, seed, csv);
      log.info({ seconds: (performance.now() - t) / 1000 }, 'generated');
    }
    const dir = mkdtempSync(join(tmpdir(), 'genrec-ingest-'));
    let peak = process.memoryUsage().rss;
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 50);
    try {
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      const report = await withStore({ dir, threads: threads || undefined }, (s) =>
        s.import({ label: 'bench', events: { kind: 'file', path: csv, format: 'csv', mapping: { ...EVENT_CSV_MAPPING } } }));
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      peak = Math.max(peak, process.memoryUsage().rss);
      const storeMb = statSync(join(dir, 'store.duckdb')).size / 2 ** 20;
      log.info({ ...report, seconds, storeMb }, 'ingest done');
      return {
        rows: report.eventsRead,
        seconds: Number(seconds.toFixed(3)),
        events_per_s: Math.round(report.eventsRead / seconds),
        rss_mb: Math.round(peak / 2 ** 20),
        // CPU time of all threads: on a busy machine, seconds ≫ cpu_s / cores shows the wait for CPU.
        cpu_s: Number(((cpu.user + cpu.system) / 1e6).toFixed(2)),
        events_added: report.eventsAdded,
        duplicates: report.duplicates,
        users: report.usersAdded,
        items: report.itemsAdded,
        csv_mb: Math.round(statSync(csv).size / 2 ** 20),
        store_mb: Math.round(storeMb),
      };
    } finally {
      clearInterval(sampler);
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
