import { describe, expect, it } from 'vitest';
import { caught } from '../../test/support/caught.js';
import { ValidationError } from '../platform/errors.js';
import { CURRENCIES } from './currency.js';
import { formatFiat, invoiceTotal, parseFiatAmount } from './money.js';

const HKD = CURRENCIES.HKD!;

const rejection = (fn: () => unknown) => caught(fn, ValidationError);

describe('parseFiatAmount', () => {
  it('accepts plain positive decimals with up to the minor unit', () => {
    expect(parseFiatAmount('120.50', HKD, 'x').toString()).toBe('120.5');
    expect(parseFiatAmount('0.01', HKD, 'x').toString()).toBe('0.01');
    expect(parseFiatAmount('7', HKD, 'x').toString()).toBe('7');
  });

  it.each(['120.505', '0', '0.00', '-5', '1e3', ' 12', '12 ', '+1', '01.5', '.5', '5.', '99999999999', 'NaN', 'Infinity', '0x10'])(
    'refuses %j naming the field',
    (text) => {
      const error = rejection(() => parseFiatAmount(text, HKD, 'line_items[2].unit_amount'));
      expect(error.param).toBe('line_items[2].unit_amount');
      expect(error.status).toBe(400);
    },
  );
});

describe('invoiceTotal', () => {
  it('sums quantity × unit amount exactly, where floats would not', () => {
    const lines = [
      { description: 'a', quantity: 3, unit_amount: '0.10' },
      { description: 'b', quantity: 1, unit_amount: '0.20' },
    ];
    // 3 × 0.1 + 0.2 in floating point is 0.5000000000000001.
    expect(formatFiat(invoiceTotal(lines, HKD), HKD)).toBe('0.50');
  });

  it('refuses a quantity that is not a whole number from 1 to 10000', () => {
    for (const quantity of [0, -1, 1.5, 10_001, Number.NaN]) {
      const error = rejection(() => invoiceTotal([{ description: 'a', quantity, unit_amount: '1.00' }], HKD));
      expect(error.param).toBe('line_items[0].quantity');
    }
  });

  it('refuses a total over the maximum', () => {
    const error = rejection(() => invoiceTotal([{ description: 'a', quantity: 10_000, unit_amount: '99999999.99' }], HKD));
    expect(error.param).toBe('line_items');
  });
});
