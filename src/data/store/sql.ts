/**
 * DuckDB plumbing shared by the DuckDB driver and the core's file reader: quoting, typed reads and
 * appends, and the staging step of an import — a file (CSV / JSONL / Parquet, read by DuckDB's own
 * readers) or JS columns become a temp table of normalised rows, checked set-wise, with errors that name
 * the file, line and field.
 *
 * Staging tables (temp, per connection):
 *   stg_ev(u VARCHAR, i VARCHAR, t VARCHAR, ts DOUBLE, pos INTEGER, v FLOAT)
 *   stg_it(id VARCHAR, title VARCHAR, text VARCHAR, categories VARCHAR[], attributes VARCHAR[], created DOUBLE, duration DOUBLE)
 *   stg_us(id VARCHAR, attributes VARCHAR[])
 * Row order is source order, so `rowid` maps back to the source line.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import {
  DOUBLE, DuckDBDataChunk, FLOAT, INTEGER, LIST, VARCHAR, listValue,
  type DuckDBConnection, type DuckDBType, type DuckDBValue,
} from '@duckdb/node-api';
import { GenrecError } from '../../engine/errors.js';
import { fieldError, type EventColumns, type ItemColumns, type UserColumns } from '../schema.js';
import type { EventMapping, FileSource, ItemMapping, TimeFormat, UserMapping } from './driver.js';

export const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;
export const lit = (s: string): string => `'${s.replace(/'/g, "''")}'`;

export async function queryRows(conn: DuckDBConnection, sql: string): Promise<unknown[][]> {
  const reader = await conn.runAndReadAll(sql);
  return reader.getRowsJS() as unknown[][];
}

export async function queryScalar(conn: DuckDBConnection, sql: string): Promise<unknown> {
  return (await queryRows(conn, sql))[0]?.[0];
}

export async function queryNumber(conn: DuckDBConnection, sql: string): Promise<number> {
  const v = await queryScalar(conn, sql);
  return v === null || v === undefined ? 0 : Number(v);
}

export type ColumnKind = 'i32' | 'u8' | 'f64' | 'f32';
type TypedOf<K extends ColumnKind> = K extends 'i32' ? Int32Array : K extends 'u8' ? Uint8Array : K extends 'f64' ? Float64Array : Float32Array;

/** Runs a query and reads its numeric columns into typed arrays (NULL → NaN for floats, 0 for ints). */
export async function readTyped<K extends ColumnKind[]>(conn: DuckDBConnection, sql: string, kinds: [...K]): Promise<{ [I in keyof K]: TypedOf<K[I]> }> {
  const result = await conn.run(sql);
  const n = result.rowCount;
  const out = kinds.map((k) => (k === 'i32' ? new Int32Array(n) : k === 'u8' ? new Uint8Array(n) : k === 'f64' ? new Float64Array(n) : new Float32Array(n)));
  let base = 0;
  for (let c = 0; c < result.chunkCount; c++) {
    const chunk = result.getChunk(c);
    const rows = chunk.rowCount;
    kinds.forEach((kind, j) => {
      const vec = chunk.getColumnVector(j);
      const arr = out[j]!;
      const isFloat = kind === 'f64' || kind === 'f32';
      // Fast path: the numeric vectors of @duckdb/node-api keep their data as a typed array (`items`) and a
      // validity mask; copy in bulk, then patch NULLs. Falls back to per-value reads if that changes.
      const raw = vec as unknown as { items?: unknown; validity?: { data?: unknown; itemValid(i: number): boolean } };
      const items = raw.items;
      if (ArrayBuffer.isView(items) && !(items instanceof BigInt64Array || items instanceof BigUint64Array) &&
          (items as unknown as ArrayLike<number>).length === rows && raw.validity && typeof raw.validity.itemValid === 'function') {
        arr.set(items as unknown as ArrayLike<number>, base);
        if (raw.validity.data) for (let r = 0; r < rows; r++) if (!raw.validity.itemValid(r)) arr[base + r] = isFloat ? NaN : 0;
        return;
      }
      for (let r = 0; r < rows; r++) {
        const v = vec.getItem(r);
        arr[base + r] = v === null ? (isFloat ? NaN : 0) : Number(v);
      }
    });
    base += rows;
  }
  return out as { [I in keyof K]: TypedOf<K[I]> };
}

