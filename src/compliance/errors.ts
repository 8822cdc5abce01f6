/**
 * Errors of compliance/.
 */
import { ClinicPayError } from '../platform/errors.js';

/** A screening list file that cannot be loaded as it is: refused whole, the list in force stays. */
export class ScreeningListError extends Error {
  override name = 'ScreeningListError';
}

/** An address on a screening list where the gateway would send money or bind a clinic (422). */
export class AddressScreenedError extends ClinicPayError {
  override name = 'AddressScreenedError';
  constructor(param: string, address: string, hits: readonly { list: string; version: string }[]) {
    const lists = hits.map((hit) => `${hit.list} (version ${hit.version})`).join(', ');
    super('address_screened', `${address} is on the screening list ${lists}; nothing was changed.`, { param });
  }
}

/** The travel-rule information an invoice needs is not in, or is in already (409). */
export class TravelRuleError extends ClinicPayError {
  override name = 'TravelRuleError';
  constructor(code: 'travel_rule_required' | 'travel_rule_captured', message: string) {
    super(code, message);
  }
}
