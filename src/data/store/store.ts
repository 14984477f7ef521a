/**
 * The store core: what callers use. It opens a driver (DuckDB file by default), reads files the driver
 * cannot read natively, validates column input, and turns snapshots into `Dataset`s.
 *
 * Sharing one store between processes (`import`, `train`, `serve` running at once): DuckDB lets one
 * process open a database file for writing, or any number of processes for reading, never both. genrec
 * therefore never keeps the store open: every use is a short session — open, do one thing, close —
 * through `withStore`. A writer (an import, serve flushing buffered live events) holds the file for one
 * transaction; a reader (train, serve at start-up or on reload, stats) copies a snapshot into memory and
 * closes. A session that finds the file held waits and retries (exponential backoff up to `waitMs`,
 * default 2 minutes) and then fails with GENREC_E_STORE_BUSY naming the holding process. Readers never
 * see a half-done import: an import is one transaction, and a reader opens the file only before it
 * starts or after it ends.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { GenrecError } from '../../engine/errors.js';
import { log } from '../../engine/log.js';
import { normalizeEventColumns, normalizeItemColumns } from '../columns.js';
import { compactDataset, type Dataset } from '../dataset.js';
import type { EventColumns, EventTypes, ImportData, ItemColumns, UserColumns } from '../schema.js';
import type { EventSource, IngestReport, IngestRequest, ItemSource, StoreCounts, StoreDriver, UserSource } from './driver.js';
import { DuckDBDriver } from './duckdb.js';
import { MemoryDriver } from './memory.js';
import { queryRows, readTyped, stageEventFile, stageItemFile, stageUserFile } from './sql.js';

export const STORE_FILE = 'store.duckdb';

export interface StoreOptions {
  /** Data directory; the DuckDB file is `<dir>/store.duckdb`. Default `.genrec`. */
  dir?: string;
  /** `duckdb` (default), `memory`, or a driver instance. */
  driver?: 'duckdb' | 'memory' | StoreDriver;
  readOnly?: boolean;
  /** How long to wait for a store held by another process, in ms; default 120000. */
  waitMs?: number;
  /** DuckDB threads; default one per core. */
  threads?: number;
}

export interface DatasetOptions {
  /** `interacted` (default): only items and users with events, renumbered; `all`: store ids as they are. */
  catalog?: 'interacted' | 'all';
  label?: string;
}

