/**
 * Fiat currencies invoices may be issued in, and how an amount in one becomes token base units.
 * Only HKD is accepted today; adding a currency means adding it here with its minor unit and
 * a rate source in `tokenUnitsFor`.
 */
import { Decimal } from 'decimal.js';

/** Enough significant digits for any uint256 amount, so dividing by 10^decimals never rounds. */
const ExactDecimal = Decimal.clone({ precision: 100 });

export interface CurrencyInfo {
  code: string;
  /** Decimal places of the currency's minor unit (ISO 4217). */
  minorUnits: number;
}

export const CURRENCIES: Readonly<Record<string, CurrencyInfo>> = {
  HKD: { code: 'HKD', minorUnits: 2 },
};

export function currencyInfo(code: string): CurrencyInfo | undefined {
  return Object.hasOwn(CURRENCIES, code) ? CURRENCIES[code] : undefined;
}

/**
 * Converts a fiat amount into token base units for a token pegged 1:1 to `currency`:
 * `amount × 10^decimals`, rounded up when the token has fewer decimal places than the amount,
 * so that rounding never leaves an invoice short.
 *
 * @example
 * fiatToTokenUnits(new Decimal('123.45'), 6) // 123450000n
 * fiatToTokenUnits(new Decimal('0.01'), 0)   // 1n (rounded up)
 */
export function fiatToTokenUnits(amount: Decimal, decimals: number): bigint {
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 36) throw new RangeError(`token decimals out of range: ${decimals}`);
  const units = amount.times(new Decimal(10).pow(decimals)).toDecimalPlaces(0, Decimal.ROUND_CEIL);
  return BigInt(units.toFixed(0));
}

/** Token base units back to a fiat amount with the currency's minor unit, exact (no rounding needed at a 1:1 peg when decimals ≥ minor units). */
export function tokenUnitsToFiat(units: bigint, decimals: number, currency: CurrencyInfo): string {
  return new ExactDecimal(units.toString()).div(new ExactDecimal(10).pow(decimals)).toDecimalPlaces(currency.minorUnits, Decimal.ROUND_DOWN).toFixed(currency.minorUnits);
}
