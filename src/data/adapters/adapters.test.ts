import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { csrTokens, userItems, type Dataset } from '../dataset.js';
import { loadDataset } from '../load.js';
import { detectFormat, readAdapter } from './index.js';

const root = mkdtempSync(join(tmpdir(), 'genrec-adapters-'));
after(() => rmSync(root, { recursive: true, force: true }));

function folder(name: string, files: Record<string, string | Buffer>): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  return dir;
}

const seq = (ds: Dataset, user: string) => Array.from(userItems(ds.interactions, ds.users.ids.indexOf(user)), (i) => ds.items.ids[i]!);
const code = (c: string) => (e: Error & { code?: string }) => e.code === c;

describe('s3rec adapter', () => {
  it('pairs <stem>.txt with <stem>_item2attributes.json, whatever the stem', async () => {
    const dir = folder('s3', {
      'Toys.txt': '1 10 11 12\n2 11 13\n',
      'Toys_item2attributes.json': '{"10": [1, 2, 2], "11": [3], "99": [4]}',
      'notes.txt': 'not a sequence file',
    });
    assert.equal(detectFormat(dir), 's3rec');
    const ds = await loadDataset({ format: 's3rec', path: dir, catalog: 'all' });
    assert.equal(ds.label, 'Toys');
    assert.deepEqual(seq(ds, '1'), ['10', '11', '12']);
    assert.equal(ds.interactions.hasTimestamps, false);
    assert.deepEqual(csrTokens(ds.items.attributes, ds.items.ids.indexOf('10')), ['1', '2']);
    assert.ok(ds.items.ids.includes('99'));
    const compact = await loadDataset({ format: 's3rec', path: dir });
    assert.ok(!compact.items.ids.includes('99'));
  });
  it('asks which file when several could be the sequences, and names bad lines', () => {
    const dir = folder('s3b', { 'a.txt': '1 2\n', 'b.txt': '1 2\n3\n' });
    assert.throws(() => readAdapter('s3rec', dir), code('GENREC_E_IMPORT_FILE'));
    assert.throws(() => readAdapter('s3rec', dir, { file: 'b.txt' }), (e: Error & { code?: string; details?: Record<string, unknown> }) =>
      e.code === 'GENREC_E_IMPORT_FIELD' && e.details?.line === 2);
  });
});

describe('movielens adapter', () => {
  it('reads ratings.dat, Latin-1 movies.dat and users.dat', async () => {
    const dir = folder('ml-a', {
      'ratings.dat': '1::10::5::978300760\n1::20::3::978300700\n2::10::4::978300800\n',
      'movies.dat': Buffer.from('10::Caf\xe9 Society (1999)::Comedy|Drama\n20::Heat (1995)::Action\n30::Unrated (2000)::Drama\n', 'latin1'),
      'users.dat': '1::F::25::3::12345\n2::M::35::7::54321\n',
    });
    const ds = await loadDataset({ format: 'auto', path: dir });
    assert.deepEqual(seq(ds, '1'), ['20', '10']);
    assert.equal(ds.interactions.hasTimestamps, true);
    const k = ds.items.ids.indexOf('10');
    assert.equal(ds.items.titles[k], 'Café Society (1999)');
    assert.deepEqual(csrTokens(ds.items.categories, k), ['Comedy', 'Drama']);
    assert.deepEqual(csrTokens(ds.items.attributes, k), ['year=1999']);
    assert.equal(ds.eventTypes.names[ds.interactions.types[0]!], 'rating');
    assert.equal(ds.interactions.values[1], 5);
    assert.deepEqual(csrTokens(ds.users.attributes, ds.users.ids.indexOf('2')), ['gender=M', 'age=35', 'occupation=7']);
    assert.equal(ds.items.count, 2);
  });
  it('reads u.data with u.item genre flags, and a sequences.txt without timestamps', async () => {
    const flags = (on: number[]) => Array.from({ length: 19 }, (_, g) => (on.includes(g) ? '1' : '0')).join('|');
    const dir = folder('ml-b', {
      'u.data': '1\t5\t4\t881250949\n1\t6\t2\t881250950\n',
      'u.item': `5|Toy Story (1995)|01-Jan-1995||http://x|${flags([3, 4])}\n6|GoldenEye (1995)|01-Jan-1995||http://y|${flags([1])}\n`,
    });
    const ds = await loadDataset({ format: 'movielens', path: dir });
    assert.deepEqual(csrTokens(ds.items.categories, ds.items.ids.indexOf('5')), ['Animation', "Children's"]);
    assert.equal(ds.items.created[0], Date.UTC(1995, 0, 1) / 1000);
    const seqDir = folder('ml-c', { 'sequences.txt': '7 3 1 2\n8 2 3\n' });
    const sq = await loadDataset({ format: 'movielens', path: seqDir });
    assert.deepEqual(seq(sq, '7'), ['3', '1', '2']);
    assert.equal(sq.interactions.hasTimestamps, false);
    assert.throws(() => readAdapter('movielens', folder('ml-d', { 'ratings.dat': '1::2::x::3\n' })),
      (e: Error & { code?: string; details?: Record<string, unknown> }) => e.code === 'GENREC_E_IMPORT_FIELD' && e.details?.field === 'rating');
  });
});