/** Appends rows to a (temp) table through data chunks; `columns[j](r)` gives row r's value of column j. */
export async function appendRows(conn: DuckDBConnection, table: string, types: DuckDBType[], n: number,
  columns: Array<(r: number) => DuckDBValue>, catalog: string | null = 'temp'): Promise<void> {
  const appender = await conn.createAppender(table, 'main', catalog);
  const size = 2048;
  for (let from = 0; from < n; from += size) {
    const m = Math.min(size, n - from);
    const chunk = DuckDBDataChunk.create(types, m);
    chunk.setColumns(columns.map((get) => { const vals = new Array<DuckDBValue>(m); for (let r = 0; r < m; r++) vals[r] = get(from + r); return vals; }));
    appender.appendDataChunk(chunk);
  }
  appender.closeSync();
}

const nanToNull = (x: number): DuckDBValue => (Number.isNaN(x) ? null : x);
const listOrNull = (a: readonly string[] | null | undefined): DuckDBValue => (a ? listValue(a) : null);

// ---------------------------------------------------------------------------------------------------
// Staging from JS columns

export async function stageEventColumns(conn: DuckDBConnection, ev: EventColumns): Promise<void> {
  await conn.run('CREATE OR REPLACE TEMP TABLE stg_ev(u VARCHAR, i VARCHAR, t VARCHAR, ts DOUBLE, pos INTEGER, v FLOAT)');
  const { ts, pos, value } = ev;
  await appendRows(conn, 'stg_ev', [VARCHAR, VARCHAR, VARCHAR, DOUBLE, INTEGER, FLOAT], ev.length, [
    (r) => ev.userIds[ev.user[r]!]!,
    (r) => ev.itemIds[ev.item[r]!]!,
    (r) => ev.typeNames[ev.type[r]!]!,
    (r) => (ts ? ts[r]! : null),
    (r) => (ts ? 0 : pos![r]!),
    (r) => (value ? nanToNull(value[r]!) : null),
  ]);
}

export async function stageItemColumns(conn: DuckDBConnection, it: ItemColumns): Promise<void> {
  await conn.run(`CREATE OR REPLACE TEMP TABLE stg_it(id VARCHAR, title VARCHAR, text VARCHAR, categories VARCHAR[],
    attributes VARCHAR[], created DOUBLE, duration DOUBLE)`);
  await appendRows(conn, 'stg_it', [VARCHAR, VARCHAR, VARCHAR, LIST(VARCHAR), LIST(VARCHAR), DOUBLE, DOUBLE], it.ids.length, [
    (r) => it.ids[r]!,
    (r) => it.title?.[r] ?? null,
    (r) => it.text?.[r] ?? null,
    (r) => listOrNull(it.categories?.[r]),
    (r) => listOrNull(it.attributes?.[r]),
    (r) => (it.created ? nanToNull(it.created[r]!) : null),
    (r) => (it.duration ? nanToNull(it.duration[r]!) : null),
  ]);
}

export async function stageUserColumns(conn: DuckDBConnection, us: UserColumns): Promise<void> {
  await conn.run('CREATE OR REPLACE TEMP TABLE stg_us(id VARCHAR, attributes VARCHAR[])');
  await appendRows(conn, 'stg_us', [VARCHAR, LIST(VARCHAR)], us.ids.length, [(r) => us.ids[r]!, (r) => listOrNull(us.attributes?.[r])]);
}

// ---------------------------------------------------------------------------------------------------
// Staging from files

