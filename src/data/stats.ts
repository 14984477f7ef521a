/** Dataset statistics for `genrec stats`: sizes, sparsity, event types and the sequence-length distribution. */
import type { Dataset } from './dataset.js';

export interface LengthSummary { min: number; p25: number; median: number; mean: number; p75: number; p90: number; p99: number; max: number }

export interface DatasetStats {
  label: string;
  users: number;
  items: number;
  events: number;
  /** Distinct (user, item) pairs. */
  pairs: number;
  /** 1 - pairs / (users × items). */
  sparsity: number;
  usersWithEvents: number;
  itemsWithEvents: number;
  eventTypes: Record<string, number>;
  negativeEvents: number;
  hasTimestamps: boolean;
  firstEvent: string | null;
  lastEvent: string | null;
  sequenceLength: LengthSummary;
  /** Users per sequence-length bin [lo, hi]: powers of two. */
  histogram: Array<{ lo: number; hi: number; users: number }>;
}

function quantile(sorted: Int32Array, q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : 0;
}

export function datasetStats(ds: Dataset): DatasetStats {
  const inter = ds.interactions;
  const { numUsers, numItems, userOffsets, items, types, timestamps } = inter;
  const lengths = new Int32Array(numUsers);
  let pairs = 0, usersWithEvents = 0;
  const seen = new Int32Array(numItems).fill(-1);
  const itemHas = new Uint8Array(numItems);
  for (let u = 0; u < numUsers; u++) {
    const a = userOffsets[u]!, b = userOffsets[u + 1]!;
    lengths[u] = b - a;
    if (b > a) usersWithEvents++;
    for (let k = a; k < b; k++) {
      const i = items[k]!;
      itemHas[i] = 1;
      if (seen[i] !== u) { seen[i] = u; pairs++; }
    }
  }
  let itemsWithEvents = 0;
  for (let i = 0; i < numItems; i++) itemsWithEvents += itemHas[i]!;
  const typeCounts = new Float64Array(256);
  for (let k = 0; k < types.length; k++) typeCounts[types[k]!]!++;
  const eventTypes: Record<string, number> = {};
  let negativeEvents = 0;
  typeCounts.forEach((c, code) => {
    if (!c) return;
    eventTypes[ds.eventTypes.names[code] ?? `type${code}`] = c;
    if (ds.eventTypes.isNegative(code)) negativeEvents += c;
  });
  let lo = Infinity, hi = -Infinity;
  for (let k = 0; k < timestamps.length; k++) { const t = timestamps[k]!; if (t < lo) lo = t; if (t > hi) hi = t; }
  const sorted = lengths.slice().sort();
  const histogram: DatasetStats['histogram'] = [];
  const maxLen = sorted.length ? sorted[sorted.length - 1]! : 0;
  const zero = sorted.length ? sorted.findIndex((l) => l > 0) : -1;
  if (zero !== 0 && sorted.length) histogram.push({ lo: 0, hi: 0, users: zero < 0 ? sorted.length : zero });
  for (let b = 1; b <= Math.max(1, maxLen); b *= 2) {
    let n = 0;
    for (const l of sorted) if (l >= b && l < 2 * b) n++;
    histogram.push({ lo: b, hi: 2 * b - 1, users: n });
  }
  const iso = (t: number) => (Number.isFinite(t) ? new Date(t * 1000).toISOString() : null);
  return {
    label: ds.label, users: numUsers, items: numItems, events: items.length, pairs,
    sparsity: numUsers && numItems ? 1 - pairs / (numUsers * numItems) : 1,
    usersWithEvents, itemsWithEvents, eventTypes, negativeEvents, hasTimestamps: inter.hasTimestamps,
    firstEvent: inter.hasTimestamps ? iso(lo) : null, lastEvent: inter.hasTimestamps ? iso(hi) : null,
    sequenceLength: {
      min: sorted[0] ?? 0, p25: quantile(sorted, 0.25), median: quantile(sorted, 0.5),
      mean: numUsers ? items.length / numUsers : 0, p75: quantile(sorted, 0.75), p90: quantile(sorted, 0.9),
      p99: quantile(sorted, 0.99), max: maxLen,
    },
    histogram,
  };
}

/** Human-readable report with a text histogram of sequence lengths. */
export function formatStats(s: DatasetStats, width = 40): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const lines = [
    `dataset      ${s.label}`,
    `users        ${n(s.users)}${s.usersWithEvents !== s.users ? ` (${n(s.usersWithEvents)} with events)` : ''}`,
    `items        ${n(s.items)}${s.itemsWithEvents !== s.items ? ` (${n(s.itemsWithEvents)} with events)` : ''}`,
    `events       ${n(s.events)}  (${n(s.pairs)} distinct user-item pairs, ${n(s.negativeEvents)} negative feedback)`,
    `sparsity     ${(s.sparsity * 100).toFixed(3)}%`,
    `time range   ${s.hasTimestamps ? `${s.firstEvent} .. ${s.lastEvent}` : 'no timestamps (ordered by sequence position)'}`,
    `event types  ${Object.entries(s.eventTypes).map(([k, v]) => `${k} ${n(v)}`).join(', ') || '-'}`,
    '',
    'sequence length per user',
    `  min ${s.sequenceLength.min}  p25 ${s.sequenceLength.p25}  median ${s.sequenceLength.median}  mean ${s.sequenceLength.mean.toFixed(1)}  ` +
      `p75 ${s.sequenceLength.p75}  p90 ${s.sequenceLength.p90}  p99 ${s.sequenceLength.p99}  max ${s.sequenceLength.max}`,
  ];
  const peak = Math.max(1, ...s.histogram.map((h) => h.users));
  const labelW = Math.max(...s.histogram.map((h) => `${h.lo}-${h.hi}`.length), 5);
  for (const h of s.histogram) {
    const bar = '█'.repeat(Math.round((h.users / peak) * width)) || (h.users > 0 ? '▏' : '');
    lines.push(`  ${(h.lo === h.hi ? `${h.lo}` : `${h.lo}-${h.hi}`).padStart(labelW)} | ${bar} ${n(h.users)}`);
  }
  return lines.join('\n') + '\n';
}
