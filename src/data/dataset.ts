/**
 * The compact in-memory form of a dataset: what the tokenizer, models, training and evaluation consume.
 *
 * Everything bulk is a typed array. Interactions are CSR by user: user `u`'s events are the index range
 * `[userOffsets[u], userOffsets[u + 1])` of `items` / `timestamps` / `types` / `values`, oldest first
 * (ordered by timestamp, then sequence position, then insertion order). Item categories and attributes
 * are CSR over a string vocabulary. Dense ids are per `Dataset`; the external string ids (`items.ids`,
 * `users.ids`) are the stable identity to store in model bundles.
 */
import { GenrecError } from '../engine/errors.js';
import { EventTypes } from './schema.js';

export interface Interactions {
  numUsers: number;
  numItems: number;
  /** Length numUsers + 1; user u's events are [userOffsets[u], userOffsets[u+1]). */
  userOffsets: Int32Array;
  /** Dense item id of each event. */
  items: Int32Array;
  /** Epoch seconds; NaN where the source has no timestamps (order is then the sequence position). */
  timestamps: Float64Array;
  /** Event type code of each event (see `Dataset.eventTypes`). */
  types: Uint8Array;
  /** Optional value (watch seconds, rating, ...); NaN where absent. */
  values: Float32Array;
  /** True when every event has a timestamp. */
  hasTimestamps: boolean;
}

/** Rows of string tokens in CSR: row `i` is `vocab[values[k]]` for k in [offsets[i], offsets[i+1]). */
export interface Csr {
  offsets: Int32Array;
  values: Int32Array;
  vocab: string[];
}

export interface ItemCatalog {
  count: number;
  /** External ids. */
  ids: string[];
  /** '' when unknown. */
  titles: string[];
  /** Free text (description); '' when unknown. */
  texts: string[];
  categories: Csr;
  /** Attribute tokens (`key=value` or opaque ids such as a brand id). */
  attributes: Csr;
  /** Epoch seconds, NaN when unknown. */
  created: Float64Array;
  /** Seconds, NaN when unknown. */
  duration: Float32Array;
}

export interface UserTable {
  count: number;
  ids: string[];
  attributes: Csr;
}

export interface Dataset {
  /** A label for reports only; nothing may depend on it. */
  label: string;
  interactions: Interactions;
  items: ItemCatalog;
  users: UserTable;
  eventTypes: EventTypes;
}

/** String ↔ dense id. */
export class IdMap {
  readonly ids: string[] = [];
  private readonly index = new Map<string, number>();

  constructor(ids: Iterable<string> = []) { for (const id of ids) this.add(id); }

  get size(): number { return this.ids.length; }
  get(id: string): number | undefined { return this.index.get(id); }
  has(id: string): boolean { return this.index.has(id); }
  /** The dense id of `id`, adding it when new. */
  add(id: string): number {
    let k = this.index.get(id);
    if (k === undefined) {
      k = this.ids.length;
      this.ids.push(id);
      this.index.set(id, k);
    }
    return k;
  }
}

/** Builds a CSR from token lists (null = empty row); `vocab` is extended in first-seen order. */
export function csrFromLists(lists: readonly (readonly string[] | null | undefined)[], vocab = new IdMap()): Csr {
  const offsets = new Int32Array(lists.length + 1);
  let n = 0;
  for (let i = 0; i < lists.length; i++) { n += lists[i]?.length ?? 0; offsets[i + 1] = n; }
  const values = new Int32Array(n);
  let k = 0;
  for (const row of lists) for (const tok of row ?? []) values[k++] = vocab.add(tok);
  return { offsets, values, vocab: vocab.ids };
}

export function emptyCsr(rows: number): Csr {
  return { offsets: new Int32Array(rows + 1), values: new Int32Array(0), vocab: [] };
}

/** Row `i` of a CSR as a view. */
export function csrRow(csr: Csr, i: number): Int32Array {
  return csr.values.subarray(csr.offsets[i]!, csr.offsets[i + 1]!);
}

