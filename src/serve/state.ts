/**
 * The online state: items, users, their histories, trending scores, idempotency keys and impressions.
 * It starts from a store snapshot (histories as CSR typed arrays) and records live changes on top (a
 * small per-user overlay), so a feedback event is in the user's next recommendation at once.
 *
 * Dense ids here ("state ids") are per process: store ids of the snapshot first, then items and users in
 * the order the log introduced them. Model ids are mapped separately (models.ts), per loaded bundle.
 */
import { GenrecError } from '../engine/errors.js';
import { IdMap, csrTokens, type Dataset } from '../data/dataset.js';
import { DEFAULT_EVENT_TYPES, checkEventTypeName } from '../data/schema.js';
import type { EventRecord, ImpressionRecord, ItemRecord, LogRecord, UserRecord } from './records.js';

const DELETED = 1, HIDDEN = 2;

function grown<T extends Float64Array | Uint8Array | Int32Array>(a: T, n: number, make: (n: number) => T): T {
  if (n <= a.length) return a;
  const b = make(Math.max(n, a.length * 2, 64));
  b.set(a);
  return b;
}

/** Live events of one user since the snapshot (small: what arrived while serving). */
interface Live { items: number[]; ts: number[]; types: number[] }

export interface StateOptions {
  /** Client event ids remembered for de-duplication (oldest forgotten first). */
  maxEventIds?: number;
  /** Recommendations remembered for click attribution (oldest forgotten first). */
  maxImpressions?: number;
  /** Half-life of trending scores, in seconds (default 7 days). */
  trendingHalfLife?: number;
}

export interface CtrRow { modelVersion: number; recommendations: number; impressions: number; clicks: number; ctr: number }

interface Impression { v: number; items: Int32Array; clicked: Uint8Array }

/** Serve-only state persisted in the checkpoint (the store has no place for it yet). */
export interface StateCheckpoint {
  /** Users whose stored events up to a time are hidden (deleted, maybe re-created since). */
  cuts: Array<[string, number]>;
  deletedUsers: string[];
  deletedItems: string[];
  hidden: string[];
  eventIds: Array<[string, number]>;
  ctr: Array<[number, number, number, number]>;
  impressions: Array<[string, number, string[], number[]]>;
  types: Array<[string, number]>;
}

export class OnlineState {
  readonly items = new IdMap();
  readonly users = new IdMap();
  itemTitle: string[] = [];
  itemCats: string[][] = [];
  itemLabels: string[][] = [];
  itemComment: string[] = [];
  private itemFlags = new Uint8Array(0);
  /** State ids of deleted or hidden items, kept as they change (every request excludes them). */
  readonly blocked = new Set<number>();
  private pop = new Float64Array(0);
  private popRef = NaN;
  private readonly halfLife: number;
  userLabels: string[][] = [];
  private userDeleted = new Uint8Array(0);
  // Snapshot histories (CSR, oldest first) and where each user's visible part starts (after a deletion).
  private base: { offsets: Int32Array; items: Int32Array; ts: Float64Array; types: Uint8Array } = { offsets: new Int32Array(1), items: new Int32Array(0), ts: new Float64Array(0), types: new Uint8Array(0) };
  private baseStart: Int32Array = new Int32Array(0);
  private readonly live = new Map<number, Live>();
  /** Deleted users → deletion time (their stored events up to then stay hidden, even if re-created). */
  private readonly deletedAt = new Map<string, number>();
  private typeCode = new Map<string, number>();
  typeNames: string[] = [];
  typeWeights: number[] = [];
  private readonly eventIds = new Map<string, number>();
  private readonly maxEventIds: number;
  private readonly impressions = new Map<string, Impression>();
  private readonly maxImpressions: number;
  private readonly ctrByVersion = new Map<number, { recs: number; shown: number; clicks: number }>();
  /** Records applied since the last `takeUnflushed` (what the store has not seen yet). */
  private unflushed: LogRecord[] = [];
  private sorted: Int32Array | null = null;
  private sortedAt = 0;
  /** Bumped on every change that can alter a recommendation's candidates (deletes, hides, new items). */
  catalogVersion = 0;
  /** Items and events counted for metrics. */
  liveEvents = 0;
  /**
   * Told of each live positive event `to` and each of the `transitionSpan` positive events before it
   * (`from`, `distance` 1 for the one directly before): the transitions the model memorises.
   */
  onTransition: ((from: number, to: number, distance: number) => void) | null = null;
  /** How far back a live event's transitions reach: the serving model's table span. */
  transitionSpan = 1;
  /** Told just before a user's events are hidden by a deletion (the model forgets their live transitions). */
  onUserDeleted: ((u: number) => void) | null = null;

