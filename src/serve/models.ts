/**
 * The model host: loaded bundles in worker threads, micro-batching, and atomic hot swap.
 *
 * Micro-batching: a request waits in a queue (one per (k, beam), so a user's results never depend on
 * who shares the batch) until a worker is free and either the queue holds `maxBatch` requests or its
 * oldest has waited `batchWaitMs`; then up to `maxBatch` requests go to the worker as ONE generator run
 * (one encode for all their histories, one decode per code level for all their beams). With the default
 * `batchWaitMs` 0 a request waits only while the workers are busy — at most one run, a few ms — and
 * everything that arrived meanwhile goes in the next run. Measured on a busy 2-core machine this beat a
 * 2 ms gathering window: each timer wake-up is one more chance to wait for a CPU.
 *
 * Hot swap: the new bundle is loaded in new workers while the old ones serve; the new model is given
 * every item the state has that its bundle lacks; then `current` is replaced in one assignment. A request
 * is tied to the model it was built for (its histories are in that model's ids), so requests queued or
 * running on the old model finish there, and its workers stop once it is idle. No request fails.
 */
import { Worker } from 'node:worker_threads';
import { GenrecError } from '../engine/errors.js';
import { log } from '../engine/log.js';
import { OverlapCoder, type NewItemCoder } from './codes.js';
import { WHY_ITEMS, type FromWorker, type ToWorker } from './protocol.js';
import type { OnlineState } from './state.js';

export interface HostOptions {
  /** Worker threads per model (each loads the bundle). */
  workers?: number;
  /** ORT intra-op threads per worker. */
  threads?: number;
  batchWaitMs?: number;
  maxBatch?: number;
}

export interface GenResult {
  /** Model ids, −1 = none. */
  items: Int32Array;
  scores: Float32Array;
  whyItems: Int32Array;
  whyLen: Int32Array;
}

interface Req {
  tokens: Int32Array;
  exclude: Int32Array;
  at: number;
  resolve: (r: GenResult) => void;
  reject: (e: Error) => void;
}

interface Slot { worker: Worker; busy: boolean; dead: boolean }

const grownI32 = (a: Int32Array, n: number, fill: number): Int32Array => {
  if (n <= a.length) return a;
  const b = new Int32Array(Math.max(n, a.length * 2, 64)).fill(fill);
  b.set(a);
  return b;
};

export class LoadedModel {
  readonly numBundleItems: number;
  private numItems: number;
  private readonly modelIndex = new Map<string, number>();
  /** state id → model id (−1 = none) and back. */
  stateToModel: Int32Array = new Int32Array(0);
  modelToState: Int32Array;
  private mappedUpTo = 0;
  private readonly skipped = new Set<number>();
  coder: NewItemCoder & { codeOf(m: number): Int32Array } = null!;
  private readonly queues = new Map<string, Req[]>();
  private timer: NodeJS.Timeout | null = null;
  private nextId = 0;
  private readonly inflight = new Map<number, { reqs: Req[]; slot: Slot; k: number }>();
  private retired = false;
  private onIdle: (() => void) | null = null;
  /** Batches run and requests in them (metrics). */
  stats = { batches: 0, requests: 0, workerMs: 0 };
  onBatch: ((size: number, ms: number) => void) | null = null;

  private constructor(
    readonly dir: string, readonly version: number, readonly itemIds: string[], codes: Int32Array,
    readonly codeSizes: number[], readonly maxLen: number, private readonly slots: Slot[], private readonly o: Required<HostOptions>,
  ) {
    this.numBundleItems = itemIds.length;
    this.numItems = itemIds.length;
    itemIds.forEach((id, m) => this.modelIndex.set(id, m));
    this.modelToState = new Int32Array(itemIds.length).fill(-1);
    this.bundleCodes = codes;
    for (const s of slots) s.worker.on('message', (m: FromWorker) => this.onMessage(s, m));
    for (const s of slots) {
      s.worker.on('error', (e) => this.onWorkerDeath(s, e));
      s.worker.on('exit', (code) => { if (!this.retired) this.onWorkerDeath(s, new Error(`exited with code ${code}`)); });
    }
  }
  private bundleCodes: Int32Array;

