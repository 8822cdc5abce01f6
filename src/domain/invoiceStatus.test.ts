import { describe, expect, it } from 'vitest';
import {
  effectiveStatus,
  INVOICE_STATUSES,
  InvalidTransitionError,
  type InvoiceEvent,
  type InvoiceStatus,
  settledStatus,
  transition,
} from './invoiceStatus.js';

const confirmed = (paid: bigint, due = 100n, tolerance = 0n): InvoiceEvent => ({
  type: 'payment_confirmed',
  tokenAmountDue: due,
  tokenAmountPaid: paid,
  tolerance,
});

describe('invoice state machine', () => {
  it('moves open → processing → paid on an exact payment', () => {
    const seen = transition('open', { type: 'payment_seen' });
    expect(seen).toBe('processing');
    expect(transition(seen, confirmed(100n))).toBe('paid');
  });

  it('a short payment is underpaid, and a top-up can complete it', () => {
    const short = transition('processing', confirmed(60n));
    expect(short).toBe('underpaid');
    expect(transition(short, { type: 'payment_seen' })).toBe('processing');
    expect(transition('processing', confirmed(100n))).toBe('paid');
  });

  it('a larger payment is overpaid', () => {
    expect(transition('processing', confirmed(101n))).toBe('overpaid');
  });

  it('the tolerance decides what counts as exact, on both sides', () => {
    expect(settledStatus(100n, 98n, 2n)).toBe('paid');
    expect(settledStatus(100n, 102n, 2n)).toBe('paid');
    expect(settledStatus(100n, 97n, 2n)).toBe('underpaid');
    expect(settledStatus(100n, 103n, 2n)).toBe('overpaid');
  });

  it('a reorg sends a payment back to open, or underpaid when something else is still paid', () => {
    expect(transition('paid', { type: 'payment_reorged', tokenAmountPaid: 0n })).toBe('open');
    expect(transition('overpaid', { type: 'payment_reorged', tokenAmountPaid: 40n })).toBe('underpaid');
  });

  it('only an open invoice can be voided', () => {
    expect(transition('open', { type: 'void' })).toBe('void');
    for (const status of INVOICE_STATUSES.filter((s) => s !== 'open')) {
      expect(() => transition(status, { type: 'void' })).toThrow(InvalidTransitionError);
    }
  });

  it('open and underpaid invoices expire; settled ones do not', () => {
    expect(transition('open', { type: 'expire' })).toBe('expired');
    expect(transition('underpaid', { type: 'expire' })).toBe('expired');
    for (const status of ['paid', 'overpaid', 'void', 'expired', 'processing'] as InvoiceStatus[]) {
      expect(() => transition(status, { type: 'expire' })).toThrow(InvalidTransitionError);
    }
  });

  it('terminal states take no payment events', () => {
    for (const status of ['void', 'expired', 'paid', 'overpaid'] as InvoiceStatus[]) {
      expect(() => transition(status, { type: 'payment_seen' })).toThrow(InvalidTransitionError);
    }
  });

  it('shows an open invoice past its expiry as expired, and nothing else changes', () => {
    const expiresAt = new Date('2026-11-27T10:00:00Z');
    expect(effectiveStatus('open', expiresAt, new Date('2026-11-27T10:00:00Z'))).toBe('expired');
    expect(effectiveStatus('open', expiresAt, new Date('2026-11-27T09:59:59Z'))).toBe('open');
    expect(effectiveStatus('paid', expiresAt, new Date('2026-11-28T00:00:00Z'))).toBe('paid');
  });
});