/** The text of line `line` (1-based) of a file, read only on error paths; '' when out of range. */
export function readLineOf(path: string, line: number, maxBytes = 64 << 20): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(1 << 16);
    let current = 1, pos = 0, acc = '';
    for (;;) {
      const got = readSync(fd, buf, 0, buf.length, pos);
      if (got <= 0 || pos > maxBytes + buf.length * 4096) return acc;
      let start = 0;
      for (let k = 0; k < got; k++) {
        if (buf[k] === 10) {
          if (current === line) return acc + buf.toString('utf8', start, k).replace(/\r$/, '');
          current++; start = k + 1;
        }
      }
      if (current === line) acc += buf.toString('utf8', start, got);
      pos += got;
    }
  } finally { closeSync(fd); }
}

/** Column names of a CSV header line (RFC 4180 quoting, BOM stripped); unnamed columns become column<k>. */
export function csvHeader(line: string, delimiter: string): string[] {
  const names: string[] = [];
  let cur = '', quoted = false;
  const text = line.replace(/^\uFEFF/, '');
  for (let k = 0; k < text.length; k++) {
    const ch = text[k]!;
    if (quoted) {
      if (ch === '"' && text[k + 1] === '"') { cur += '"'; k++; } else if (ch === '"') quoted = false; else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (text.startsWith(delimiter, k)) { names.push(cur); cur = ''; k += delimiter.length - 1; } else cur += ch;
  }
  names.push(cur);
  return names.map((n, k) => n.trim() || `column${k}`);
}

/** Resolved reading of one source file: the FROM clause, its columns and how rowids map to lines. */
interface Relation {
  from: string;
  /** Column name → DuckDB type name. */
  columns: Map<string, string>;
  /** Source line (or row, for Parquet) of staged row `rowid`. */
  lineOf(rowid: number): number;
}

async function describe(conn: DuckDBConnection, from: string): Promise<Map<string, string>> {
  const rows = await queryRows(conn, `DESCRIBE SELECT * FROM ${from}`);
  return new Map(rows.map((r) => [String(r[0]), String(r[1])]));
}

async function relation(conn: DuckDBConnection, src: FileSource<unknown>, wanted: string[]): Promise<Relation> {
  const path = src.path;
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new GenrecError('GENREC_E_IMPORT_FILE', `cannot read ${path}: no such file`, 'check the path', { file: path });
  }
  const p = lit(path);
  let rel: Relation;
  if (src.format === 'csv') {
    const delim = lit(src.delimiter ?? ',');
    // Compressed files: let DuckDB read the header; plain ones: read it here (DuckDB's sniffer may pick
    // another line as the header when rows are ragged).
    const header = /\.(gz|zst)$/.test(path)
      ? [...(await translateReadError(src, () => describe(conn, `read_csv(${p}, header=true, all_varchar=true, delim=${delim})`))).keys()]
      : csvHeader(readLineOf(path, 1), src.delimiter ?? ',');
    const spec = header.map((c) => `${lit(c)}: 'VARCHAR'`).join(', ');
    rel = {
      from: `read_csv(${p}, header=true, auto_detect=false, delim=${delim}, quote='"', escape='"', columns={${spec}})`,
      columns: new Map(header.map((c) => [c, 'VARCHAR'])), lineOf: (r) => r + 2,
    };
  } else if (src.format === 'jsonl') {
    const spec = [...new Set(wanted)].map((c) => `${lit(c)}: 'VARCHAR'`).join(', ');
    rel = {
      from: `read_json(${p}, format='newline_delimited', columns={${spec}})`,
      columns: new Map(wanted.map((c) => [c, 'VARCHAR'])), lineOf: (r) => r + 1,
    };
  } else {
    const from = `read_parquet(${p})`;
    rel = { from, columns: await translateReadError(src, () => describe(conn, from)), lineOf: (r) => r + 1 };
  }
  for (const c of wanted) {
    if (!rel.columns.has(c)) {
      throw new GenrecError('GENREC_E_IMPORT_COLUMN', `${path}: no column "${c}"; columns are: ${[...rel.columns.keys()].join(', ')}`,
        'map the fields to existing columns with the --*-col options (see genrec import --help)', { file: path, field: c, columns: [...rel.columns.keys()] });
    }
  }
  return rel;
}

