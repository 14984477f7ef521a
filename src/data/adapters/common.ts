/** Helpers shared by the format adapters: reading folders and text files with line numbers. */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { GenrecError } from '../../engine/errors.js';
import { EventColumnsBuilder } from '../columns.js';
import { fieldError, type EventColumns, type ImportData } from '../schema.js';

export interface AdapterOptions {
  /** Use this file of the folder as the event file instead of choosing one. */
  file?: string;
  /** Label for reports (default: the chosen file's stem); nothing depends on it. */
  label?: string;
}

export type Adapter = (dir: string, opts?: AdapterOptions) => ImportData;

export function checkDir(dir: string, format: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new GenrecError('GENREC_E_IMPORT_FILE', `${dir}: not a folder`, `--path must be the folder holding the ${format} files`, { file: dir });
  }
  return readdirSync(dir).sort();
}

/** The lines of a text file (without line ends); `encoding` latin1 for MovieLens' .dat files. */
export function readLines(path: string, encoding: BufferEncoding = 'utf8'): string[] {
  const text = readFileSync(path, encoding);
  const lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  for (let k = 0; k < lines.length; k++) if (lines[k]!.endsWith('\r')) lines[k] = lines[k]!.slice(0, -1);
  return lines;
}

export function firstExisting(dir: string, names: string[]): string | undefined {
  return names.map((n) => join(dir, n)).find((p) => existsSync(p));
}

export function missingFile(dir: string, format: string, expected: string): GenrecError {
  return new GenrecError('GENREC_E_IMPORT_FILE', `${dir}: no ${format} event file found (expected ${expected})`,
    'point --path at the folder holding the files, or pick one with --file', { file: dir });
}

/** Drops repeated tokens, keeping the first occurrence. */
export function uniqueTokens(tokens: Iterable<string>): string[] {
  return [...new Set(tokens)];
}

/**
 * A sequence file: one line per user, `userId item item ...` in time order, no timestamps. Events get
 * the 1-based position in the line as their order.
 */
export function sequenceFileEvents(path: string): EventColumns {
  const lines = readLines(path);
  const b = new EventColumnsBuilder(path, { timestamps: false, values: false, capacity: lines.length * 16 });
  const typ = b.typeNames.add('interaction');
  for (let k = 0; k < lines.length; k++) {
    const t = lines[k]!.trim().split(/\s+/);
    if (t.length === 1 && t[0] === '') continue;
    if (t.length < 2) throw fieldError(path, k + 1, 'items', 'a user without items', 'each line is: userId item item ...');
    const u = b.users.add(t[0]!);
    for (let j = 1; j < t.length; j++) b.addEncoded(u, b.items.add(t[j]!), typ, j, NaN, k + 1);
  }
  return b.build();
}
