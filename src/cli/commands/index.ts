/**
 * Every `genrec` command, one module each under this folder, each exporting `register(program)`.
 * To add a command: write `commands/<name>.ts` and add one line to `registrations` below.
 */
import type { Command } from 'commander';
import { register as bench } from './bench.js';
import { register as demo } from './demo.js';
import { register as importCommand } from './import.js';
import { register as stats } from './stats.js';
import { register as tokenize } from './tokenize.js';
import { register as train } from './train.js';
import { register as evalCommand } from './eval.js';
import { register as recommend } from './recommend.js';
import { register as exportCommand } from './export.js';
import { register as serve } from './serve.js';

export const registrations: Array<(program: Command) => void> = [
  demo,
  bench,
  importCommand,
  stats,
  tokenize,
  train,
  evalCommand,
  recommend,
  exportCommand,
  serve,
];

export function registerAll(program: Command): void {
  for (const register of registrations) register(program);
}
