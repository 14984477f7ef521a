/**
 * `genrec serve`: the HTTP API (fastify) over the online state, the durable log and the model host.
 * Routes, schemas and error shapes are documented in docs/serve.md and served as OpenAPI at /docs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { GenrecError } from '../engine/errors.js';
import { log } from '../engine/log.js';
import { bundleVersions, latestBundle } from '../train/bundle.js';
import { Durable } from './durable.js';
import { Metrics } from './metrics.js';
import { ModelHost, type LoadedModel } from './models.js';
import { WHY_ITEMS } from './protocol.js';
import type { EventRecord, ItemRecord, LogRecord, UserRecord } from './records.js';
import {
  affectedSchema, errorSchema, feedbackSchema, itemPatchSchema, itemSchema, recQuery, recResponse, sessionBody, userPatchSchema, userSchema,
} from './schemas.js';
import { checkTypeName, type OnlineState } from './state.js';

export interface ServeOptions {
  dataDir: string;
  host?: string;
  /** 0 = any free port. */
  port?: number;
  /** Required on writes (header `X-API-Key: <key>` or `Authorization: Bearer <key>`); unset = no auth. */
  apiKey?: string;
  /** Also require the key on reads (recommendations, items, metrics). */
  authReads?: boolean;
  /** Largest request body, bytes (default 4 MiB). */
  bodyLimit?: number;
  /** Requests per minute per client (API key or address); 0 = no limit (default). */
  rateLimit?: number;
  /** Buffered records go to the store this often, ms (default 5000; 0 = only at checkpoints). */
  flushIntervalMs?: number;
  /** A checkpoint is written and the log truncated this often, ms (default 60000; 0 = only on shutdown and POST /api/admin/flush). */
  checkpointIntervalMs?: number;
  /** Look for a newer bundle this often, ms (default 2000; 0 = only POST /api/admin/reload). */
  watchModelsMs?: number;
  /** Run the retrain command this often, minutes (0 = never, the default). */
  retrainEveryMinutes?: number;
  /** Default: this genrec's `train --data-dir <dataDir>`. */
  retrainCommand?: string[];
  /** Beam width (default 20). */
  beam?: number;
  workers?: number;
  threads?: number;
  /** Extra wait to gather a micro-batch when a worker is free, ms (default 0: batch while workers are busy). */
  batchWaitMs?: number;
  maxBatch?: number;
  /** Static files served at / (default: the package's web/ folder, when it has an index.html). */
  webDir?: string;
}

export interface Server {
  app: FastifyInstance;
  url: string;
  state: OnlineState;
  host: ModelHost;
  durable: Durable;
  metrics: Metrics;
  /** Check for a newer bundle now; resolves with the current model version (or null). */
  reload(): Promise<number | null>;
  close(): Promise<void>;
}

const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
type Access = 'public' | 'read' | 'write';

interface RecQuery { n: number; offset: number; category?: string; excludeSeen: boolean; maxPerPrefix?: number; prefixLevels: number }
interface RecItem { ItemId: string; Score: number; Title?: string; Why: { Items: string[]; SharedPrefix: number[]; Followed: Array<{ ItemId: string; Times: number }> } | null }
interface RecBody { RecommendationId: string; ModelVersion: number; Source: 'generator' | 'trending'; Reason?: string; Items: RecItem[] }

const STATUS: Record<string, number> = {
  GENREC_E_VALIDATION: 400, GENREC_E_BAD_JSON: 400, GENREC_E_UNAUTHORIZED: 401, GENREC_E_NOT_FOUND: 404,
  GENREC_E_TOO_LARGE: 413, GENREC_E_BODY_TOO_LARGE: 413, GENREC_E_MEDIA_TYPE: 415, GENREC_E_RATE_LIMIT: 429,
  GENREC_E_WAL: 503, GENREC_E_MODEL: 503, GENREC_E_SHUTTING_DOWN: 503, GENREC_E_CODES_FULL: 507,
};

const notFound = (what: string, id: string) => new GenrecError('GENREC_E_NOT_FOUND', `${what} ${JSON.stringify(id)} does not exist`, `insert it first (POST /api/${what})`, { [what]: id });

