/** Writing events as CSV (`user_id,item_id,timestamp,event_type,value`, ISO 8601 UTC timestamps). */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { EventColumns } from './schema.js';

export const EVENT_CSV_HEADER = 'user_id,item_id,timestamp,event_type,value';

/** The column mapping that reads back a file written by `writeEventsCsv`. */
export const EVENT_CSV_MAPPING = { user: 'user_id', item: 'item_id', time: 'timestamp', type: 'event_type', value: 'value' } as const;

const quote = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** Writes `events` to `path`; rows without timestamps get their position as epoch seconds. */
export function writeEventsCsv(events: EventColumns, path: string): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, EVENT_CSV_HEADER + '\n');
    const users = events.userIds.map(quote), items = events.itemIds.map(quote), types = events.typeNames.map(quote);
    const { ts, pos, value } = events;
    const chunk = 65536;
    for (let from = 0; from < events.length; from += chunk) {
      const to = Math.min(events.length, from + chunk);
      const lines = new Array<string>(to - from);
      for (let r = from; r < to; r++) {
        const t = ts ? new Date(ts[r]! * 1000).toISOString() : new Date(pos![r]! * 1000).toISOString();
        const v = value && !Number.isNaN(value[r]!) ? String(Number(value[r]!.toPrecision(7))) : '';
        lines[r - from] = `${users[events.user[r]!]},${items[events.item[r]!]},${t},${types[events.type[r]!]},${v}`;
      }
      writeSync(fd, lines.join('\n') + '\n');
    }
  } finally {
    closeSync(fd);
  }
}
