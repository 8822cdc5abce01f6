/**
 * The base of every error the gateway raises on purpose.
 *
 * Each carries a stable `code` (snake_case, part of the public API as the problem `code`), the
 * HTTP status it maps to at the edge, an optional offending `param`, and a `cause` chain.
 * Domains define their own subclasses in their own `errors.ts`.
 */
export interface ClinicPayErrorOptions {
  status?: number;
  param?: string;
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class ClinicPayError extends Error {
  override name = 'ClinicPayError';
  readonly status: number;
  readonly param: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    readonly code: string,
    message: string,
    options: ClinicPayErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status ?? 400;
    this.param = options.param;
    this.details = options.details;
  }
}

/** A resource that does not exist, or that the caller may not know exists. */
export class NotFoundError extends ClinicPayError {
  override name = 'NotFoundError';
  constructor(what = 'resource') {
    super('not_found', `No such ${what}.`, { status: 404 });
  }
}

/** A request that does not fit the API contract. */
export class ValidationError extends ClinicPayError {
  override name = 'ValidationError';
  constructor(message: string, param?: string, details?: Record<string, unknown>) {
    super('invalid_request', message, { status: 400, ...(param === undefined ? {} : { param }), ...(details === undefined ? {} : { details }) });
  }
}
