/**
 * MovieLens files: events from `ratings.dat` (`user::item::rating::unixTime`), `u.data`
 * (`user<TAB>item<TAB>rating<TAB>unixTime`) or a `sequences.txt` (`user item item ...` in time order, no
 * timestamps), whichever is found first in that order; titles, years and genres from `movies.dat`
 * (`id::Title (Year)::Genre|Genre`) or `u.item` (`|`-separated, 19 genre flags); demographics from
 * `users.dat` or `u.user`. The `.dat` and `u.*` files are Latin-1.
 */
import { basename, join } from 'node:path';
import { EventColumnsBuilder } from '../columns.js';
import { fieldError, type ImportData, type ItemColumns, type UserColumns } from '../schema.js';
import { checkDir, firstExisting, missingFile, readLines, sequenceFileEvents, type AdapterOptions } from './common.js';

const U_ITEM_GENRES = ['unknown', 'Action', 'Adventure', 'Animation', "Children's", 'Comedy', 'Crime', 'Documentary', 'Drama',
  'Fantasy', 'Film-Noir', 'Horror', 'Musical', 'Mystery', 'Romance', 'Sci-Fi', 'Thriller', 'War', 'Western'];

function ratingEvents(path: string, sep: string): ImportData['events'] {
  const lines = readLines(path, 'latin1');
  const b = new EventColumnsBuilder(path, { timestamps: true, values: true, capacity: lines.length });
  const typ = b.typeNames.add('rating');
  for (let k = 0; k < lines.length; k++) {
    const line = lines[k]!;
    if (line.trim() === '') continue;
    const f = line.split(sep);
    if (f.length < 4) throw fieldError(path, k + 1, 'line', `expected user${sep}item${sep}rating${sep}time`, 'the file must have four fields per line');
    const rating = Number(f[2]), ts = Number(f[3]);
    if (!Number.isFinite(rating)) throw fieldError(path, k + 1, 'rating', `not a number: ${JSON.stringify(f[2])}`, 'ratings are numbers');
    if (!Number.isFinite(ts)) throw fieldError(path, k + 1, 'timestamp', `not a number: ${JSON.stringify(f[3])}`, 'timestamps are unix seconds');
    b.addEncoded(b.users.add(f[0]!), b.items.add(f[1]!), typ, ts, rating, k + 1);
  }
  return b.build();
}

/** `Title (1995)` → 1995 */
function yearOf(title: string): string | null {
  return /\((\d{4})\)\s*$/.exec(title)?.[1] ?? null;
}

function moviesDat(path: string): ItemColumns {
  const lines = readLines(path, 'latin1').filter((l) => l.trim() !== '');
  const rows = lines.map((l, k) => {
    const f = l.split('::');
    if (f.length < 3) throw fieldError(path, k + 1, 'line', 'expected id::title::genres', 'the file must have three fields per line');
    return f;
  });
  return {
    source: path, ids: rows.map((f) => f[0]!), title: rows.map((f) => f[1]!),
    categories: rows.map((f) => f[2]!.split('|').filter(Boolean)),
    attributes: rows.map((f) => { const y = yearOf(f[1]!); return y ? [`year=${y}`] : []; }),
  };
}

function uItem(path: string, dir: string): ItemColumns {
  const genrePath = firstExisting(dir, ['u.genre']);
  const genres = genrePath ? readLines(genrePath, 'latin1').filter((l) => l.includes('|')).map((l) => l.split('|')[0]!) : U_ITEM_GENRES;
  const rows = readLines(path, 'latin1').filter((l) => l.trim() !== '').map((l) => l.split('|'));
  return {
    source: path, ids: rows.map((f) => f[0]!), title: rows.map((f) => f[1] ?? ''),
    categories: rows.map((f) => f.slice(-genres.length).flatMap((flag, g) => (flag === '1' ? [genres[g]!] : []))),
    attributes: rows.map((f) => { const y = yearOf(f[1] ?? '') ?? /(\d{4})$/.exec(f[2] ?? '')?.[1]; return y ? [`year=${y}`] : []; }),
    created: Float64Array.from(rows, (f) => { const t = Date.parse(`${f[2] ?? ''} UTC`); return Number.isFinite(t) ? t / 1000 : NaN; }),
  };
}

function users(path: string, layout: 'dat' | 'u'): UserColumns {
  const rows = readLines(path, 'latin1').filter((l) => l.trim() !== '').map((l) => l.split(layout === 'dat' ? '::' : '|'));
  // users.dat: id::gender::age::occupation::zip · u.user: id|age|gender|occupation|zip
  const [g, a, o] = layout === 'dat' ? [1, 2, 3] : [2, 1, 3];
  return {
    source: path, ids: rows.map((f) => f[0]!),
    attributes: rows.map((f) => [`gender=${f[g]}`, `age=${f[a]}`, `occupation=${f[o]}`]),
  };
}

export function loadMovieLens(dir: string, opts: AdapterOptions = {}): ImportData {
  checkDir(dir, 'movielens');
  const eventsPath = opts.file ? join(dir, opts.file) : firstExisting(dir, ['ratings.dat', 'u.data', 'sequences.txt']);
  if (!eventsPath) throw missingFile(dir, 'movielens', 'ratings.dat, u.data or sequences.txt');
  const name = basename(eventsPath);
  const events = name.endsWith('.dat') ? ratingEvents(eventsPath, '::') : name === 'u.data' ? ratingEvents(eventsPath, '\t') : sequenceFileEvents(eventsPath);
  const moviesPath = firstExisting(dir, ['movies.dat']);
  const uItemPath = firstExisting(dir, ['u.item']);
  const items = moviesPath ? moviesDat(moviesPath) : uItemPath ? uItem(uItemPath, dir) : undefined;
  const usersDat = firstExisting(dir, ['users.dat']);
  const uUser = firstExisting(dir, ['u.user']);
  const userCols = usersDat ? users(usersDat, 'dat') : uUser ? users(uUser, 'u') : undefined;
  return { label: opts.label ?? basename(dir), events, items, users: userCols };
}
