/**
 * The in-memory reference driver: the semantics of the store in plain TypeScript, no persistence. It
 * passes the same conformance suite as the DuckDB driver, backs `loadDataset` (files → Dataset without a
 * database) and serves tests. Every `ingest` builds the new state aside and swaps it in at the end, with
 * no `await` in between, so a failure leaves the previous state untouched.
 */
import { GenrecError } from '../../engine/errors.js';
import { buildInteractions, csrFromLists, IdMap, type Dataset, type EventCoo, type Interactions } from '../dataset.js';
import { checkEventTypeName, EventTypes, fieldError, type EventColumns, type ItemColumns, type UserColumns } from '../schema.js';
import type { FileFormat, IngestReport, IngestRequest, StoreCounts, StoreDriver } from './driver.js';

interface ItemState {
  ids: IdMap;
  title: string[]; text: string[]; categories: string[][]; attributes: string[][];
  created: number[]; duration: number[];
}

interface UserState { ids: IdMap; attributes: string[][] }

function emptyInteractions(): Interactions {
  return {
    numUsers: 0, numItems: 0, userOffsets: new Int32Array(1), items: new Int32Array(0), timestamps: new Float64Array(0),
    types: new Uint8Array(0), values: new Float32Array(0), hasTimestamps: false,
  };
}

function cloneIdMap(m: IdMap): IdMap { return new IdMap(m.ids); }

function columnsOnly<T>(src: ({ kind: 'columns' } & T) | { kind: 'file' }, what: string): T {
  if (src.kind !== 'columns') throw new GenrecError('GENREC_E_INTERNAL', `the memory driver got a ${what} file source; the core must read files for it`);
  return src as T;
}

/** Maps dictionary entries to store ids, adding new ids in order of first appearance in `rows`. */
function mapDict(dict: string[], rows: Int32Array, ids: IdMap): { map: Int32Array; added: number } {
  const map = new Int32Array(dict.length).fill(-1);
  const before = ids.size;
  for (let r = 0; r < rows.length; r++) {
    const d = rows[r]!;
    if (map[d] === -1) map[d] = ids.add(dict[d]!);
  }
  return { map, added: ids.size - before };
}

export class MemoryDriver implements StoreDriver {
  readonly name = 'memory';
  readonly nativeFormats: ReadonlySet<FileFormat> = new Set();
  private types = new EventTypes();
  private items: ItemState = { ids: new IdMap(), title: [], text: [], categories: [], attributes: [], created: [], duration: [] };
  private users: UserState = { ids: new IdMap(), attributes: [] };
  private events: Interactions = emptyInteractions();
  /** Sequence positions (part of the idempotency key, not of `Interactions`), aligned with `events`. */
  private positions = new Int32Array(0);
  private closed = false;

  private check(): void {
    if (this.closed) throw new GenrecError('GENREC_E_STORE_CLOSED', 'the store is closed', 'open it again');
  }

  async ingest(req: IngestRequest): Promise<IngestReport> {
    this.check();
    const report: IngestReport = { label: req.label, eventsRead: 0, eventsAdded: 0, duplicates: 0, usersAdded: 0, itemsAdded: 0, itemsUpdated: 0, newEventTypes: [] };
    let types = req.eventTypes?.length ? this.types.merge(req.eventTypes) : this.types;
    const items = req.items || req.events ? this.copyItems() : this.items;
    const users = req.users || req.events ? { ids: cloneIdMap(this.users.ids), attributes: this.users.attributes.slice() } : this.users;
    if (req.items) this.mergeItems(items, columnsOnly<ItemColumns>(req.items, 'items'), report);
    if (req.users) this.mergeUsers(users, columnsOnly<UserColumns>(req.users, 'users'), report);
    let events = this.events, positions = this.positions;
    if (req.events) {
      const ev = columnsOnly<EventColumns>(req.events, 'events');
      ({ types, events, positions } = this.mergeEvents(ev, types, items, users, req.unknownEventTypes ?? 'add', report));
    }
    // Commit: nothing above touched `this`.
    this.types = types; this.items = items; this.users = users; this.events = events; this.positions = positions;
    return report;
  }

  private copyItems(): ItemState {
    const s = this.items;
    return {
      ids: cloneIdMap(s.ids), title: s.title.slice(), text: s.text.slice(), categories: s.categories.slice(),
      attributes: s.attributes.slice(), created: s.created.slice(), duration: s.duration.slice(),
    };
  }

  private addBareItem(s: ItemState): void {
    s.title.push(''); s.text.push(''); s.categories.push([]); s.attributes.push([]); s.created.push(NaN); s.duration.push(NaN);
  }

  private mergeItems(s: ItemState, cols: ItemColumns, report: IngestReport): void {
    const updated = new Set<number>();
    cols.ids.forEach((ext, r) => {
      let k = s.ids.get(ext);
      if (k === undefined) { k = s.ids.add(ext); this.addBareItem(s); report.itemsAdded++; } else if (k < this.items.ids.size) updated.add(k);
      const set = <T>(arr: T[], v: T | null | undefined) => { if (v !== null && v !== undefined) arr[k!] = v; };
      set(s.title, cols.title?.[r]); set(s.text, cols.text?.[r]);
      set(s.categories, cols.categories?.[r]); set(s.attributes, cols.attributes?.[r]);
      const c = cols.created?.[r], d = cols.duration?.[r];
      if (c !== undefined && !Number.isNaN(c)) s.created[k] = c;
      if (d !== undefined && !Number.isNaN(d)) s.duration[k] = d;
    });
    report.itemsUpdated += updated.size;
  }

