/**
 * Fiat currencies invoices may be issued in, and how an amount in one becomes token base units.
 * Only HKD is accepted today; adding a currency means adding it here with its minor unit and
 * a rate source in `tokenUnitsFor`.
 */
import { Decimal } from 'decimal.js';

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

/**
 * Token base units back to a fiat amount with the currency's minor unit, rounded toward zero
 * (what was paid is never overstated). Integer arithmetic only: exact for any uint256 amount,
 * and cheap enough for a statement's million lines.
 */
export function tokenUnitsToFiat(units: bigint, decimals: number, currency: CurrencyInfo): string {
  const minor = currency.minorUnits;
  // bigint division truncates toward zero, which is the rounding wanted.
  const minorUnits = decimals >= minor ? units / 10n ** BigInt(decimals - minor) : units * 10n ** BigInt(minor - decimals);
  const negative = minorUnits < 0n;
  const digits = (negative ? -minorUnits : minorUnits).toString().padStart(minor + 1, '0');
  const text = minor === 0 ? digits : `${digits.slice(0, -minor)}.${digits.slice(-minor)}`;
  return negative ? `-${text}` : text;
}

/**
 * Base units of one HKD token as base units of another, at par (1:1, both pegged to HKD).
 * Exact when `to` has at least as many decimals as `from`. Otherwise the remainder below one of
 * `to`'s units is dropped (`'down'`: what a payment counts for is never overstated) or rounded
 * up (`'up'`: what a payer is asked to send never leaves the invoice short).
 *
 * @example
 * rescaleAtPar(1_500_000n, 6, 18, 'down')                   // 1_500_000_000_000_000_000n
 * rescaleAtPar(1_000_000_000_000_000_001n, 18, 6, 'down')   // 1_000_000n
 * rescaleAtPar(1_000_000_000_000_000_001n, 18, 6, 'up')     // 1_000_001n
 */
export function rescaleAtPar(units: bigint, from: number, to: number, rounding: 'down' | 'up'): bigint {
  if (from === to) return units;
  if (to > from) return units * 10n ** BigInt(to - from);
  const divisor = 10n ** BigInt(from - to);
  const quotient = units / divisor;
  return rounding === 'up' && quotient * divisor < units ? quotient + 1n : quotient;
}
