/**
 * Planning a file import (what `genrec import` does before calling the store): the file format from the
 * extension, and the column mapping from flags, falling back to common column names found in the file.
 */
import { existsSync } from 'node:fs';
import { extname } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { GenrecError } from '../engine/errors.js';
import type { EventTypeDef } from './schema.js';
import type { EventMapping, FileFormat, FileSource, IngestRequest, ItemMapping, UserMapping } from './store/driver.js';
import { csvHeader, lit, queryRows, readLineOf } from './store/sql.js';

/** Column names tried, in order, when a field's column is not given. */
export const COLUMN_CANDIDATES = {
  user: ['user_id', 'userid', 'user', 'uid', 'visitor_id', 'visitorid', 'customer_id', 'member_id'],
  item: ['item_id', 'itemid', 'item', 'iid', 'product_id', 'movie_id', 'video_id', 'content_id', 'sku'],
  time: ['timestamp', 'ts', 'time', 'event_time', 'datetime', 'created_at', 'date'],
  type: ['event_type', 'event', 'type', 'action', 'behavior', 'interaction'],
  value: ['value', 'rating', 'watch_seconds', 'watch_time', 'score'],
  id: ['item_id', 'id', 'itemid', 'product_id', 'movie_id', 'video_id', 'sku'],
  userId: ['user_id', 'id', 'userid', 'uid'],
  title: ['title', 'name', 'item_name', 'product_name'],
  text: ['text', 'description', 'summary', 'body'],
  categories: ['categories', 'category', 'genres', 'genre', 'tags'],
  created: ['created', 'created_at', 'published_at', 'release_date'],
  duration: ['duration', 'length', 'duration_seconds'],
} as const;

export function formatOf(path: string, given?: string): FileFormat {
  if (given) {
    if (given === 'csv' || given === 'jsonl' || given === 'parquet') return given;
    throw new GenrecError('GENREC_E_USAGE', `unknown input format "${given}"`, 'use csv, jsonl or parquet', { format: given });
  }
  const ext = extname(path.replace(/\.gz$/, '')).toLowerCase();
  if (ext === '.csv' || ext === '.tsv' || ext === '.txt') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson' || ext === '.json') return 'jsonl';
  if (ext === '.parquet' || ext === '.pq') return 'parquet';
  throw new GenrecError('GENREC_E_IMPORT_FORMAT', `cannot tell the format of ${path} from its extension`,
    'name it with --input-format csv|jsonl|parquet', { file: path });
}

/** The column names of a file: CSV header, keys of the first JSON line, or the Parquet schema. */
export async function fileColumns(path: string, format: FileFormat, delimiter = ','): Promise<string[]> {
  if (!existsSync(path)) throw new GenrecError('GENREC_E_IMPORT_FILE', `cannot read ${path}: no such file`, 'check the path', { file: path });
  if (format === 'csv' && !path.endsWith('.gz')) return csvHeader(readLineOf(path, 1), delimiter);
  if (format === 'jsonl' && !path.endsWith('.gz')) {
    for (let line = 1; line < 100; line++) {
      const text = readLineOf(path, line).trim();
      if (!text) continue;
      try { return Object.keys(JSON.parse(text) as object); } catch { return []; }
    }
    return [];
  }
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    const from = format === 'parquet' ? `read_parquet(${lit(path)})` : format === 'jsonl' ? `read_json(${lit(path)}, format='newline_delimited')` : `read_csv(${lit(path)}, delim=${lit(delimiter)}, header=true)`;
    return (await queryRows(conn, `DESCRIBE SELECT * FROM ${from}`)).map((r) => String(r[0]));
  } finally { conn.closeSync(); instance.closeSync(); }
}

function choose(columns: string[], given: string | undefined, candidates: readonly string[]): string | undefined {
  if (given) return given;
  const lower = new Map(columns.map((c) => [c.toLowerCase(), c]));
  for (const c of candidates) { const hit = lower.get(c); if (hit) return hit; }
  return undefined;
}

function required(file: string, columns: string[], field: string, flag: string, value: string | undefined): string {
  if (value) return value;
  throw new GenrecError('GENREC_E_IMPORT_COLUMN', `${file}: no ${field} column found among: ${columns.join(', ')}`,
    `name it with ${flag} <column>`, { file, field, columns });
}

export interface FileImportOptions {
  label?: string;
  events?: string;
  items?: string;
  users?: string;
  /** Input format for all files; default from each file's extension. */
  inputFormat?: string;
  delimiter?: string;
  eventMapping?: Partial<EventMapping>;
  itemMapping?: Partial<ItemMapping>;
  userMapping?: Partial<UserMapping>;
  eventTypes?: EventTypeDef[];
  unknownEventTypes?: 'add' | 'error';
}

/** An IngestRequest for event / item / user files, with the column mappings resolved. */
export async function planFileImport(opts: FileImportOptions): Promise<IngestRequest> {
  if (!opts.events && !opts.items && !opts.users) {
    throw new GenrecError('GENREC_E_USAGE', 'nothing to import', 'give --events, --items or --users files (or --format and --path)', {});
  }
  const delimiter = opts.delimiter;
  const source = async <M>(path: string, build: (columns: string[]) => M): Promise<FileSource<M>> => {
    const format = formatOf(path, opts.inputFormat);
    const delim = delimiter ?? (/\.tsv(\.gz)?$/i.test(path) ? '\t' : ',');
    return { kind: 'file', path, format, delimiter: delim, mapping: build(await fileColumns(path, format, delim)) };
  };
  const req: IngestRequest = { label: opts.label ?? opts.events ?? opts.items ?? opts.users!, eventTypes: opts.eventTypes, unknownEventTypes: opts.unknownEventTypes };
  if (opts.events) {
    const m = opts.eventMapping ?? {};
    req.events = await source(opts.events, (cols) => ({
      user: required(opts.events!, cols, 'user', '--user-col', choose(cols, m.user, COLUMN_CANDIDATES.user)),
      item: required(opts.events!, cols, 'item', '--item-col', choose(cols, m.item, COLUMN_CANDIDATES.item)),
      time: choose(cols, m.time, COLUMN_CANDIDATES.time), timeFormat: m.timeFormat,
      type: choose(cols, m.type, m.eventType ? [] : COLUMN_CANDIDATES.type), eventType: m.eventType,
      value: choose(cols, m.value, COLUMN_CANDIDATES.value),
    }));
  }
  if (opts.items) {
    const m = opts.itemMapping ?? {};
    req.items = await source(opts.items, (cols) => ({
      id: required(opts.items!, cols, 'item id', '--item-id-col', choose(cols, m.id, COLUMN_CANDIDATES.id)),
      title: choose(cols, m.title, COLUMN_CANDIDATES.title), text: choose(cols, m.text, COLUMN_CANDIDATES.text),
      categories: choose(cols, m.categories, COLUMN_CANDIDATES.categories), attributes: m.attributes,
      created: choose(cols, m.created, COLUMN_CANDIDATES.created), timeFormat: m.timeFormat,
      duration: choose(cols, m.duration, COLUMN_CANDIDATES.duration), listSeparator: m.listSeparator,
    }));
  }
  if (opts.users) {
    const m = opts.userMapping ?? {};
    req.users = await source(opts.users, (cols) => {
      const id = required(opts.users!, cols, 'user id', '--user-id-col', choose(cols, m.id, COLUMN_CANDIDATES.userId));
      return { id, attributes: m.attributes ?? cols.filter((c) => c !== id) };
    });
  }
  return req;
}