/** Runs a read and turns DuckDB reader errors into coded errors naming the file, line and column. */
async function translateReadError<T>(src: FileSource<unknown>, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof GenrecError) throw e;
    const msg = e instanceof Error ? e.message : String(e);
    const csvLine = /CSV Error on Line: (\d+)/.exec(msg);
    const column = /column "([^"]+)"/.exec(msg)?.[1];
    const first = msg.split('\n').find((l) => l.trim() && !/^CSV Error on Line|^Original Line/.test(l.trim())) ?? msg;
    if (csvLine) {
      throw fieldError(src.path, Number(csvLine[1]), column ?? '(row)', first.replace(/^[A-Za-z ]+Error: /, '').trim(),
        'fix that line (quoting, number of fields, delimiter via --delimiter) and import again');
    }
    if (src.format === 'jsonl' && /JSON/i.test(msg)) {
      const line = findBadJsonLine(src.path);
      throw fieldError(src.path, line, '(record)', 'malformed JSON', 'each line must be one JSON object');
    }
    throw new GenrecError('GENREC_E_IMPORT_READ', `cannot read ${src.path} as ${src.format}: ${msg.split('\n')[0]}`,
      'check the file format (--input-format) and its encoding (UTF-8)', { file: src.path });
  }
}

function findBadJsonLine(path: string): number {
  for (let line = 1; ; line++) {
    const text = readLineOf(path, line);
    if (text === '' && line > 1 && readLineOf(path, line + 1) === '') return line;
    if (text.trim() === '') continue;
    try { JSON.parse(text); } catch { return line; }
  }
}

const NUMERIC = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE|DECIMAL.*)$/;

function strExpr(rel: Relation, col: string): string {
  return rel.columns.get(col) === 'VARCHAR' ? ident(col) : `CAST(${ident(col)} AS VARCHAR)`;
}

function numExpr(rel: Relation, col: string): string {
  return NUMERIC.test(rel.columns.get(col) ?? '') ? `CAST(${ident(col)} AS DOUBLE)` : `TRY_CAST(${strExpr(rel, col)} AS DOUBLE)`;
}

/** Epoch seconds from a time column, choosing the parse from the column type or the first value. */
async function timeExpr(conn: DuckDBConnection, rel: Relation, col: string, format: TimeFormat = 'auto'): Promise<string> {
  const type = rel.columns.get(col) ?? 'VARCHAR';
  if (/^(TIMESTAMP|DATE)/.test(type)) return `epoch(${ident(col)})`;
  let fmt = format;
  if (fmt === 'auto') {
    const sample = await queryScalar(conn, `SELECT ${strExpr(rel, col)} FROM ${rel.from} WHERE ${ident(col)} IS NOT NULL AND ${strExpr(rel, col)} <> '' LIMIT 1`).catch(() => null);
    const s = typeof sample === 'string' ? sample.trim() : '';
    fmt = /^-?\d+(\.\d+)?$/.test(s) ? (Math.abs(Number(s)) > 1e11 ? 'epoch_ms' : 'epoch_s') : 'iso';
  }
  if (fmt === 'epoch_s') return numExpr(rel, col);
  if (fmt === 'epoch_ms') return `(${numExpr(rel, col)} / 1000.0)`;
  return `epoch(TRY_CAST(${strExpr(rel, col)} AS TIMESTAMPTZ))`;
}

/** A list of strings from a list column, a JSON array text, or text split on `sep`. */
function listExpr(rel: Relation, col: string, sep: string): string {
  const type = rel.columns.get(col) ?? 'VARCHAR';
  if (type.endsWith('[]')) return `CAST(${ident(col)} AS VARCHAR[])`;
  const s = strExpr(rel, col);
  return `CASE WHEN ${s} IS NULL OR trim(${s}) = '' THEN NULL
    WHEN starts_with(ltrim(${s}), '[') THEN TRY_CAST(from_json(${s}, '["VARCHAR"]') AS VARCHAR[])
    ELSE list_filter(list_transform(string_split(${s}, ${lit(sep)}), x -> trim(x)), x -> x <> '') END`;
}

