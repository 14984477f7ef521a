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
 *
 * New items (codes.ts): `sync` queues the state's items the model lacks, in state order, and one drain
 * at a time codes them (the coder may be asynchronous: the tokenizer embeds the item first) and hands
 * them to the workers in batches; an item is mapped (`modelOf`) only once its workers have been sent it.
 * Writers wait for their items with `whenCoded`. Deleted items are coded too, so the codes of later items
 * do not depend on what was deleted before a restart.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { GenrecError } from '../engine/errors.js';
import { log } from '../engine/log.js';
import type { BundleManifest } from '../train/bundle.js';
import { OverlapCoder, type ItemMeta, type NewItemCoder } from './codes.js';
import { TokenizerCoder } from './tokenizer-coder.js';
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
  /** Per result, the recent history items (model ids, −1 = none) it was memorised after, and how often. */
  whyFollowed: Int32Array;
  whyTimes: Float32Array;
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

/** Items sent to the workers in one `add` (each add rebuilds a worker's trie). */
const ADD_BATCH = 256;

/** Coder errors about one item (the coder itself works): the item stays without a code. */
const ITEM_ERRORS = new Set(['GENREC_E_CODES_FULL', 'GENREC_E_VALIDATION', 'GENREC_E_TOKENIZER_INPUT']);

const metaOf = (state: OnlineState, s: number): ItemMeta => ({ categories: state.itemCats[s]!, labels: state.itemLabels[s]!, title: state.itemTitle[s]!, comment: state.itemComment[s]! });

