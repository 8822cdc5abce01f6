/**
 * Indicative amounts in other currencies for a patient who thinks in yuan or dollars. They are
 * marked indicative everywhere they appear: the invoice is due in HKD (and its token), and the
 * rate is only the configured one at the invoice's creation, stored with it.
 */
import { Decimal } from 'decimal.js';

/** The rates an invoice was created with: units of each currency per 1 HKD, their source and time. */
export interface ReferenceRatesSnapshot {
  source: string;
  as_of: string;
  rates: Record<string, string>;
}

export interface ReferenceAmount {
  currency: string;
  /** Rounded half up to 2 decimal places (both CNY and USD have 2 minor units). */
  amount: string;
  rate: string;
}

/**
 * `amountHkd` in each currency of `snapshot`, in a fixed order (CNY, then USD).
 *
 * @example
 * referenceAmounts('880.00', { source: 'configured', as_of: '…', rates: { CNY: '0.9213' } })
 * // [{ currency: 'CNY', amount: '810.74', rate: '0.9213' }]
 */
export function referenceAmounts(amountHkd: string, snapshot: ReferenceRatesSnapshot | null | undefined): ReferenceAmount[] {
  if (!snapshot) return [];
  return Object.keys(snapshot.rates)
    .sort()
    .map((currency) => ({
      currency,
      amount: new Decimal(amountHkd).times(snapshot.rates[currency]!).toDecimalPlaces(2, Decimal.ROUND_HALF_UP).toFixed(2),
      rate: snapshot.rates[currency]!,
    }));
}
