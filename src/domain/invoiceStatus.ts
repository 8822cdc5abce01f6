/**
 * The invoice state machine: every status change goes through {@link transition}, so the rules
 * live in one place and are tested without I/O.
 *
 *   open ──payment seen──▶ processing ──confirmed──▶ paid | underpaid | overpaid
 *   underpaid ──top-up──▶ processing        processing ──reorged──▶ open | underpaid
 *   open | underpaid ──expiry──▶ expired     open ──void──▶ void
 */
export const INVOICE_STATUSES = ['open', 'processing', 'paid', 'underpaid', 'overpaid', 'expired', 'void'] as const;
export type InvoiceStatus = (typeof INVOICE_STATUSES)[number];

export type InvoiceEvent =
  | { type: 'payment_seen' }
  | { type: 'payment_confirmed'; tokenAmountDue: bigint; tokenAmountPaid: bigint; tolerance: bigint }
  | { type: 'payment_reorged'; tokenAmountPaid: bigint }
  | { type: 'expire' }
  | { type: 'void' };

export class InvalidTransitionError extends Error {
  override name = 'InvalidTransitionError';
  constructor(
    readonly from: InvoiceStatus,
    readonly event: InvoiceEvent['type'],
  ) {
    super(`an invoice that is ${from} cannot take the event ${event}`);
  }
}

/**
 * The status after `event`, or throws {@link InvalidTransitionError}.
 *
 * @example
 * transition('open', { type: 'void' }) // 'void'
 */
export function transition(from: InvoiceStatus, event: InvoiceEvent): InvoiceStatus {
  switch (event.type) {
    case 'payment_seen':
      if (from === 'open' || from === 'underpaid' || from === 'processing') return 'processing';
      break;
    case 'payment_confirmed':
      if (from === 'open' || from === 'underpaid' || from === 'processing') return settledStatus(event.tokenAmountDue, event.tokenAmountPaid, event.tolerance);
      break;
    case 'payment_reorged':
      if (from === 'processing' || from === 'paid' || from === 'underpaid' || from === 'overpaid') return event.tokenAmountPaid > 0n ? 'underpaid' : 'open';
      break;
    case 'expire':
      if (from === 'open' || from === 'underpaid') return 'expired';
      break;
    case 'void':
      if (from === 'open') return 'void';
      break;
  }
  throw new InvalidTransitionError(from, event.type);
}

/** paid when within `tolerance` of what is due, underpaid when short by more, overpaid when over by more. */
export function settledStatus(due: bigint, paid: bigint, tolerance: bigint): 'paid' | 'underpaid' | 'overpaid' {
  if (paid < due - tolerance) return 'underpaid';
  if (paid > due + tolerance) return 'overpaid';
  return 'paid';
}

/**
 * The status to show at `now`: an open invoice past its expiry is expired even before a worker
 * has recorded it.
 */
export function effectiveStatus(status: InvoiceStatus, expiresAt: Date, now: Date): InvoiceStatus {
  return status === 'open' && now.getTime() >= expiresAt.getTime() ? 'expired' : status;
}

export function isInvoiceStatus(value: unknown): value is InvoiceStatus {
  return typeof value === 'string' && (INVOICE_STATUSES as readonly string[]).includes(value);
}