  static async load(dir: string, o: Required<HostOptions>, onBatch: ((size: number, ms: number) => void) | null = null): Promise<LoadedModel> {
    const url = new URL('./model-worker.js', import.meta.url);
    const slots: Slot[] = [];
    let first: Extract<FromWorker, { op: 'loaded' }> | null = null;
    try {
      for (let w = 0; w < o.workers; w++) {
        const worker = new Worker(url, { workerData: { dir, threads: o.threads } });
        slots.push({ worker, busy: false, dead: false });
        const msg = await new Promise<FromWorker>((resolve, reject) => {
          worker.once('message', resolve);
          worker.once('error', reject);
          worker.once('exit', (code) => reject(new Error(`model worker exited with code ${code}`)));
        });
        worker.removeAllListeners('error'); worker.removeAllListeners('exit');
        if (msg.op === 'fatal') throw new Error(msg.message);
        if (msg.op !== 'loaded') throw new Error(`unexpected message ${msg.op}`);
        first ??= msg;
      }
    } catch (e) {
      await Promise.all(slots.map((s) => s.worker.terminate()));
      throw new GenrecError('GENREC_E_MODEL_LOAD', `cannot load the model bundle ${dir}: ${(e as Error).message}`, 'check the bundle (genrec train writes them under <data dir>/models/vN); the server keeps its current model');
    }
    const m = new LoadedModel(dir, first!.version, first!.itemIds, first!.codes, first!.codeSizes, first!.maxLen, slots, o);
    m.onBatch = onBatch;
    return m;
  }

  /** Map the state's items onto this model, giving codes to the ones its bundle lacks (and the workers). */
  sync(state: OnlineState): void {
    if (!this.coder) {
      this.coder = new OverlapCoder(this.bundleCodes, this.numBundleItems, this.codeSizes, (m) => {
        const s = this.modelToState[m]!;
        return s >= 0 ? { categories: state.itemCats[s]!, labels: state.itemLabels[s]!, title: state.itemTitle[s]! } : null;
      }, () => {
        const top = state.trending(1, 0, (s) => this.stateToModel[s]! >= 0 && this.stateToModel[s]! < this.numBundleItems);
        return top.length ? this.stateToModel[top[0]!]! : 0;
      });
    }
    const n = state.items.size;
    if (n === this.mappedUpTo && this.skipped.size === 0) return;
    this.stateToModel = grownI32(this.stateToModel, n, -1);
    const newIds: string[] = [], newCodes: number[] = [];
    const visit = (s: number) => {
      const ext = state.items.ids[s]!;
      const m = this.modelIndex.get(ext);
      if (m !== undefined) { this.stateToModel[s] = m; this.modelToState[m] = s; return; }
      if (state.isDeleted(s)) { this.skipped.add(s); return; }
      this.skipped.delete(s);
      const code = this.coder.assign({ categories: state.itemCats[s]!, labels: state.itemLabels[s]!, title: state.itemTitle[s]! });
      const mm = this.numItems++;
      this.modelIndex.set(ext, mm);
      this.modelToState = grownI32(this.modelToState, mm + 1, -1);
      this.stateToModel[s] = mm; this.modelToState[mm] = s;
      newIds.push(ext); newCodes.push(...code);
    };
    // The bundle's own items first, so the coder's overlap index sees their metadata.
    if (this.mappedUpTo === 0) for (let s = 0; s < n; s++) { const m = this.modelIndex.get(state.items.ids[s]!); if (m !== undefined) { this.stateToModel[s] = m; this.modelToState[m] = s; } }
    for (const s of [...this.skipped]) visit(s);
    for (let s = this.mappedUpTo; s < n; s++) if (this.stateToModel[s]! < 0) visit(s);
    this.mappedUpTo = n;
    if (newIds.length) {
      const codes = Int32Array.from(newCodes);
      for (const slot of this.slots) slot.worker.postMessage({ op: 'add', ids: newIds, codes } satisfies ToWorker);
      log.debug({ items: newIds.length, version: this.version }, 'new items coded and added to the model');
    }
  }