  constructor(o: StateOptions = {}) {
    this.maxEventIds = o.maxEventIds ?? 1_000_000;
    this.maxImpressions = o.maxImpressions ?? 100_000;
    this.halfLife = o.trendingHalfLife ?? 7 * 86400;
    for (const t of DEFAULT_EVENT_TYPES) this.typeOf(t.name, t.weight);
  }

  /** Start from a store snapshot (store ids kept: catalog 'all'). */
  static fromDataset(ds: Dataset | null, o: StateOptions = {}): OnlineState {
    const s = new OnlineState(o);
    if (!ds) return s;
    const ty = ds.eventTypes;
    const typeMap = ty.names.map((n, c) => s.typeOf(n, ty.weights[c]!));
    const it = ds.items;
    for (let i = 0; i < it.count; i++) {
      s.items.add(it.ids[i]!);
      s.itemTitle.push(it.titles[i] ?? '');
      s.itemCats.push(csrTokens(it.categories, i));
      s.itemLabels.push(csrTokens(it.attributes, i));
      s.itemComment.push(it.texts[i] ?? '');
    }
    for (let u = 0; u < ds.users.count; u++) {
      s.users.add(ds.users.ids[u]!);
      s.userLabels.push(csrTokens(ds.users.attributes, u));
    }
    s.itemFlags = new Uint8Array(it.count);
    s.userDeleted = new Uint8Array(ds.users.count);
    const inter = ds.interactions;
    const types = Uint8Array.from(inter.types, (c) => typeMap[c]!);
    s.base = { offsets: inter.userOffsets, items: inter.items, ts: inter.timestamps, types };
    s.baseStart = inter.userOffsets.slice(0, ds.users.count);
    s.pop = new Float64Array(it.count);
    let maxTs = -Infinity;
    for (const t of inter.timestamps) if (t > maxTs) maxTs = t;
    s.popRef = Number.isFinite(maxTs) ? maxTs : NaN;
    for (let e = 0; e < inter.items.length; e++) s.bump(inter.items[e]!, s.typeWeights[types[e]!]!, inter.timestamps[e]!);
    return s;
  }

  // ---- event types ---------------------------------------------------------------------------------

  typeOf(name: string, weight = 1): number {
    let c = this.typeCode.get(name);
    if (c === undefined) {
      c = this.typeNames.length;
      this.typeCode.set(name, c);
      this.typeNames.push(name);
      this.typeWeights.push(weight);
    }
    return c;
  }

  // ---- ids -------------------------------------------------------------------------------------------

  private ensureItem(id: string): number {
    let i = this.items.get(id);
    if (i === undefined) {
      i = this.items.add(id);
      this.itemTitle.push(''); this.itemCats.push([]); this.itemLabels.push([]); this.itemComment.push('');
      this.itemFlags = grown(this.itemFlags, i + 1, (n) => new Uint8Array(n));
      this.pop = grown(this.pop, i + 1, (n) => new Float64Array(n));
      this.catalogVersion++;
    }
    return i;
  }

  private ensureUser(id: string): number {
    let u = this.users.get(id);
    if (u === undefined) {
      u = this.users.add(id);
      this.userLabels.push([]);
      this.userDeleted = grown(this.userDeleted, u + 1, (n) => new Uint8Array(n));
    }
    return u;
  }

