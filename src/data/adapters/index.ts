/**
 * Adapters for public dataset formats, chosen by `--format` and pointed at a folder with `--path`. They
 * return `ImportData` (dictionary-encoded columns) for a store or for `loadDataset`. A dataset's name is
 * only a label: adapters look at file names and contents, never at which dataset it is.
 */
import { existsSync, readdirSync } from 'node:fs';

import { GenrecError } from '../../engine/errors.js';
import type { ImportData } from '../schema.js';
import type { Adapter, AdapterOptions } from './common.js';
import { loadMovieLens } from './movielens.js';
import { loadRecBole } from './recbole.js';
import { loadS3Rec } from './s3rec.js';

export type { AdapterOptions } from './common.js';

export const ADAPTER_FORMATS = ['s3rec', 'movielens', 'recbole'] as const;
export type AdapterFormat = (typeof ADAPTER_FORMATS)[number];

const adapters: Record<AdapterFormat, Adapter> = { s3rec: loadS3Rec, movielens: loadMovieLens, recbole: loadRecBole };

/** Guesses the format of a folder from its file names; null when nothing fits. */
export function detectFormat(dir: string): AdapterFormat | null {
  if (!existsSync(dir)) return null;
  const names = readdirSync(dir);
  if (names.some((n) => n.endsWith('.inter'))) return 'recbole';
  if (['ratings.dat', 'u.data', 'sequences.txt'].some((n) => names.includes(n))) return 'movielens';
  if (names.some((n) => n.endsWith('.txt'))) return 's3rec';
  return null;
}

/** Reads a folder in the given format (`auto`: detected from file names). */
export function readAdapter(format: AdapterFormat | 'auto', dir: string, opts: AdapterOptions = {}): ImportData {
  const f = format === 'auto' ? detectFormat(dir) : format;
  if (f === null) {
    throw new GenrecError('GENREC_E_IMPORT_FORMAT', `cannot tell the format of ${dir}`,
      `name it with --format (${ADAPTER_FORMATS.join(', ')})`, { file: dir });
  }
  const adapter = (adapters as Record<string, Adapter | undefined>)[f];
  if (!adapter) {
    throw new GenrecError('GENREC_E_IMPORT_FORMAT', `unknown dataset format "${f}"`, `use one of: ${ADAPTER_FORMATS.join(', ')}`, { format: f });
  }
  return adapter(dir, opts);
}

