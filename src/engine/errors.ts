/**
 * Coded errors. Every error that can reach a user carries a stable `GENREC_E_*` code and a hint that
 * says what to do, so the CLI and the HTTP API can print something actionable instead of a stack trace.
 */
export type ErrorDetails = Record<string, unknown>;

export class GenrecError extends Error {
  readonly code: string;
  readonly hint: string;
  readonly details: ErrorDetails;

  constructor(code: string, message: string, hint = '', details: ErrorDetails = {}) {
    super(message);
    if (!code.startsWith('GENREC_E_')) throw new Error(`error code must start with GENREC_E_: ${code}`);
    this.name = 'GenrecError';
    this.code = code;
    this.hint = hint;
    this.details = details;
  }

  /** One line for a terminal: code, message and what to do. */
  format(): string {
    return `${this.code}: ${this.message}${this.hint ? `\n  hint: ${this.hint}` : ''}`;
  }

  toJSON(): { code: string; message: string; hint: string; details: ErrorDetails } {
    return { code: this.code, message: this.message, hint: this.hint, details: this.details };
  }
}

export function isGenrecError(e: unknown): e is GenrecError {
  return e instanceof GenrecError;
}