  /**
   * Items a loaded bundle knows but the store did not (a bundle trained elsewhere): known from now on,
   * without metadata. Not logged: the bundle itself is their durable source.
   */
  addBundleItems(ids: readonly string[]): void {
    for (const id of ids) if (!this.items.has(id)) this.ensureItem(id);
  }

  /** A live item (known, not deleted), or undefined. */
  item(id: string): number | undefined {
    const i = this.items.get(id);
    return i !== undefined && !(this.itemFlags[i]! & DELETED) ? i : undefined;
  }

  user(id: string): number | undefined {
    const u = this.users.get(id);
    return u !== undefined && !this.userDeleted[u] ? u : undefined;
  }

  isDeleted(i: number): boolean { return !!(this.itemFlags[i]! & DELETED); }
  isHidden(i: number): boolean { return !!(this.itemFlags[i]! & HIDDEN); }
  /** Never recommended: deleted or hidden. */
  isBlocked(i: number): boolean { return this.itemFlags[i]! !== 0; }
  hasCategory(i: number, category: string): boolean { return this.itemCats[i]!.includes(category); }

  // ---- histories -------------------------------------------------------------------------------------

  /** Visit user u's events oldest first. */
  forEachEvent(u: number, fn: (item: number, ts: number, type: number) => void): void {
    if (u < this.baseStart.length) {
      for (let e = this.baseStart[u]!; e < this.base.offsets[u + 1]!; e++) fn(this.base.items[e]!, this.base.ts[e]!, this.base.types[e]!);
    }
    const l = this.live.get(u);
    if (l) for (let k = 0; k < l.items.length; k++) fn(l.items[k]!, l.ts[k]!, l.types[k]!);
  }

  historyLength(u: number): number {
    const b = u < this.baseStart.length ? this.base.offsets[u + 1]! - this.baseStart[u]! : 0;
    return b + (this.live.get(u)?.items.length ?? 0);
  }

  /** The last `max` items of positive events (what the generator reads), oldest first. */
  recentPositive(u: number, max: number): number[] {
    const out: number[] = [];
    const l = this.live.get(u);
    if (l) for (let k = l.items.length - 1; k >= 0 && out.length < max; k--) if (this.typeWeights[l.types[k]!]! > 0) out.push(l.items[k]!);
    if (u < this.baseStart.length) {
      for (let e = this.base.offsets[u + 1]! - 1; e >= this.baseStart[u]! && out.length < max; e--) {
        if (this.typeWeights[this.base.types[e]!]! > 0) out.push(this.base.items[e]!);
      }
    }
    return out.reverse();
  }

  /**
   * Transitions into positive events newer than `after` (seconds; null: any event with a time, for a
   * model trained on data without times) from each of the `span` positive events before them, as
   * [from0, to0, distance0, from1, ...] (state ids; distance 1: directly before): what a model trained
   * on data up to `after` has not memorised. `only`: one user's.
   */
  transitionsAfter(after: number | null, span: number, only?: number): Int32Array {
    const out: number[] = [], from = only ?? 0, to = only === undefined ? this.users.size : only + 1;
    const prev: number[] = []; // the last `span` positive items, most recent last
    for (let u = from; u < to; u++) {
      if (this.userDeleted[u]) continue;
      prev.length = 0;
      this.forEachEvent(u, (item, ts, type) => {
        if (!(this.typeWeights[type]! > 0)) return;
        if (after === null ? Number.isFinite(ts) : ts > after) for (let d = 1; d <= prev.length; d++) out.push(prev[prev.length - d]!, item, d);
        prev.push(item);
        if (prev.length > span) prev.shift();
      });
    }
    return Int32Array.from(out);
  }

  /** Every item the user has an event on (positive or not): excluded from their recommendations. */
  seen(u: number): number[] {
    const out: number[] = [];
    this.forEachEvent(u, (i) => { out.push(i); });
    return out;
  }

  // ---- trending --------------------------------------------------------------------------------------