  get items(): number { return this.numItems; }

  /** Model ids of the items the model knows (bundle and added). */
  modelOf(stateId: number): number { return stateId < this.stateToModel.length ? this.stateToModel[stateId]! : -1; }

  /** Queue one user's generation: tokens [maxLen] (model id + 1, left-padded), exclusions in model ids. */
  generate(tokens: Int32Array, exclude: Int32Array, k: number, beam: number): Promise<GenResult> {
    if (this.slots.every((s) => s.dead)) return Promise.reject(new GenrecError('GENREC_E_MODEL', 'the model workers have stopped', 'restart the server; see its log'));
    return new Promise((resolve, reject) => {
      const key = `${k}:${beam}`;
      let q = this.queues.get(key);
      if (!q) this.queues.set(key, (q = []));
      q.push({ tokens, exclude, at: performance.now(), resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    const now = performance.now();
    let wait = Infinity;
    for (;;) {
      const slot = this.slots.find((s) => !s.busy && !s.dead);
      if (!slot) return;
      // The queue whose oldest request is ready (full, or waited long enough), oldest first.
      let pick: string | null = null, oldest = Infinity;
      for (const [key, q] of this.queues) {
        if (!q.length) continue;
        const ready = q.length >= this.o.maxBatch || now - q[0]!.at >= this.o.batchWaitMs;
        if (ready && q[0]!.at < oldest) { pick = key; oldest = q[0]!.at; }
        if (!ready) wait = Math.min(wait, this.o.batchWaitMs - (now - q[0]!.at));
      }
      if (!pick) break;
      const q = this.queues.get(pick)!;
      const reqs = q.splice(0, this.o.maxBatch);
      if (!q.length) this.queues.delete(pick);
      const [k, beam] = pick.split(':').map(Number) as [number, number];
      this.dispatch(slot, reqs, k, beam);
    }
    if (wait < Infinity) this.timer = setTimeout(() => this.pump(), Math.max(0, wait));
  }

  private dispatch(slot: Slot, reqs: Req[], k: number, beam: number): void {
    const U = reqs.length, T = this.maxLen;
    const items = new Int32Array(U * T);
    const exOff = new Int32Array(U + 1);
    reqs.forEach((r, u) => { items.set(r.tokens, u * T); exOff[u + 1] = exOff[u]! + r.exclude.length; });
    const exItems = new Int32Array(exOff[U]!);
    reqs.forEach((r, u) => exItems.set(r.exclude, exOff[u]!));
    const id = this.nextId++;
    slot.busy = true;
    this.inflight.set(id, { reqs, slot, k });
    slot.worker.postMessage({ op: 'rec', id, users: U, items, exOff, exItems, k, beam } satisfies ToWorker, [items.buffer, exOff.buffer, exItems.buffer]);
  }

  private onMessage(slot: Slot, m: FromWorker): void {
    if (m.op !== 'res' && m.op !== 'err') return;
    const job = this.inflight.get(m.id);
    if (!job) return;
    this.inflight.delete(m.id);
    slot.busy = false;
    if (m.op === 'err') {
      const e = new GenrecError('GENREC_E_MODEL', `generation failed: ${m.message}`, 'see the server log; report it if it repeats');
      for (const r of job.reqs) r.reject(e);
    } else {
      const k = job.k;
      this.stats.batches++; this.stats.requests += job.reqs.length; this.stats.workerMs += m.ms;
      this.onBatch?.(job.reqs.length, m.ms);
      job.reqs.forEach((r, u) => r.resolve({
        items: m.items.subarray(u * k, u * k + k), scores: m.scores.subarray(u * k, u * k + k),
        whyItems: m.whyItems.subarray(u * k * WHY_ITEMS, (u + 1) * k * WHY_ITEMS), whyLen: m.whyLen.subarray(u * k, u * k + k),
      }));
    }
    this.pump();
    this.checkIdle();
  }

  private onWorkerDeath(slot: Slot, e: Error): void {
    if (slot.dead) return;
    slot.dead = true;
    log.error({ err: e.message, version: this.version }, 'model worker died');
    for (const [id, job] of this.inflight) {
      if (job.slot !== slot) continue;
      this.inflight.delete(id);
      for (const r of job.reqs) r.reject(new GenrecError('GENREC_E_MODEL', `the model worker died: ${e.message}`, 'retry; restart the server if it repeats'));
    }
    if (this.slots.every((s) => s.dead)) {
      for (const q of this.queues.values()) for (const r of q) r.reject(new GenrecError('GENREC_E_MODEL', 'the model workers have stopped', 'restart the server; see its log'));
      this.queues.clear();
    } else this.pump();
  }

  private checkIdle(): void {
    if (this.onIdle && this.inflight.size === 0 && [...this.queues.values()].every((q) => !q.length)) { const f = this.onIdle; this.onIdle = null; f(); }
  }

  /** Stop taking part: wait until queued and running batches are done, then stop the workers. */
  retire(): Promise<void> {
    this.retiring ??= this.doRetire();
    return this.retiring;
  }

  private retiring: Promise<void> | null = null;

  private async doRetire(): Promise<void> {
    await new Promise<void>((r) => { this.onIdle = r; this.checkIdle(); });
    this.retired = true;
    if (this.timer) clearTimeout(this.timer);
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

export class ModelHost {
  current: LoadedModel | null = null;
  private swapping: Promise<LoadedModel | null> | null = null;
  swaps = 0;
  lastError: string | null = null;
  private closed = false;
  /** Observes every generator run: requests in it and worker milliseconds. */
  onBatch: ((size: number, ms: number) => void) | null = null;
  readonly o: Required<HostOptions>;

  constructor(private readonly state: OnlineState, o: HostOptions = {}) {
    this.o = { workers: o.workers ?? 1, threads: o.threads ?? 1, batchWaitMs: o.batchWaitMs ?? 0, maxBatch: o.maxBatch ?? 32 };
  }

  /** Load a bundle and make it current atomically (one swap at a time); the old model drains and stops. */
  swapTo(dir: string): Promise<LoadedModel | null> {
    const run = async () => {
      const t0 = performance.now();
      let next: LoadedModel;
      try {
        next = await LoadedModel.load(dir, this.o, this.onBatch);
      } catch (e) {
        this.lastError = (e as Error).message;
        log.error({ dir, err: this.lastError }, 'model load failed; keeping the current model');
        throw e;
      }
      if (this.closed) { await next.retire(); return null; }
      this.state.addBundleItems(next.itemIds);
      next.sync(this.state); // synchronous from here to the assignment: no item can slip in between
      const old = this.current;
      this.current = next;
      this.swaps++;
      this.lastError = null;
      log.info({ version: next.version, items: next.items, previous: old?.version ?? null, seconds: (performance.now() - t0) / 1000 }, 'model loaded');
      if (old) void old.retire();
      return next;
    };
    const p = (this.swapping ?? Promise.resolve(null)).then(run);
    const tail = p.catch(() => null);
    this.swapping = tail;
    void tail.then(() => { if (this.swapping === tail) this.swapping = null; });
    return p;
  }

  /** After state changes: map new items onto the current model. */
  sync(): void { this.current?.sync(this.state); }

  async close(): Promise<void> {
    this.closed = true;
    await this.swapping; // a load in flight ends retired, not current
    const m = this.current;
    this.current = null;
    await m?.retire();
  }
}
