/**
 * domain/ — pure logic, no I/O: money and currencies, the invoice state machine, payment
 * matching, addresses at the API edge, canonical JSON and Merkle trees. Everything here is a
 * function of its arguments, so it is tested without a database or a chain.
 *
 * Exact fiat arithmetic for invoices. Amounts arrive as decimal strings (never JSON numbers)
 * and are computed with decimal.js; nothing here touches a JS float.
 *
 * Owns tables: none.
 * May import: platform.
 */
import { Decimal } from 'decimal.js';
import { ValidationError } from '../platform/errors.js';
import type { CurrencyInfo } from './currency.js';

/** Largest unit amount and quantity accepted on one line; bounds keep totals sane and storable. */
export const MAX_UNIT_AMOUNT = new Decimal('99999999.99');
export const MAX_QUANTITY = 10_000;
export const MAX_INVOICE_AMOUNT = new Decimal('999999999.99');

const DECIMAL_TEXT = /^(0|[1-9][0-9]*)(\.[0-9]+)?$/;

export interface LineItemInput {
  description: string;
  quantity: number;
  unit_amount: string;
}

/**
 * Parses a positive amount written as a plain decimal string in `currency` (no sign, no
 * exponent, at most the currency's minor-unit places). Throws a {@link ValidationError} naming `param`.
 */
export function parseFiatAmount(text: string, currency: CurrencyInfo, param: string): Decimal {
  if (!DECIMAL_TEXT.test(text)) throw new ValidationError(`"${param}" must be a plain decimal string such as "120.50" (no sign, exponent or spaces).`, param);
  const places = text.split('.')[1]?.length ?? 0;
  if (places > currency.minorUnits) {
    throw new ValidationError(`"${param}" has ${places} decimal places; ${currency.code} amounts have at most ${currency.minorUnits}.`, param);
  }
  const amount = new Decimal(text);
  if (amount.lte(0)) throw new ValidationError(`"${param}" must be greater than zero.`, param);
  if (amount.gt(MAX_UNIT_AMOUNT)) throw new ValidationError(`"${param}" is larger than the maximum of ${MAX_UNIT_AMOUNT.toFixed(2)}.`, param);
  return amount;
}

/**
 * The total of `lines` in `currency`, exact. Throws when a line is invalid or the total exceeds
 * {@link MAX_INVOICE_AMOUNT}.
 */
export function invoiceTotal(lines: readonly LineItemInput[], currency: CurrencyInfo): Decimal {
  let total = new Decimal(0);
  lines.forEach((line, index) => {
    if (!Number.isSafeInteger(line.quantity) || line.quantity < 1 || line.quantity > MAX_QUANTITY) {
      throw new ValidationError(`"line_items[${index}].quantity" must be a whole number from 1 to ${MAX_QUANTITY}.`, `line_items[${index}].quantity`);
    }
    total = total.plus(parseFiatAmount(line.unit_amount, currency, `line_items[${index}].unit_amount`).times(line.quantity));
  });
  if (total.gt(MAX_INVOICE_AMOUNT))
    throw new ValidationError(
      `The invoice total ${total.toFixed(currency.minorUnits)} is larger than the maximum of ${MAX_INVOICE_AMOUNT.toFixed(2)}.`,
      'line_items',
    );
  return total;
}

/** `amount` written with exactly the currency's minor-unit places: "1200.50". */
export function formatFiat(amount: Decimal, currency: CurrencyInfo): string {
  return amount.toFixed(currency.minorUnits);
}
