/**
 * Errors of settlement/: a settlement address change that cannot be made as asked.
 */
import { ClinicPayError } from '../platform/errors.js';

/** The clinic has a settlement address change waiting already: approve or cancel it first (409). */
export class SettlementAddressChangePendingError extends ClinicPayError {
  override name = 'SettlementAddressChangePendingError';
  constructor(pendingId: string) {
    super('settlement_address_change_pending', `Change ${pendingId} is waiting for approval; approve or cancel it before proposing another.`, {
      details: { pending_change_id: pendingId },
    });
  }
}

/** The change was approved, cancelled or has expired already (409). */
export class SettlementAddressChangeNotPendingError extends ClinicPayError {
  override name = 'SettlementAddressChangeNotPendingError';
  constructor(status: string) {
    super('settlement_address_change_not_pending', `This settlement address change is ${status}.`);
  }
}