/** Row `i` of a CSR as strings. */
export function csrTokens(csr: Csr, i: number): string[] {
  return Array.from(csrRow(csr, i), (v) => csr.vocab[v]!);
}

/** User u's item sequence (a view, oldest first). */
export function userItems(inter: Interactions, u: number): Int32Array {
  return inter.items.subarray(inter.userOffsets[u]!, inter.userOffsets[u + 1]!);
}

export function sequenceLength(inter: Interactions, u: number): number {
  return inter.userOffsets[u + 1]! - inter.userOffsets[u]!;
}

/** Events in coordinate form (one entry per event, in insertion order), before CSR. */
export interface EventCoo {
  length: number;
  user: Int32Array;
  item: Int32Array;
  type: Uint8Array;
  /** NaN when unknown. */
  ts: Float64Array;
  /** Sequence position; 0 for events with timestamps. */
  pos: Int32Array;
  value: Float32Array;
}

/** Growable COO buffer (amortised doubling). */
export class CooBuilder {
  private cap: number;
  length = 0;
  user: Int32Array; item: Int32Array; type: Uint8Array; ts: Float64Array; pos: Int32Array; value: Float32Array;

  constructor(capacity = 1024) {
    this.cap = Math.max(16, capacity);
    this.user = new Int32Array(this.cap); this.item = new Int32Array(this.cap); this.type = new Uint8Array(this.cap);
    this.ts = new Float64Array(this.cap); this.pos = new Int32Array(this.cap); this.value = new Float32Array(this.cap);
  }

  reserve(extra: number): void {
    const need = this.length + extra;
    if (need <= this.cap) return;
    let cap = this.cap;
    while (cap < need) cap *= 2;
    const grow = <T extends Int32Array | Uint8Array | Float64Array | Float32Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap); b.set(a.subarray(0, this.length)); return b;
    };
    this.user = grow(this.user, (n) => new Int32Array(n)); this.item = grow(this.item, (n) => new Int32Array(n));
    this.type = grow(this.type, (n) => new Uint8Array(n)); this.ts = grow(this.ts, (n) => new Float64Array(n));
    this.pos = grow(this.pos, (n) => new Int32Array(n)); this.value = grow(this.value, (n) => new Float32Array(n));
    this.cap = cap;
  }

  push(user: number, item: number, type: number, ts: number, pos: number, value: number): void {
    if (this.length === this.cap) this.reserve(1);
    const k = this.length++;
    this.user[k] = user; this.item[k] = item; this.type[k] = type; this.ts[k] = ts; this.pos[k] = pos; this.value[k] = value;
  }

  /** Views of the filled part. */
  view(): EventCoo {
    const n = this.length;
    return {
      length: n, user: this.user.subarray(0, n), item: this.item.subarray(0, n), type: this.type.subarray(0, n),
      ts: this.ts.subarray(0, n), pos: this.pos.subarray(0, n), value: this.value.subarray(0, n),
    };
  }
}

export interface BuildResult {
  interactions: Interactions;
  /** For each CSR event, its index in the COO input. */
  source: Int32Array;
  /** Events dropped as duplicates (same user, item, type, timestamp and position as an earlier one). */
  duplicates: number;
}

const sameTime = (a: number, b: number) => a === b || (a !== a && b !== b);

/**
 * COO → CSR by user, ordered by (timestamp, position, insertion order) within each user; NaN timestamps
 * sort first. With `dedup`, an event whose idempotency key (user, item, type, timestamp, position) equals
 * an earlier one's is dropped: the earliest inserted copy is kept.
 */
