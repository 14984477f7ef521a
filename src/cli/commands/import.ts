/**
 * `genrec import`: brings data into the store under the data directory, in one transaction. Sources:
 *   --events FILE [--items FILE] [--users FILE]   CSV / JSONL / Parquet, columns mapped by the --*-col flags
 *                                                 (default: common names such as user_id, item_id, timestamp)
 *   --format s3rec|movielens|recbole|auto --path DIR   a public dataset folder
 *   --synthetic                                   generated data (--users, --items, --seed)
 * Re-importing the same data adds nothing (see docs/data.md for the idempotency key). Prints what the
 * import added; logs go to stderr.
 */
import type { Command } from 'commander';
import { GenrecError } from '../../engine/errors.js';
import { log } from '../../engine/log.js';
import { printResult } from '../output.js';
import { configOf, globalOptions } from '../program.js';

/** The options naming a dataset folder or generated data, shared by `import` and `stats`. */
export interface SourceOptions {
  format?: string; path?: string; file?: string;
  synthetic?: boolean; syntheticUsers: string; syntheticItems: string; seed: string;
}

export function addSourceOptions(cmd: Command): Command {
  return cmd
    .option('--format <fmt>', 'dataset folder format: s3rec|movielens|recbole|auto (with --path)')
    .option('--path <dir>', 'dataset folder (with --format)')
    .option('--file <name>', 'with --path: the event file to use when the folder has several')
    .option('--synthetic', 'generated data (see docs/synthetic.md)')
    .option('--synthetic-users <n>', 'with --synthetic: users', '2000')
    .option('--synthetic-items <n>', 'with --synthetic: items', '3000')
    .option('--seed <n>', 'with --synthetic: seed', '42');
}

/** The data of a dataset folder (`--path`) or generated data (`--synthetic`); undefined for neither. */
export async function sourceData(opts: SourceOptions): Promise<import('../../data/index.js').ImportData | undefined> {
  const data = await import('../../data/index.js');
  if (opts.path) return data.readAdapter((opts.format ?? 'auto') as import('../../data/index.js').AdapterFormat | 'auto', opts.path, { file: opts.file });
  if (opts.synthetic) {
    return data.generateSynthetic({
      users: positiveInt('synthetic-users', opts.syntheticUsers), items: positiveInt('synthetic-items', opts.syntheticItems), seed: Number(opts.seed),
    });
  }
  return undefined;
}

interface ImportOptions extends SourceOptions {
  events?: string; items?: string; users?: string;
  inputFormat?: string; delimiter?: string;
  userCol?: string; itemCol?: string; timeCol?: string; typeCol?: string; valueCol?: string;
  eventType?: string; timeFormat?: string;
  itemIdCol?: string; titleCol?: string; textCol?: string; categoriesCol?: string; attributeCols?: string;
  createdCol?: string; durationCol?: string; listSep?: string;
  userIdCol?: string; userAttributeCols?: string;
  eventWeights?: string; strictEventTypes?: boolean; label?: string;
}

const TIME_FORMATS = ['auto', 'iso', 'epoch_s', 'epoch_ms'] as const;
const list = (s: string | undefined) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined);

function positiveInt(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new GenrecError('GENREC_E_USAGE', `--${name} must be a positive integer, got ${v}`, `pass e.g. --${name} 1000`);
  return n;
}

