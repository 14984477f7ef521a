/**
 * The dashboard's server side: read-only JSON endpoints under /api/dashboard/ that the page in web/
 * calls, the charting library's files from node_modules (installing genrec needs only the npm
 * registry; the browser needs no CDN), and a ring buffer of recent request latencies.
 *
 * Everything here reads what the server already holds (online state, loaded model, its bundle's
 * manifest and its training run's curves.json). No endpoint takes a path: the curves file is found
 * through the manifest of the bundle the server loaded from its own data dir.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { GenrecError } from '../engine/errors.js';
import type { BundleManifest } from '../train/bundle.js';
import type { LoadedModel, ModelHost } from './models.js';
import type { OnlineState } from './state.js';

export interface DashboardContext {
  state: OnlineState;
  host: ModelHost;
}

/** Requests remembered for the latency view (about a minute at 500 rps; older ones fall off). */
const LATENCY_RING = 1 << 15;
/** Seconds shown in the latency series. */
const LATENCY_WINDOW = 120;
/** Items listed under a prefix, and sample titles per child code. */
const MAX_PREFIX_ITEMS = 100, SAMPLE_TITLES = 3;

type Kind = 'recommend' | 'write' | 'read';

/** What kind of request a route is, for the latency chart; null = not counted (the dashboard itself). */
function kindOf(method: string, route: string | undefined): Kind | null {
  if (!route || route.startsWith('/api/dashboard') || route.startsWith('/vendor/') || route === '/*' || route === '/' || route === '/metrics') return null;
  if (route.startsWith('/api/recommend') || route === '/api/session/recommend' || route.endsWith('/neighbors')) return 'recommend';
  return method === 'GET' ? 'read' : 'write';
}
const KINDS: Kind[] = ['recommend', 'read', 'write'];

/** Fixed-size ring of (time, milliseconds, kind): O(1) per request, no allocation. */
class LatencyRing {
  private readonly at = new Float64Array(LATENCY_RING);
  private readonly ms = new Float32Array(LATENCY_RING);
  private readonly kind = new Uint8Array(LATENCY_RING);
  private n = 0;

  add(atMs: number, ms: number, kind: Kind): void {
    const k = this.n++ % LATENCY_RING;
    this.at[k] = atMs; this.ms[k] = ms; this.kind[k] = KINDS.indexOf(kind);
  }

  /** Per-second series over the last `window` seconds: requests and p50/p95/p99 per kind. */
  series(nowMs: number, window: number) {
    const t0 = Math.floor(nowMs / 1000) - window + 1;
    const buckets = KINDS.map(() => Array.from({ length: window }, () => [] as number[]));
    const all = KINDS.map(() => [] as number[]);
    for (let j = 0; j < Math.min(this.n, LATENCY_RING); j++) {
      const s = Math.floor(this.at[j]! / 1000) - t0;
      if (s < 0 || s >= window) continue;
      buckets[this.kind[j]!]![s]!.push(this.ms[j]!);
      all[this.kind[j]!]!.push(this.ms[j]!);
    }
    const q = (xs: number[], p: number) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]! : null);
    const summary = (xs: number[]) => { xs.sort((a, b) => a - b); return { Count: xs.length, P50: q(xs, 0.5), P95: q(xs, 0.95), P99: q(xs, 0.99) }; };
    return {
      Start: t0, Window: window,
      Kinds: Object.fromEntries(KINDS.map((k, i) => {
        const per = buckets[i]!.map(summary);
        return [k, { Summary: summary(all[i]!), Rps: per.map((b) => b.Count), P50: per.map((b) => b.P50), P95: per.map((b) => b.P95) }];
      })),
    };
  }
}

/** Model ids sorted by semantic ID, so a prefix is one contiguous range (rebuilt when items are added). */
interface CodeIndex { model: LoadedModel; items: number; L: number; order: Int32Array; codes: Int32Array }