export function buildInteractions(coo: EventCoo, numUsers: number, numItems: number, dedup = true): BuildResult {
  const n = coo.length;
  const { user, ts, pos } = coo;
  const offsets = new Int32Array(numUsers + 1);
  for (let r = 0; r < n; r++) {
    const u = user[r]!;
    if (u < 0 || u >= numUsers) throw new GenrecError('GENREC_E_INTERNAL', `user id ${u} out of range [0, ${numUsers})`);
    offsets[u + 1]!++;
  }
  for (let u = 0; u < numUsers; u++) offsets[u + 1]! += offsets[u]!;
  const perm = new Int32Array(n);
  const fill = offsets.slice(0, numUsers);
  for (let r = 0; r < n; r++) perm[fill[user[r]!]!++] = r;

  const cmp = (x: number, y: number): number => {
    const tx = ts[x]!, ty = ts[y]!;
    if (!sameTime(tx, ty)) {
      if (tx !== tx) return -1; // NaN first
      if (ty !== ty) return 1;
      return tx < ty ? -1 : 1;
    }
    return (pos[x]! - pos[y]!) || (x - y);
  };
  for (let u = 0; u < numUsers; u++) {
    const a = offsets[u]!, b = offsets[u + 1]!;
    for (let k = a + 1; k < b; k++) {
      if (cmp(perm[k - 1]!, perm[k]!) > 0) { perm.subarray(a, b).sort(cmp); break; }
    }
  }

  let keep = perm;
  let duplicates = 0;
  const outOffsets = new Int32Array(numUsers + 1);
  if (dedup) {
    keep = new Int32Array(n);
    let w = 0;
    const { item, type } = coo;
    for (let u = 0; u < numUsers; u++) {
      const a = offsets[u]!, b = offsets[u + 1]!;
      let runStart = w; // start of the current equal-(ts,pos) run in `keep`
      let runSet: Set<number> | null = null; // for long runs (e.g. day-granular timestamps)
      for (let k = a; k < b; k++) {
        const r = perm[k]!;
        if (w > runStart) {
          const p = keep[runStart]!;
          if (!(sameTime(ts[p]!, ts[r]!) && pos[p] === pos[r])) { runStart = w; runSet = null; }
        }
        const key = item[r]! * 256 + type[r]!;
        let dup = false;
        if (runSet) dup = runSet.has(key);
        else {
          for (let j = runStart; j < w; j++) {
            const q = keep[j]!;
            if (item[q] === item[r] && type[q] === type[r]) { dup = true; break; }
          }
          if (w - runStart > 32) {
            runSet = new Set();
            for (let j = runStart; j < w; j++) runSet.add(item[keep[j]!]! * 256 + type[keep[j]!]!);
          }
        }
        if (dup) duplicates++;
        else { keep[w++] = r; runSet?.add(key); }
      }
      outOffsets[u + 1] = w;
    }
    keep = keep.slice(0, w);
  } else {
    outOffsets.set(offsets);
  }

  const m = keep.length;
  const items = new Int32Array(m), timestamps = new Float64Array(m), types = new Uint8Array(m), values = new Float32Array(m);
  let hasTimestamps = true;
  for (let k = 0; k < m; k++) {
    const r = keep[k]!;
    const it = coo.item[r]!;
    if (it < 0 || it >= numItems) throw new GenrecError('GENREC_E_INTERNAL', `item id ${it} out of range [0, ${numItems})`);
    items[k] = it;
    const t = ts[r]!;
    if (t !== t) hasTimestamps = false;
    timestamps[k] = t; types[k] = coo.type[r]!; values[k] = coo.value[r]!;
  }
  return {
    interactions: { numUsers, numItems, userOffsets: outOffsets, items, timestamps, types, values, hasTimestamps: hasTimestamps && m > 0 },
    source: keep,
    duplicates,
  };
}

