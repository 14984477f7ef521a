/**
 * RecBole atomic files: tab-separated with a `name:type` header. Reads every `*.inter` of the folder:
 * - plain interactions (`user_id`, `item_id`, optional `timestamp`, `rating`): one event per row;
 * - sequential splits (`user_id`, `item_id_list` (history), `item_id` (target)): each row is a prefix of
 *   the user's sequence; the longest one over all files (the test split) is the user's full sequence,
 *   so the per-user leave-one-out split reproduces RecBole's.
 * `*.item` gives titles / categories / attributes, `*.text` item text, `*.user` user attributes.
 * `*.item2index` / `*.user2index` (`raw<TAB>index`) turn the index ids back into the raw ids, which then
 * become the external ids (and key the `.text` file).
 */
import { basename, join } from 'node:path';
import { EventColumnsBuilder } from '../columns.js';
import { fieldError, type EventColumns, type ImportData, type ItemColumns, type UserColumns } from '../schema.js';
import { checkDir, missingFile, readLines, type AdapterOptions } from './common.js';

interface Atomic { path: string; fields: string[]; types: string[]; rows: string[][] }

function readAtomic(path: string): Atomic {
  const lines = readLines(path);
  const header = (lines[0] ?? '').split('\t');
  const fields = header.map((h) => h.split(':')[0]!.trim());
  const types = header.map((h) => h.split(':')[1]?.trim() ?? 'token');
  return { path, fields, types, rows: lines.slice(1).filter((l) => l.trim() !== '').map((l) => l.split('\t')) };
}

function col(a: Atomic, ...names: string[]): number {
  for (const n of names) { const k = a.fields.indexOf(n); if (k >= 0) return k; }
  return -1;
}

function indexMap(dir: string, names: string[], suffix: string): Map<string, string> | null {
  const f = names.find((n) => n.endsWith(suffix));
  if (!f) return null;
  const m = new Map<string, string>();
  for (const line of readLines(join(dir, f))) {
    const [raw, idx] = line.split('\t');
    if (raw !== undefined && idx !== undefined) m.set(idx.trim(), raw.trim());
  }
  return m;
}

function events(files: Atomic[], userRaw: Map<string, string> | null, itemRaw: Map<string, string> | null): EventColumns {
  const uid = (s: string) => userRaw?.get(s) ?? s;
  const iid = (s: string) => itemRaw?.get(s) ?? s;
  const sequential = files.every((a) => col(a, 'item_id_list') >= 0);
  if (sequential) {
    // user → [file, row] of the longest history + target
    const best = new Map<string, { items: string[]; path: string; line: number }>();
    for (const a of files) {
      const [cu, cl, ct] = [col(a, 'user_id'), col(a, 'item_id_list'), col(a, 'item_id')];
      if (cu < 0 || ct < 0) throw fieldError(a.path, 1, cu < 0 ? 'user_id' : 'item_id', 'missing column', 'sequential .inter files have user_id, item_id_list and item_id');
      a.rows.forEach((r, k) => {
        const items = [...(r[cl] ?? '').trim().split(' ').filter(Boolean), (r[ct] ?? '').trim()];
        if (items[items.length - 1] === '') throw fieldError(a.path, k + 2, 'item_id', 'missing target item', 'every row needs an item_id');
        const u = uid((r[cu] ?? '').trim());
        const prev = best.get(u);
        if (!prev || items.length > prev.items.length) best.set(u, { items, path: a.path, line: k + 2 });
      });
    }
    const b = new EventColumnsBuilder(files.map((a) => a.path).join(', '), { timestamps: false, values: false, capacity: 1024 });
    const typ = b.typeNames.add('interaction');
    for (const [u, s] of best) {
      const ku = b.users.add(u);
      s.items.forEach((it, j) => b.addEncoded(ku, b.items.add(iid(it)), typ, j + 1, NaN, s.line));
    }
    return b.build();
  }
  const timed = files.every((a) => col(a, 'timestamp') >= 0);
  const rated = files.some((a) => col(a, 'rating') >= 0);
  const b = new EventColumnsBuilder(files.map((a) => a.path).join(', '), { timestamps: timed, values: rated, capacity: 1024 });
  const next = new Map<number, number>();
  for (const a of files) {
    const [cu, ci, cts, cr] = [col(a, 'user_id'), col(a, 'item_id'), col(a, 'timestamp'), col(a, 'rating')];
    if (cu < 0 || ci < 0) throw fieldError(a.path, 1, cu < 0 ? 'user_id' : 'item_id', 'missing column', '.inter files need user_id and item_id');
    const typ = b.typeNames.add(cr >= 0 ? 'rating' : 'interaction');
    a.rows.forEach((r, k) => {
      const u = b.users.add(uid((r[cu] ?? '').trim()));
      let time: number;
      if (timed) {
        time = Number(r[cts]);
        if (!Number.isFinite(time)) throw fieldError(a.path, k + 2, 'timestamp', `not a number: ${JSON.stringify(r[cts])}`, 'timestamps are numbers');
      } else { time = (next.get(u) ?? 0) + 1; next.set(u, time); }
      const v = cr >= 0 ? Number(r[cr]) : NaN;
      b.addEncoded(u, b.items.add(iid((r[ci] ?? '').trim())), typ, time, Number.isFinite(v) ? v : NaN, k + 2);
    });
  }
  return b.build();
}