function buildCodeIndex(model: LoadedModel): CodeIndex {
  const n = model.items, L = model.codeSizes.length;
  const codes = new Int32Array(n * L);
  for (let m = 0; m < n; m++) codes.set(model.coder.codeOf(m), m * L);
  const order = Int32Array.from({ length: n }, (_, m) => m).sort((a, b) => {
    for (let l = 0; l < L; l++) { const d = codes[a * L + l]! - codes[b * L + l]!; if (d) return d; }
    return a - b;
  });
  return { model, items: n, L, order, codes };
}

/** [lo, hi) of positions in `order` whose code starts with `prefix`. */
function prefixRange(ix: CodeIndex, prefix: number[]): [number, number] {
  const cmp = (m: number) => {
    for (let l = 0; l < prefix.length; l++) { const d = ix.codes[m * ix.L + l]! - prefix[l]!; if (d) return d; }
    return 0;
  };
  let lo = 0, hi = ix.order.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (cmp(ix.order[mid]!) < 0) lo = mid + 1; else hi = mid; }
  let end = lo, top = ix.order.length;
  while (end < top) { const mid = (end + top) >> 1; if (cmp(ix.order[mid]!) <= 0) end = mid + 1; else top = mid; }
  return [lo, end];
}

/** The charting library's browser build and stylesheet, read once from the installed package. */
function vendorFiles(): Map<string, { type: string; body: Buffer }> {
  const require = createRequire(import.meta.url);
  let dir: string;
  try {
    dir = dirname(require.resolve('uplot/package.json'));
  } catch {
    throw new GenrecError('GENREC_E_DEPENDENCY', 'the uplot package (the dashboard\'s charts) is not installed', 'reinstall genrec\'s dependencies: npm ci');
  }
  return new Map([
    ['uplot.js', { type: 'text/javascript; charset=utf-8', body: readFileSync(join(dir, 'dist', 'uPlot.iife.min.js')) }],
    ['uplot.css', { type: 'text/css; charset=utf-8', body: readFileSync(join(dir, 'dist', 'uPlot.min.css')) }],
  ]);
}

interface Curves { metric: string; epochs: Array<{ epoch: number; step: number; loss: number; lr: number; seconds: number; metrics?: Record<string, number> }>; stepLoss: number[] }