  private bump(i: number, w: number, ts: number): void {
    if (!(w > 0)) return;
    // A client clock far ahead must not push every other item's score to zero.
    if (ts > Date.now() / 1000 + 3600) ts = Date.now() / 1000 + 3600;
    if (Number.isFinite(ts)) {
      if (Number.isNaN(this.popRef)) this.popRef = ts;
      if (ts > this.popRef + this.halfLife) {
        // Move the reference forward so scores stay in range; relative order is unchanged.
        const f = Math.pow(2, -(ts - this.popRef) / this.halfLife);
        for (let k = 0; k < this.pop.length; k++) this.pop[k]! *= f;
        this.popRef = ts;
      }
      this.pop[i]! += w * Math.pow(2, (ts - this.popRef) / this.halfLife);
    } else this.pop[i]! += w;
  }

  popularity(i: number): number { return this.pop[i] ?? 0; }

  /**
   * The top trending items passing `keep`, after skipping `offset` of them. The order is re-sorted at
   * most once a second (scores move slowly; sorting 1M items per request would not).
   */
  trending(n: number, offset: number, keep: (i: number) => boolean): number[] {
    const now = Date.now();
    if (!this.sorted || now - this.sortedAt > 1000) {
      const ids = Int32Array.from({ length: this.items.size }, (_, i) => i);
      const p = this.pop;
      this.sorted = ids.sort((a, b) => (p[b]! - p[a]!) || a - b);
      this.sortedAt = now;
    }
    const out: number[] = [];
    let skip = offset;
    for (const i of this.sorted) {
      if (this.isBlocked(i) || !keep(i)) continue;
      if (skip > 0) { skip--; continue; }
      out.push(i);
      if (out.length >= n) break;
    }
    return out;
  }

  // ---- idempotency -----------------------------------------------------------------------------------

  hasEvent(id: string): boolean { return this.eventIds.has(id); }

  // ---- applying records ------------------------------------------------------------------------------

  /** Apply durable records in log order. `replay` also drops events the snapshot already holds. */
  apply(records: readonly LogRecord[], replay = false): void {
    for (const r of records) {
      switch (r.t) {
        case 'ev': this.applyEvent(r, replay); break;
        case 'item': this.applyItem(r); break;
        case 'user': this.applyUser(r); break;
        case 'delitem': this.deleteItem(r.id); break;
        case 'deluser': this.deleteUser(r.id, r.at); break;
        case 'imp': this.applyImpression(r); break;
      }
    }
  }

  private applyEvent(r: EventRecord, replay: boolean): void {
    if (r.id !== undefined && this.eventIds.has(r.id)) return;
    const u = this.ensureUser(r.u);
    if (this.userDeleted[u]) this.userDeleted[u] = 0; // an event re-creates a deleted user, with a fresh history
    const i = this.ensureItem(r.i);
    const ty = this.typeOf(r.ty);
    if (replay && this.inBase(u, i, ty, r.ts)) { this.rememberId(r.id, r.ts); return; }
    let l = this.live.get(u);
    if (!l) this.live.set(u, (l = { items: [], ts: [], types: [] }));
    // Keep the overlay in time order (clients may send late events); the common case appends.
    let k = l.items.length;
    while (k > 0 && l.ts[k - 1]! > r.ts) k--;
    l.items.splice(k, 0, i); l.ts.splice(k, 0, r.ts); l.types.splice(k, 0, ty);
    if (this.onTransition && this.typeWeights[ty]! > 0) {
      this.positivesBefore(u, l, k, this.transitionSpan).forEach((from, d) => this.onTransition!(from, i, d + 1));
    }
    this.bump(i, this.typeWeights[ty]!, r.ts);
    this.rememberId(r.id, r.ts);
    if (r.rec !== undefined && this.typeWeights[ty]! > 0) this.click(r.rec, i);
    this.liveEvents++;
    this.unflushed.push(r);
  }

