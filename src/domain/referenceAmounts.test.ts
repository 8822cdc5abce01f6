import { describe, expect, it } from 'vitest';
import { referenceAmounts } from './referenceAmounts.js';

const snapshot = { source: 'configured', as_of: '2026-11-27T00:00:00.000Z', rates: { USD: '0.1285', CNY: '0.9213' } };

describe('referenceAmounts', () => {
  it('converts exactly and rounds half up to cents, CNY before USD', () => {
    expect(referenceAmounts('880.00', snapshot)).toEqual([
      { currency: 'CNY', amount: '810.74', rate: '0.9213' }, // 810.744
      { currency: 'USD', amount: '113.08', rate: '0.1285' }, // 113.08
    ]);
    expect(referenceAmounts('0.10', { ...snapshot, rates: { CNY: '0.95' } })).toEqual([{ currency: 'CNY', amount: '0.10', rate: '0.95' }]); // 0.095 → 0.10
  });

  it('is exact where floating point is not', () => {
    // 0.1 × 3 in binary floating point is 0.30000000000000004.
    expect(referenceAmounts('0.10', { ...snapshot, rates: { USD: '3' } })[0]!.amount).toBe('0.30');
    expect(referenceAmounts('999999999.99', { ...snapshot, rates: { CNY: '0.9213' } })[0]!.amount).toBe('921299999.99');
  });

  it('has nothing to show without configured rates', () => {
    expect(referenceAmounts('880.00', null)).toEqual([]);
  });
});
