/**
 * serve's durability: its own write-ahead log (wal.ts), a checkpoint of the serve-only state, and
 * short write sessions that move logged items, users and events into the store.
 *
 * Layout under `<dataDir>/serve/`:
 *   wal-<n>.log       log segments (records not yet known to be in the store + checkpoint)
 *   checkpoint.json   { segment: S, state }: the store holds every item/user/event of segments ≤ S, and
 *                     `state` is the serve-only state (deletions, hidden items, event ids, impressions,
 *                     click-through) as of the end of segment S. Written atomically (fsync + rename).
 *
 * Start-up: store snapshot (one read session) → checkpoint state → replay of segments > S. A crash
 * between a store write and the checkpoint leaves records that are in both the store and the log; replay
 * drops an event the snapshot already holds (same user, item, type and time: the store's own key), and
 * writing it to the store again is a no-op for the same reason.
 *
 * Store writes (every `flushIntervalMs`): the items, users and events applied since the last write go
 * to the store in one transaction; if the store is busy (an import holds it) they are kept and tried
 * again. A crash before the next checkpoint replays their log records, which is harmless (see above).
 *
 * Checkpoints (every `checkpointIntervalMs`, on shutdown, and POST /api/admin/flush): seal the current
 * segment; the seal callback takes the checkpoint state and the records to write while the state
 * covers exactly the sealed segments; the records go to the store; then the checkpoint is written
 * (without blocking the event loop on its fsyncs) and the segments it covers are removed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { GenrecError } from '../engine/errors.js';
import { log } from '../engine/log.js';
import { withStore, type StoreOptions } from '../data/store/store.js';
import type { IngestRequest } from '../data/store/driver.js';
import type { Dataset } from '../data/dataset.js';
import type { EventRecord, ItemRecord, LogRecord, UserRecord } from './records.js';
import { OnlineState, type StateCheckpoint, type StateOptions } from './state.js';
import { Wal, readSegment, segmentName, segments } from './wal.js';

const CHECKPOINT = 'checkpoint.json';
const FORMAT = 'genrec-serve-checkpoint';

interface Checkpoint { format: string; segment: number; state: StateCheckpoint }

export interface DurableOptions {
  dataDir: string;
  /** How often buffered records are written to the store, ms (0 = only at checkpoints). */
  flushIntervalMs?: number;
  /** How often a checkpoint is written and the log truncated, ms (default 60000; 0 = only on shutdown / admin). */
  checkpointIntervalMs?: number;
  /** Store options (tests may pass another driver); dir defaults to dataDir. */
  store?: StoreOptions;
  state?: StateOptions;
  /** Called after records are applied (the model host maps new items). */
  onApplied?: () => void;
  onCommit?: (records: number, bytes: number, seconds: number) => void;
}

export interface FlushReport { segment: number; events: number; items: number; users: number; seconds: number }

/** Store records → one import request (the last record per item / user wins). */
export function ingestRequest(records: readonly LogRecord[]): IngestRequest | null {
  const items = new Map<string, ItemRecord>(), users = new Map<string, UserRecord>();
  const events: EventRecord[] = [];
  for (const r of records) {
    if (r.t === 'ev') events.push(r);
    else if (r.t === 'item') items.set(r.id, { ...items.get(r.id), ...r });
    else if (r.t === 'user') users.set(r.id, { ...users.get(r.id), ...r });
  }
  if (!events.length && !items.size && !users.size) return null;
  const req: IngestRequest = { label: 'serve', unknownEventTypes: 'add' };
  if (items.size) {
    const list = [...items.values()];
    req.items = {
      kind: 'columns', source: 'serve', ids: list.map((r) => r.id),
      title: list.map((r) => r.title ?? null), text: list.map((r) => r.comment ?? null),
      categories: list.map((r) => r.cats ?? null), attributes: list.map((r) => r.labels ?? null),
    };
  }
  if (users.size) {
    const list = [...users.values()];
    req.users = { kind: 'columns', source: 'serve', ids: list.map((r) => r.id), attributes: list.map((r) => r.labels ?? null) };
  }
  if (events.length) {
    const uid = new Map<string, number>(), iid = new Map<string, number>(), tid = new Map<string, number>();
    const code = (m: Map<string, number>, k: string) => { let c = m.get(k); if (c === undefined) m.set(k, (c = m.size)); return c; };
    const n = events.length;
    const user = new Int32Array(n), item = new Int32Array(n), type = new Uint8Array(n), ts = new Float64Array(n), value = new Float32Array(n);
    events.forEach((e, r) => {
      user[r] = code(uid, e.u); item[r] = code(iid, e.i); type[r] = code(tid, e.ty); ts[r] = e.ts; value[r] = e.v ?? NaN;
    });
    req.events = {
      kind: 'columns', source: 'serve', length: n, userIds: [...uid.keys()], user, itemIds: [...iid.keys()], item,
      typeNames: [...tid.keys()], type, ts, pos: null, value,
    };
  }
  return req;
}

export class Durable {
  private timers: NodeJS.Timeout[] = [];
  private carry: LogRecord[] = [];
  /** Store writes and checkpoints run one at a time, in call order. */
  private chain: Promise<unknown> = Promise.resolve();
  lastFlush: FlushReport | null = null;
  flushErrors = 0;

  private constructor(readonly dir: string, readonly state: OnlineState, readonly wal: Wal<LogRecord>, private readonly o: DurableOptions) {}

