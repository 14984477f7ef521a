/**
 * Prometheus metrics in the text exposition format (version 0.0.4): counters, gauges and histograms with
 * labels, kept in plain maps. Small on purpose: no client library needed for a dozen series.
 */
type Labels = Record<string, string | number>;

const key = (l: Labels) => Object.keys(l).sort().map((k) => `${k}="${String(l[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',');

export class Counter {
  private readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  inc(l: Labels = {}, v = 1): void { const k = key(l); this.values.set(k, (this.values.get(k) ?? 0) + v); }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, v] of this.values) lines.push(`${this.name}${k ? `{${k}}` : ''} ${v}`);
    return lines.join('\n');
  }
}

export class Gauge {
  constructor(readonly name: string, readonly help: string, private readonly read: () => Array<[Labels, number]> | number) {}
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    const v = this.read();
    if (typeof v === 'number') lines.push(`${this.name} ${v}`);
    else for (const [l, x] of v) { const k = key(l); lines.push(`${this.name}${k ? `{${k}}` : ''} ${x}`); }
    return lines.join('\n');
  }
}

export class Histogram {
  private readonly series = new Map<string, { counts: Float64Array; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[]) {}
  observe(v: number, l: Labels = {}): void {
    const k = key(l);
    let s = this.series.get(k);
    if (!s) this.series.set(k, (s = { counts: new Float64Array(this.buckets.length), sum: 0, count: 0 }));
    for (let b = 0; b < this.buckets.length; b++) if (v <= this.buckets[b]!) s.counts[b]!++;
    s.sum += v; s.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [k, s] of this.series) {
      const pre = k ? `${k},` : '';
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket{${pre}le="${b}"} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket{${pre}le="+Inf"} ${s.count}`);
      lines.push(`${this.name}_sum${k ? `{${k}}` : ''} ${s.sum}`);
      lines.push(`${this.name}_count${k ? `{${k}}` : ''} ${s.count}`);
    }
    return lines.join('\n');
  }
}

const LATENCY = [0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5];

export class Metrics {
  readonly requests = new Counter('genrec_http_requests_total', 'HTTP requests by route, method and status');
  readonly latency = new Histogram('genrec_http_request_duration_seconds', 'HTTP request latency by route', LATENCY);
  readonly batchSize = new Histogram('genrec_generator_batch_size', 'requests per micro-batched generator run', [1, 2, 4, 8, 16, 32, 64]);
  readonly batchSeconds = new Histogram('genrec_generator_batch_seconds', 'time of one generator run in its worker', LATENCY);
  readonly walCommit = new Histogram('genrec_wal_commit_seconds', 'one WAL group commit (write + fdatasync)', LATENCY);
  readonly walRecords = new Counter('genrec_wal_records_total', 'records made durable in the WAL');
  readonly walCommits = new Counter('genrec_wal_commits_total', 'WAL group commits (fdatasync calls)');
  readonly feedback = new Counter('genrec_feedback_events_total', 'feedback events by result (added or duplicate)');
  readonly recommendations = new Counter('genrec_recommendations_total', 'recommendations served by kind and source');
  private readonly gauges: Gauge[] = [];

  gauge(name: string, help: string, read: () => Array<[Labels, number]> | number): void { this.gauges.push(new Gauge(name, help, read)); }

  render(): string {
    const parts = [this.requests, this.latency, this.batchSize, this.batchSeconds, this.walCommit, this.walRecords, this.walCommits, this.feedback, this.recommendations, ...this.gauges];
    return parts.map((p) => p.render()).join('\n') + '\n';
  }
}
