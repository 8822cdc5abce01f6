import { describe, expect, it } from 'vitest';
import type { InvoiceStatus } from './invoiceStatus.js';
import { applyConfirmedPayment, applyReorgedPayment, type InvoiceForMatching } from './matching.js';

const expiresAt = new Date('2026-11-27T10:00:00.000Z');
const beforeExpiry = new Date(expiresAt.getTime() - 60_000);
const DUE = 1_000_000n;

function invoice(overrides: Partial<InvoiceForMatching> = {}): InvoiceForMatching {
  return { status: 'processing', tokenAmountDue: DUE, tokenAmountPaid: 0n, expiresAt, ...overrides };
}

function confirm(amount: bigint, overrides: Partial<InvoiceForMatching> = {}, { tolerance = 0n, otherPending = false, at = beforeExpiry } = {}) {
  return applyConfirmedPayment(invoice(overrides), { amount, blockTimestamp: at }, { tolerance, otherPending });
}

describe('applyConfirmedPayment', () => {
  it.each<[string, bigint, Partial<InvoiceForMatching>, InvoiceStatus, bigint]>([
    ['exact', DUE, {}, 'paid', 0n],
    ['exact, from open (not seen before it was final)', DUE, { status: 'open' }, 'paid', 0n],
    ['short', DUE - 1n, {}, 'underpaid', 0n],
    ['more', DUE + 250n, {}, 'overpaid', 250n],
    ['a top-up that completes an underpaid invoice', 400_000n, { status: 'underpaid', tokenAmountPaid: 600_000n }, 'paid', 0n],
    ['a top-up that is still short', 100_000n, { status: 'underpaid', tokenAmountPaid: 600_000n }, 'underpaid', 0n],
    ['a top-up beyond what is due', 500_000n, { status: 'underpaid', tokenAmountPaid: 600_000n }, 'overpaid', 100_000n],
  ])('%s', (_name, amount, overrides, status, excess) => {
    const result = confirm(amount, overrides);
    expect(result).toEqual({ status, tokenAmountPaid: (overrides.tokenAmountPaid ?? 0n) + amount, excess, flag: undefined });
  });

  it('stays processing rather than underpaid while another payment to the address waits for confirmations', () => {
    expect(confirm(DUE / 2n, {}, { otherPending: true })).toMatchObject({ status: 'processing', tokenAmountPaid: DUE / 2n, flag: undefined });
    // Complete or over: settled whatever else is pending.
    expect(confirm(DUE, {}, { otherPending: true }).status).toBe('paid');
    expect(confirm(DUE + 1n, {}, { otherPending: true }).status).toBe('overpaid');
  });

  describe('with a tolerance of 5 base units', () => {
    it.each<[bigint, InvoiceStatus, bigint]>([
      [DUE - 6n, 'underpaid', 0n],
      [DUE - 5n, 'paid', 0n],
      [DUE + 5n, 'paid', 0n],
      [DUE + 6n, 'overpaid', 6n],
    ])('a payment of %s counts as %s', (amount, status, excess) => {
      expect(confirm(amount, {}, { tolerance: 5n })).toMatchObject({ status, excess, tokenAmountPaid: amount });
    });
  });

  describe('late: the block time, not the clock, decides', () => {
    it('a payment in a block after expires_at is recorded on an expired invoice and flagged late', () => {
      const late = new Date(expiresAt.getTime() + 1000);
      expect(confirm(DUE, { status: 'open' }, { at: late })).toEqual({ status: 'expired', tokenAmountPaid: DUE, excess: 0n, flag: 'late' });
      expect(confirm(DUE + 7n, {}, { at: late })).toEqual({ status: 'expired', tokenAmountPaid: DUE + 7n, excess: 7n, flag: 'late' });
      // A top-up after expiry does not complete an underpaid invoice.
      expect(confirm(400_000n, { status: 'underpaid', tokenAmountPaid: 600_000n }, { at: late })).toMatchObject({
        status: 'expired',
        tokenAmountPaid: DUE,
        flag: 'late',
      });
    });

    it('a payment in a block at expires_at exactly is on time', () => {
      expect(confirm(DUE, {}, { at: expiresAt })).toMatchObject({ status: 'paid', flag: undefined });
    });

    it('a payment into an invoice already marked expired is late', () => {
      expect(confirm(DUE, { status: 'expired' })).toMatchObject({ status: 'expired', tokenAmountPaid: DUE, flag: 'late' });
    });
  });

  it('a payment into a void invoice is recorded and flagged; all of it is excess', () => {
    expect(confirm(DUE, { status: 'void' })).toEqual({ status: 'void', tokenAmountPaid: DUE, excess: DUE, flag: 'void_invoice' });
  });

  it.each<InvoiceStatus>(['paid', 'overpaid'])('a payment into a %s invoice makes it overpaid, flagged after_settled', (status) => {
    const paid = status === 'paid' ? DUE : DUE + 10n;
    expect(confirm(30n, { status, tokenAmountPaid: paid })).toEqual({
      status: 'overpaid',
      tokenAmountPaid: paid + 30n,
      excess: paid + 30n - DUE,
      flag: 'after_settled',
    });
  });

  it('does not change the invoice it is given', () => {
    const before = invoice();
    const copy = { ...before };
    applyConfirmedPayment(before, { amount: DUE, blockTimestamp: beforeExpiry }, { tolerance: 0n, otherPending: false });
    expect(before).toEqual(copy);
  });
});