export function register(program: Command): void {
  const command = program
    .command('import')
    .description('import events, items and users into the store (one transaction; re-imports add nothing)')
    .option('--events <file>', 'event log: CSV, JSONL or Parquet')
    .option('--items <file>', 'item catalogue: CSV, JSONL or Parquet')
    .option('--users <file>', 'user attributes: CSV, JSONL or Parquet')
    .option('--input-format <fmt>', 'csv|jsonl|parquet (default: from the file extension)')
    .option('--delimiter <c>', 'CSV delimiter (default , or tab for .tsv)')
    .option('--user-col <name>', 'events: user id column')
    .option('--item-col <name>', 'events: item id column')
    .option('--time-col <name>', 'events: timestamp column (none: order is row order per user)')
    .option('--time-format <fmt>', `events/items: ${TIME_FORMATS.join('|')}`, 'auto')
    .option('--type-col <name>', 'events: event type column')
    .option('--event-type <name>', 'events: the type of every row when there is no type column')
    .option('--value-col <name>', 'events: numeric value column (watch seconds, rating)')
    .option('--item-id-col <name>', 'items: id column')
    .option('--title-col <name>', 'items: title column')
    .option('--text-col <name>', 'items: description column')
    .option('--categories-col <name>', 'items: categories (a list, or text split on --list-sep)')
    .option('--attribute-cols <a,b>', 'items: columns that become name=value attribute tokens')
    .option('--created-col <name>', 'items: creation time column')
    .option('--duration-col <name>', 'items: duration (seconds) column')
    .option('--list-sep <c>', 'separator of list fields given as text', '|')
    .option('--user-id-col <name>', 'users: id column')
    .option('--user-attribute-cols <a,b>', 'users: attribute columns (default: all others)');
  addSourceOptions(command)
    .option('--event-weights <spec>', 'event type weights, e.g. like=2,dislike=-1 (negative = negative feedback)')
    .option('--strict-event-types', 'reject event types the store does not know instead of adding them with weight 1')
    .option('--label <name>', 'label for the import log')
    .action(async (opts: ImportOptions, cmd: Command) => {
      const config = configOf(cmd);
      const { json = false } = globalOptions(cmd);
      const data = await import('../../data/index.js');
      if (!TIME_FORMATS.includes(opts.timeFormat as (typeof TIME_FORMATS)[number])) {
        throw new GenrecError('GENREC_E_USAGE', `unknown --time-format ${opts.timeFormat}`, `use one of ${TIME_FORMATS.join(', ')}`);
      }
      const timeFormat = opts.timeFormat as (typeof TIME_FORMATS)[number];
      const eventTypes = opts.eventWeights ? data.parseEventWeights(opts.eventWeights) : undefined;
      const unknownEventTypes = opts.strictEventTypes ? 'error' as const : 'add' as const;
      // Without a source on the command line, the config's data.path (a file of events, or a dataset folder).
      if (!opts.events && !opts.items && !opts.users && !opts.path && !opts.synthetic && config.data.path) {
        const { statSync } = await import('node:fs');
        const isDir = (() => { try { return statSync(config.data.path).isDirectory(); } catch { return false; } })();
        if (isDir) opts.path = config.data.path;
        else {
          opts.events = config.data.path;
          if (!opts.inputFormat && config.data.format !== 'auto') opts.inputFormat = config.data.format;
        }
      }
      const sources = [opts.events || opts.items || opts.users, opts.path, opts.synthetic].filter(Boolean).length;
      if (sources !== 1) {
        throw new GenrecError('GENREC_E_USAGE', sources ? 'give one source at a time' : 'nothing to import',
          'use --events/--items/--users FILE, or --format FMT --path DIR, or --synthetic (or set data.path in the config)');
      }
      let request: import('../../data/index.js').IngestRequest;
      const fromSource = await sourceData(opts);
      if (fromSource) {
        request = data.requestFromData({ ...fromSource, label: opts.label ?? fromSource.label, eventTypes }, unknownEventTypes);
      } else {
        request = await data.planFileImport({
          label: opts.label, events: opts.events, items: opts.items, users: opts.users,
          inputFormat: opts.inputFormat, delimiter: opts.delimiter, eventTypes, unknownEventTypes,
          eventMapping: { user: opts.userCol, item: opts.itemCol, time: opts.timeCol, timeFormat, type: opts.typeCol, eventType: opts.eventType, value: opts.valueCol },
          itemMapping: {
            id: opts.itemIdCol, title: opts.titleCol, text: opts.textCol, categories: opts.categoriesCol,
            attributes: list(opts.attributeCols), created: opts.createdCol, timeFormat, duration: opts.durationCol, listSeparator: opts.listSep,
          },
          userMapping: { id: opts.userIdCol, attributes: list(opts.userAttributeCols) },
        });
      }
      const t0 = performance.now();
      const { report, counts } = await data.withStore({ dir: config.dataDir }, async (store) => {
        const r = await store.import(request);
        return { report: r, counts: await store.counts() };
      });
      const seconds = (performance.now() - t0) / 1000;
      log.info({ store: data.storePath(config.dataDir), seconds }, 'import committed');
      printResult({
        label: report.label, events_read: report.eventsRead, events_added: report.eventsAdded, duplicates: report.duplicates,
        users_added: report.usersAdded, items_added: report.itemsAdded, items_updated: report.itemsUpdated,
        new_event_types: report.newEventTypes.join(',') || '-', store_users: counts.users, store_items: counts.items,
        store_events: counts.events, seconds: Number(seconds.toFixed(3)),
      }, json);
    });
}