  /** The items of user u's last n positive events before live position k, most recent first. */
  private positivesBefore(u: number, l: Live, k: number, n: number): number[] {
    const out: number[] = [];
    for (let j = k - 1; j >= 0 && out.length < n; j--) if (this.typeWeights[l.types[j]!]! > 0) out.push(l.items[j]!);
    if (u < this.baseStart.length) {
      for (let e = this.base.offsets[u + 1]! - 1; e >= this.baseStart[u]! && out.length < n; e--) if (this.typeWeights[this.base.types[e]!]! > 0) out.push(this.base.items[e]!);
    }
    return out;
  }

  /** The snapshot already has this event (same key as the store's: user, item, type, time). */
  private inBase(u: number, i: number, ty: number, ts: number): boolean {
    if (u >= this.baseStart.length) return false;
    for (let e = this.base.offsets[u + 1]! - 1; e >= this.baseStart[u]!; e--) {
      const t = this.base.ts[e]!;
      if (t < ts) return false;
      if (t === ts && this.base.items[e] === i && this.base.types[e] === ty) return true;
    }
    return false;
  }

  private rememberId(id: string | undefined, ts: number): void {
    if (id === undefined) return;
    this.eventIds.set(id, ts);
    if (this.eventIds.size > this.maxEventIds) this.eventIds.delete(this.eventIds.keys().next().value!);
  }

  private setFlags(i: number, flags: number): void {
    if (this.itemFlags[i] === flags) return;
    this.itemFlags[i] = flags;
    if (flags) this.blocked.add(i); else this.blocked.delete(i);
    this.catalogVersion++;
  }

  private applyItem(r: ItemRecord): void {
    const i = this.ensureItem(r.id);
    this.setFlags(i, this.itemFlags[i]! & ~DELETED);
    if (r.title !== undefined) this.itemTitle[i] = r.title;
    if (r.cats !== undefined) this.itemCats[i] = [...r.cats];
    if (r.labels !== undefined) this.itemLabels[i] = [...r.labels];
    if (r.comment !== undefined) this.itemComment[i] = r.comment;
    if (r.hidden !== undefined) this.setFlags(i, r.hidden ? this.itemFlags[i]! | HIDDEN : this.itemFlags[i]! & ~HIDDEN);
    this.unflushed.push(r);
  }

  private applyUser(r: UserRecord): void {
    const u = this.ensureUser(r.id);
    this.userDeleted[u] = 0;
    if (r.labels !== undefined) this.userLabels[u] = [...r.labels];
    this.unflushed.push(r);
  }

  private deleteItem(id: string): void {
    const i = this.items.get(id);
    if (i === undefined) return;
    this.setFlags(i, this.itemFlags[i]! | DELETED);
  }

  private deleteUser(id: string, at: number): void {
    const u = this.users.get(id);
    if (u === undefined) return;
    if (!this.userDeleted[u]) this.onUserDeleted?.(u);
    this.userDeleted[u] = 1;
    this.userLabels[u] = [];
    this.deletedAt.set(id, Math.max(at, this.deletedAt.get(id) ?? -Infinity));
    this.live.delete(u);
    this.hideBaseUntil(u, at);
    // Buffered events of this user never reach the store.
    this.unflushed = this.unflushed.filter((r) => !(r.t === 'ev' && r.u === id) && !(r.t === 'user' && r.id === id));
  }

  /** The store keeps a deleted user's events (it has no delete yet): hide those up to `at`. */
  private hideBaseUntil(u: number, at: number): void {
    if (u >= this.baseStart.length) return;
    let e = this.baseStart[u]!;
    const end = this.base.offsets[u + 1]!;
    while (e < end && !(this.base.ts[e]! > at)) e++;
    this.baseStart[u] = e;
  }

  // ---- impressions and click-through ---------------------------------------------------------------

  private applyImpression(r: ImpressionRecord): void {
    const items = new Int32Array(r.items.length);
    r.items.forEach((id, k) => { items[k] = this.items.get(id) ?? -1; });
    this.impressions.set(r.rec, { v: r.v, items, clicked: new Uint8Array(items.length) });
    if (this.impressions.size > this.maxImpressions) this.impressions.delete(this.impressions.keys().next().value!);
    const c = this.ctrRow(r.v);
    c.recs++; c.shown += items.length;
  }

