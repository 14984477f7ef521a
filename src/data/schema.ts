/**
 * The data model shared by every part of genrec.
 *
 * - **Events**: (user, item, timestamp, event type, optional value). A value is watch seconds, a rating,
 *   a price — whatever the source gives; NaN when absent.
 * - **Items**: id, title, free text, categories, attributes (`key=value` or opaque tokens), created time,
 *   optional duration (seconds).
 * - **Users**: id and optional attributes (tokens).
 *
 * External ids are strings. The store and every `Dataset` map them to dense integer ids `0..n-1` and back.
 * Where a source has no timestamps, an event's order is its position in the user's sequence (`pos`);
 * timestamps are then NaN and splits use the position.
 *
 * Event types carry weights; a negative weight marks negative feedback (dislike, skip, short view).
 */
import { GenrecError } from '../engine/errors.js';

export interface EventTypeDef {
  name: string;
  /** Strength of the signal; < 0 is negative feedback. */
  weight: number;
}

/** Built-in event types with their default weights; a store starts with these and may add more. */
export const DEFAULT_EVENT_TYPES: readonly EventTypeDef[] = Object.freeze([
  { name: 'interaction', weight: 1 }, // generic: a source that does not say what happened
  { name: 'view', weight: 1 },
  { name: 'click', weight: 1 },
  { name: 'rating', weight: 1 }, // the value carries the stars
  { name: 'review', weight: 1 },
  { name: 'like', weight: 2 },
  { name: 'share', weight: 2.5 },
  { name: 'add_to_cart', weight: 2 },
  { name: 'purchase', weight: 3 },
  { name: 'short_view', weight: -0.3 },
  { name: 'skip', weight: -0.5 },
  { name: 'dislike', weight: -1 },
]);

/** At most this many distinct event types (codes are stored as one byte). */
export const MAX_EVENT_TYPES = 255;

/**
 * The event types of a store or dataset: code `c` (the index) has `names[c]` and `weights[c]`.
 * Codes are stable within a store: new types are appended.
 */
export class EventTypes {
  readonly names: string[];
  readonly weights: Float32Array;
  private readonly index = new Map<string, number>();

  constructor(defs: readonly EventTypeDef[] = DEFAULT_EVENT_TYPES) {
    if (defs.length > MAX_EVENT_TYPES) {
      throw new GenrecError('GENREC_E_EVENT_TYPES', `too many event types (${defs.length} > ${MAX_EVENT_TYPES})`,
        'map rare event types onto common ones before importing', { count: defs.length });
    }
    this.names = defs.map((d) => d.name);
    this.weights = Float32Array.from(defs, (d) => d.weight);
    this.names.forEach((n, i) => this.index.set(n, i));
  }

  get size(): number { return this.names.length; }

  /** The code of a type name, or -1. */
  code(name: string): number { return this.index.get(name) ?? -1; }

  weight(code: number): number { return this.weights[code] ?? 0; }

  isNegative(code: number): boolean { return this.weight(code) < 0; }

  /** An engagement: what models read as history and learn to predict (positive weight). */
  isEngagement(code: number): boolean { return this.weight(code) > 0; }

  defs(): EventTypeDef[] { return this.names.map((name, i) => ({ name, weight: this.weights[i]! })); }

  /** A copy with weights overridden and unknown names appended (the store's upsert rule). */
  merge(defs: readonly EventTypeDef[]): EventTypes {
    const out = this.defs();
    for (const d of defs) {
      const c = this.code(d.name);
      if (c >= 0) out[c] = { name: d.name, weight: d.weight };
      else if (!out.some((o) => o.name === d.name)) out.push({ name: d.name, weight: d.weight });
    }
    return new EventTypes(out);
  }
}

const TYPE_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Validates an event type name (letters, digits, `_ . : -`, at most 64 characters). */
export function checkEventTypeName(name: string, where = ''): void {
  if (!TYPE_NAME.test(name)) {
    throw new GenrecError('GENREC_E_EVENT_TYPES', `invalid event type name ${JSON.stringify(name)}${where ? ` (${where})` : ''}`,
      'event type names are 1-64 characters of letters, digits, _ . : -', { name });
  }
}

/** Parses `like=2,dislike=-1` (CLI `--event-weights`). */
export function parseEventWeights(spec: string): EventTypeDef[] {
  if (spec.trim() === '') return [];
  return spec.split(',').map((part) => {
    const m = /^\s*([^=\s]+)\s*=\s*(-?[0-9.]+(?:e-?\d+)?)\s*$/i.exec(part);
    const weight = m ? Number(m[2]) : NaN;
    if (!m || !Number.isFinite(weight)) {
      throw new GenrecError('GENREC_E_USAGE', `bad event weight ${JSON.stringify(part)}`,
        'write name=weight pairs separated by commas, e.g. like=2,dislike=-1', { spec });
    }
    checkEventTypeName(m[1]!);
    return { name: m[1]!, weight };
  });
}

/**
 * Events in columns, with dictionary-encoded external ids: row `r` is user `userIds[user[r]]`, item
 * `itemIds[item[r]]`, type `typeNames[type[r]]`. This is what adapters, the synthetic generator and the
 * file readers hand to a store driver; it never holds one JS object per event.
 */
export interface EventColumns {
  /** File name or label, named in error messages. */
  source: string;
  length: number;
  userIds: string[];
  user: Int32Array;
  itemIds: string[];
  item: Int32Array;
  typeNames: string[];
  type: Uint8Array;
  /** Epoch seconds; `null` when the source has no timestamps (order then comes from `pos`). */
  ts: Float64Array | null;
  /** Position in the user's sequence (1-based) when `ts` is null; derived from row order when omitted. */
  pos: Int32Array | null;
  /** NaN where absent; `null` when the source has no values. */
  value: Float32Array | null;
  /** Source line of each row, for error messages; row index + 1 when omitted. */
  line?: Int32Array;
}

/** Item metadata in columns (one entry per item; catalogue-sized, not a hot path). */
export interface ItemColumns {
  source: string;
  ids: string[];
  title?: (string | null)[];
  text?: (string | null)[];
  categories?: (string[] | null)[];
  attributes?: (string[] | null)[];
  /** Epoch seconds, NaN when unknown. */
  created?: Float64Array;
  /** Seconds, NaN when unknown. */
  duration?: Float32Array;
}

export interface UserColumns {
  source: string;
  ids: string[];
  attributes?: (string[] | null)[];
}

/** Everything one import brings; a store applies it in one transaction. */
export interface ImportData {
  label: string;
  events?: EventColumns;
  items?: ItemColumns;
  users?: UserColumns;
  eventTypes?: EventTypeDef[];
}

/** The idempotency key of an event, as stated in docs/data.md: equal keys are the same event. */
export const EVENT_KEY_FIELDS = ['user', 'item', 'type', 'ts', 'pos'] as const;

/** An input error naming the file, line and field (GENREC_E_IMPORT_FIELD). */
export function fieldError(file: string, line: number, field: string, problem: string, hint: string): GenrecError {
  return new GenrecError('GENREC_E_IMPORT_FIELD', `${file}:${line}: field "${field}": ${problem}`, hint,
    { file, line, field });
}
