/**
 * Errors of the HTTP edge itself (the domains' errors are in their folders).
 */
import { ClinicPayError } from '../platform/errors.js';

/** An `Idempotency-Key` sent again with a different request (422). */
export class IdempotencyKeyReusedError extends ClinicPayError {
  override name = 'IdempotencyKeyReusedError';
  constructor(header: string) {
    super('idempotency_key_reused', `This ${header} was already used with a different request; use a new key for a new request.`, { param: header });
  }
}

/** A request body that is not JSON where the operation takes JSON (415). */
export class UnsupportedMediaTypeError extends ClinicPayError {
  override name = 'UnsupportedMediaTypeError';
  constructor() {
    super('unsupported_media_type', 'Send the request body as application/json.');
  }
}

/** Over a limit (429); the answer carries `Retry-After`. */
export class RateLimitedError extends ClinicPayError {
  override name = 'RateLimitedError';
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('rate_limited', message, { details: { retry_after: retryAfterSeconds } });
  }
}
