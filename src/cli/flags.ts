/**
 * Numeric flag values, checked the same way by every command: a bad value is a `GENREC_E_USAGE` error
 * that names the flag, says what it must be and gives an example.
 */
import { flagError } from '../eval/flags.js';

const usage = (flag: string, what: string, v: unknown, example: number) => flagError(flag, what, v, `e.g. --${flag} ${example}`);

/** An integer ≥ min (a flag's string, or a suite option's value). */
export function intFlag(flag: string, v: unknown, min = 1, example = Math.max(min, 1) * 2): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw usage(flag, `an integer ≥ ${min}`, v, example);
  return n;
}

/** intFlag, or undefined when the flag is absent. */
export function optionalIntFlag(flag: string, v: string | undefined, min = 1): number | undefined {
  return v === undefined ? undefined : intFlag(flag, v, min);
}

/** A finite number ≥ min. */
export function numberFlag(flag: string, v: unknown, min = 0, example = Math.max(min, 1)): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw usage(flag, `a number ≥ ${min}`, v, example);
  return n;
}

/** A finite number > 0. */
export function positiveFlag(flag: string, v: unknown, example: number): number {
  const n = Number(v);
  if (!Number.isFinite(n) || !(n > 0)) throw usage(flag, 'a positive number', v, example);
  return n;
}

/** A probability p with 0 ≤ p < 1 (e.g. a dropout rate). */
export function probabilityFlag(flag: string, v: string, example: number): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n >= 1) throw usage(flag, 'a number in [0, 1)', v, example);
  return n;
}
