/**
 * Matching confirmed payments to invoices: what a final transfer into an invoice's deposit
 * address does to the invoice. Pure; the watcher applies the result.
 *
 * The block's timestamp, not the gateway's clock, decides whether a payment was late: it is
 * the evidence anyone can check.
 */
import { type InvoiceStatus, settledStatus, transition } from './invoiceStatus.js';

export interface InvoiceForMatching {
  status: InvoiceStatus;
  tokenAmountDue: bigint;
  /** Confirmed so far, before this payment. */
  tokenAmountPaid: bigint;
  expiresAt: Date;
}

export interface ConfirmedPayment {
  amount: bigint;
  blockTimestamp: Date;
}

/** Why a payment needs a person to look at it. */
export type PaymentFlag = 'late' | 'void_invoice' | 'after_settled';

export interface MatchResult {
  status: InvoiceStatus;
  tokenAmountPaid: bigint;
  /** Paid beyond what is due (and beyond the tolerance), 0 otherwise. */
  excess: bigint;
  flag: PaymentFlag | undefined;
}

/**
 * The invoice after one confirmed payment. `otherPending` says whether more payments to the
 * same address are still waiting for confirmations (the invoice then stays `processing`
 * rather than showing `underpaid`).
 *
 * @example
 * applyConfirmedPayment({ status: 'processing', tokenAmountDue: 100n, tokenAmountPaid: 0n, expiresAt },
 *   { amount: 100n, blockTimestamp }, { tolerance: 0n, otherPending: false }) // → paid
 */
export function applyConfirmedPayment(
  invoice: InvoiceForMatching,
  payment: ConfirmedPayment,
  { tolerance, otherPending }: { tolerance: bigint; otherPending: boolean },
): MatchResult {
  const paid = invoice.tokenAmountPaid + payment.amount;
  const excessOver = (due: bigint) => (paid > due + tolerance ? paid - due : 0n);

  if (invoice.status === 'void') return { status: 'void', tokenAmountPaid: paid, excess: paid, flag: 'void_invoice' };
  if (invoice.status === 'paid' || invoice.status === 'overpaid') {
    return { status: 'overpaid', tokenAmountPaid: paid, excess: paid - invoice.tokenAmountDue, flag: 'after_settled' };
  }
  if (invoice.status === 'expired' || payment.blockTimestamp.getTime() > invoice.expiresAt.getTime()) {
    return { status: 'expired', tokenAmountPaid: paid, excess: excessOver(invoice.tokenAmountDue), flag: 'late' };
  }
  const settled = transition(invoice.status, {
    type: 'payment_confirmed',
    tokenAmountDue: invoice.tokenAmountDue,
    tokenAmountPaid: paid,
    tolerance,
  });
  return {
    status: settled === 'underpaid' && otherPending ? 'processing' : settled,
    tokenAmountPaid: paid,
    excess: excessOver(invoice.tokenAmountDue),
    flag: undefined,
  };
}

/**
 * The invoice after a confirmed payment of `amount` was undone by a reorg: back to open (or
 * underpaid when other payments remain) unless it had expired or been voided meanwhile.
 */
export function applyReorgedPayment(
  invoice: { status: InvoiceStatus; tokenAmountDue: bigint; tokenAmountPaid: bigint; expiresAt: Date },
  amount: bigint,
  { tolerance, now }: { tolerance: bigint; now: Date },
): { status: InvoiceStatus; tokenAmountPaid: bigint } {
  const paid = invoice.tokenAmountPaid - amount;
  if (invoice.status === 'void') return { status: 'void', tokenAmountPaid: paid };
  if (now.getTime() >= invoice.expiresAt.getTime()) return { status: 'expired', tokenAmountPaid: paid };
  if (paid <= 0n) return { status: 'open', tokenAmountPaid: paid };
  return { status: settledStatus(invoice.tokenAmountDue, paid, tolerance), tokenAmountPaid: paid };
}
