/**
 * Result output on stdout. Logs and progress go to stderr (src/engine/log.ts), so stdout stays parseable:
 * with --json a command's result is exactly one JSON line, the last one.
 */

/**
 * Where the CLI writes its results (`out`) and its error reports (`err`). Commands write here rather than to
 * process.stdout, so a test can capture one command's output without also capturing the test runner's own
 * reports, which go to the same process's stdout.
 */
export const sink = {
  /** Writes a result; false when the stream's buffer is full (await `drained()` before writing more). */
  out: (text: string): boolean => process.stdout.write(text),
  err: (text: string): boolean => process.stderr.write(text),
  /** Resolves once `out`'s stream has room again (for commands that stream many lines). */
  drained: (): Promise<void> => new Promise((resolve) => process.stdout.once('drain', () => resolve())),
};

export function formatValue(v: unknown): string {
  if (typeof v === 'number') {
    if (Number.isInteger(v) || !Number.isFinite(v)) return String(v);
    // Four significant digits is plenty for a summary; the JSON line carries full precision.
    return Math.abs(v) >= 1000 ? v.toFixed(1) : String(Number(v.toPrecision(4)));
  }
  if (typeof v === 'string') return v;
  return JSON.stringify(v) ?? String(v);
}

/** A plain two-column (or more) table, columns padded to their widest cell. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n';
}

/** Prints a result record: one JSON line with `json`, else a key/value table. */
export function printResult(result: Record<string, unknown>, json: boolean): void {
  if (json) {
    sink.out(JSON.stringify(result) + '\n');
    return;
  }
  sink.out(formatTable(['metric', 'value'], Object.entries(result).map(([k, v]) => [k, formatValue(v)])));
}
