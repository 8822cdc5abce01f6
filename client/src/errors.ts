/**
 * What the client throws. Every error is a {@link ClinicPayError}; an answer of the gateway that is
 * not a success is a {@link ClinicPayApiError} (a subclass per kind of status) carrying the
 * gateway's problem details unchanged, so `err.code`, `err.param` and `err.requestId` are what
 * the gateway said and what its logs are searched by.
 */
import type { Problem, ProblemCode } from './api.js';

export class ClinicPayError extends Error {
  override name = 'ClinicPayError';
}

/** The gateway's problem details (RFC 9457) with whatever else the problem carried. */
export type ProblemDetails = Omit<Problem, 'code'> & { code: ProblemCode | (string & {}); [field: string]: unknown };

/** The gateway answered with an error status. */
export class ClinicPayApiError extends ClinicPayError {
  override name = 'ClinicPayApiError';
  /** The HTTP status. */
  readonly status: number;
  /** The problem's stable code (`invalid_request`, `not_found`, …); `GET /problems/{code}` explains each. */
  readonly code: ProblemCode | (string & {});
  /** The problem's `type` URI (`/problems/<code>`). */
  readonly type: string;
  readonly title: string;
  readonly detail: string | undefined;
  /** The request field to blame, when one is. */
  readonly param: string | undefined;
  /** The gateway's id of the request (its `X-Request-Id`): quote it to the gateway's operator. */
  readonly requestId: string | undefined;
  /** The problem body exactly as received. */
  readonly problem: ProblemDetails;
  readonly headers: Headers;

  constructor(status: number, problem: ProblemDetails, headers: Headers) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
    this.status = status;
    this.problem = problem;
    this.headers = headers;
    this.code = problem.code;
    this.type = problem.type;
    this.title = problem.title;
    this.detail = problem.detail;
    this.param = problem.param;
    this.requestId = problem.request_id ?? headers.get('x-request-id') ?? undefined;
  }
}

/** 400, 413, 415, 431: the request does not fit the contract (`param` names the field when one is to blame). */
export class InvalidRequestError extends ClinicPayApiError {
  override name = 'InvalidRequestError';
}

/** 401: no credentials, or credentials the gateway refuses (revoked or expired API key, bad token). */
export class AuthenticationError extends ClinicPayApiError {
  override name = 'AuthenticationError';
}

/** 403: the key's role may not do this (or a person must confirm it: `step_up_required`). */
export class PermissionError extends ClinicPayApiError {
  override name = 'PermissionError';
}

/** 404: no such object, or one of a clinic this key may not see. */
export class NotFoundError extends ClinicPayApiError {
  override name = 'NotFoundError';
}

/** 409: the object's state does not allow this (an invoice already paid cannot be voided, …). */
export class ConflictError extends ClinicPayApiError {
  override name = 'ConflictError';
}

/** 422: well formed but not possible (`idempotency_key_reused`, `amount_exceeds_received`, …). */
export class UnprocessableError extends ClinicPayApiError {
  override name = 'UnprocessableError';
}

/** 429: over a limit. Thrown when retries ran out, or the gateway asked for a longer wait than `maxRetryAfterSeconds`. */
export class RateLimitError extends ClinicPayApiError {
  override name = 'RateLimitError';
  /** Seconds the gateway asked to wait (`Retry-After`), when it said. */
  get retryAfterSeconds(): number | undefined {
    return retryAfterSeconds(this.headers);
  }
}

/** 5xx: the gateway failed (its `requestId` finds the failure in its logs) or a dependency is down. */
export class ServerError extends ClinicPayApiError {
  override name = 'ServerError';
}

/** No answer: the connection failed or was cut, after every retry. */
export class ConnectionError extends ClinicPayError {
  override name = 'ConnectionError';
}

/** No answer within the timeout, after every retry. */
export class TimeoutError extends ConnectionError {
  override name = 'TimeoutError';
}

/** Why a webhook was refused by `constructEvent`. */
export type WebhookSignatureFailure = 'missing_header' | 'malformed_header' | 'timestamp_outside_tolerance' | 'no_matching_signature' | 'malformed_body';

/** A webhook that must not be trusted: its signature, timestamp or body is not what the gateway sends. */
export class WebhookSignatureError extends ClinicPayError {
  override name = 'WebhookSignatureError';
  readonly reason: WebhookSignatureFailure;

  constructor(reason: WebhookSignatureFailure, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** The error class for an answer's status. */
export function apiErrorFor(status: number, problem: ProblemDetails, headers: Headers): ClinicPayApiError {
  if (status === 401) return new AuthenticationError(status, problem, headers);
  if (status === 403) return new PermissionError(status, problem, headers);
  if (status === 404) return new NotFoundError(status, problem, headers);
  if (status === 409) return new ConflictError(status, problem, headers);
  if (status === 422) return new UnprocessableError(status, problem, headers);
  if (status === 429) return new RateLimitError(status, problem, headers);
  if (status >= 500) return new ServerError(status, problem, headers);
  if (status >= 400) return new InvalidRequestError(status, problem, headers);
  return new ClinicPayApiError(status, problem, headers);
}

/** `Retry-After` in seconds: a number of seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterSeconds(headers: Headers, now = Date.now()): number | undefined {
  const value = headers.get('retry-after');
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}
