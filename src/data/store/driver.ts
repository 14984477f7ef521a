/**
 * The store's driver interface (the "core / driver" split): callers talk to `Store` (store.ts), which
 * talks to a `StoreDriver`. A driver owns persistence and the transaction; the core owns everything
 * that is the same for every backend (reading files a driver cannot read itself, turning a snapshot into
 * a `Dataset`, retries on a busy store). Adding PostgreSQL means writing one more driver that passes
 * the conformance suite (conformance.ts); no caller changes.
 *
 * Semantics every driver implements (and the conformance suite checks):
 * - `ingest` is all-or-nothing: on any error the store is exactly as before.
 * - External string ids map to dense integer ids `0..n-1` in order of first appearance; ids never change.
 * - An event's idempotency key is (user, item, event type, timestamp, sequence position): an event whose
 *   key is already stored, or repeated within the same input, is not added again. Sources without
 *   timestamps use the 1-based position in the user's sequence; sources with timestamps use position 0.
 * - Items and users are keyed by external id: importing metadata again updates the given fields.
 * - Event types are upserted by name (weight updated); unknown names found in events are added with
 *   weight 1, or rejected with `unknownEventTypes: 'error'`.
 */
import type { Dataset } from '../dataset.js';
import type { EventColumns, EventTypeDef, EventTypes, ItemColumns, UserColumns } from '../schema.js';

export type FileFormat = 'csv' | 'jsonl' | 'parquet';
export type TimeFormat = 'auto' | 'iso' | 'epoch_s' | 'epoch_ms';

/** Which columns (CSV header names / JSON keys / Parquet columns) hold which event field. */
export interface EventMapping {
  user: string;
  item: string;
  /** Timestamp column; absent = no timestamps (order is row order within each user). */
  time?: string;
  timeFormat?: TimeFormat;
  /** Event type column; absent = every row has `eventType`. */
  type?: string;
  /** Event type of every row when there is no type column; default `interaction`. */
  eventType?: string;
  value?: string;
}

export interface ItemMapping {
  id: string;
  title?: string;
  text?: string;
  /** A list column, or a string split on `listSeparator`. */
  categories?: string;
  /** Columns whose values become `column=value` attribute tokens. */
  attributes?: string[];
  created?: string;
  timeFormat?: TimeFormat;
  duration?: string;
  /** Separator of list fields given as strings; default `|`. */
  listSeparator?: string;
}

export interface UserMapping {
  id: string;
  attributes?: string[];
}

export interface FileSource<M> {
  kind: 'file';
  path: string;
  format: FileFormat;
  mapping: M;
  /** CSV delimiter; default `,`. */
  delimiter?: string;
}

export type EventSource = ({ kind: 'columns' } & EventColumns) | FileSource<EventMapping>;
export type ItemSource = ({ kind: 'columns' } & ItemColumns) | FileSource<ItemMapping>;
export type UserSource = ({ kind: 'columns' } & UserColumns) | FileSource<UserMapping>;

/** One import: applied in one transaction, in the order event types, items, users, events. */
export interface IngestRequest {
  /** A label for the import log (e.g. the file or dataset name); nothing depends on it. */
  label: string;
  eventTypes?: EventTypeDef[];
  /** What to do with event type names the store does not know; default `add` (weight 1). */
  unknownEventTypes?: 'add' | 'error';
  items?: ItemSource;
  users?: UserSource;
  events?: EventSource;
}

export interface IngestReport {
  label: string;
  /** Event rows read from the source. */
  eventsRead: number;
  /** Events stored by this import (read minus duplicates). */
  eventsAdded: number;
  /** Rows whose key was already stored or repeated in the input. */
  duplicates: number;
  usersAdded: number;
  itemsAdded: number;
  /** Items whose metadata was given for an existing id. */
  itemsUpdated: number;
  newEventTypes: string[];
}

export interface StoreCounts {
  users: number;
  items: number;
  events: number;
}

export interface StoreDriver {
  readonly name: string;
  /** File formats the driver reads itself inside its transaction; the core reads the others for it. */
  readonly nativeFormats: ReadonlySet<FileFormat>;
  /** Applies an import atomically (see the module comment). Column sources are already validated. */
  ingest(req: IngestRequest): Promise<IngestReport>;
  /** Everything stored, with store ids as dataset ids (items without events included). */
  snapshot(label?: string): Promise<Dataset>;
  counts(): Promise<StoreCounts>;
  eventTypes(): Promise<EventTypes>;
  close(): Promise<void>;
}
