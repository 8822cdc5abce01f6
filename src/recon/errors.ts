/**
 * Errors of recon/: a resolution that cannot be proposed or approved as asked, and a
 * reconciliation run that cannot start.
 */
import { ClinicPayError } from '../platform/errors.js';

/** The exception takes no new resolution: one is waiting for approval, or it is resolved (409). */
export class ExceptionNotOpenError extends ClinicPayError {
  override name = 'ExceptionNotOpenError';
  constructor(status: string) {
    super('exception_not_open', `This exception is ${status.replace('_', ' ')}; it takes no new resolution.`);
  }
}

/** The resolution was approved or completed already (409). */
export class ResolutionNotPendingError extends ClinicPayError {
  override name = 'ResolutionNotPendingError';
  constructor(status: string) {
    super('resolution_not_pending', `This resolution is ${status.replace('_', ' ')}.`);
  }
}

/** A resolution asks for more than the exception concerns (422). */
export class AmountExceedsReceivedError extends ClinicPayError {
  override name = 'AmountExceedsReceivedError';
  constructor(param: string, amount: bigint, limit: bigint) {
    super('amount_exceeds_received', `"${param}" ${amount} is more than the ${limit} base units this exception concerns.`, { param });
  }
}

/** The action a resolution proposes does not fit its exception (422): nothing to refund or apply, or a bad target. */
export class ResolutionNotPossibleError extends ClinicPayError {
  override name = 'ResolutionNotPossibleError';
  constructor(code: 'refund_not_possible' | 'apply_not_possible' | 'invalid_target_invoice', message: string, param?: string) {
    super(code, message, { param });
  }
}

/** The refund address is not proven by the payer's signature (422). */
export class InvalidSignatureError extends ClinicPayError {
  override name = 'InvalidSignatureError';
  constructor(message: string) {
    super('invalid_signature', message, { param: 'signature' });
  }
}

/** The requested block range cannot be reconciled (400): beyond the head, not final yet, or too wide. */
export class ReconciliationRangeError extends ClinicPayError {
  override name = 'ReconciliationRangeError';
  constructor(code: 'range_beyond_head' | 'range_not_final' | 'range_too_large', message: string, param: 'from_block' | 'to_block') {
    super(code, message, { param });
  }
}

/** A run cannot start now (409): another is running, or there is nothing new to reconcile. */
export class ReconciliationNotStartedError extends ClinicPayError {
  override name = 'ReconciliationNotStartedError';
  constructor(code: 'reconciliation_running' | 'nothing_to_reconcile', message: string) {
    super(code, message);
  }
}