/** `col=value` tokens from several columns, skipping empty values. */
function attributesExpr(rel: Relation, cols: string[]): string {
  if (cols.length === 0) return 'NULL::VARCHAR[]';
  const parts = cols.map((c) => `CASE WHEN ${strExpr(rel, c)} IS NULL OR ${strExpr(rel, c)} = '' THEN NULL ELSE ${lit(`${c}=`)} || ${strExpr(rel, c)} END`);
  return `list_filter([${parts.join(', ')}], x -> x IS NOT NULL)`;
}

/** Checks staged rows: `bad` holds the 1-based index of the first failing field (0 = fine). */
async function firstBadRow(conn: DuckDBConnection, table: string, rel: Relation, src: FileSource<unknown>,
  checks: Array<{ field: string; problem: string; hint: string }>): Promise<void> {
  const rows = await queryRows(conn, `SELECT rowid, bad FROM ${table} WHERE bad > 0 ORDER BY rowid LIMIT 1`);
  if (rows.length === 0) return;
  const line = rel.lineOf(Number(rows[0]![0]));
  const check = checks[Number(rows[0]![1]) - 1]!;
  const text = src.format === 'parquet' || /\.(gz|zst)$/.test(src.path) ? '' : readLineOf(src.path, line).slice(0, 200);
  const err = fieldError(src.path, line, check.field, check.problem + (text ? ` in: ${text}` : ''), check.hint);
  throw err;
}

/** Returns the number of rows staged; the staged columns are `stg_ev`'s. */
export async function stageEventFile(conn: DuckDBConnection, src: FileSource<EventMapping>): Promise<{ rows: number; lineOf: (rowid: number) => number }> {
  const m = src.mapping;
  const wanted = [m.user, m.item, ...(m.time ? [m.time] : []), ...(m.type ? [m.type] : []), ...(m.value ? [m.value] : [])];
  const rel = await relation(conn, src, wanted);
  const ts = m.time ? await translateReadError(src, () => timeExpr(conn, rel, m.time!, m.timeFormat)) : 'NULL::DOUBLE';
  const type = m.type ? strExpr(rel, m.type) : lit(m.eventType ?? 'interaction');
  const v = m.value ? numExpr(rel, m.value) : 'NULL::DOUBLE';
  const vRaw = m.value ? strExpr(rel, m.value) : 'NULL::VARCHAR';
  const checks = [
    { field: m.user, problem: 'missing user id', hint: 'every event needs a user id' },
    { field: m.item, problem: 'missing item id', hint: 'every event needs an item id' },
    { field: m.time ?? 'time', problem: 'missing or unparseable timestamp', hint: 'use ISO 8601 (2024-05-01T12:00:00Z) or epoch seconds/milliseconds (--time-format)' },
    { field: m.value ?? 'value', problem: 'value is not a number', hint: 'values must be numbers (or empty)' },
    { field: m.type ?? 'type', problem: 'missing event type', hint: 'give every row an event type, or map no type column and set --event-type' },
  ];
  await translateReadError(src, () => conn.run(`CREATE OR REPLACE TEMP TABLE stg_ev AS
    SELECT u, i, t, ts, ${m.time ? '0' : 'NULL'}::INTEGER AS pos, v::FLOAT AS v,
      (CASE WHEN u IS NULL OR u = '' THEN 1 WHEN i IS NULL OR i = '' THEN 2 ${m.time ? 'WHEN ts IS NULL OR isnan(ts) THEN 3' : ''}
        WHEN v IS NULL AND v_raw IS NOT NULL AND v_raw <> '' THEN 4 WHEN t IS NULL OR t = '' THEN 5 ELSE 0 END)::UTINYINT AS bad
    FROM (SELECT ${strExpr(rel, m.user)} AS u, ${strExpr(rel, m.item)} AS i, ${type} AS t, ${ts} AS ts, ${v} AS v, ${vRaw} AS v_raw FROM ${rel.from})`));
  await firstBadRow(conn, 'stg_ev', rel, src, checks);
  if (!m.time) {
    // No timestamps: the order is the row order within each user (1-based positions).
    await conn.run(`CREATE OR REPLACE TEMP TABLE stg_ev AS SELECT u, i, t, ts,
      (row_number() OVER (PARTITION BY u ORDER BY rowid))::INTEGER AS pos, v FROM stg_ev ORDER BY rowid`);
  } else {
    await conn.run('ALTER TABLE stg_ev DROP COLUMN bad');
  }
  return { rows: await queryNumber(conn, 'SELECT count(*) FROM stg_ev'), lineOf: rel.lineOf };
}

