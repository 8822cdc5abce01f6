/**
 * Errors of billing/.
 */
import { ClinicPayError } from '../platform/errors.js';

/** The invoice has received a payment, or is in a status that cannot become void (409). */
export class InvoiceNotVoidableError extends ClinicPayError {
  override name = 'InvoiceNotVoidableError';
  constructor(reason: string) {
    super('invoice_not_voidable', reason);
  }
}