  static async open(o: DurableOptions): Promise<Durable> {
    const dir = join(o.dataDir, 'serve');
    const t0 = performance.now();
    let cp: Checkpoint | null = null;
    if (existsSync(join(dir, CHECKPOINT))) {
      try {
        cp = JSON.parse(readFileSync(join(dir, CHECKPOINT), 'utf8')) as Checkpoint;
        if (cp.format !== FORMAT) throw new Error(`format ${cp.format}`);
      } catch (e) {
        throw new GenrecError('GENREC_E_SERVE_STATE', `cannot read ${join(dir, CHECKPOINT)}: ${(e as Error).message}`, 'the file is written atomically, so this is not a crash: restore it from a backup or remove it (deletions and event ids since the last import are then forgotten)');
      }
    }
    const ds = await loadSnapshot({ dir: o.dataDir, ...o.store, readOnly: true });
    const state = OnlineState.fromDataset(ds, o.state);
    if (cp) state.restore(cp.state);
    const after = cp?.segment ?? 0;
    const segs = segments(dir);
    let replayed = 0;
    for (const s of segs) {
      if (s <= after) continue;
      const { records } = readSegment<LogRecord>(join(dir, segmentName(s)), true);
      state.apply(records, true);
      replayed += records.length;
    }
    const next = Math.max(after, segs[segs.length - 1] ?? 0) + 1;
    let durable: Durable | null = null;
    const wal = new Wal<LogRecord>({
      dir, segment: next,
      apply: (records) => { state.apply(records); durable?.o.onApplied?.(); },
      ...(o.onCommit ? { onCommit: o.onCommit } : {}),
    });
    durable = new Durable(dir, state, wal, o);
    log.info({ users: state.users.size, items: state.items.size, checkpointSegment: after, replayedRecords: replayed, seconds: (performance.now() - t0) / 1000 }, 'serve state loaded');
    const d = durable;
    if (o.flushIntervalMs) d.timers.push(setInterval(() => { void d.flush().catch(() => {}); }, o.flushIntervalMs).unref());
    const every = o.checkpointIntervalMs ?? 60_000;
    if (every) d.timers.push(setInterval(() => { void d.checkpoint().catch(() => {}); }, every).unref());
    return durable;
  }

  /** Append a record; resolves when it is durable (or, with sync = false, written) and applied. */
  append(r: LogRecord, sync = true): Promise<void> { return this.wal.append(r, sync); }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => {});
    return p;
  }

  /** Write the records applied so far to the store (one short write session); kept for later on failure. */
  private async toStore(records: LogRecord[]): Promise<IngestRequest | null> {
    const req = ingestRequest(records);
    try {
      if (req) await withStore({ dir: this.o.dataDir, ...this.o.store, readOnly: false, waitMs: this.o.store?.waitMs ?? 2000 }, (s) => s.import(req));
    } catch (e) {
      this.carry = records;
      this.flushErrors++;
      log.warn({ err: (e as Error).message, records: records.length }, 'serve: could not write buffered records to the store; kept for the next flush');
      throw e;
    }
    this.carry = [];
    return req;
  }

  /**
   * Move the items, users and events applied so far into the store. No checkpoint: after a crash their
   * log records are replayed, and an event the store already holds is recognised by its key.
   */
  flush(): Promise<FlushReport | null> {
    return this.serial(async () => {
      const t0 = performance.now();
      const req = await this.toStore([...this.carry, ...this.state.takeUnflushed()]);
      return this.report(this.wal.current - 1, req, t0);
    });
  }

  /**
   * Seal the log segment, write what it holds to the store, then the checkpoint (serve-only state as of
   * the seal), and remove the segments it covers. Less frequent than `flush`: the checkpoint holds every
   * remembered event id and impression, so it is the costly part.
   */
  checkpoint(): Promise<FlushReport | null> {
    return this.serial(async () => {
      const t0 = performance.now();
      let cp!: StateCheckpoint;
      let records!: LogRecord[];
      const segment = await this.wal.seal(() => {
        cp = this.state.checkpoint();
        records = [...this.carry, ...this.state.takeUnflushed()];
      });
      const req = await this.toStore(records);
      await writeFileAtomicAsync(join(this.dir, CHECKPOINT), Buffer.from(JSON.stringify({ format: FORMAT, segment, state: cp } satisfies Checkpoint)));
      Wal.removeThrough(this.dir, segment);
      return this.report(segment, req, t0);
    });
  }

  private report(segment: number, req: IngestRequest | null, t0: number): FlushReport {
    const report = {
      segment, events: req?.events?.kind === 'columns' ? req.events.length : 0,
      items: req?.items?.kind === 'columns' ? req.items.ids.length : 0, users: req?.users?.kind === 'columns' ? req.users.ids.length : 0,
      seconds: (performance.now() - t0) / 1000,
    };
    this.lastFlush = report;
    if (req) log.debug(report, 'serve: written to the store');
    return report;
  }

  async close(checkpoint = true): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.wal.idle();
    if (checkpoint) await this.checkpoint().catch(() => {});
    await this.wal.close();
  }
}

/** writeFileAtomic without blocking the event loop on the fsyncs (temp file, fsync, rename, fsync dir). */
async function writeFileAtomicAsync(path: string, data: Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  const dh = await open(dirname(path), 'r');
  try { await dh.sync(); } finally { await dh.close(); }
}

/** One read session: the whole store as a Dataset with store ids, or null when there is no store yet. */
async function loadSnapshot(o: StoreOptions): Promise<Dataset | null> {
  try {
    return await withStore(o, (s) => s.dataset({ catalog: 'all', label: 'serve' }));
  } catch (e) {
    if (e instanceof GenrecError && e.code === 'GENREC_E_STORE_EMPTY') return null;
    throw e;
  }
}
