/**
 * Entry point of the `genrec` binary (bin/genrec.js). Runs the program and turns every failure into a
 * coded one-line message on stderr plus an exit code:
 *   0 ok · 1 internal error (a bug, or something genrec cannot do yet) · 2 usage or input error.
 * A stack trace is printed only with GENREC_DEBUG=1.
 */
import { CommanderError } from 'commander';
import { GenrecError } from '../engine/errors.js';
import { createProgram } from './program.js';
import { sink } from './output.js';

export const EXIT_OK = 0;
export const EXIT_INTERNAL = 1;
export const EXIT_USAGE = 2;

/** Coded errors that are genrec's fault or limitation rather than the user's input. */
const INTERNAL_CODES = new Set(['GENREC_E_INTERNAL', 'GENREC_E_NOT_IMPLEMENTED']);

export function exitCodeFor(err: unknown): number {
  if (err instanceof GenrecError) return INTERNAL_CODES.has(err.code) ? EXIT_INTERNAL : EXIT_USAGE;
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  return EXIT_INTERNAL;
}

/** The message for stderr; never a bare stack trace unless `debug`. */
export function formatError(err: unknown, debug = false): string {
  let text: string;
  if (err instanceof GenrecError) {
    text = err.format();
  } else if (err instanceof CommanderError) {
    const message = err.message.replace(/^error:\s*/, '');
    text = `GENREC_E_USAGE: ${message}\n  hint: run \`genrec --help\` or \`genrec <command> --help\``;
  } else {
    const message = err instanceof Error ? err.message : String(err);
    text = `GENREC_E_INTERNAL: ${message}\n  hint: this is a bug in genrec; re-run with GENREC_DEBUG=1 for the stack trace and report it`;
  }
  if (debug && err instanceof Error && err.stack) {
    text += `\n${err.stack}`;
    if (err instanceof GenrecError && Object.keys(err.details).length) text += `\ndetails: ${JSON.stringify(err.details)}`;
  }
  return text;
}

/** Runs the CLI with `argv` (node-style: [node, script, ...args]) and resolves to the exit code. */
export async function main(argv: string[] = process.argv): Promise<number> {
  const program = createProgram();
  try {
    await program.parseAsync(argv);
    // A command reports failure by throwing (a GenrecError says which exit code), never via process.exitCode.
    return EXIT_OK;
  } catch (err) {
    // Help and version "errors" (and help shown for a missing command) were already written by commander.
    if (err instanceof CommanderError && (err.exitCode === 0 || err.code === 'commander.help')) {
      return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    sink.err(formatError(err, process.env.GENREC_DEBUG === '1') + '\n');
    return exitCodeFor(err);
  }
}