export async function stageItemFile(conn: DuckDBConnection, src: FileSource<ItemMapping>): Promise<number> {
  const m = src.mapping;
  const attrs = m.attributes ?? [];
  const opt = (c?: string) => (c ? [c] : []);
  const wanted = [m.id, ...opt(m.title), ...opt(m.text), ...opt(m.categories), ...attrs, ...opt(m.created), ...opt(m.duration)];
  const rel = await relation(conn, src, wanted);
  const sep = m.listSeparator ?? '|';
  const created = m.created ? await translateReadError(src, () => timeExpr(conn, rel, m.created!, m.timeFormat)) : 'NULL::DOUBLE';
  const raw = (c?: string) => (c ? strExpr(rel, c) : 'NULL::VARCHAR');
  await translateReadError(src, () => conn.run(`CREATE OR REPLACE TEMP TABLE stg_it AS
    SELECT id, title, text, categories, attributes, created, duration,
      (CASE WHEN id IS NULL OR id = '' THEN 1 WHEN created IS NULL AND created_raw IS NOT NULL AND created_raw <> '' THEN 2
        WHEN duration IS NULL AND duration_raw IS NOT NULL AND duration_raw <> '' THEN 3 ELSE 0 END)::UTINYINT AS bad
    FROM (SELECT ${strExpr(rel, m.id)} AS id, ${raw(m.title)} AS title, ${raw(m.text)} AS text,
      ${m.categories ? listExpr(rel, m.categories, sep) : 'NULL::VARCHAR[]'} AS categories, ${attributesExpr(rel, attrs)} AS attributes,
      ${created} AS created, ${raw(m.created)} AS created_raw,
      ${m.duration ? numExpr(rel, m.duration) : 'NULL::DOUBLE'} AS duration, ${raw(m.duration)} AS duration_raw FROM ${rel.from})`));
  await firstBadRow(conn, 'stg_it', rel, src, [
    { field: m.id, problem: 'missing item id', hint: 'every item row needs an id' },
    { field: m.created ?? 'created', problem: 'unparseable created time', hint: 'use ISO 8601 or epoch seconds' },
    { field: m.duration ?? 'duration', problem: 'duration is not a number', hint: 'durations are seconds' },
  ]);
  await conn.run('ALTER TABLE stg_it DROP COLUMN bad');
  return queryNumber(conn, 'SELECT count(*) FROM stg_it');
}

export async function stageUserFile(conn: DuckDBConnection, src: FileSource<UserMapping>): Promise<number> {
  const m = src.mapping;
  const attrs = m.attributes ?? [];
  const rel = await relation(conn, src, [m.id, ...attrs]);
  await translateReadError(src, () => conn.run(`CREATE OR REPLACE TEMP TABLE stg_us AS
    SELECT id, attributes, (CASE WHEN id IS NULL OR id = '' THEN 1 ELSE 0 END)::UTINYINT AS bad
    FROM (SELECT ${strExpr(rel, m.id)} AS id, ${attributesExpr(rel, attrs)} AS attributes FROM ${rel.from})`));
  await firstBadRow(conn, 'stg_us', rel, src, [{ field: m.id, problem: 'missing user id', hint: 'every user row needs an id' }]);
  await conn.run('ALTER TABLE stg_us DROP COLUMN bad');
  return queryNumber(conn, 'SELECT count(*) FROM stg_us');
}
