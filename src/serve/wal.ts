/**
 * serve's write-ahead log: numbered append-only segments `wal-<n>.log` in the serve directory. A record is
 * framed as [u32 length][u32 CRC-32][JSON bytes] so a torn tail (a crash mid-write) is detected and cut
 * off on replay instead of being misread.
 *
 * Group commit: `append` queues a record; one writer loop takes everything queued, writes it with one
 * `write` and makes it durable with one `fdatasync`, then applies the records in log order and resolves
 * their promises. Concurrent requests therefore share an fsync. What is durable when a promise resolves:
 * the record's bytes and the segment's size (fdatasync), and the segment's directory entry (the directory
 * is fsynced when a segment is created, before any record in it is acknowledged).
 *
 * `seal()` ends the current segment: records appended after it go to the next one, and its callback runs
 * right after the sealed segment's last record is applied and before any later record is, so the caller
 * can take a state snapshot that covers exactly the sealed segments (see durable.ts).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, truncateSync, unlinkSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { GenrecError } from '../engine/errors.js';
import { log } from '../engine/log.js';

const HEADER = 8;
/** Longest wait before records nobody waits for (impressions) are written. */
const LAZY_MS = 20;
/** A record larger than this is refused (request bodies are limited far below it). */
export const MAX_RECORD_BYTES = 64 << 20;

export function segmentName(n: number): string {
  return `wal-${String(n).padStart(8, '0')}.log`;
}

/** Segment numbers present in `dir`, ascending. */
export function segments(dir: string): number[] {
  let names: string[];
  try { names = readdirSync(dir); } catch { return []; }
  return names.map((f) => /^wal-(\d{8})\.log$/.exec(f)).filter((m): m is RegExpExecArray => !!m).map((m) => Number(m[1])).sort((a, b) => a - b);
}

export function frame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt32LE(crc32(payload), 4);
  payload.copy(out, HEADER);
  return out;
}

/**
 * The records of one segment, in order. A torn or corrupt tail ends the segment: with `repair` the file
 * is truncated there, so later appends never follow garbage.
 */