/** Registers the dashboard's routes and latency hook on the server's app (before it is ready). */
export async function registerDashboard(app: FastifyInstance, ctx: DashboardContext): Promise<void> {
  const { state, host } = ctx;
  const started = Date.now();
  const ring = new LatencyRing();
  app.addHook('onResponse', async (req, reply) => {
    const kind = kindOf(req.method, req.routeOptions.url);
    if (kind) ring.add(Date.now(), reply.elapsedTime, kind);
  });

  const vendor = vendorFiles();
  app.get('/vendor/:file', { schema: { hide: true } }, async (req, reply) => {
    const f = vendor.get((req.params as { file: string }).file);
    if (!f) throw new GenrecError('GENREC_E_NOT_FOUND', 'no such dashboard asset', 'the dashboard loads /vendor/uplot.js and /vendor/uplot.css');
    void reply.type(f.type).header('cache-control', 'public, max-age=3600');
    return f.body;
  });

  const opts = (summary: string, extra: Record<string, unknown> = {}) => ({ config: { access: 'read' }, schema: { tags: ['dashboard'], summary, ...extra } });

  const manifests = new Map<string, BundleManifest>();
  const manifestOf = (m: LoadedModel): BundleManifest => {
    let mf = manifests.get(m.dir);
    if (!mf) manifests.set(m.dir, (mf = JSON.parse(readFileSync(join(m.dir, 'manifest.json'), 'utf8')) as BundleManifest));
    return mf;
  };
  const requireModel = (): LoadedModel => {
    const m = host.current;
    if (!m) throw new GenrecError('GENREC_E_NOT_FOUND', 'no model is loaded', 'train one (`genrec train` or `genrec demo`); the server picks up new bundles by itself');
    return m;
  };
  const codeOfState = (s: number): number[] | null => {
    const m = host.current, mm = m ? m.modelOf(s) : -1;
    return mm >= 0 ? Array.from(m!.coder.codeOf(mm)) : null;
  };

  app.get('/api/dashboard/overview', opts('counts, the loaded model, its offline metrics and online click-through per model version'), async () => {
    let events = 0;
    for (let u = 0; u < state.users.size; u++) if (state.user(state.users.ids[u]!) !== undefined) events += state.historyLength(u);
    const m = host.current;
    const mf = m ? manifestOf(m) : null;
    return {
      Users: state.users.size, Items: state.items.size, Events: events, LiveEvents: state.liveEvents, UptimeSeconds: (Date.now() - started) / 1000,
      Model: m && mf ? {
        Version: m.version, CreatedAt: mf.createdAt, Items: m.items, BundleItems: m.numBundleItems, CodeSizes: m.codeSizes, MaxLen: m.maxLen,
        Parameters: mf.model.parameters, Arch: mf.model.config.arch, DModel: mf.model.config.dModel, Layers: mf.model.config.nLayer, Heads: mf.model.config.nHead,
        Tokenizer: mf.tokenizer, Data: mf.data, Metrics: mf.metrics, Train: mf.train,
      } : null,
      Ctr: state.ctr().map((r) => ({ ModelVersion: r.modelVersion, Recommendations: r.recommendations, Impressions: r.impressions, Clicks: r.clicks, Ctr: r.ctr })),
    };
  });

  app.get('/api/dashboard/curves', opts('training curves of the loaded model: loss and validation metrics per epoch (from its run\'s curves.json)'), async () => {
    const m = requireModel();
    const mf = manifestOf(m);
    const runDir = typeof mf.train.runDir === 'string' ? mf.train.runDir : null;
    const missing = new GenrecError('GENREC_E_NOT_FOUND', `model v${m.version} has no training curves`, 'bundles written by `genrec train` or `genrec demo` record their run directory; its curves.json must still exist');
    if (!runDir) throw missing;
    let curves: Curves;
    try { curves = JSON.parse(readFileSync(join(runDir, 'curves.json'), 'utf8')) as Curves; } catch { throw missing; }
    // A run directory reused by a later run may hold more epochs than this bundle saw.
    const epochs = typeof mf.train.epochs === 'number' ? curves.epochs.filter((e) => e.epoch <= (mf.train.epochs as number)) : curves.epochs;
    return {
      ModelVersion: m.version, Metric: curves.metric, BestEpoch: mf.train.bestEpoch ?? null,
      Epochs: epochs.map((e) => ({ Epoch: e.epoch, Step: e.step, Loss: e.loss, Lr: e.lr, Seconds: e.seconds, Metrics: e.metrics ?? null })),
    };
  });

  app.get('/api/dashboard/latency', opts('request latency over the last two minutes, per second, by kind (recommend, read, write); the dashboard\'s own requests are left out'), async () =>
    ring.series(Date.now(), LATENCY_WINDOW));

  let index: CodeIndex | null = null;
  app.get('/api/dashboard/codes', opts('the semantic-ID tree under a prefix: child codes with item counts and sample titles, and the items when few', {
    querystring: { type: 'object', properties: { prefix: { type: 'string', maxLength: 200, pattern: '^[0-9]*(,[0-9]+)*$', default: '' } } },
  }), async (req) => {
    const m = requireModel();
    if (!index || index.model !== m || index.items !== m.items) index = buildCodeIndex(m);
    const ix = index;
    const raw = (req.query as { prefix: string }).prefix;
    const prefix = raw ? raw.split(',').map(Number) : [];
    if (prefix.length >= ix.L) throw new GenrecError('GENREC_E_VALIDATION', `a prefix has at most ${ix.L - 1} codes`, 'drop the last code');
    const [lo, hi] = prefixRange(ix, prefix);
    const level = prefix.length;
    const item = (mm: number) => {
      const s = m.modelToState[mm]!;
      return { ItemId: m.itemIds[mm] ?? (s >= 0 ? state.items.ids[s]! : String(mm)), Title: s >= 0 ? state.itemTitle[s]! : '', SemanticId: Array.from(ix.codes.subarray(mm * ix.L, (mm + 1) * ix.L)) };
    };
    const children: Array<{ Code: number; Items: number; Sample: Array<{ ItemId: string; Title: string }> }> = [];
    for (let p = lo; p < hi;) {
      const code = ix.codes[ix.order[p]! * ix.L + level]!;
      let q = p;
      while (q < hi && ix.codes[ix.order[q]! * ix.L + level] === code) q++;
      const sample = [];
      for (let r = p; r < Math.min(q, p + SAMPLE_TITLES); r++) { const it = item(ix.order[r]!); sample.push({ ItemId: it.ItemId, Title: it.Title }); }
      children.push({ Code: code, Items: q - p, Sample: sample });
      p = q;
    }
    const items = hi - lo <= MAX_PREFIX_ITEMS ? Array.from(ix.order.subarray(lo, hi), item) : null;
    return { ModelVersion: m.version, CodeSizes: m.codeSizes, Prefix: prefix, Items: hi - lo, Children: children, ItemList: items };
  });

  app.get('/api/dashboard/users', opts('users to explore: ids starting with q, else the most active ones', {
    querystring: { type: 'object', properties: { q: { type: 'string', maxLength: 200, default: '' }, n: { type: 'integer', minimum: 1, maximum: 200, default: 20 } } },
  }), async (req) => {
    const { q, n } = req.query as { q: string; n: number };
    const out: Array<{ UserId: string; Events: number }> = [];
    for (let u = 0; u < state.users.size; u++) {
      const id = state.users.ids[u]!;
      if ((q && !id.startsWith(q)) || state.user(id) === undefined) continue;
      out.push({ UserId: id, Events: state.historyLength(u) });
    }
    // Most active first; ties by id so the list is stable.
    out.sort((a, b) => b.Events - a.Events || (a.UserId < b.UserId ? -1 : a.UserId > b.UserId ? 1 : 0));
    return { Users: out.slice(0, n), Matches: out.length };
  });

  app.get('/api/dashboard/user/:userId', opts('a user\'s latest events with item titles and semantic IDs (newest last)', {
    querystring: { type: 'object', properties: { n: { type: 'integer', minimum: 1, maximum: 1000, default: 30 } } },
  }), async (req) => {
    const id = (req.params as { userId: string }).userId;
    const u = state.user(id);
    if (u === undefined) throw new GenrecError('GENREC_E_NOT_FOUND', `user ${JSON.stringify(id)} does not exist`, 'pick a user from /api/dashboard/users');
    const n = (req.query as { n: number }).n;
    const events: Array<{ ItemId: string; Title: string; FeedbackType: string; Timestamp: string | null; SemanticId: number[] | null }> = [];
    const total = state.historyLength(u);
    let k = 0;
    state.forEachEvent(u, (i, ts, ty) => {
      if (k++ < total - n) return;
      events.push({ ItemId: state.items.ids[i]!, Title: state.itemTitle[i]!, FeedbackType: state.typeNames[ty]!, Timestamp: Number.isFinite(ts) ? new Date(ts * 1000).toISOString() : null, SemanticId: codeOfState(i) });
    });
    return { UserId: id, Events: total, History: events };
  });

  app.get('/api/dashboard/items', opts('items whose title or id contains q (case-insensitive): the item whose id is q first, then the most popular', {
    querystring: { type: 'object', required: ['q'], properties: { q: { type: 'string', minLength: 1, maxLength: 200 }, n: { type: 'integer', minimum: 1, maximum: 100, default: 20 } } },
  }), async (req) => {
    const { q, n } = req.query as { q: string; n: number };
    const needle = q.toLowerCase();
    const hits: number[] = [];
    for (let i = 0; i < state.items.size; i++) {
      if (state.isBlocked(i)) continue;
      if (state.itemTitle[i]!.toLowerCase().includes(needle) || state.items.ids[i]!.toLowerCase().includes(needle)) hits.push(i);
    }
    // An exact id leads: otherwise an id that is a prefix of many others (item12 → item120…) can fall off the page.
    const exact = (i: number) => (state.items.ids[i] === q ? 1 : 0);
    hits.sort((a, b) => exact(b) - exact(a) || state.popularity(b) - state.popularity(a) || a - b);
    return { Items: hits.slice(0, n).map((i) => ({ ItemId: state.items.ids[i]!, Title: state.itemTitle[i]! })), Matches: hits.length };
  });
}