  private ctrRow(v: number): { recs: number; shown: number; clicks: number } {
    let c = this.ctrByVersion.get(v);
    if (!c) this.ctrByVersion.set(v, (c = { recs: 0, shown: 0, clicks: 0 }));
    return c;
  }

  /** A positive event citing a recommendation counts once per shown item. */
  private click(rec: string, item: number): void {
    const imp = this.impressions.get(rec);
    if (!imp) return;
    const k = imp.items.indexOf(item);
    if (k < 0 || imp.clicked[k]) return;
    imp.clicked[k] = 1;
    this.ctrRow(imp.v).clicks++;
  }

  ctr(): CtrRow[] {
    return [...this.ctrByVersion.entries()].sort((a, b) => a[0] - b[0]).map(([v, c]) => ({
      modelVersion: v, recommendations: c.recs, impressions: c.shown, clicks: c.clicks, ctr: c.shown ? c.clicks / c.shown : 0,
    }));
  }

  // ---- persistence -----------------------------------------------------------------------------------

  /** Records applied since the last call, for the store (events of deleted users already dropped). */
  takeUnflushed(): LogRecord[] {
    const out = this.unflushed;
    this.unflushed = [];
    return out;
  }

  checkpoint(): StateCheckpoint {
    const deletedUsers: string[] = [];
    for (let u = 0; u < this.users.size; u++) if (this.userDeleted[u]) deletedUsers.push(this.users.ids[u]!);
    const deletedItems: string[] = [], hidden: string[] = [];
    for (let i = 0; i < this.items.size; i++) {
      if (this.itemFlags[i]! & DELETED) deletedItems.push(this.items.ids[i]!);
      if (this.itemFlags[i]! & HIDDEN) hidden.push(this.items.ids[i]!);
    }
    const impressions: StateCheckpoint['impressions'] = [];
    for (const [rec, imp] of this.impressions) {
      impressions.push([rec, imp.v, Array.from(imp.items, (i) => (i >= 0 ? this.items.ids[i]! : '')), Array.from(imp.clicked)]);
    }
    return {
      cuts: [...this.deletedAt.entries()], deletedUsers, deletedItems, hidden, eventIds: [...this.eventIds.entries()],
      ctr: [...this.ctrByVersion.entries()].map(([v, c]) => [v, c.recs, c.shown, c.clicks]),
      impressions, types: this.typeNames.map((n, c) => [n, this.typeWeights[c]!]),
    };
  }

  /** Apply a checkpoint on top of the snapshot it was taken with. */
  restore(c: StateCheckpoint): void {
    for (const [n, w] of c.types) this.typeOf(n, w);
    for (const [id, at] of c.cuts) {
      const u = this.users.get(id);
      if (u !== undefined) this.hideBaseUntil(u, at);
      this.deletedAt.set(id, at);
    }
    for (const id of c.deletedUsers) { const u = this.users.get(id); if (u !== undefined) { this.userDeleted[u] = 1; this.userLabels[u] = []; } }
    for (const id of c.deletedItems) this.deleteItem(id);
    for (const id of c.hidden) { const i = this.items.get(id); if (i !== undefined) this.setFlags(i, this.itemFlags[i]! | HIDDEN); }
    for (const [id, ts] of c.eventIds) this.eventIds.set(id, ts);
    for (const [v, recs, shown, clicks] of c.ctr) this.ctrByVersion.set(v, { recs, shown, clicks });
    for (const [rec, v, ids, clicked] of c.impressions) {
      this.impressions.set(rec, { v, items: Int32Array.from(ids, (id) => this.items.get(id) ?? -1), clicked: Uint8Array.from(clicked) });
    }
    this.catalogVersion++;
  }
}

export function checkTypeName(name: string): void {
  try { checkEventTypeName(name); } catch (e) {
    throw new GenrecError('GENREC_E_VALIDATION', (e as Error).message, 'feedback types are 1-64 characters of letters, digits, _ . : -');
  }
}