export class LoadedModel {
  readonly numBundleItems: number;
  private numItems: number;
  private readonly modelIndex = new Map<string, number>();
  /** state id → model id (−1 = none) and back. */
  stateToModel: Int32Array = new Int32Array(0);
  modelToState: Int32Array;
  private mappedUpTo = 0;
  coder: NewItemCoder = null!;
  /** State ids waiting for a code (in state order), and those queued or being coded. */
  private queue: number[] = [];
  private readonly pending = new Set<number>();
  private draining: Promise<void> | null = null;
  private waiters: Array<{ ids: number[]; resolve: () => void }> = [];
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
    /** The bundle's tokenizer file (codes new items like training did), or null: the overlap fallback. */
    readonly tokenizerFile: string | null,
    /** The span of the bundle's memorised transitions (live ones are then sent to its workers), 0 without memory. */
    readonly memorySpan: number,
    /**
     * The bundle's newest training event (seconds; null: its data had no times; undefined: not recorded).
     * Live transitions into later events are what its table lacks.
     */
    readonly lastEventAt: number | null | undefined,
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
    let tokenizerFile: string | null = null, lastEventAt: number | null | undefined;
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as BundleManifest;
      if (manifest.files.tokenizer) tokenizerFile = join(dir, manifest.files.tokenizer);
      const at = manifest.data.lastEventAt;
      if (at === null || typeof at === 'number') lastEventAt = at;
    } catch { /* the workers read it already; without it there is no tokenizer to use */ }
    const m = new LoadedModel(dir, first!.version, first!.itemIds, first!.codes, first!.codeSizes, first!.maxLen, slots, o, tokenizerFile, first!.memorySpan, lastEventAt);
    m.onBatch = onBatch;
    return m;
  }

  private overlapCoder(state: OnlineState, codes: Int32Array, count: number): OverlapCoder {
    return new OverlapCoder(codes, count, this.codeSizes, (m) => {
      const s = this.modelToState[m]!;
      return s >= 0 ? metaOf(state, s) : null;
    }, () => {
      const top = state.trending(1, 0, (s) => this.stateToModel[s]! >= 0 && this.stateToModel[s]! < this.numBundleItems);
      return top.length ? this.stateToModel[top[0]!]! : 0;
    });
  }

  /** Map the state's items onto this model and queue the ones its bundle lacks for codes (see `drain`). */
  sync(state: OnlineState): void {
    const n = state.items.size;
    if (this.coder && (n === this.mappedUpTo || this.retired)) return;
    this.stateToModel = grownI32(this.stateToModel, n, -1);
    // The bundle's own items first, so the overlap coder's index sees their metadata.
    if (this.mappedUpTo === 0) for (let s = 0; s < n; s++) { const m = this.modelIndex.get(state.items.ids[s]!); if (m !== undefined) { this.stateToModel[s] = m; this.modelToState[m] = s; } }
    this.coder ??= this.tokenizerFile
      ? new TokenizerCoder(this.tokenizerFile, this.bundleCodes, this.numBundleItems, this.codeSizes, { threads: this.o.threads })
      : this.overlapCoder(state, this.bundleCodes, this.numBundleItems);
    for (let s = this.mappedUpTo; s < n; s++) {
      if (this.stateToModel[s]! >= 0) continue;
      const m = this.modelIndex.get(state.items.ids[s]!);
      if (m !== undefined) { this.stateToModel[s] = m; this.modelToState[m] = s; continue; }
      this.queue.push(s);
      this.pending.add(s);
    }
    this.mappedUpTo = n;
    this.flushTransitions();
    this.startDrain(state);
  }

  private startDrain(state: OnlineState): void {
    if (this.draining || !this.queue.length || this.retired) return;
    const d = this.drain(state).finally(() => {
      if (this.draining === d) this.draining = null;
      this.startDrain(state); // items queued after the drain's last look
    });
    this.draining = d;
  }

  /**
   * Code the queued items one at a time, in order, and send them to the workers in batches. An item the
   * coder refuses (no free code near it, bad metadata) stays without a code: it is logged and never
   * recommended by the generator. A coder that cannot work at all (tokenizer file unusable, text model
   * missing) is replaced by the overlap coder over the codes handed out so far.
   */
  private async drain(state: OnlineState): Promise<void> {
    while (this.queue.length && !this.retired) {
      const batch = this.queue.splice(0, ADD_BATCH);
      try {
        const ids: string[] = [], states: number[] = [], codes = new Int32Array(batch.length * this.codeSizes.length);
        for (const s of batch) {
          if (this.retired) break;
          const code = await this.codeItem(state, s);
          if (code) { codes.set(code, ids.length * code.length); ids.push(state.items.ids[s]!); states.push(s); }
        }
        if (ids.length && !this.retired) this.publish(ids, states, codes.slice(0, ids.length * this.codeSizes.length));
      } catch (e) {
        log.error({ err: (e as Error).message, version: this.version }, 'coding new items failed');
      } finally {
        for (const s of batch) this.pending.delete(s);
        this.flushTransitions();
        this.wake();
      }
    }
  }

  private async codeItem(state: OnlineState, s: number): Promise<Int32Array | null> {
    const meta = metaOf(state, s);
    let err: unknown;
    try {
      return await this.coder.assign(meta);
    } catch (e) {
      err = e;
    }
    if (this.coder instanceof TokenizerCoder && !ITEM_ERRORS.has((err as GenrecError).code)) {
      log.error({ err: (err as Error).message, code: (err as GenrecError).code, version: this.version }, 'the tokenizer cannot code new items; using the metadata-overlap coder for this model');
      await this.fallBack(state, this.coder);
      try { return await this.coder.assign(meta); } catch (e) { err = e; }
    }
    log.error({ err: (err as Error).message, code: (err as GenrecError).code, item: state.items.ids[s], version: this.version }, 'new item not coded: the generator will not recommend it');
    return null;
  }

  /** Replace a failed tokenizer coder by the overlap coder over every code it handed out. */
  private async fallBack(state: OnlineState, old: TokenizerCoder): Promise<void> {
    const L = this.codeSizes.length, n = old.count; // coded items not yet published included
    const codes = new Int32Array(n * L);
    for (let m = 0; m < n; m++) codes.set(old.codeOf(m), m * L);
    this.coder = this.overlapCoder(state, codes, n);
    await old.release().catch(() => {});
  }

  /** Map coded items and send them to every worker (before any later request: messages keep their order). */
  private publish(ids: string[], states: number[], codes: Int32Array): void {
    ids.forEach((ext, k) => {
      const mm = this.numItems++, s = states[k]!;
      this.modelIndex.set(ext, mm);
      this.modelToState = grownI32(this.modelToState, mm + 1, -1);
      this.stateToModel[s] = mm; this.modelToState[mm] = s;
    });
    for (const slot of this.slots) slot.worker.postMessage({ op: 'add', ids, codes } satisfies ToWorker);
    log.debug({ items: ids.length, version: this.version }, 'new items coded and added to the model');
  }

  /**
   * Live transitions (state ids, [from0, to0, distance0, ...]) for the workers' memory. A transition
   * waits here while one of its items waits for a code, and is sent (after that item's `add`: messages
   * keep their order) once both are mapped; one with an item the coder refused is dropped.
   */
  addTransitions(triples: ArrayLike<number>): void {
    if (!this.memorySpan || this.retired) return;
    for (let i = 0; i + 2 < triples.length; i += 3) this.waiting.push(triples[i]!, triples[i + 1]!, triples[i + 2]!);
    // One message per batch of events, not per event: sent at the end of this task, or before the next
    // generator run is dispatched, whichever comes first.
    if (!this.flushQueued) { this.flushQueued = true; queueMicrotask(() => this.flushTransitions()); }
  }

  private flushQueued = false;

  private waiting: number[] = [];
  /** Live transitions sent to the workers (metrics and tests). */
  transitionsSent = 0;

  private flushTransitions(): void {
    this.flushQueued = false;
    if (!this.waiting.length || this.retired) return;
    const ready: number[] = [], still: number[] = [];
    const waits = (s: number) => s >= this.mappedUpTo || this.pending.has(s);
    for (let i = 0; i < this.waiting.length; i += 3) {
      const a = this.waiting[i]!, b = this.waiting[i + 1]!, d = this.waiting[i + 2]!, ma = this.modelOf(a), mb = this.modelOf(b);
      if (ma >= 0 && mb >= 0) ready.push(ma, mb, d);
      else if ((ma >= 0 || waits(a)) && (mb >= 0 || waits(b))) still.push(a, b, d);
    }
    this.waiting = still;
    if (!ready.length) return;
    this.postTransitions(ready, 1);
  }

  private postTransitions(modelTriples: number[], sign: 1 | -1): void {
    const msg = { op: 'pairs', pairs: Int32Array.from(modelTriples), sign } satisfies ToWorker;
    for (const slot of this.slots) slot.worker.postMessage(msg);
    this.transitionsSent += sign * modelTriples.length / 3;
  }

  /** Live transitions replay from the state only when the bundle says where its data ends. */
  private get replays(): boolean { return this.memorySpan > 0 && this.lastEventAt !== undefined; }

  /** Send every transition the state has past the bundle's data (on load, before the model serves). */
  catchUp(state: OnlineState): void {
    if (this.replays) this.addTransitions(state.transitionsAfter(this.lastEventAt!, this.memorySpan));
  }

  /**
   * A deleted user's live transitions leave the workers' memory; those still waiting for a code are
   * dropped instead. What the bundle's own table learnt from the user stays until retraining, as the
   * model's weights do.
   */
  forgetUser(state: OnlineState, u: number): void {
    if (!this.replays || this.retired) return;
    const mine = state.transitionsAfter(this.lastEventAt!, this.memorySpan, u);
    const sent: number[] = [];
    for (let i = 0; i + 2 < mine.length; i += 3) {
      const a = mine[i]!, b = mine[i + 1]!, d = mine[i + 2]!;
      let w = -1;
      for (let j = 0; j < this.waiting.length && w < 0; j += 3) if (this.waiting[j] === a && this.waiting[j + 1] === b && this.waiting[j + 2] === d) w = j;
      if (w >= 0) { this.waiting.splice(w, 3); continue; }
      const ma = this.modelOf(a), mb = this.modelOf(b);
      if (ma >= 0 && mb >= 0) sent.push(ma, mb, d);
    }
    if (sent.length) this.postTransitions(sent, -1);
  }

  private wake(): void {
    if (!this.waiters.length) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (!this.retired && w.ids.some((s) => this.pending.has(s))) still.push(w);
      else w.resolve();
    }
    this.waiters = still;
  }

  /** Resolves once none of these state ids waits for a code any more (coded, refused, or the model retired). */
  whenCoded(stateIds: readonly number[]): Promise<void> {
    const ids = stateIds.filter((s) => this.pending.has(s));
    if (!ids.length || this.retired) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ ids, resolve }));
  }

  /** Nothing queued or being coded. */
  get idle(): boolean { return !this.draining && this.queue.length === 0; }

  /** Resolves when the items queued so far (and any queued meanwhile) are coded. */
  async settled(): Promise<void> { while (this.draining) await this.draining; }

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
    if (this.flushQueued) this.flushTransitions(); // every pair taken in so far reaches the worker first
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
        whyFollowed: m.whyFollowed.subarray(u * k * WHY_ITEMS, (u + 1) * k * WHY_ITEMS), whyTimes: m.whyTimes.subarray(u * k * WHY_ITEMS, (u + 1) * k * WHY_ITEMS),
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
    await this.settled();
    for (const s of this.queue) this.pending.delete(s);
    this.queue = [];
    this.wake();
    await this.coder?.release?.().catch(() => {});
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
    // Each live transition goes to the model serving now; a model loaded later replays them from the state.
    state.onTransition = (from, to, distance) => this.current?.addTransitions([from, to, distance]);
    state.onUserDeleted = (u) => this.current?.forgetUser(state, u);
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
      // Code every item the bundle lacks, including those arriving meanwhile, while the old model serves.
      next.sync(this.state);
      while (!next.idle && !this.closed) { await next.settled(); next.sync(this.state); }
      if (this.closed) { await next.retire(); return null; }
      // Synchronous from the last sync to the assignment: no item or event can slip in between.
      this.state.transitionSpan = next.memorySpan || 1;
      next.catchUp(this.state);
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

  /** Resolves once the current model has coded these items (state ids), or refused them. */
  whenCoded(stateIds: readonly number[]): Promise<void> { return this.current?.whenCoded(stateIds) ?? Promise.resolve(); }

  async close(): Promise<void> {
    this.closed = true;
    await this.swapping; // a load in flight ends retired, not current
    const m = this.current;
    this.current = null;
    await m?.retire();
  }
}