  private mergeUsers(s: UserState, cols: UserColumns, report: IngestReport): void {
    cols.ids.forEach((ext, r) => {
      let k = s.ids.get(ext);
      if (k === undefined) { k = s.ids.add(ext); s.attributes.push([]); report.usersAdded++; }
      const a = cols.attributes?.[r];
      if (a) s.attributes[k] = a;
    });
  }

  private mergeEvents(ev: EventColumns, types0: EventTypes, items: ItemState, users: UserState, unknown: 'add' | 'error', report: IngestReport) {
    let types = types0;
    const typeMap = new Uint8Array(ev.typeNames.length);
    const used = new Uint8Array(ev.typeNames.length);
    for (let r = 0; r < ev.length; r++) used[ev.type[r]!] = 1;
    ev.typeNames.forEach((name, d) => {
      if (!used[d]) return;
      let code = types.code(name);
      if (code < 0) {
        if (unknown === 'error') {
          const r = ev.type.findIndex((t) => t === d);
          throw fieldError(ev.source, ev.line?.[r] ?? r + 1, 'type', `unknown event type ${JSON.stringify(name)}`,
            `known types: ${types.names.join(', ')}; declare it with --event-weights ${name}=<weight>, or allow new types`);
        }
        checkEventTypeName(name, ev.source);
        types = types.merge([{ name, weight: 1 }]);
        code = types.code(name);
        report.newEventTypes.push(name);
      }
      typeMap[d] = code;
    });
    const u = mapDict(ev.userIds, ev.user, users.ids);
    for (let k = 0; k < u.added; k++) users.attributes.push([]);
    report.usersAdded += u.added;
    const it = mapDict(ev.itemIds, ev.item, items.ids);
    for (let k = 0; k < it.added; k++) this.addBareItem(items);
    report.itemsAdded += it.added;

    const old = this.events, m = old.items.length, n = ev.length;
    const coo: EventCoo = {
      length: m + n, user: new Int32Array(m + n), item: new Int32Array(m + n), type: new Uint8Array(m + n),
      ts: new Float64Array(m + n), pos: new Int32Array(m + n), value: new Float32Array(m + n),
    };
    for (let us = 0; us < old.numUsers; us++) coo.user.fill(us, old.userOffsets[us]!, old.userOffsets[us + 1]!);
    coo.item.set(old.items); coo.type.set(old.types); coo.ts.set(old.timestamps); coo.value.set(old.values);
    coo.pos.set(this.positions);
    for (let r = 0; r < n; r++) {
      const k = m + r;
      coo.user[k] = u.map[ev.user[r]!]!; coo.item[k] = it.map[ev.item[r]!]!; coo.type[k] = typeMap[ev.type[r]!]!;
      coo.ts[k] = ev.ts ? ev.ts[r]! : NaN;
      coo.pos[k] = ev.ts ? 0 : ev.pos![r]!;
      coo.value[k] = ev.value ? ev.value[r]! : NaN;
    }
    const built = buildInteractions(coo, users.ids.size, items.ids.size, true);
    report.eventsRead += n;
    report.duplicates += built.duplicates;
    report.eventsAdded += n - built.duplicates;
    return { types, events: built.interactions, positions: Int32Array.from(built.source, (k) => coo.pos[k]!) };
  }

  async snapshot(label = 'memory'): Promise<Dataset> {
    this.check();
    const { items, users } = this;
    const inter: Interactions = { ...this.events, numUsers: users.ids.size, numItems: items.ids.size };
    if (inter.userOffsets.length !== users.ids.size + 1) {
      const offsets = new Int32Array(users.ids.size + 1);
      offsets.set(inter.userOffsets);
      offsets.fill(inter.items.length, inter.userOffsets.length);
      inter.userOffsets = offsets;
    }
    const cat = new IdMap(), attr = new IdMap(), uattr = new IdMap();
    return {
      label,
      interactions: inter,
      items: {
        count: items.ids.size, ids: items.ids.ids.slice(), titles: items.title.slice(), texts: items.text.slice(),
        categories: csrFromLists(items.categories, cat), attributes: csrFromLists(items.attributes, attr),
        created: Float64Array.from(items.created), duration: Float32Array.from(items.duration),
      },
      users: { count: users.ids.size, ids: users.ids.ids.slice(), attributes: csrFromLists(users.attributes, uattr) },
      eventTypes: this.types,
    };
  }

  async counts(): Promise<StoreCounts> {
    this.check();
    return { users: this.users.ids.size, items: this.items.ids.size, events: this.events.items.length };
  }

  async eventTypes(): Promise<EventTypes> { this.check(); return this.types; }

  async close(): Promise<void> { this.closed = true; }
}
