/**
 * Logging and progress go to stderr only, so stdout carries results (`genrec bench --json | tail -1`).
 */
import { pino, type Logger } from 'pino';
import cliProgress from 'cli-progress';

export const log: Logger = pino(
  { level: process.env.GENREC_LOG_LEVEL ?? 'info', base: undefined },
  pino.destination({ fd: 2, sync: true }),
);

export function setLogLevel(level: string): void {
  log.level = level;
}

export interface Progress {
  /** Advance by n (default 1); `info` fills the bar's payload (e.g. loss). */
  tick(n?: number, info?: Record<string, string | number>): void;
  update(value: number, info?: Record<string, string | number>): void;
  stop(): void;
}

/** A progress bar on stderr; silent when stderr is not a terminal or GENREC_PROGRESS=0. */
export function progress(label: string, total: number): Progress {
  const enabled = process.stderr.isTTY && process.env.GENREC_PROGRESS !== '0';
  if (!enabled) {
    let value = 0;
    return {
      tick(n = 1) { value += n; },
      update(v) { value = v; },
      stop() { log.debug({ label, value, total }, 'done'); },
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted} {info}`,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { info: '' });
  const fmt = (info?: Record<string, string | number>) =>
    info ? { info: Object.entries(info).map(([k, v]) => `${k}=${typeof v === 'number' ? v.toPrecision(4) : v}`).join(' ') } : undefined;
  return {
    tick(n = 1, info) { bar.increment(n, fmt(info)); },
    update(v, info) { bar.update(v, fmt(info)); },
    stop() { bar.stop(); },
  };
}