/** Keeps only the events whose type passes `keepType` (e.g. positive feedback only); users and items stay. */
export function selectEvents(ds: Dataset, keepType: (code: number) => boolean): Dataset {
  const src = ds.interactions;
  const keepCode = new Uint8Array(256);
  for (let c = 0; c < 256; c++) keepCode[c] = keepType(c) ? 1 : 0;
  const n = src.items.length;
  let m = 0;
  for (let k = 0; k < n; k++) m += keepCode[src.types[k]!]!;
  const items = new Int32Array(m), timestamps = new Float64Array(m), types = new Uint8Array(m), values = new Float32Array(m);
  const userOffsets = new Int32Array(src.numUsers + 1);
  let w = 0;
  for (let u = 0; u < src.numUsers; u++) {
    for (let k = src.userOffsets[u]!; k < src.userOffsets[u + 1]!; k++) {
      if (!keepCode[src.types[k]!]) continue;
      items[w] = src.items[k]!; timestamps[w] = src.timestamps[k]!; types[w] = src.types[k]!; values[w] = src.values[k]!;
      w++;
    }
    userOffsets[u + 1] = w;
  }
  return { ...ds, interactions: { ...src, userOffsets, items, timestamps, types, values } };
}

/**
 * Only engagements (events of positive weight): what training, evaluation and serving read as histories and
 * targets — a recommender must not learn to predict skips and dislikes, and a zero-weight type carries no
 * signal. Users and items stay, so ids still match the store's catalogue.
 */
export function positiveOnly(ds: Dataset): Dataset {
  return selectEvents(ds, (c) => c < ds.eventTypes.size && ds.eventTypes.isEngagement(c));
}

function selectCsrRows(csr: Csr, rows: Int32Array): Csr {
  const offsets = new Int32Array(rows.length + 1);
  for (let i = 0; i < rows.length; i++) offsets[i + 1] = offsets[i]! + csr.offsets[rows[i]! + 1]! - csr.offsets[rows[i]!]!;
  const values = new Int32Array(offsets[rows.length]!);
  for (let i = 0; i < rows.length; i++) values.set(csrRow(csr, rows[i]!), offsets[i]!);
  return { offsets, values, vocab: csr.vocab };
}

/** Keeps only the items and users that have events, renumbering both densely in their original order. */
export function compactDataset(ds: Dataset): Dataset {
  const src = ds.interactions;
  const itemMap = new Int32Array(src.numItems).fill(-1);
  for (const it of src.items) itemMap[it] = 0;
  let ni = 0;
  for (let i = 0; i < src.numItems; i++) if (itemMap[i] === 0) itemMap[i] = ni++;
  const keptItems = new Int32Array(ni);
  for (let i = 0; i < src.numItems; i++) if (itemMap[i]! >= 0) keptItems[itemMap[i]!] = i;
  const keptUsers: number[] = [];
  for (let u = 0; u < src.numUsers; u++) if (src.userOffsets[u + 1]! > src.userOffsets[u]!) keptUsers.push(u);
  const users = Int32Array.from(keptUsers);
  const userOffsets = new Int32Array(users.length + 1);
  for (let j = 0; j < users.length; j++) userOffsets[j + 1] = src.userOffsets[users[j]! + 1]!;
  const items = src.items.map((it) => itemMap[it]!);
  const pick = <T>(a: T[], rows: Int32Array) => Array.from(rows, (r) => a[r]!);
  const cat = ds.items;
  return {
    ...ds,
    interactions: { ...src, numUsers: users.length, numItems: ni, userOffsets, items },
    items: {
      count: ni, ids: pick(cat.ids, keptItems), titles: pick(cat.titles, keptItems), texts: pick(cat.texts, keptItems),
      categories: selectCsrRows(cat.categories, keptItems), attributes: selectCsrRows(cat.attributes, keptItems),
      created: Float64Array.from(keptItems, (i) => cat.created[i]!), duration: Float32Array.from(keptItems, (i) => cat.duration[i]!),
    },
    users: { count: users.length, ids: pick(ds.users.ids, users), attributes: selectCsrRows(ds.users.attributes, users) },
  };
}

/** An item catalogue with ids only (no metadata). */
export function bareCatalog(ids: string[]): ItemCatalog {
  const n = ids.length;
  return {
    count: n, ids, titles: new Array<string>(n).fill(''), texts: new Array<string>(n).fill(''),
    categories: emptyCsr(n), attributes: emptyCsr(n),
    created: new Float64Array(n).fill(NaN), duration: new Float32Array(n).fill(NaN),
  };
}