describe('applyReorgedPayment', () => {
  const now = beforeExpiry;

  it.each<[string, Partial<InvoiceForMatching>, bigint, InvoiceStatus, bigint]>([
    ['the only payment of a paid invoice: open again', { status: 'paid', tokenAmountPaid: DUE }, DUE, 'open', 0n],
    ['the only payment of an overpaid invoice: open again', { status: 'overpaid', tokenAmountPaid: DUE + 9n }, DUE + 9n, 'open', 0n],
    ['one of two payments: underpaid', { status: 'paid', tokenAmountPaid: DUE }, 400_000n, 'underpaid', 600_000n],
    ['the excess of an overpaid invoice: paid', { status: 'overpaid', tokenAmountPaid: DUE + 50n }, 50n, 'paid', DUE],
    ['the only payment of an underpaid invoice: open again', { status: 'underpaid', tokenAmountPaid: 300n }, 300n, 'open', 0n],
  ])('%s', (_name, overrides, amount, status, paid) => {
    expect(applyReorgedPayment(invoice(overrides), amount, { tolerance: 0n, now })).toEqual({ status, tokenAmountPaid: paid });
  });

  it('uses the tolerance to decide what remains', () => {
    expect(applyReorgedPayment(invoice({ status: 'overpaid', tokenAmountPaid: DUE + 7n }), 10n, { tolerance: 5n, now })).toEqual({
      status: 'paid',
      tokenAmountPaid: DUE - 3n,
    });
    expect(applyReorgedPayment(invoice({ status: 'overpaid', tokenAmountPaid: DUE + 7n }), 10n, { tolerance: 2n, now })).toEqual({
      status: 'underpaid',
      tokenAmountPaid: DUE - 3n,
    });
  });

  it('an invoice whose time has run out goes to expired, not back to open', () => {
    expect(applyReorgedPayment(invoice({ status: 'paid', tokenAmountPaid: DUE }), DUE, { tolerance: 0n, now: expiresAt })).toEqual({
      status: 'expired',
      tokenAmountPaid: 0n,
    });
    expect(applyReorgedPayment(invoice({ status: 'expired', tokenAmountPaid: DUE }), DUE, { tolerance: 0n, now: new Date(expiresAt.getTime() + 1) })).toEqual({
      status: 'expired',
      tokenAmountPaid: 0n,
    });
  });

  it('a void invoice stays void', () => {
    expect(applyReorgedPayment(invoice({ status: 'void', tokenAmountPaid: DUE }), DUE, { tolerance: 0n, now })).toEqual({
      status: 'void',
      tokenAmountPaid: 0n,
    });
  });

  it('undoes applyConfirmedPayment', () => {
    for (const amount of [DUE - 1n, DUE, DUE + 1n]) {
      const before = invoice({ status: 'open' });
      const confirmed = applyConfirmedPayment(before, { amount, blockTimestamp: beforeExpiry }, { tolerance: 0n, otherPending: false });
      const reorged = applyReorgedPayment({ ...before, status: confirmed.status, tokenAmountPaid: confirmed.tokenAmountPaid }, amount, { tolerance: 0n, now });
      expect(reorged).toEqual({ status: before.status, tokenAmountPaid: before.tokenAmountPaid });
    }
  });
});
