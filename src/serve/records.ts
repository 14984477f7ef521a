/**
 * What serve writes to its log. Every change to the online state is one of these records; the same
 * `apply` runs live (after the record is durable) and on replay at start-up, so both give one state.
 * External ids are kept as strings: dense ids are per process.
 */
export interface EventRecord {
  t: 'ev';
  /** Client event id (idempotency key); absent = not de-duplicated by id. */
  id?: string;
  u: string;
  i: string;
  /** Event type name. */
  ty: string;
  /** Epoch seconds. */
  ts: number;
  v?: number;
  /** Recommendation id the event cites (click-through attribution). */
  rec?: string;
}

export interface ItemRecord {
  t: 'item';
  id: string;
  /** Fields present replace the stored ones (patch semantics); absent fields are left as they are. */
  title?: string;
  cats?: string[];
  labels?: string[];
  hidden?: boolean;
  comment?: string;
  ts?: number;
}

export interface UserRecord {
  t: 'user';
  id: string;
  labels?: string[];
  comment?: string;
}

export interface DeleteRecord {
  t: 'delitem' | 'deluser';
  id: string;
  /** Epoch seconds of the deletion: a deleted user's stored events up to this time stay hidden. */
  at: number;
}

/** A recommendation shown: its id, the model version that made it and the items, in order. */
export interface ImpressionRecord {
  t: 'imp';
  rec: string;
  v: number;
  u: string | null;
  items: string[];
  ts: number;
}

export type LogRecord = EventRecord | ItemRecord | UserRecord | DeleteRecord | ImpressionRecord;
