/**
 * The embedded default driver: one DuckDB database file. Imports read files with DuckDB's own readers
 * into temp staging tables and map ids, de-duplicate and validate with set-based SQL inside one
 * transaction, so a failed import leaves the file as it was.
 *
 * Tables:
 *   meta(key, value)                                   schema version
 *   event_types(code UTINYINT, name, weight)           code = dense index, stable
 *   users(uid INTEGER, ext VARCHAR, attributes VARCHAR[])
 *   items(iid INTEGER, ext VARCHAR, title, text, categories VARCHAR[], attributes VARCHAR[], created DOUBLE, duration DOUBLE)
 *   events(uid, iid, type, ts DOUBLE NULL, pos INTEGER, value FLOAT NULL, seq BIGINT)   seq = insertion order
 *   imports(imported_at, label, events_read, events_added, users_added, items_added)
 * No indexes: DuckDB joins by hashing, and indexes slow bulk loads down.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { GenrecError } from '../../engine/errors.js';
import { log } from '../../engine/log.js';
import { csrFromLists, IdMap, type Dataset } from '../dataset.js';
import { checkEventTypeName, EventTypes, fieldError } from '../schema.js';
import type { FileFormat, IngestReport, IngestRequest, StoreCounts, StoreDriver } from './driver.js';
import {
  lit, queryNumber, queryRows, readTyped, stageEventColumns, stageEventFile, stageItemColumns, stageItemFile,
  stageUserColumns, stageUserFile,
} from './sql.js';

export const SCHEMA_VERSION = '1';

const DDL = [
  'CREATE TABLE IF NOT EXISTS meta(key VARCHAR, value VARCHAR)',
  'CREATE TABLE IF NOT EXISTS event_types(code UTINYINT, name VARCHAR, weight DOUBLE)',
  'CREATE TABLE IF NOT EXISTS users(uid INTEGER, ext VARCHAR, attributes VARCHAR[])',
  `CREATE TABLE IF NOT EXISTS items(iid INTEGER, ext VARCHAR, title VARCHAR, text VARCHAR, categories VARCHAR[],
    attributes VARCHAR[], created DOUBLE, duration DOUBLE)`,
  'CREATE TABLE IF NOT EXISTS events(uid INTEGER, iid INTEGER, type UTINYINT, ts DOUBLE, pos INTEGER, value FLOAT, seq BIGINT)',
  `CREATE TABLE IF NOT EXISTS imports(imported_at TIMESTAMPTZ, label VARCHAR, events_read BIGINT, events_added BIGINT,
    users_added BIGINT, items_added BIGINT)`,
];

export interface DuckDBOpenOptions {
  readOnly?: boolean;
  /** DuckDB worker threads; default: DuckDB's (one per core). */
  threads?: number;
}

/** The store is held by another process (DuckDB allows one writer, or readers only). */
export function isLockError(e: unknown): boolean {
  return e instanceof Error && /Could not set lock on file|Conflicting lock/i.test(e.message);
}

/** A repeated id within one input: the last row wins. */
async function lastRowPerId(conn: DuckDBConnection, table: string): Promise<void> {
  // (QUALIFY row_number() ... ORDER BY rowid here trips an internal error in DuckDB 1.5.)
  await conn.run(`CREATE OR REPLACE TEMP TABLE ${table} AS SELECT * FROM ${table}
    WHERE rowid IN (SELECT max(rowid) FROM ${table} GROUP BY id) ORDER BY rowid`);
}

export class DuckDBDriver implements StoreDriver {
  readonly name = 'duckdb';
  readonly nativeFormats: ReadonlySet<FileFormat> = new Set<FileFormat>(['csv', 'jsonl', 'parquet']);
  private closed = false;

  private constructor(private readonly instance: DuckDBInstance, private readonly conn: DuckDBConnection,
    readonly path: string, readonly readOnly: boolean) {}