describe('recbole adapter', () => {
  it('rebuilds full sequences from sequential split files, with raw ids and item text', async () => {
    const dir = folder('rb', {
      'Sci.train.inter': 'user_id:token\titem_id_list:token_seq\titem_id:token\n0\t0\t1\n0\t0 1\t2\n1\t3\t0\n',
      'Sci.valid.inter': 'user_id:token\titem_id_list:token_seq\titem_id:token\n0\t0 1 2\t3\n1\t3 0\t1\n',
      'Sci.test.inter': 'user_id:token\titem_id_list:token_seq\titem_id:token\n0\t0 1 2 3\t1\n1\t3 0 1\t2\n',
      'Sci.item2index': 'A1\t0\nB2\t1\nC3\t2\nD4\t3\n',
      'Sci.user2index': 'alice\t0\nbob\t1\n',
      'Sci.text': 'item_id:token\ttext:token_seq\nA1\tGlue, strong.\nD4\tTape roll.\n',
    });
    assert.equal(detectFormat(dir), 'recbole');
    const ds = await loadDataset({ format: 'recbole', path: dir });
    assert.deepEqual(seq(ds, 'alice'), ['A1', 'B2', 'C3', 'D4', 'B2']);
    assert.deepEqual(seq(ds, 'bob'), ['D4', 'A1', 'B2', 'C3']);
    assert.equal(ds.items.texts[ds.items.ids.indexOf('A1')], 'Glue, strong.');
    assert.equal(ds.label, 'Sci');
  });
  it('reads plain interactions with timestamps and ratings, and .item metadata', async () => {
    const dir = folder('rb2', {
      'ml.inter': 'user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t10\t4\t200\n1\t11\t5\t100\n',
      'ml.item': 'item_id:token\tmovie_title:token_seq\tgenre:token_seq\trelease_year:token\n10\tHeat\tAction Crime\t1995\n',
    });
    const ds = await loadDataset({ format: 'recbole', path: dir });
    assert.deepEqual(seq(ds, '1'), ['11', '10']);
    const k = ds.items.ids.indexOf('10');
    assert.equal(ds.items.titles[k], 'Heat');
    assert.deepEqual(csrTokens(ds.items.categories, k), ['Action', 'Crime']);
    assert.deepEqual(csrTokens(ds.items.attributes, k), ['release_year=1995']);
    assert.equal(ds.interactions.values[0], 5);
  });
});

// The public datasets beside the project (never copied into it); these tests run only where they exist.
const shared = process.env.GENREC_DATASETS ?? fileURLToPath(new URL('../../../../../shared/datasets', import.meta.url));
const expected: Array<[string, 's3rec' | 'movielens' | 'recbole', number, number, number]> = [
  ['ml-1m', 'movielens', 6040, 3706, 1000209],
  ['ml-100k', 'movielens', 943, 1682, 100000],
  ['amazon-beauty', 's3rec', 22363, 12101, 198502],
  ['yelp', 's3rec', 30431, 20033, 316354],
  ['lastfm', 's3rec', 1090, 3646, 52551],
  ['amazon-scientific', 'recbole', 2928, 1585, -1],
];
describe('public datasets (../shared/datasets)', () => {
  for (const [name, format, users, items, events] of expected) {
    const dir = join(shared, name);
    it(`${name}: ${format} adapter matches the published sizes`, { skip: existsSync(dir) ? false : `no ${dir}: public datasets not present` }, async () => {
      const ds = await loadDataset({ format, path: dir });
      assert.equal(ds.interactions.numUsers, users);
      assert.equal(ds.interactions.numItems, items);
      if (events >= 0) assert.equal(ds.interactions.items.length, events);
      else assert.ok(Math.abs(ds.interactions.items.length - 19700) < 300);
      assert.equal(detectFormat(dir), format);
    });
  }
});