const TITLE = ['title', 'movie_title', 'item_name', 'name'];
const CATEGORIES = ['categories', 'category', 'genre', 'class', 'genres'];

function items(dir: string, names: string[], itemRaw: Map<string, string> | null): ItemColumns | undefined {
  const iid = (s: string) => itemRaw?.get(s) ?? s;
  const byId = new Map<string, { title: string | null; text: string | null; categories: string[] | null; attributes: string[] | null }>();
  const entry = (id: string) => { let e = byId.get(id); if (!e) { e = { title: null, text: null, categories: null, attributes: null }; byId.set(id, e); } return e; };
  const sources: string[] = [];
  for (const f of names.filter((n) => n.endsWith('.item'))) {
    const a = readAtomic(join(dir, f));
    sources.push(a.path);
    const ci = col(a, 'item_id'), ct = col(a, ...TITLE), cc = col(a, ...CATEGORIES);
    if (ci < 0) throw fieldError(a.path, 1, 'item_id', 'missing column', '.item files need item_id');
    for (const r of a.rows) {
      const e = entry(iid((r[ci] ?? '').trim()));
      if (ct >= 0) e.title = (r[ct] ?? '').trim();
      if (cc >= 0) e.categories = (r[cc] ?? '').split(a.types[cc] === 'token_seq' ? ' ' : ',').map((s) => s.trim()).filter(Boolean);
      e.attributes = a.fields.flatMap((name, k) => (k === ci || k === ct || k === cc || !(r[k] ?? '').trim() ? [] : [`${name}=${r[k]!.trim()}`]));
    }
  }
  for (const f of names.filter((n) => n.endsWith('.text'))) {
    const a = readAtomic(join(dir, f));
    sources.push(a.path);
    const ci = col(a, 'item_id'), ct = col(a, 'text', 'description');
    if (ci < 0 || ct < 0) throw fieldError(a.path, 1, ci < 0 ? 'item_id' : 'text', 'missing column', '.text files have item_id and text');
    for (const r of a.rows) entry((r[ci] ?? '').trim()).text = (r[ct] ?? '').trim(); // keyed by raw id
  }
  if (byId.size === 0) return undefined;
  const ids = [...byId.keys()], es = [...byId.values()];
  return {
    source: sources.join(', '), ids, title: es.map((e) => e.title), text: es.map((e) => e.text),
    categories: es.map((e) => e.categories), attributes: es.map((e) => e.attributes),
  };
}

function users(dir: string, names: string[], userRaw: Map<string, string> | null): UserColumns | undefined {
  const f = names.find((n) => n.endsWith('.user'));
  if (!f) return undefined;
  const a = readAtomic(join(dir, f));
  const cu = col(a, 'user_id');
  if (cu < 0) throw fieldError(a.path, 1, 'user_id', 'missing column', '.user files need user_id');
  return {
    source: a.path, ids: a.rows.map((r) => userRaw?.get((r[cu] ?? '').trim()) ?? (r[cu] ?? '').trim()),
    attributes: a.rows.map((r) => a.fields.flatMap((name, k) => (k === cu || !(r[k] ?? '').trim() ? [] : [`${name}=${r[k]!.trim()}`]))),
  };
}

export function loadRecBole(dir: string, opts: AdapterOptions = {}): ImportData {
  const names = checkDir(dir, 'recbole');
  const interNames = opts.file ? [opts.file] : names.filter((n) => n.endsWith('.inter'));
  if (interNames.length === 0) throw missingFile(dir, 'recbole', '<name>.inter files');
  const userRaw = indexMap(dir, names, '.user2index');
  const itemRaw = indexMap(dir, names, '.item2index');
  const files = interNames.map((n) => readAtomic(join(dir, n)));
  const stem = basename(interNames[0]!).split('.')[0]!;
  return {
    label: opts.label ?? stem, events: events(files, userRaw, itemRaw),
    items: items(dir, names, itemRaw), users: users(dir, names, userRaw),
  };
}