/** Epoch seconds from a Gorse-style timestamp (ISO string or epoch seconds); now when absent. */
function seconds(t: string | number | undefined, field = 'Timestamp'): number {
  if (t === undefined) return Date.now() / 1000;
  const v = typeof t === 'number' ? t : /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : Date.parse(t) / 1000;
  if (!Number.isFinite(v)) throw new GenrecError('GENREC_E_VALIDATION', `${field} ${JSON.stringify(t)} is not a time`, 'use RFC 3339 (2024-06-30T12:00:00Z) or epoch seconds');
  return v;
}

export async function startServer(o: ServeOptions): Promise<Server> {
  const metrics = new Metrics();
  const beam = o.beam ?? 20;
  let host!: ModelHost;
  const durable = await Durable.open({
    dataDir: o.dataDir, flushIntervalMs: o.flushIntervalMs ?? 5000, checkpointIntervalMs: o.checkpointIntervalMs ?? 60_000,
    onApplied: () => host?.sync(),
    onCommit: (records, _bytes, s) => { metrics.walCommit.observe(s); metrics.walCommits.inc(); metrics.walRecords.inc({}, records); },
  });
  const state = durable.state;
  host = new ModelHost(state, { workers: o.workers, threads: o.threads, batchWaitMs: o.batchWaitMs, maxBatch: o.maxBatch });
  host.onBatch = (size, ms) => { metrics.batchSize.observe(size); metrics.batchSeconds.observe(ms / 1000); };
  const modelsDir = join(o.dataDir, 'models');
  const failedVersions = new Set<number>();
  let reloading: Promise<number | null> | null = null;
  const check = async (): Promise<number | null> => {
    const latest = latestBundle(modelsDir);
    if (latest) {
      const v = Number(basename(latest).slice(1));
      if (v > (host.current?.version ?? 0) && !failedVersions.has(v)) {
        try { await host.swapTo(latest); } catch { failedVersions.add(v); }
      }
    }
    return host.current?.version ?? null;
  };
  /** Checks run one after another; each looks at the models dir afresh when its turn comes. */
  const reload = (): Promise<number | null> => {
    const p = (reloading ?? Promise.resolve(null)).then(check);
    reloading = p;
    void p.finally(() => { if (reloading === p) reloading = null; });
    return p;
  };
  await reload();

  const bootId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  let recCounter = 0;
  const pendingIds = new Map<string, Promise<void>>();

  const app = Fastify({ logger: false, bodyLimit: o.bodyLimit ?? 4 << 20, return503OnClosing: true, forceCloseConnections: true });

  // ---- errors: always JSON with a code and a message ---------------------------------------------
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string; validation?: unknown }, req, reply) => {
    let code: string, status: number, hint = '';
    if (err instanceof GenrecError) {
      code = err.code; status = STATUS[err.code] ?? 500; hint = err.hint;
    } else if (err.validation) {
      code = 'GENREC_E_VALIDATION'; status = 400; hint = 'see the OpenAPI document at /docs for the request shape';
    } else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      code = 'GENREC_E_BODY_TOO_LARGE'; status = 413; hint = 'send smaller batches';
    } else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      code = 'GENREC_E_MEDIA_TYPE'; status = 415; hint = 'send JSON with Content-Type: application/json';
    } else if (err.statusCode === 429) {
      code = 'GENREC_E_RATE_LIMIT'; status = 429; hint = 'slow down; the limit is per API key or address per minute';
    } else if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      code = 'GENREC_E_BAD_REQUEST'; status = err.statusCode; hint = 'check the request body is valid JSON of the documented shape';
    } else {
      code = 'GENREC_E_INTERNAL'; status = 500; hint = 'this is a bug: see the server log and report it';
      log.error({ err: err.message, stack: err.stack, url: req.url }, 'request failed');
    }
    void reply.code(status).send({ code, message: err.message, ...(hint ? { hint } : {}) });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ code: 'GENREC_E_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}`, hint: 'see /docs for the API' });
  });

  // ---- auth, metrics -------------------------------------------------------------------------------
  const key = o.apiKey ? Buffer.from(o.apiKey) : null;
  const keyOk = (req: FastifyRequest) => {
    const h = req.headers['x-api-key'] ?? (typeof req.headers.authorization === 'string' ? /^Bearer\s+(.+)$/i.exec(req.headers.authorization)?.[1] : undefined);
    if (!key || typeof h !== 'string') return false;
    const b = Buffer.from(h);
    return b.length === key.length && timingSafeEqual(b, key);
  };
  app.addHook('onRequest', async (req) => {
    const access = (req.routeOptions.config as { access?: Access } | undefined)?.access ?? 'public';
    if (!key || access === 'public' || (access === 'read' && !o.authReads)) return;
    if (!keyOk(req)) throw new GenrecError('GENREC_E_UNAUTHORIZED', 'missing or wrong API key', 'send the key in the X-API-Key header (or Authorization: Bearer <key>)');
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, method: req.method, status: reply.statusCode });
    metrics.latency.observe(reply.elapsedTime / 1000, { route });
  });

  if (o.rateLimit) {
    const rateLimit = (await import('@fastify/rate-limit')).default;
    await app.register(rateLimit, {
      max: o.rateLimit, timeWindow: 60_000,
      keyGenerator: (req) => (typeof req.headers['x-api-key'] === 'string' ? `k:${req.headers['x-api-key']}` : `a:${req.ip}`),
      allowList: (req) => req.url.startsWith('/api/health') || req.url === '/metrics',
    });
  }

  const swagger = (await import('@fastify/swagger')).default;
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'genrec', version: '1', description: 'Generative recommender API (Gorse-shaped). Writes need the API key when the server has one.' },
      components: { securitySchemes: { apiKey: { type: 'apiKey', name: 'X-API-Key', in: 'header' } } },
    },
  });
  const swaggerUi = (await import('@fastify/swagger-ui')).default;
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const webDir = o.webDir ?? join(PACKAGE_ROOT, 'web');
  if (existsSync(join(webDir, 'index.html'))) {
    const fastifyStatic = (await import('@fastify/static')).default;
    // A fixed folder chosen at start-up; @fastify/static refuses paths that leave it.
    await app.register(fastifyStatic, { root: webDir, prefix: '/', index: 'index.html', wildcard: true });
  } else {
    app.get('/', { schema: { hide: true } }, async () => ({ name: 'genrec', docs: '/docs', openapi: '/openapi.json' }));
  }
  await (await import('./dashboard.js')).registerDashboard(app, { state, host }); // dashboard JSON + chart assets (web/ calls them)

  // ---- helpers -------------------------------------------------------------------------------------
  const err400 = (message: string, hint: string) => new GenrecError('GENREC_E_VALIDATION', message, hint);
  /**
   * Log records durably. Inserted items are coded before the answer, so they can be recommended at once;
   * an item first named by feedback is coded right after (the event's answer does not wait for it).
   */
  const append = async (records: LogRecord[]) => {
    await Promise.all(records.map((r) => durable.append(r)));
    const items: number[] = [];
    for (const r of records) if (r.t === 'item') items.push(state.items.get(r.id)!);
    if (items.length) await host.whenCoded(items);
  };
  const routeOpts = (access: Access, tags: string[], summary: string, schema: Record<string, unknown> = {}) => ({
    config: { access },
    schema: {
      tags, summary, ...schema,
      ...(access !== 'public' && key ? { security: [{ apiKey: [] }] } : {}),
      response: { ...((schema.response as object | undefined) ?? {}), '4xx': errorSchema, '5xx': errorSchema },
    },
  });

  const itemRecord = (b: Record<string, unknown>, idOverride?: string): ItemRecord => {
    const r: ItemRecord = { t: 'item', id: idOverride ?? (b.ItemId as string) };
    if (b.Title !== undefined) r.title = b.Title as string;
    if (b.Categories !== undefined) r.cats = b.Categories as string[];
    if (b.Labels !== undefined) r.labels = b.Labels as string[];
    if (b.IsHidden !== undefined) r.hidden = b.IsHidden as boolean;
    if (b.Comment !== undefined) r.comment = b.Comment as string;
    if (b.Timestamp !== undefined) r.ts = seconds(b.Timestamp as string | number);
    return r;
  };
  const userRecord = (b: Record<string, unknown>, idOverride?: string): UserRecord => {
    const r: UserRecord = { t: 'user', id: idOverride ?? (b.UserId as string) };
    if (b.Labels !== undefined) r.labels = b.Labels as string[];
    if (b.Comment !== undefined) r.comment = b.Comment as string;
    return r;
  };
  const itemView = (i: number) => ({
    ItemId: state.items.ids[i]!, IsHidden: state.isHidden(i), Categories: state.itemCats[i]!, Labels: state.itemLabels[i]!,
    Title: state.itemTitle[i]!, Comment: state.itemComment[i]!, Popularity: state.popularity(i),
    SemanticId: (() => { const m = host.current?.modelOf(i) ?? -1; return m >= 0 ? Array.from(host.current!.coder.codeOf(m)) : null; })(),
  });

  const recId = () => `${bootId}-${(recCounter++).toString(36)}`;

  /** Record what was shown (not awaited: an impression is not worth an fsync on the read path). */
  const impression = (rec: string, v: number, user: string | null, items: RecItem[]) => {
    durable.append({ t: 'imp', rec, v, u: user, items: items.map((x) => x.ItemId), ts: Date.now() / 1000 }, false).catch(() => {});
  };

  const trending = (q: RecQuery, exclude: ReadonlySet<number>, reason: string, user: string | null, kind: string): RecBody => {
    const list = state.trending(q.n, q.offset, (i) => !exclude.has(i) && (!q.category || state.hasCategory(i, q.category)));
    const body: RecBody = {
      RecommendationId: recId(), ModelVersion: 0, Source: 'trending', Reason: reason,
      Items: list.map((i) => ({ ItemId: state.items.ids[i]!, Score: state.popularity(i), Title: state.itemTitle[i]!, Why: null })),
    };
    metrics.recommendations.inc({ kind, source: 'trending' });
    impression(body.RecommendationId, 0, user, body.Items);
    return body;
  };

  /**
   * Generate for a history (state ids, oldest first), excluding `exclude` (state ids) plus every deleted
   * or hidden item and, with a category, every item outside it — all inside the beam search.
   */
  const generate = async (model: LoadedModel, history: readonly number[], exclude: Iterable<number>, q: RecQuery): Promise<{ items: RecItem[] } | null> => {
    const T = model.maxLen;
    const tokens = new Int32Array(T);
    let t = T;
    for (let h = history.length - 1; h >= 0 && t > 0; h--) {
      const m = model.modelOf(history[h]!);
      if (m >= 0) tokens[--t] = m + 1;
    }
    if (t === T) return null;
    const ex: number[] = [];
    for (const s of exclude) { const m = model.modelOf(s); if (m >= 0) ex.push(m); }
    for (const s of state.blocked) { const m = model.modelOf(s); if (m >= 0) ex.push(m); }
    if (q.category) {
      for (let m = 0; m < model.items; m++) {
        const s = model.modelToState[m]!;
        if (s < 0 || !state.hasCategory(s, q.category)) ex.push(m);
      }
    }
    const want = q.offset + q.n;
    const k = q.maxPerPrefix ? Math.min(Math.max(beam, want) * 4, 400) : want;
    const res = await model.generate(tokens, Int32Array.from(ex), k, Math.max(beam, k));
    const perPrefix = new Map<string, number>();
    const out: RecItem[] = [];
    let skip = q.offset;
    for (let j = 0; j < k && out.length < q.n; j++) {
      const m = res.items[j]!;
      if (m < 0) break;
      const s = model.modelToState[m]!;
      if (s < 0 || state.isBlocked(s)) continue; // deleted while this batch was running
      if (q.maxPerPrefix) {
        const pk = Array.from(model.coder.codeOf(m).subarray(0, q.prefixLevels)).join('-');
        const c = perPrefix.get(pk) ?? 0;
        if (c >= q.maxPerPrefix) continue;
        perPrefix.set(pk, c + 1);
      }
      if (skip > 0) { skip--; continue; }
      const whyIds: string[] = [], followed: Array<{ ItemId: string; Times: number }> = [];
      for (let x = 0; x < WHY_ITEMS; x++) {
        const h = res.whyItems[j * WHY_ITEMS + x]!;
        const hs = h >= 0 ? model.modelToState[h]! : -1;
        if (hs >= 0) whyIds.push(state.items.ids[hs]!);
        const f = res.whyFollowed[j * WHY_ITEMS + x]!;
        const fs = f >= 0 ? model.modelToState[f]! : -1;
        if (fs >= 0) followed.push({ ItemId: state.items.ids[fs]!, Times: res.whyTimes[j * WHY_ITEMS + x]! });
      }
      out.push({
        ItemId: state.items.ids[s]!, Score: res.scores[j]!, Title: state.itemTitle[s]!,
        Why: { Items: whyIds, SharedPrefix: Array.from(model.coder.codeOf(m).subarray(0, res.whyLen[j]!)), Followed: followed },
      });
    }
    return { items: out };
  };

  const recommend = async (history: number[], exclude: Set<number>, q: RecQuery, user: string | null, kind: string): Promise<RecBody> => {
    if (q.offset + q.n > 200 && !q.maxPerPrefix) throw err400('offset + n is at most 200', 'page through at most 200 results');
    const model = host.current;
    if (!model) return trending(q, exclude, 'no model loaded', user, kind);
    if (!history.length) return trending(q, exclude, 'no history', user, kind);
    const g = await generate(model, history, exclude, q);
    if (!g) return trending(q, exclude, 'no history item is known to the model', user, kind);
    const body: RecBody = { RecommendationId: recId(), ModelVersion: model.version, Source: 'generator', Items: g.items };
    metrics.recommendations.inc({ kind, source: 'generator' });
    impression(body.RecommendationId, model.version, user, body.Items);
    return body;
  };

  // ---- health, metrics, model ----------------------------------------------------------------------
  app.get('/api/health/live', routeOpts('public', ['health'], 'the process is up'), async () => ({ Status: 'live' }));
  app.get('/api/health/ready', routeOpts('public', ['health'], 'ready to serve: state loaded, log writable, model loaded when one exists'), async (_req, reply) => {
    const hasBundle = bundleVersions(modelsDir).length > 0;
    const ready = durable.wal.healthy && (!hasBundle || !!host.current);
    void reply.code(ready ? 200 : 503);
    return { Ready: ready, ModelVersion: host.current?.version ?? null, Items: state.items.size, Users: state.users.size, WalHealthy: durable.wal.healthy };
  });
  app.get('/metrics', { ...routeOpts(o.authReads ? 'read' : 'public', ['health'], 'Prometheus metrics'), schema: { hide: true } }, async (_req, reply) => {
    void reply.type('text/plain; version=0.0.4');
    return metrics.render();
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/api/model', routeOpts('read', ['model'], 'the loaded model'), async () => {
    const m = host.current;
    return { ModelVersion: m?.version ?? null, Items: m?.items ?? 0, BundleItems: m?.numBundleItems ?? 0, CodeSizes: m?.codeSizes ?? [], MaxLen: m?.maxLen ?? 0, Swaps: host.swaps, LastError: host.lastError };
  });
  app.post('/api/admin/reload', routeOpts('write', ['model'], 'load the newest bundle now if it is newer (the server also watches <data dir>/models)'), async () => ({ ModelVersion: await reload() }));
  app.post('/api/admin/flush', routeOpts('write', ['model'], 'write buffered records to the store and a checkpoint now'), async () => {
    const r = await durable.checkpoint();
    return { Segment: r?.segment ?? null, Events: r?.events ?? 0, Items: r?.items ?? 0, Users: r?.users ?? 0 };
  });
  app.get('/api/stats/ctr', routeOpts('read', ['feedback'], 'click-through per model version (version 0 = trending fallback)'), async () => ({
    Versions: state.ctr().map((r) => ({ ModelVersion: r.modelVersion, Recommendations: r.recommendations, Impressions: r.impressions, Clicks: r.clicks, Ctr: r.ctr })),
  }));

  // ---- items ---------------------------------------------------------------------------------------
  app.post('/api/item', routeOpts('write', ['item'], 'insert or replace an item (it gets a semantic ID and can be recommended at once)', { body: itemSchema, response: { 200: affectedSchema } }), async (req) => {
    await append([itemRecord(req.body as Record<string, unknown>)]);
    return { RowAffected: 1 };
  });
  app.post('/api/items', routeOpts('write', ['item'], 'insert items in one batch', { body: { type: 'array', items: itemSchema, maxItems: 10000 }, response: { 200: affectedSchema } }), async (req) => {
    const list = req.body as Record<string, unknown>[];
    await append(list.map((b) => itemRecord(b)));
    return { RowAffected: list.length };
  });
  const page = { type: 'object', properties: { n: { type: 'integer', minimum: 1, maximum: 10000, default: 100 }, cursor: { type: 'string', pattern: '^[0-9]*$', default: '' } } } as const;
  app.get('/api/items', routeOpts('read', ['item'], 'list items (Gorse-style cursor paging; deleted items left out)', { querystring: page }), async (req) => {
    const { n, cursor } = req.query as { n: number; cursor: string };
    const list: ReturnType<typeof itemView>[] = [];
    let i = Number(cursor || 0);
    for (; i < state.items.size && list.length < n; i++) if (!state.isDeleted(i)) list.push(itemView(i));
    return { Cursor: i < state.items.size ? String(i) : '', Items: list };
  });
  app.get('/api/item/:itemId', routeOpts('read', ['item'], 'get an item'), async (req) => {
    const id = (req.params as { itemId: string }).itemId;
    const i = state.item(id);
    if (i === undefined) throw notFound('item', id);
    return itemView(i);
  });
  app.patch('/api/item/:itemId', routeOpts('write', ['item'], 'update some fields of an item', { body: itemPatchSchema, response: { 200: affectedSchema } }), async (req) => {
    const id = (req.params as { itemId: string }).itemId;
    if (state.item(id) === undefined) throw notFound('item', id);
    await append([itemRecord(req.body as Record<string, unknown>, id)]);
    return { RowAffected: 1 };
  });
  app.delete('/api/item/:itemId', routeOpts('write', ['item'], 'delete an item: never recommended again, from the next request on', { response: { 200: affectedSchema } }), async (req) => {
    const id = (req.params as { itemId: string }).itemId;
    if (state.item(id) === undefined) throw notFound('item', id);
    await append([{ t: 'delitem', id, at: Date.now() / 1000 }]);
    return { RowAffected: 1 };
  });

  // ---- users ---------------------------------------------------------------------------------------
  app.post('/api/user', routeOpts('write', ['user'], 'insert or replace a user', { body: userSchema, response: { 200: affectedSchema } }), async (req) => {
    await append([userRecord(req.body as Record<string, unknown>)]);
    return { RowAffected: 1 };
  });
  app.post('/api/users', routeOpts('write', ['user'], 'insert users in one batch', { body: { type: 'array', items: userSchema, maxItems: 10000 }, response: { 200: affectedSchema } }), async (req) => {
    const list = req.body as Record<string, unknown>[];
    await append(list.map((b) => userRecord(b)));
    return { RowAffected: list.length };
  });
  app.get('/api/users', routeOpts('read', ['user'], 'list users (Gorse-style cursor paging)', { querystring: page }), async (req) => {
    const { n, cursor } = req.query as { n: number; cursor: string };
    const list: Array<{ UserId: string; Labels: string[]; Events: number }> = [];
    let u = Number(cursor || 0);
    for (; u < state.users.size && list.length < n; u++) {
      const id = state.users.ids[u]!;
      if (state.user(id) !== undefined) list.push({ UserId: id, Labels: state.userLabels[u]!, Events: state.historyLength(u) });
    }
    return { Cursor: u < state.users.size ? String(u) : '', Users: list };
  });
  app.get('/api/user/:userId', routeOpts('read', ['user'], 'get a user'), async (req) => {
    const id = (req.params as { userId: string }).userId;
    const u = state.user(id);
    if (u === undefined) throw notFound('user', id);
    return { UserId: id, Labels: state.userLabels[u]!, Events: state.historyLength(u) };
  });
  app.patch('/api/user/:userId', routeOpts('write', ['user'], 'update a user', { body: userPatchSchema, response: { 200: affectedSchema } }), async (req) => {
    const id = (req.params as { userId: string }).userId;
    if (state.user(id) === undefined) throw notFound('user', id);
    await append([userRecord(req.body as Record<string, unknown>, id)]);
    return { RowAffected: 1 };
  });
  app.delete('/api/user/:userId', routeOpts('write', ['user'], 'delete a user and their events', { response: { 200: affectedSchema } }), async (req) => {
    const id = (req.params as { userId: string }).userId;
    if (state.user(id) === undefined) throw notFound('user', id);
    await append([{ t: 'deluser', id, at: Date.now() / 1000 }]);
    return { RowAffected: 1 };
  });
  app.get('/api/user/:userId/feedback', routeOpts('read', ['feedback'], "a user's events, oldest first (the last n)", {
    querystring: { type: 'object', properties: { n: { type: 'integer', minimum: 1, maximum: 100000, default: 100 } } },
  }), async (req) => {
    const id = (req.params as { userId: string }).userId;
    const u = state.user(id);
    if (u === undefined) throw notFound('user', id);
    const n = (req.query as { n: number }).n;
    const out: Array<{ ItemId: string; FeedbackType: string; Timestamp: string | null }> = [];
    state.forEachEvent(u, (i, ts, ty) => {
      out.push({ ItemId: state.items.ids[i]!, FeedbackType: state.typeNames[ty]!, Timestamp: Number.isFinite(ts) ? new Date(ts * 1000).toISOString() : null });
    });
    return out.slice(Math.max(0, out.length - n));
  });

  // ---- feedback ------------------------------------------------------------------------------------
  app.post('/api/feedback', routeOpts('write', ['feedback'], 'insert feedback events (one object or an array); answered after they are durable; a repeated EventId is acknowledged, not added again', {
    body: { anyOf: [feedbackSchema, { type: 'array', items: feedbackSchema, maxItems: 10000 }] },
    response: { 200: affectedSchema },
  }), async (req) => {
    const list = (Array.isArray(req.body) ? req.body : [req.body]) as Array<Record<string, unknown>>;
    const records: EventRecord[] = [];
    const waits: Promise<void>[] = [];
    const inRequest = new Set<string>();
    let dup = 0;
    for (const f of list) {
      checkTypeName(f.FeedbackType as string);
      const r: EventRecord = { t: 'ev', u: f.UserId as string, i: f.ItemId as string, ty: f.FeedbackType as string, ts: seconds(f.Timestamp as string | number | undefined) };
      if (f.Value !== undefined) r.v = f.Value as number;
      if (f.RecommendationId !== undefined) r.rec = f.RecommendationId as string;
      const eid = f.EventId as string | undefined;
      if (eid !== undefined) {
        r.id = eid;
        // A duplicate is acknowledged only once the original is durable.
        const pending = pendingIds.get(eid);
        if (state.hasEvent(eid) || inRequest.has(eid) || pending) { dup++; if (pending) waits.push(pending); continue; }
        inRequest.add(eid);
      }
      records.push(r);
    }
    const done = append(records);
    for (const id of inRequest) pendingIds.set(id, done);
    try {
      await done;
      await Promise.all(waits);
    } finally {
      for (const id of inRequest) if (pendingIds.get(id) === done) pendingIds.delete(id);
    }
    metrics.feedback.inc({ result: 'added' }, records.length);
    if (dup) metrics.feedback.inc({ result: 'duplicate' }, dup);
    return { RowAffected: records.length, Duplicates: dup };
  });

  // ---- recommendations -----------------------------------------------------------------------------
  const forUser = async (id: string, q: RecQuery): Promise<RecBody> => {
    const u = state.user(id);
    if (u === undefined) return trending(q, new Set(), 'unknown user', id, 'user');
    const exclude = q.excludeSeen ? new Set(state.seen(u)) : new Set<number>();
    return recommend(state.recentPositive(u, host.current?.maxLen ?? 50), exclude, q, id, 'user');
  };
  app.get('/api/recommend/:userId', routeOpts('read', ['recommend'], "recommendations for a user: the generator over the user's history (trending when there is none)", {
    querystring: recQuery, response: { 200: recResponse },
  }), async (req) => forUser((req.params as { userId: string }).userId, req.query as RecQuery));
  app.get('/api/recommend/:userId/:category', routeOpts('read', ['recommend'], 'recommendations for a user in one category (Gorse\'s path form of ?category=)', {
    querystring: recQuery, response: { 200: recResponse },
  }), async (req) => {
    const p = req.params as { userId: string; category: string };
    return forUser(p.userId, { ...(req.query as RecQuery), category: p.category });
  });
  app.post('/api/session/recommend', routeOpts('read', ['recommend'], 'recommendations for an anonymous session (a list of item ids, oldest first)', {
    querystring: recQuery, body: sessionBody, response: { 200: recResponse },
  }), async (req) => {
    const q = req.query as RecQuery;
    const history: number[] = [];
    for (const x of req.body as Array<string | { ItemId: string }>) {
      const i = state.item(typeof x === 'string' ? x : x.ItemId);
      if (i !== undefined) history.push(i);
    }
    return recommend(history, q.excludeSeen ? new Set(history) : new Set(), q, null, 'session');
  });
  app.get('/api/item/:itemId/neighbors', routeOpts('read', ['recommend'], 'similar items: what the generator predicts after this item alone (trending when no model)', {
    querystring: recQuery, response: { 200: recResponse },
  }), async (req) => {
    const id = (req.params as { itemId: string }).itemId;
    const i = state.item(id);
    if (i === undefined) throw notFound('item', id);
    return recommend([i], new Set([i]), req.query as RecQuery, null, 'neighbors');
  });
  app.get('/api/popular', routeOpts('read', ['recommend'], 'trending items (time-decayed popularity)', { querystring: recQuery, response: { 200: recResponse } }), async (req) =>
    trending(req.query as RecQuery, new Set(), 'requested', null, 'popular'));

  // ---- gauges --------------------------------------------------------------------------------------
  metrics.gauge('genrec_model_version', 'version of the loaded bundle (0 = none)', () => host.current?.version ?? 0);
  metrics.gauge('genrec_items', 'items known to the server', () => state.items.size);
  metrics.gauge('genrec_users', 'users known to the server', () => state.users.size);
  metrics.gauge('genrec_model_swaps_total', 'model loads since start', () => host.swaps);
  metrics.gauge('genrec_store_flush_errors_total', 'failed writes of buffered records to the store', () => durable.flushErrors);
  metrics.gauge('genrec_process_resident_memory_bytes', 'resident memory of the process (all threads)', () => process.memoryUsage.rss());

  // ---- model watch and retraining ------------------------------------------------------------------
  const timers: NodeJS.Timeout[] = [];
  const watchMs = o.watchModelsMs ?? 2000;
  if (watchMs > 0) timers.push(setInterval(() => { if (!reloading) void reload(); }, watchMs).unref());
  let trainer: ChildProcess | null = null;
  if (o.retrainEveryMinutes && o.retrainEveryMinutes > 0) {
    const cmd = o.retrainCommand ?? [process.execPath, join(PACKAGE_ROOT, 'bin', 'genrec.js'), 'train', '--data-dir', o.dataDir];
    timers.push(setInterval(() => {
      if (trainer) return;
      void durable.flush().catch(() => {}).then(() => {
        log.info({ cmd }, 'retraining in the background');
        // A separate process: training never blocks serving; the watcher picks up the bundle it writes.
        trainer = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
        trainer.on('exit', (code) => { log.info({ code }, 'retraining finished'); trainer = null; void reload(); });
        trainer.on('error', (e) => { log.warn({ err: e.message }, 'retraining could not start'); trainer = null; });
      });
    }, o.retrainEveryMinutes * 60_000).unref());
  }

  await app.ready();
  const address = await app.listen({ host: o.host ?? '127.0.0.1', port: o.port ?? 3000 });
  const addr = app.server.address();
  const url = typeof addr === 'object' && addr ? `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}/` : `${address}/`;
  if (!key && !['127.0.0.1', 'localhost', '::1'].includes(o.host ?? '127.0.0.1')) log.warn('serving on a non-loopback address without an API key: anyone who can reach it can write');

  let closing: Promise<void> | null = null;
  return {
    app, url, state, host, durable, metrics, reload,
    close() {
      closing ??= (async () => {
        for (const t of timers) clearInterval(t);
        trainer?.kill();
        await app.close();
        await reloading?.catch(() => null);
        await durable.close();
        await host.close();
      })();
      return closing;
    },
  };
}