export function storePath(dir = '.genrec'): string {
  return join(resolve(dir), STORE_FILE);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function openDriver(opts: StoreOptions): Promise<StoreDriver> {
  const d = opts.driver ?? 'duckdb';
  if (typeof d === 'object') return d;
  if (d === 'memory') return new MemoryDriver();
  const dir = resolve(opts.dir ?? '.genrec');
  if (!opts.readOnly) mkdirSync(dir, { recursive: true });
  const path = join(dir, STORE_FILE);
  const deadline = Date.now() + (opts.waitMs ?? 120_000);
  let delay = 25, told = false;
  for (;;) {
    try {
      return await DuckDBDriver.open(path, { readOnly: opts.readOnly, threads: opts.threads });
    } catch (e) {
      if (e instanceof GenrecError && e.code === 'GENREC_E_STORE_OPEN' && opts.readOnly && /does not exist|No such file|Cannot open/i.test(e.message)) {
        throw new GenrecError('GENREC_E_STORE_EMPTY', `there is no store in ${dir}`, 'import data first: genrec import ...', { dir });
      }
      if (!(e instanceof GenrecError && e.code === 'GENREC_E_STORE_BUSY') || Date.now() + delay > deadline) throw e;
      if (!told) { log.info({ path, pid: e.details.pid }, 'store busy, waiting'); told = true; }
      await sleep(delay);
      delay = Math.min(1000, delay * 2);
    }
  }
}

export class Store {
  private constructor(readonly driver: StoreDriver) {}

  static async open(opts: StoreOptions = {}): Promise<Store> {
    return new Store(await openDriver(opts));
  }

  /** Imports in one transaction; file sources the driver cannot read are read here first. */
  async import(req: IngestRequest): Promise<IngestReport> {
    const t0 = performance.now();
    const native = this.driver.nativeFormats;
    const needsReading = [req.events, req.items, req.users].some((s) => s?.kind === 'file' && !native.has(s.format));
    const prepared = needsReading ? await readFileSources(req, native) : req;
    const checked: IngestRequest = {
      ...prepared,
      events: prepared.events?.kind === 'columns' ? { kind: 'columns', ...normalizeEventColumns(prepared.events) } : prepared.events,
      items: prepared.items?.kind === 'columns' ? normalizeItemColumns(prepared.items) : prepared.items,
      users: prepared.users?.kind === 'columns' ? normalizeItemColumns(prepared.users, 'user') : prepared.users,
    };
    const report = await this.driver.ingest(checked);
    log.debug({ ...report, seconds: (performance.now() - t0) / 1000 }, 'import done');
    return report;
  }

  /** Imports what an adapter or the synthetic generator produced. */
  importData(data: ImportData, unknownEventTypes: 'add' | 'error' = 'add'): Promise<IngestReport> {
    return this.import(requestFromData(data, unknownEventTypes));
  }

  /** A snapshot as a Dataset (see DatasetOptions). */
  async dataset(opts: DatasetOptions = {}): Promise<Dataset> {
    const ds = await this.driver.snapshot(opts.label ?? 'store');
    return (opts.catalog ?? 'interacted') === 'interacted' ? compactDataset(ds) : ds;
  }

  counts(): Promise<StoreCounts> { return this.driver.counts(); }
  eventTypes(): Promise<EventTypes> { return this.driver.eventTypes(); }
  close(): Promise<void> { return this.driver.close(); }
}

/** One short session: open, run `fn`, close (see the module comment on sharing the store). */
export async function withStore<T>(opts: StoreOptions, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await Store.open(opts);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export function requestFromData(data: ImportData, unknownEventTypes: 'add' | 'error' = 'add'): IngestRequest {
  return {
    label: data.label,
    eventTypes: data.eventTypes,
    unknownEventTypes,
    events: data.events ? { kind: 'columns', ...data.events } : undefined,
    items: data.items ? { kind: 'columns', ...data.items } : undefined,
    users: data.users ? { kind: 'columns', ...data.users } : undefined,
  };
}

/** Reads the request's file sources that `native` does not cover into columns, with DuckDB in memory. */
export async function readFileSources(req: IngestRequest, native: ReadonlySet<string> = new Set()): Promise<IngestRequest> {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    await conn.run("SET TimeZone = 'UTC'");
    const out: IngestRequest = { ...req };
    const todo = (s: EventSource | ItemSource | UserSource | undefined) => s?.kind === 'file' && !native.has(s.format);
    if (req.items?.kind === 'file' && todo(req.items)) {
      await stageItemFile(conn, req.items);
      const rows = await queryRows(conn, 'SELECT id, title, text, categories, attributes, created, duration FROM stg_it ORDER BY rowid');
      const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : null);
      const num = (v: unknown) => (v === null || v === undefined ? NaN : Number(v));
      const cols: ItemColumns = {
        source: req.items.path, ids: rows.map((r) => String(r[0])),
        title: rows.map((r) => (r[1] === null ? null : String(r[1]))), text: rows.map((r) => (r[2] === null ? null : String(r[2]))),
        categories: rows.map((r) => list(r[3])), attributes: rows.map((r) => list(r[4])),
        created: Float64Array.from(rows, (r) => num(r[5])), duration: Float32Array.from(rows, (r) => num(r[6])),
      };
      out.items = { kind: 'columns', ...cols };
    }
    if (req.users?.kind === 'file' && todo(req.users)) {
      await stageUserFile(conn, req.users);
      const rows = await queryRows(conn, 'SELECT id, attributes FROM stg_us ORDER BY rowid');
      const cols: UserColumns = { source: req.users.path, ids: rows.map((r) => String(r[0])), attributes: rows.map((r) => (Array.isArray(r[1]) ? r[1].map(String) : null)) };
      out.users = { kind: 'columns', ...cols };
    }
    if (req.events?.kind === 'file' && todo(req.events)) {
      const src = req.events;
      const { lineOf } = await stageEventFile(conn, src);
      const dict = async (col: string, name: string) => {
        await conn.run(`CREATE OR REPLACE TEMP TABLE ${name} AS SELECT ${col} AS ext, (row_number() OVER (ORDER BY f) - 1)::INTEGER AS k
          FROM (SELECT ${col}, min(rowid) AS f FROM stg_ev GROUP BY ${col})`);
        return (await queryRows(conn, `SELECT ext FROM ${name} ORDER BY k`)).map((r) => String(r[0]));
      };
      const userIds = await dict('u', 'du'), itemIds = await dict('i', 'di'), typeNames = await dict('t', 'dt');
      const [user, item, type, ts, pos, value, rowid] = await readTyped(conn, `SELECT du.k, di.k, dt.k, s.ts, s.pos, s.v, s.rowid
        FROM stg_ev s JOIN du ON du.ext = s.u JOIN di ON di.ext = s.i JOIN dt ON dt.ext = s.t ORDER BY s.rowid`,
      ['i32', 'i32', 'u8', 'f64', 'i32', 'f32', 'f64']);
      const timed = !!src.mapping.time;
      const cols: EventColumns = {
        source: src.path, length: user.length, userIds, user, itemIds, item, typeNames, type,
        ts: timed ? ts : null, pos: timed ? null : pos, value: src.mapping.value ? value : null,
        line: Int32Array.from(rowid, (r) => lineOf(r)),
      };
      out.events = { kind: 'columns', ...cols };
    }
    return out;
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}
