/**
 * Errors of identity/: a caller who could not be identified, or who may not do what it asked.
 */
import { ClinicPayError } from '../platform/errors.js';

/** No usable credential: a bearer token missing, malformed, expired, wrongly signed or with bad claims, or a session that has ended (401). */
export class AuthenticationError extends ClinicPayError {
  override name = 'AuthenticationError';
  constructor(code: 'missing_token' | 'invalid_token' | 'token_expired' | 'session_expired', message: string, cause?: unknown) {
    super(code, message, { cause });
  }
}

/** A valid caller acting outside its role's rights (403). */
export class ForbiddenError extends ClinicPayError {
  override name = 'ForbiddenError';
  constructor(message = 'Your role does not allow this action.') {
    super('forbidden', message);
  }
}

/** An action that needs a fresh passkey confirmation (or, by token, the operator's leave) without it (403). */
export class StepUpRequiredError extends ClinicPayError {
  override name = 'StepUpRequiredError';
  constructor(message: string) {
    super('step_up_required', message);
  }
}
