/**
 * The load generator of `genrec bench serve`, run as its own process (node dist/bench/serve-load.js
 * <spec.json>), so its work never shares a thread with the server's. Prints one JSON line.
 *
 * - open: requests at a fixed arrival rate; request i is due at t0 + i/rate whatever happened before,
 *   and its latency runs from that scheduled time (so queueing in the client or server counts: no
 *   coordinated omission). At most `connections` sockets; requests beyond them wait for a socket.
 * - closed: `connections` loops, each sending its next request when the previous answer arrives.
 * - ingest: `connections` loops posting batches of feedback events with unique EventIds.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';

interface Spec {
  mode: 'open' | 'closed' | 'ingest';
  url: string;
  users: string[];
  items?: string[];
  rate?: number;
  seconds: number;
  connections: number;
  n?: number;
  batch?: number;
  seed?: number;
}

function request(agent: http.Agent, url: URL, method: string, body?: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(url, { agent, method, headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {} }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.setTimeout(10_000, () => req.destroy());
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

function quantile(sorted: Float64Array, q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function open(s: Spec, agent: http.Agent) {
  const rate = s.rate!, total = Math.round(rate * s.seconds);
  const lat = new Float64Array(total);
  let done = 0, errors = 0, sent = 0;
  const t0 = performance.now() + 50;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      // Send everything due by now: a late timer still keeps each request's scheduled time.
      while (sent < total && t0 + (sent * 1000) / rate <= now) {
        const i = sent++;
        const due = t0 + (i * 1000) / rate;
        const u = s.users[i % s.users.length]!;
        void request(agent, new URL(`/api/recommend/${encodeURIComponent(u)}?n=${s.n ?? 10}`, s.url), 'GET').then((status) => {
          lat[i] = performance.now() - due;
          if (status !== 200) errors++;
          if (++done === total) resolve();
        });
      }
      if (sent < total) setTimeout(tick, Math.max(0, Math.min(1, t0 + (sent * 1000) / rate - performance.now())));
    };
    tick();
  });
  const end = performance.now();
  const sorted = lat.slice().sort();
  return { requests: total, errors, achieved_rps: total / ((end - t0) / 1000), p50_ms: quantile(sorted, 0.5), p90_ms: quantile(sorted, 0.9), p99_ms: quantile(sorted, 0.99), max_ms: sorted[sorted.length - 1] };
}

async function closed(s: Spec, agent: http.Agent) {
  let done = 0, errors = 0, next = 0;
  const lat: number[] = [];
  const t0 = performance.now(), until = t0 + s.seconds * 1000;
  await Promise.all(Array.from({ length: s.connections }, async () => {
    while (performance.now() < until) {
      const u = s.users[next++ % s.users.length]!;
      const t = performance.now();
      const status = await request(agent, new URL(`/api/recommend/${encodeURIComponent(u)}?n=${s.n ?? 10}`, s.url), 'GET');
      lat.push(performance.now() - t);
      done++;
      if (status !== 200) errors++;
    }
  }));
  const sorted = Float64Array.from(lat).sort();
  return { requests: done, errors, rps: done / ((performance.now() - t0) / 1000), p50_ms: quantile(sorted, 0.5), p99_ms: quantile(sorted, 0.99) };
}

async function ingest(s: Spec, agent: http.Agent) {
  let events = 0, errors = 0, k = 0;
  const items = s.items!, batch = s.batch ?? 500;
  const t0 = performance.now(), until = t0 + s.seconds * 1000;
  const ts = Date.now() / 1000;
  await Promise.all(Array.from({ length: s.connections }, async () => {
    while (performance.now() < until) {
      const list = Array.from({ length: batch }, () => {
        const e = k++;
        return { FeedbackType: 'view', UserId: s.users[e % s.users.length]!, ItemId: items[(e * 7919) % items.length]!, EventId: `bench-${s.seed ?? 0}-${e}`, Timestamp: ts + e * 1e-3 };
      });
      const status = await request(agent, new URL('/api/feedback', s.url), 'POST', JSON.stringify(list));
      if (status === 200) events += batch; else errors++;
    }
  }));
  return { events, errors, events_per_s: events / ((performance.now() - t0) / 1000) };
}

const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Spec;
const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections });
const result = spec.mode === 'open' ? await open(spec, agent) : spec.mode === 'closed' ? await closed(spec, agent) : await ingest(spec, agent);
agent.destroy();
process.stdout.write(JSON.stringify(result) + '\n');
