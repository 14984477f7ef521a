/**
 * Building and checking `EventColumns` (dictionary-encoded events) in JS: used by the format adapters,
 * the synthetic generator and anyone who hands events to a store from code.
 */
import { IdMap } from './dataset.js';
import { checkEventTypeName, fieldError, type EventColumns, type ItemColumns } from './schema.js';

/** Appends events one at a time into dictionary-encoded, growable typed columns. */
export class EventColumnsBuilder {
  readonly users = new IdMap();
  readonly items = new IdMap();
  readonly typeNames = new IdMap();
  private n = 0;
  private cap: number;
  private user: Int32Array; private item: Int32Array; private type: Uint8Array;
  private ts: Float64Array | null; private pos: Int32Array | null; private value: Float32Array | null; private line: Int32Array;

  /** `timestamps`: whether events carry timestamps (else positions); `values`: whether they carry values. */
  constructor(readonly source: string, opts: { timestamps: boolean; values: boolean; capacity?: number }) {
    this.cap = Math.max(16, opts.capacity ?? 1024);
    this.user = new Int32Array(this.cap); this.item = new Int32Array(this.cap); this.type = new Uint8Array(this.cap);
    this.ts = opts.timestamps ? new Float64Array(this.cap) : null;
    this.pos = opts.timestamps ? null : new Int32Array(this.cap);
    this.value = opts.values ? new Float32Array(this.cap) : null;
    this.line = new Int32Array(this.cap);
  }

  get length(): number { return this.n; }

  private grow(): void {
    const cap = this.cap * 2;
    const g = <T extends Int32Array | Uint8Array | Float64Array | Float32Array>(a: T, make: (k: number) => T): T => { const b = make(cap); b.set(a); return b; };
    this.user = g(this.user, (k) => new Int32Array(k)); this.item = g(this.item, (k) => new Int32Array(k));
    this.type = g(this.type, (k) => new Uint8Array(k)); this.line = g(this.line, (k) => new Int32Array(k));
    if (this.ts) this.ts = g(this.ts, (k) => new Float64Array(k));
    if (this.pos) this.pos = g(this.pos, (k) => new Int32Array(k));
    if (this.value) this.value = g(this.value, (k) => new Float32Array(k));
    this.cap = cap;
  }

  /** `time` is epoch seconds when the builder has timestamps, else the 1-based sequence position. */
  add(user: string, item: string, type: string, time: number, value = NaN, line = this.n + 1): void {
    if (this.n === this.cap) this.grow();
    const k = this.n++;
    this.user[k] = this.users.add(user);
    this.item[k] = this.items.add(item);
    this.type[k] = this.typeNames.add(type);
    if (this.ts) this.ts[k] = time; else this.pos![k] = time;
    if (this.value) this.value[k] = value;
    this.line[k] = line;
  }

  /** Same as `add` with already-encoded user and item indices (from `users.add` / `items.add`). */
  addEncoded(user: number, item: number, type: number, time: number, value = NaN, line = this.n + 1): void {
    if (this.n === this.cap) this.grow();
    const k = this.n++;
    this.user[k] = user; this.item[k] = item; this.type[k] = type;
    if (this.ts) this.ts[k] = time; else this.pos![k] = time;
    if (this.value) this.value[k] = value;
    this.line[k] = line;
  }

  build(): EventColumns {
    const n = this.n;
    return {
      source: this.source, length: n,
      userIds: this.users.ids, user: this.user.slice(0, n),
      itemIds: this.items.ids, item: this.item.slice(0, n),
      typeNames: this.typeNames.ids, type: this.type.slice(0, n),
      ts: this.ts ? this.ts.slice(0, n) : null,
      pos: this.pos ? this.pos.slice(0, n) : null,
      value: this.value ? this.value.slice(0, n) : null,
      line: this.line.slice(0, n),
    };
  }
}

/**
 * Checks event columns and fills what may be omitted: positions from row order within each user when
 * there are neither timestamps nor positions, and source lines. Errors name the source, line and field.
 */
export function normalizeEventColumns(cols: EventColumns): EventColumns {
  const n = cols.length;
  const line = cols.line ?? Int32Array.from({ length: n }, (_, r) => r + 1);
  const fail = (r: number, field: string, problem: string, hint: string) => { throw fieldError(cols.source, line[r]!, field, problem, hint); };
  for (const [name, arr] of [['user', cols.user], ['item', cols.item], ['type', cols.type]] as const) {
    if (arr.length !== n) fail(0, name, `column has ${arr.length} rows, expected ${n}`, 'give every column the same length');
  }
  const emptyUser = cols.userIds.map((s) => typeof s !== 'string' || s === '');
  const emptyItem = cols.itemIds.map((s) => typeof s !== 'string' || s === '');
  cols.typeNames.forEach((t) => checkEventTypeName(t, cols.source));
  const { ts, pos, value } = cols;
  for (let r = 0; r < n; r++) {
    const u = cols.user[r]!, i = cols.item[r]!;
    if (!(u >= 0 && u < cols.userIds.length) || emptyUser[u]) fail(r, 'user', 'missing user id', 'every event needs a non-empty user id');
    if (!(i >= 0 && i < cols.itemIds.length) || emptyItem[i]) fail(r, 'item', 'missing item id', 'every event needs a non-empty item id');
    if (cols.type[r]! >= cols.typeNames.length) fail(r, 'type', 'unknown event type index', 'type indices point into typeNames');
    if (ts && !Number.isFinite(ts[r]!)) fail(r, 'timestamp', 'missing or invalid timestamp', 'give every event a timestamp (epoch seconds), or none at all');
    if (pos && !(Number.isInteger(pos[r]!) && pos[r]! >= 0)) fail(r, 'position', 'invalid sequence position', 'positions are integers ≥ 0');
  }
  let outPos = pos;
  if (!ts && !pos) {
    const next = new Int32Array(cols.userIds.length);
    outPos = new Int32Array(n);
    for (let r = 0; r < n; r++) outPos[r] = ++next[cols.user[r]!]!;
  }
  return { ...cols, pos: ts ? null : outPos, value: value ?? null, line };
}

/** Checks item (or user) columns: non-empty ids, equal lengths. A repeated id updates the earlier row. */
export function normalizeItemColumns<T extends ItemColumns | { source: string; ids: string[] }>(cols: T, what = 'item'): T {
  cols.ids.forEach((id, r) => {
    if (typeof id !== 'string' || id === '') throw fieldError(cols.source, r + 1, 'id', `missing ${what} id`, `every ${what} row needs a non-empty id`);
  });
  for (const [field, arr] of Object.entries(cols)) {
    if (field === 'ids' || field === 'source' || arr == null || typeof arr !== 'object' || !('length' in arr)) continue;
    if ((arr as ArrayLike<unknown>).length !== cols.ids.length) {
      throw fieldError(cols.source, 1, field, `column has ${(arr as ArrayLike<unknown>).length} rows, expected ${cols.ids.length}`, 'give every column the same length');
    }
  }
  return cols;
}