export function readSegment<R>(path: string, repair = false): { records: R[]; torn: boolean } {
  const buf = readFileSync(path);
  const records: R[] = [];
  let off = 0;
  while (off + HEADER <= buf.length) {
    const len = buf.readUInt32LE(off), crc = buf.readUInt32LE(off + 4);
    if (len > MAX_RECORD_BYTES || off + HEADER + len > buf.length) break;
    const payload = buf.subarray(off + HEADER, off + HEADER + len);
    if (crc32(payload) !== crc) break;
    try { records.push(JSON.parse(payload.toString('utf8')) as R); } catch { break; }
    off += HEADER + len;
  }
  const torn = off !== buf.length;
  if (torn) {
    log.warn({ path, validBytes: off, fileBytes: buf.length }, 'wal: torn tail cut off (a crash during a write; those records were never acknowledged)');
    if (repair) truncateSync(path, off);
  }
  return { records, torn };
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

interface Pending<R> {
  segment: number;
  sync: boolean;
  record: R;
  bytes: Buffer;
  resolve: () => void;
  reject: (e: Error) => void;
}

export interface WalOptions<R> {
  dir: string;
  /** First segment number to write (one past the last existing one). */
  segment: number;
  /** Applies durable records to the online state, in log order. */
  apply: (records: R[]) => void;
  /** Observability: one commit = one write + one fdatasync. */
  onCommit?: (records: number, bytes: number, seconds: number) => void;
}

export class Wal<R> {
  private queue: Pending<R>[] = [];
  private fh: FileHandle | null = null;
  private fhSegment = -1;
  private running = false;
  private failed: Error | null = null;
  private closed = false;
  private segment: number;
  /** Seal callbacks by the segment they close. */
  private seals = new Map<number, Array<() => void>>();
  private idleWaiters: Array<() => void> = [];
  private lazy: NodeJS.Timeout | null = null;

  constructor(private readonly o: WalOptions<R>) {
    mkdirSync(o.dir, { recursive: true });
    this.segment = o.segment;
  }

  /** The segment new records go to. */
  get current(): number { return this.segment; }

  /**
   * Queue a record; resolves once it is durable and applied. With `sync` false (impressions: nobody
   * waits for them) a commit holding only such records is written without an fdatasync; they become
   * durable with the next synced commit.
   */
  append(record: R, sync = true): Promise<void> {
    if (this.failed) return Promise.reject(this.unavailable());
    if (this.closed) return Promise.reject(new GenrecError('GENREC_E_SHUTTING_DOWN', 'the server is shutting down', 'retry against the restarted server'));
    const bytes = frame(Buffer.from(JSON.stringify(record), 'utf8'));
    if (bytes.length > MAX_RECORD_BYTES) return Promise.reject(new GenrecError('GENREC_E_TOO_LARGE', 'record too large', 'send smaller batches'));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ segment: this.segment, sync, record, bytes, resolve, reject });
      if (this.running) return;
      if (sync) void this.loop();
      // Unsynced records alone wait a little, so a stream of them costs one write per LAZY_MS, not one each.
      else this.lazy ??= setTimeout(() => { this.lazy = null; if (!this.running) void this.loop(); }, LAZY_MS);
    });
  }

  /**
   * End the current segment. `then` runs after its last record is applied and before any later record
   * is; resolves with the sealed segment's number.
   */
  seal(then: (segment: number) => void): Promise<number> {
    const sealed = this.segment++;
    return new Promise<number>((resolve, reject) => {
      const cb = () => { try { then(sealed); resolve(sealed); } catch (e) { reject(e as Error); } };
      const list = this.seals.get(sealed) ?? [];
      list.push(cb);
      this.seals.set(sealed, list);
      if (!this.running) void this.loop();
    });
  }

  private unavailable(): GenrecError {
    return new GenrecError('GENREC_E_WAL', `the write-ahead log failed: ${this.failed?.message}`, 'check the disk (space, permissions); restart the server once fixed — acknowledged events are safe', { cause: this.failed?.message });
  }

  private async openSegment(n: number): Promise<void> {
    if (this.fh) await this.fh.close();
    const path = join(this.o.dir, segmentName(n));
    this.fh = await open(path, 'a');
    this.fhSegment = n;
    fsyncDir(this.o.dir); // the new file's directory entry must survive a crash before we acknowledge from it
  }

  private runSeals(upTo: number): void {
    for (const s of [...this.seals.keys()].sort((a, b) => a - b)) {
      if (s > upTo) break;
      for (const cb of this.seals.get(s)!) cb();
      this.seals.delete(s);
    }
  }

  private async loop(): Promise<void> {
    if (this.lazy) { clearTimeout(this.lazy); this.lazy = null; }
    this.running = true;
    try {
      for (;;) {
        if (this.queue.length === 0) {
          // Nothing queued: every sealed segment is complete.
          this.runSeals(this.segment - 1);
          break;
        }
        // One commit covers the longest run of queued records of the oldest segment.
        const seg = this.queue[0]!.segment;
        this.runSeals(seg - 1);
        let n = 0;
        while (n < this.queue.length && this.queue[n]!.segment === seg) n++;
        const batch = this.queue.splice(0, n);
        try {
          if (this.fhSegment !== seg) await this.openSegment(seg);
          const t0 = performance.now();
          const buf = batch.length === 1 ? batch[0]!.bytes : Buffer.concat(batch.map((p) => p.bytes));
          for (let off = 0; off < buf.length;) off += (await this.fh!.write(buf, off, buf.length - off)).bytesWritten;
          if (batch.some((p) => p.sync)) await this.fh!.datasync();
          this.o.onCommit?.(batch.length, buf.length, (performance.now() - t0) / 1000);
        } catch (e) {
          // After a failed write or fsync the file's state is unknown: refuse further writes (see docs/serve.md).
          this.failed = e as Error;
          log.error({ err: (e as Error).message }, 'wal: write failed; writes are refused from now on');
          for (const p of [...batch, ...this.queue.splice(0)]) p.reject(this.unavailable());
          break;
        }
        this.o.apply(batch.map((p) => p.record));
        for (const p of batch) p.resolve();
      }
    } finally {
      this.running = false;
      if (this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w();
      else if (!this.failed) void this.loop();
    }
  }

  /** Resolves when everything queued so far is durable. */
  idle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    if (!this.running) void this.loop();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  get healthy(): boolean { return !this.failed; }

  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
    await this.fh?.close();
    this.fh = null;
  }

  /** Remove segments ≤ n (their records are in the store and the checkpoint). */
  static removeThrough(dir: string, n: number): void {
    for (const s of segments(dir)) if (s <= n) { try { unlinkSync(join(dir, segmentName(s))); } catch { /* already gone */ } }
  }
}