  /** Opens (creating when writable) the database file; `:memory:` gives a private in-memory database. */
  static async open(path: string, opts: DuckDBOpenOptions = {}): Promise<DuckDBDriver> {
    const config: Record<string, string> = { access_mode: opts.readOnly ? 'READ_ONLY' : 'READ_WRITE' };
    if (opts.threads) config.threads = String(opts.threads);
    if (path === ':memory:') delete config.access_mode;
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(path, config);
    } catch (e) {
      if (isLockError(e)) {
        const pid = /PID (\d+)/.exec((e as Error).message)?.[1];
        throw new GenrecError('GENREC_E_STORE_BUSY', `the store ${path} is in use by another process${pid ? ` (pid ${pid})` : ''}`,
          'wait for the running import to finish, or stop the process holding it', { path, pid: pid ? Number(pid) : undefined });
      }
      throw new GenrecError('GENREC_E_STORE_OPEN', `cannot open the store ${path}: ${(e as Error).message.split('\n')[0]}`,
        'check the data directory (--data-dir) and its permissions', { path });
    }
    const conn = await instance.connect();
    const driver = new DuckDBDriver(instance, conn, path, !!opts.readOnly && path !== ':memory:');
    await conn.run("SET TimeZone = 'UTC'");
    await driver.init();
    return driver;
  }

  private async init(): Promise<void> {
    if (this.readOnly) {
      const version = await queryRows(this.conn, "SELECT value FROM meta WHERE key = 'schema_version'").catch(() => []);
      this.checkVersion(version[0]?.[0]);
      return;
    }
    for (const sql of DDL) await this.conn.run(sql);
    const version = await queryRows(this.conn, "SELECT value FROM meta WHERE key = 'schema_version'");
    if (version.length === 0) {
      await this.conn.run('BEGIN TRANSACTION');
      await this.conn.run(`INSERT INTO meta VALUES ('schema_version', ${lit(SCHEMA_VERSION)})`);
      await this.writeTypes(new EventTypes());
      await this.conn.run('COMMIT');
    } else this.checkVersion(version[0]![0]);
  }

  private checkVersion(v: unknown): void {
    if (v !== undefined && v !== SCHEMA_VERSION) {
      throw new GenrecError('GENREC_E_STORE_VERSION', `the store ${this.path} has schema version ${String(v)}; this genrec reads version ${SCHEMA_VERSION}`,
        'import the data again into a new data directory', { path: this.path, version: v });
    }
  }

  private check(write = false): void {
    if (this.closed) throw new GenrecError('GENREC_E_STORE_CLOSED', 'the store is closed', 'open it again');
    if (write && this.readOnly) {
      throw new GenrecError('GENREC_E_STORE_READ_ONLY', `the store ${this.path} is open read-only`, 'open it for writing to import');
    }
  }

  private async writeTypes(types: EventTypes): Promise<void> {
    await this.conn.run('DELETE FROM event_types');
    const values = types.defs().map((d, c) => `(${c}, ${lit(d.name)}, ${d.weight})`).join(', ');
    if (values) await this.conn.run(`INSERT INTO event_types VALUES ${values}`);
  }

  async eventTypes(): Promise<EventTypes> {
    this.check();
    const rows = await queryRows(this.conn, 'SELECT name, weight FROM event_types ORDER BY code');
    return new EventTypes(rows.map((r) => ({ name: String(r[0]), weight: Number(r[1]) })));
  }

  async counts(): Promise<StoreCounts> {
    this.check();
    const [r] = await queryRows(this.conn, 'SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM items), (SELECT count(*) FROM events)');
    return { users: Number(r![0]), items: Number(r![1]), events: Number(r![2]) };
  }

  async ingest(req: IngestRequest): Promise<IngestReport> {
    this.check(true);
    const report: IngestReport = { label: req.label, eventsRead: 0, eventsAdded: 0, duplicates: 0, usersAdded: 0, itemsAdded: 0, itemsUpdated: 0, newEventTypes: [] };
    const conn = this.conn;
    try {
      // Phase 1, outside the transaction (temp tables only; nothing persistent changes): stage the inputs,
      // check them, and decide the ids of new users and items. Rows of committed temp tables have rowids
      // 0..n-1 in source order, and joins against committed tables are much faster than against rows
      // inserted by the running transaction.
      if (req.items) {
        if (req.items.kind === 'file') await stageItemFile(conn, req.items); else await stageItemColumns(conn, req.items);
        await lastRowPerId(conn, 'stg_it');
      }
      if (req.users) {
        if (req.users.kind === 'file') await stageUserFile(conn, req.users); else await stageUserColumns(conn, req.users);
        await lastRowPerId(conn, 'stg_us');
      }
      let lineOf = (rowid: number) => rowid + 1;
      let source = req.label;
      if (req.events?.kind === 'file') {
        const staged = await stageEventFile(conn, req.events);
        lineOf = staged.lineOf; source = req.events.path;
      } else if (req.events) {
        const cols = req.events;
        await stageEventColumns(conn, cols);
        lineOf = (rowid) => cols.line?.[rowid] ?? rowid + 1; source = cols.source;
      }
      let types = await this.eventTypes();
      if (req.eventTypes?.length) types = types.merge(req.eventTypes);
      let typesChanged = !!req.eventTypes?.length;
      if (req.events) {
        const fresh = await this.newEventTypes(types, req.unknownEventTypes ?? 'add', source, lineOf);
        if (fresh.length) { types = types.merge(fresh.map((name) => ({ name, weight: 1 }))); typesChanged = true; report.newEventTypes.push(...fresh); }
      }
      const bases = await this.assignIds(!!req.items, !!req.users, !!req.events);

      // Phase 2: one transaction.
      await conn.run('BEGIN TRANSACTION');
      try {
        const now = await this.counts();
        if (now.users !== bases.users || now.items !== bases.items) {
          throw new GenrecError('GENREC_E_STORE_BUSY', 'the store changed while this import was being prepared', 'run the import again', {});
        }
        if (typesChanged) await this.writeTypes(types);
        await this.mergeItems(!!req.items, report);
        await this.mergeUsers(!!req.users, report);
        if (req.events) await this.mergeEvents(report);
        await conn.run(`INSERT INTO imports VALUES (now(), ${lit(req.label)}, ${report.eventsRead}, ${report.eventsAdded}, ${report.usersAdded}, ${report.itemsAdded})`);
        await conn.run('COMMIT');
      } catch (e) {
        await conn.run('ROLLBACK').catch((re: unknown) => log.warn({ err: String(re) }, 'rollback failed'));
        throw e;
      }
    } finally {
      for (const t of ['stg_ev', 'stg_it', 'stg_us', 'new_u', 'new_i', 'map_u', 'map_i']) await conn.run(`DROP TABLE IF EXISTS temp.${t}`).catch(() => {});
    }
    return report;
  }

  /** Event type names in the staged events that the store does not know, in order of first appearance. */
  private async newEventTypes(types: EventTypes, unknown: 'add' | 'error', source: string, lineOf: (rowid: number) => number): Promise<string[]> {
    const rows = await queryRows(this.conn, 'SELECT t, min(rowid) AS f FROM stg_ev GROUP BY t ORDER BY f');
    const fresh = rows.filter((r) => types.code(String(r[0])) < 0);
    if (fresh.length && unknown === 'error') {
      const name = String(fresh[0]![0]);
      throw fieldError(source, lineOf(Number(fresh[0]![1])), 'type', `unknown event type ${JSON.stringify(name)}`,
        `known types: ${types.names.join(', ')}; declare it with --event-weights ${name}=<weight>, or allow new types`);
    }
    for (const [n, r] of fresh) checkEventTypeName(String(n), `${source}:${lineOf(Number(r))}`);
    return fresh.map((r) => String(r[0]));
  }

  /**
   * new_u / new_i: external ids not yet stored, with their new dense ids (metadata rows first, then first
   * appearance in the events); map_u / map_i: every stored or new id, for mapping the events.
   */
  private async assignIds(items: boolean, users: boolean, events: boolean): Promise<StoreCounts> {
    const conn = this.conn;
    const bases = await this.counts();
    for (const [table, meta, col, base] of [['users', users ? 'stg_us' : null, 'u', bases.users], ['items', items ? 'stg_it' : null, 'i', bases.items]] as const) {
      const id = table === 'users' ? 'uid' : 'iid';
      const parts = [
        ...(meta ? [`SELECT id AS ext, 0 AS src, rowid AS f FROM ${meta}`] : []),
        ...(events ? [`SELECT ${col} AS ext, 1 AS src, min(rowid) AS f FROM stg_ev GROUP BY ${col}`] : []),
      ];
      const newTable = table === 'users' ? 'new_u' : 'new_i';
      if (parts.length === 0) { await conn.run(`CREATE OR REPLACE TEMP TABLE ${newTable}(ext VARCHAR, ${id} INTEGER)`); continue; }
      await conn.run(`CREATE OR REPLACE TEMP TABLE ${newTable} AS
        SELECT ext, (${base} + row_number() OVER (ORDER BY src, f) - 1)::INTEGER AS ${id} FROM (
          SELECT ext, min(src) AS src, arg_min(f, src) AS f FROM (${parts.join(' UNION ALL ')}) c GROUP BY ext
        ) n WHERE NOT EXISTS (SELECT 1 FROM ${table} x WHERE x.ext = n.ext)`);
      if (events) {
        await conn.run(`CREATE OR REPLACE TEMP TABLE ${table === 'users' ? 'map_u' : 'map_i'} AS
          SELECT ext, ${id} FROM ${table} UNION ALL SELECT ext, ${id} FROM ${newTable}`);
      }
    }
    return bases;
  }

  private async mergeItems(fromFile: boolean, report: IngestReport): Promise<void> {
    const conn = this.conn;
    if (fromFile) {
      report.itemsUpdated += await queryNumber(conn, 'SELECT count(*) FROM stg_it s WHERE EXISTS (SELECT 1 FROM items x WHERE x.ext = s.id)');
      await conn.run(`UPDATE items SET title = coalesce(s.title, items.title), text = coalesce(s.text, items.text),
        categories = coalesce(s.categories, items.categories), attributes = coalesce(s.attributes, items.attributes),
        created = coalesce(s.created, items.created), duration = coalesce(s.duration, items.duration)
        FROM stg_it s WHERE items.ext = s.id`);
    }
    report.itemsAdded += await this.insertCount(fromFile
      ? `INSERT INTO items SELECT n.iid, n.ext, coalesce(s.title, ''), coalesce(s.text, ''), coalesce(s.categories, []::VARCHAR[]),
          coalesce(s.attributes, []::VARCHAR[]), s.created, s.duration FROM new_i n LEFT JOIN stg_it s ON s.id = n.ext ORDER BY n.iid`
      : "INSERT INTO items SELECT iid, ext, '', '', []::VARCHAR[], []::VARCHAR[], NULL, NULL FROM new_i ORDER BY iid");
  }

  private async mergeUsers(fromFile: boolean, report: IngestReport): Promise<void> {
    const conn = this.conn;
    if (fromFile) await conn.run('UPDATE users SET attributes = coalesce(s.attributes, users.attributes) FROM stg_us s WHERE users.ext = s.id');
    report.usersAdded += await this.insertCount(fromFile
      ? 'INSERT INTO users SELECT n.uid, n.ext, coalesce(s.attributes, []::VARCHAR[]) FROM new_u n LEFT JOIN stg_us s ON s.id = n.ext ORDER BY n.uid'
      : 'INSERT INTO users SELECT uid, ext, []::VARCHAR[] FROM new_u ORDER BY uid');
  }

  private async insertCount(sql: string): Promise<number> {
    const rows = await queryRows(this.conn, sql);
    return Number(rows[0]?.[0] ?? 0);
  }

  private async mergeEvents(report: IngestReport): Promise<void> {
    const conn = this.conn;
    const read = await queryNumber(conn, 'SELECT count(*) FROM stg_ev');
    const existing = await queryNumber(conn, 'SELECT count(*) FROM (SELECT 1 FROM events LIMIT 1)');
    const seqBase = existing ? await queryNumber(conn, 'SELECT max(seq) + 1 FROM events') : 0;
    // De-duplicate on the idempotency key within the input, then against what is stored. One input is
    // either timed (every ts set, pos 0) or positional (ts NULL): the key then needs only one of the two,
    // and plain equalities let DuckDB hash-join on all of them.
    const timed = (await queryNumber(conn, 'SELECT count(*) FROM (SELECT 1 FROM stg_ev WHERE ts IS NOT NULL LIMIT 1)')) > 0;
    const order = timed ? 's.ts' : 's.pos';
    const match = timed ? 'o.ts = x.ts AND o.pos = x.pos' : 'o.ts IS NULL AND o.pos = x.pos';
    const added = await this.insertCount(`INSERT INTO events
      SELECT x.* FROM (
        SELECT DISTINCT ON (u.uid, i.iid, e.code, ${order})
          u.uid, i.iid, e.code, s.ts, s.pos, s.v, ${seqBase} + s.rowid
        FROM stg_ev s JOIN map_u u ON u.ext = s.u JOIN map_i i ON i.ext = s.i JOIN event_types e ON e.name = s.t
      ) x (uid, iid, type, ts, pos, value, seq)
      ${existing ? `WHERE NOT EXISTS (SELECT 1 FROM events o WHERE o.uid = x.uid AND o.iid = x.iid AND o.type = x.type AND ${match})` : ''}`);
    report.eventsRead += read;
    report.eventsAdded += added;
    report.duplicates += read - added;
  }

  async snapshot(label = 'store'): Promise<Dataset> {
    this.check();
    const conn = this.conn;
    const types = await this.eventTypes();
    const userRows = await queryRows(conn, 'SELECT ext, attributes FROM users ORDER BY uid');
    const itemRows = await queryRows(conn, 'SELECT ext, title, text, categories, attributes, created, duration FROM items ORDER BY iid');
    const [uid, items, typeCodes, timestamps, values] = await readTyped(conn,
      'SELECT uid, iid, type, ts, value FROM events ORDER BY uid, ts NULLS FIRST, pos, seq', ['i32', 'i32', 'u8', 'f64', 'f32']);
    const numUsers = userRows.length, numItems = itemRows.length;
    const userOffsets = new Int32Array(numUsers + 1);
    for (let k = 0; k < uid.length; k++) userOffsets[uid[k]! + 1]!++;
    for (let u = 0; u < numUsers; u++) userOffsets[u + 1]! += userOffsets[u]!;
    let hasTimestamps = timestamps.length > 0;
    for (let k = 0; k < timestamps.length && hasTimestamps; k++) if (timestamps[k] !== timestamps[k]) hasTimestamps = false;
    const strList = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
    const num = (v: unknown) => (v === null || v === undefined ? NaN : Number(v));
    return {
      label,
      interactions: { numUsers, numItems, userOffsets, items, timestamps, types: typeCodes, values, hasTimestamps },
      items: {
        count: numItems, ids: itemRows.map((r) => String(r[0])), titles: itemRows.map((r) => String(r[1] ?? '')),
        texts: itemRows.map((r) => String(r[2] ?? '')),
        categories: csrFromLists(itemRows.map((r) => strList(r[3])), new IdMap()),
        attributes: csrFromLists(itemRows.map((r) => strList(r[4])), new IdMap()),
        created: Float64Array.from(itemRows, (r) => num(r[5])), duration: Float32Array.from(itemRows, (r) => num(r[6])),
      },
      users: { count: numUsers, ids: userRows.map((r) => String(r[0])), attributes: csrFromLists(userRows.map((r) => strList(r[1])), new IdMap()) },
      eventTypes: types,
    };
  }

  /** The raw connection, for callers that read with SQL (stats, tools). Do not write through it. */
  connection(): DuckDBConnection { this.check(); return this.conn; }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.conn.closeSync();
    this.instance.closeSync();
  }
}
