/**
 * A run directory: where one training run keeps its checkpoints, curves (JSON) and reports, and from
 * which it resumes. Writes are atomic (write + rename), so a run killed mid-write leaves the previous
 * file intact.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { GenrecError } from '../engine/errors.js';
import { writeFileAtomic } from '../engine/atomic-write.js';

export class RunDir {
  readonly path: string;

  constructor(path: string) {
    this.path = resolve(path);
    try {
      mkdirSync(this.path, { recursive: true });
    } catch (e) {
      throw new GenrecError('GENREC_E_RUN_DIR', `cannot create run directory ${this.path}: ${(e as Error).message}`, 'pick a writable directory (--run-dir)');
    }
  }

  /** A new directory `<base>/<name>-<UTC timestamp>` (a numeric suffix if that exists already). */
  static fresh(base: string, name: string, now = new Date()): RunDir {
    const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
    const safe = name.replace(/[^A-Za-z0-9._-]+/g, '_');
    let p = join(base, `${safe}-${stamp}`);
    for (let i = 2; existsSync(p); i++) p = join(base, `${safe}-${stamp}-${i}`);
    return new RunDir(p);
  }

  /** A sub-directory (e.g. one per model and seed). */
  sub(name: string): RunDir {
    return new RunDir(join(this.path, name));
  }

  file(name: string): string {
    return join(this.path, name);
  }

  has(name: string): boolean {
    return existsSync(this.file(name));
  }

  writeJson(name: string, value: unknown): void {
    writeFileAtomic(this.file(name), Buffer.from(JSON.stringify(value, null, 1) + '\n', 'utf8'));
  }

  readJson<T>(name: string): T | undefined {
    if (!this.has(name)) return undefined;
    try {
      return JSON.parse(readFileSync(this.file(name), 'utf8')) as T;
    } catch (e) {
      throw new GenrecError('GENREC_E_RUN_DIR', `${this.file(name)} is not valid JSON: ${(e as Error).message}`, 'delete the file (or the run directory) and start the run again');
    }
  }

  writeText(name: string, text: string): void {
    writeFileAtomic(this.file(name), Buffer.from(text, 'utf8'));
  }
}
