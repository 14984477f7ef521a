import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { GenrecError } from './errors.js';

/**
 * Write chunks to `path` atomically: a temp file in the same directory is written and fsynced, renamed
 * over the target, then the directory is fsynced — a crash leaves either the old file or the new one.
 */
export function writeFileAtomic(path: string, chunks: Uint8Array | readonly Uint8Array[]): void {
  const list = chunks instanceof Uint8Array ? [chunks] : chunks;
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    for (const c of list) {
      for (let off = 0; off < c.length;) off += writeSync(fd, c, off, c.length - off);
    }
    fsyncSync(fd);
    closeSync(fd);
  } catch (e) {
    try { closeSync(fd); } catch { /* already closed */ }
    try { unlinkSync(tmp); } catch { /* nothing to remove */ }
    throw new GenrecError('GENREC_E_IO', `could not write ${path}: ${(e as Error).message}`, 'check free disk space and permissions');
  }
  renameSync(tmp, path);
  const dfd = openSync(dirname(path), 'r');
  try { fsyncSync(dfd); } finally { closeSync(dfd); }
}
