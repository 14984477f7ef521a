/**
 * S3-Rec format: `<stem>.txt` holds one line per user, `userId item item ...` in time order (no
 * timestamps: order is the position), optionally with `<stem>_item2attributes.json` mapping an item id to
 * a list of attribute ids. Any stem works; with several `.txt` files the one that has an attribute file
 * is chosen (or name it with `file`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { GenrecError } from '../../engine/errors.js';
import { fieldError, type ImportData, type ItemColumns } from '../schema.js';
import { checkDir, sequenceFileEvents, uniqueTokens, type AdapterOptions } from './common.js';

function chooseFile(dir: string, opts: AdapterOptions): string {
  const names = checkDir(dir, 's3rec');
  if (opts.file) return join(dir, opts.file);
  const txt = names.filter((n) => n.endsWith('.txt'));
  const paired = txt.filter((n) => names.includes(`${n.slice(0, -4)}_item2attributes.json`));
  const pick = paired.length === 1 ? paired : txt.length === 1 ? txt : [];
  if (pick.length === 1) return join(dir, pick[0]!);
  throw new GenrecError('GENREC_E_IMPORT_FILE',
    txt.length === 0 ? `${dir}: no <name>.txt sequence file` : `${dir}: several sequence files (${txt.join(', ')}); which one?`,
    'name the file with --file', { file: dir, candidates: txt });
}

export function loadS3Rec(dir: string, opts: AdapterOptions = {}): ImportData {
  const path = chooseFile(dir, opts);
  const stem = basename(path).replace(/\.txt$/, '');
  const events = sequenceFileEvents(path);
  const attrPath = join(dir, `${stem}_item2attributes.json`);
  let items: ItemColumns | undefined;
  if (existsSync(attrPath)) {
    let parsed: unknown;
    try { parsed = JSON.parse(readFileSync(attrPath, 'utf8')); } catch (e) {
      throw new GenrecError('GENREC_E_IMPORT_READ', `${attrPath}: not valid JSON: ${(e as Error).message}`, 'the file maps item ids to lists of attribute ids', { file: attrPath });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new GenrecError('GENREC_E_IMPORT_READ', `${attrPath}: expected a JSON object`, 'the file maps item ids to lists of attribute ids', { file: attrPath });
    }
    const entries = Object.entries(parsed as Record<string, unknown>);
    items = {
      source: attrPath, ids: entries.map(([id]) => id),
      attributes: entries.map(([id, v]) => {
        if (!Array.isArray(v)) throw fieldError(attrPath, 1, id, 'attributes must be a list', 'write "item": [attr, attr, ...]');
        return uniqueTokens(v.map(String));
      }),
    };
  }
  return { label: opts.label ?? stem, events, items };
}
