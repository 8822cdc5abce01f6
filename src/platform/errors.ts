/**
 * The base of every error the gateway raises on purpose.
 *
 * Each carries a stable `code` from the catalogue (`problems.ts`), which also fixes its HTTP
 * status, an optional offending `param`, extra `details` for the problem body, and a `cause`
 * chain. Domains define named subclasses in their own `errors.ts`.
 */
import { PROBLEMS, type ProblemCode } from './problems.js';

export interface ClinicPayErrorOptions {
  param?: string | undefined;
  details?: Record<string, unknown> | undefined;
  cause?: unknown;
}

export class ClinicPayError extends Error {
  override name = 'ClinicPayError';
  readonly param: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    readonly code: ProblemCode,
    message: string,
    options: ClinicPayErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.param = options.param;
    this.details = options.details;
  }

  /** The HTTP status of the error's code. */
  get status(): number {
    return PROBLEMS[this.code].status;
  }
}

/** A resource that does not exist, or that the caller may not know exists. */
export class NotFoundError extends ClinicPayError {
  override name = 'NotFoundError';
  constructor(what = 'resource') {
    super('not_found', `No such ${what}.`);
  }
}

/** A request that does not fit the API contract. */
export class ValidationError extends ClinicPayError {
  override name = 'ValidationError';
  constructor(message: string, param?: string, details?: Record<string, unknown>) {
    super('invalid_request', message, { param, details });
  }
}
