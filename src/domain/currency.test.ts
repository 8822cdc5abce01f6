import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { CURRENCIES, currencyInfo, fiatToTokenUnits, rescaleAtPar, tokenUnitsToFiat } from './currency.js';

const HKD = CURRENCIES.HKD!;

describe('fiatToTokenUnits at the 1:1 peg', () => {
  it.each([
    ['123.45', 6, 123_450_000n],
    ['0.01', 6, 10_000n],
    ['99999999.99', 18, 99_999_999_990_000_000_000_000_000n],
    ['1', 2, 100n],
  ])('%s HKD with %i decimals is %s base units, exactly', (amount, decimals, expected) => {
    expect(fiatToTokenUnits(new Decimal(amount), decimals)).toBe(expected);
  });

  it('rounds up when the token has fewer places than the amount, so an invoice is never short', () => {
    expect(fiatToTokenUnits(new Decimal('0.01'), 0)).toBe(1n);
    expect(fiatToTokenUnits(new Decimal('10.05'), 1)).toBe(101n);
    expect(fiatToTokenUnits(new Decimal('10.00'), 1)).toBe(100n);
  });

  it('refuses impossible decimals', () => {
    expect(() => fiatToTokenUnits(new Decimal('1'), -1)).toThrow(RangeError);
    expect(() => fiatToTokenUnits(new Decimal('1'), 1.5)).toThrow(RangeError);
  });
});

describe('tokenUnitsToFiat', () => {
  it('reads base units back as an HKD amount with 2 places', () => {
    expect(tokenUnitsToFiat(123_450_000n, 6, HKD)).toBe('123.45');
    expect(tokenUnitsToFiat(0n, 6, HKD)).toBe('0.00');
    expect(tokenUnitsToFiat(10n ** 30n, 18, HKD)).toBe('1000000000000.00');
  });

  it('is exact beyond 20 significant digits (a uint256 amount reads back digit for digit)', () => {
    expect(tokenUnitsToFiat(123456789012345678901234567890123n, 6, HKD)).toBe('123456789012345678901234567.89');
    expect(tokenUnitsToFiat(2n ** 256n - 1n, 0, HKD)).toBe(`${2n ** 256n - 1n}.00`);
  });

  it('handles tokens with fewer decimals than cents, and negative amounts (a reversal) toward zero', () => {
    expect(tokenUnitsToFiat(5n, 1, HKD)).toBe('0.50');
    expect(tokenUnitsToFiat(7n, 2, HKD)).toBe('0.07');
    expect(tokenUnitsToFiat(-1_239_999n, 6, HKD)).toBe('-1.23');
    expect(tokenUnitsToFiat(-9_999n, 6, HKD)).toBe('0.00'); // no negative zero
  });

  it('rounds a fraction of a cent down: what was paid is never overstated', () => {
    expect(tokenUnitsToFiat(123_456_789n, 6, HKD)).toBe('123.45');
  });
});

describe('currencyInfo', () => {
  it('knows HKD and nothing it was not told about, including prototype keys', () => {
    expect(currencyInfo('HKD')).toEqual({ code: 'HKD', minorUnits: 2 });
    expect(currencyInfo('USD')).toBeUndefined();
    expect(currencyInfo('constructor')).toBeUndefined();
  });
});

describe('rescaleAtPar between two HKD tokens', () => {
  it('is exact from fewer decimals to more', () => {
    expect(rescaleAtPar(1_500_000n, 6, 18, 'down')).toBe(1_500_000_000_000_000_000n);
    expect(rescaleAtPar(1_500_000n, 6, 18, 'up')).toBe(1_500_000_000_000_000_000n);
    expect(rescaleAtPar(7n, 6, 6, 'up')).toBe(7n);
  });

  it('drops, or rounds up, what is below one unit of the coarser token', () => {
    expect(rescaleAtPar(1_000_000_000_000_000_001n, 18, 6, 'down')).toBe(1_000_000n);
    expect(rescaleAtPar(1_000_000_000_000_000_001n, 18, 6, 'up')).toBe(1_000_001n);
    expect(rescaleAtPar(1_000_000_000_000_000_000n, 18, 6, 'up')).toBe(1_000_000n);
    expect(rescaleAtPar(999_999_999_999n, 18, 6, 'down')).toBe(0n);
  });

  it('there and back loses nothing when the first step is exact', () => {
    const units = 123_456_789n;
    expect(rescaleAtPar(rescaleAtPar(units, 6, 18, 'down'), 18, 6, 'down')).toBe(units);
  });
});
