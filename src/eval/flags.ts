/** Model options shared by the quality suite's factories, checked once (coded usage errors). */
import { GenrecError } from '../engine/errors.js';

/** The `--windows` flag: training rows from the last window of each user, or from all windows. */
export function windowsOption(v: unknown): 'last' | 'all' {
  if (v !== 'last' && v !== 'all') throw new GenrecError('GENREC_E_USAGE', `--windows must be 'last' or 'all', got '${String(v)}'`, 'use --windows last (one row per user) or all');
  return v;
}
