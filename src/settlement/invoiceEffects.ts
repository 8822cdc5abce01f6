/**
 * What payments seen on the chain do to invoices: status, amounts, webhooks, and the request to
 * sweep the deposit address. Every function runs inside the caller's transaction, the same one
 * that records the transfer and posts its journal entry. The invoice rows themselves are read
 * and written through billing/, which owns them.
 */
import { type AuditEvent, appendAudit, SYSTEM } from '../audit/auditLog.js';
import {
  type InvoiceChainView,
  type InvoiceRow,
  lockInvoices,
  expireDueInvoices as markDueInvoicesExpired,
  presentInvoice,
  saveInvoiceProgress,
} from '../billing/invoices.js';
import type { HoldReason } from '../compliance/holds.js';
import { rescaleAtPar } from '../domain/currency.js';
import type { InvoiceStatus } from '../domain/invoiceStatus.js';
import { settledStatus } from '../domain/invoiceStatus.js';
import { applyConfirmedPayment, applyReorgedPayment, type PaymentFlag } from '../domain/matching.js';
import type { Trx } from '../platform/db.js';
import { whileRunning } from '../platform/transaction.js';
import { enqueueWebhookEvents, type WebhookEventType, webhookInvoice } from '../webhooks/outbox.js';
import { invoiceChainViews } from './transfers.js';

/** Statuses in which whatever sits at the deposit address belongs to the clinic now. */
const SWEEPABLE: readonly InvoiceStatus[] = ['paid', 'overpaid', 'expired', 'void'];

/** Asks the flusher to sweep the invoice's deposit address (again, if it was swept before). */
export async function requestFlush(trx: Trx, invoiceId: string): Promise<void> {
  await requestFlushes(trx, [invoiceId]);
}

export async function requestFlushes(trx: Trx, invoiceIds: readonly string[]): Promise<void> {
  if (invoiceIds.length === 0) return;
  await trx.raw(
    `INSERT INTO flush_requests (invoice_id, status) SELECT unnest(?::text[]), 'pending'
     ON CONFLICT (invoice_id) DO UPDATE SET status = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL, token_address = NULL, updated_at = now()
     WHERE flush_requests.status IN ('done', 'failed')`,
    [[...invoiceIds]],
  );
}

interface PendingEvent {
  invoice: InvoiceRow;
  type: WebhookEventType;
  extra: Record<string, unknown>;
}

/**
 * Invoices locked once for a batch of chain events, changed in memory in chain order, and
 * written back with one statement per table: the watcher confirms hundreds of transfers per
 * transaction without a round trip per transfer. The rules are the same as one at a time —
 * the single-invoice functions below use this too.
 */
export class InvoiceBatch {
  private readonly changed = new Set<string>();
  private readonly events: PendingEvent[] = [];
  private readonly sweep = new Set<string>();

  private readonly statusesAtLock: ReadonlyMap<string, string>;

  private constructor(private readonly rows: Map<string, InvoiceRow>) {
    this.statusesAtLock = new Map([...rows].map(([id, row]) => [id, row.status]));
  }

  /** Locks `invoiceIds` (in id order, so concurrent batches cannot deadlock). */
  static async lock(trx: Trx, invoiceIds: Iterable<string>): Promise<InvoiceBatch> {
    return InvoiceBatch.of(await lockInvoices(trx, invoiceIds));
  }

  /** A batch of invoices the caller has locked already. */
  static of(rows: readonly InvoiceRow[]): InvoiceBatch {
    return new InvoiceBatch(new Map(rows.map((row) => [row.id, row])));
  }

  private row(id: string): InvoiceRow {
    const row = this.rows.get(id);
    if (!row) throw new Error(`invoice ${id} is not in this batch`);
    return row;
  }

  private update(id: string, changes: Partial<InvoiceRow>): InvoiceRow {
    const next = { ...this.row(id), ...changes };
    this.rows.set(id, next);
    this.changed.add(id);
    return next;
  }

  /**
   * What `amount` of a payment in a token with `decimals` counts for on the invoice, in the
   * invoice's own token units: at par, exact into more decimals, the dust below one of the
   * invoice token's units dropped into fewer (a payment is never overstated).
   */
  private credit(invoice: InvoiceRow, amount: bigint, decimals: number | undefined): bigint {
    return decimals === undefined ? amount : rescaleAtPar(amount, decimals, invoice.token_decimals, 'down');
  }

  private announce(invoice: InvoiceRow, type: WebhookEventType, extra: Record<string, unknown> = {}): void {
    this.events.push({ invoice: { ...invoice }, type, extra });
  }

  /** The invoice's travel-rule state, and the wallet the payer proved, if any. */
  travelRuleOf(invoiceId: string): { status: InvoiceRow['travel_rule']; payer: string | null } {
    const invoice = this.row(invoiceId);
    return { status: invoice.travel_rule, payer: invoice.travel_rule_payer };
  }

  /** A payment was seen but is not final yet: the invoice shows `processing`. `decimals`: of the payment's token, when not the invoice's. */
  paymentSeen(invoiceId: string, paid: bigint, decimals?: number): void {
    const invoice = this.row(invoiceId);
    const amount = this.credit(invoice, paid, decimals);
    const becomesProcessing = invoice.status === 'open' || invoice.status === 'underpaid';
    const updated = this.update(invoiceId, {
      token_amount_pending: (BigInt(invoice.token_amount_pending) + amount).toString(),
      ...(becomesProcessing ? { status: 'processing' as const } : {}),
    });
    if (becomesProcessing) this.announce(updated, 'invoice.processing');
  }

  /** A payment became final: apply it to the invoice and say so. Returns the payment's flag, if any. */
  paymentConfirmed(params: ConfirmedPaymentParameters): PaymentFlag | undefined {
    const invoice = this.row(params.invoiceId);
    const amount = this.credit(invoice, params.amount, params.decimals);
    const pending = BigInt(invoice.token_amount_pending) - (params.wasPending ? amount : 0n);
    const result = applyConfirmedPayment(
      {
        status: invoice.status,
        tokenAmountDue: BigInt(invoice.token_amount_due),
        tokenAmountPaid: BigInt(invoice.token_amount_paid),
        expiresAt: invoice.expires_at,
      },
      { amount, blockTimestamp: params.blockTimestamp },
      { tolerance: params.tolerance, otherPending: pending > 0n },
    );
    const settledNow = (result.status === 'paid' || result.status === 'overpaid') && invoice.paid_at === null;
    const updated = this.update(params.invoiceId, {
      status: result.status,
      token_amount_paid: result.tokenAmountPaid.toString(),
      token_amount_pending: pending.toString(),
      ...(settledNow ? { paid_at: params.blockTimestamp } : {}),
      ...(result.status === 'expired' && invoice.expired_at === null ? { expired_at: invoice.expires_at } : {}),
    });
    const payment = {
      tx_hash: params.txHash,
      amount: params.amount.toString(),
      ...(params.token ? { token: params.token } : {}),
      excess: result.excess.toString(),
    };
    if (result.flag === 'late') this.announce(updated, 'payment.late', { payment });
    else if (result.flag === 'void_invoice') this.announce(updated, 'payment.void_invoice', { payment });
    if (result.status !== invoice.status || result.flag === 'after_settled') {
      if (result.status === 'paid') this.announce(updated, 'invoice.paid');
      else if (result.status === 'overpaid') this.announce(updated, 'invoice.overpaid', { payment });
      else if (result.status === 'underpaid') this.announce(updated, 'invoice.underpaid');
      else if (result.status === 'expired') this.announce(updated, 'invoice.expired');
    }
    if (SWEEPABLE.includes(result.status)) this.sweep.add(params.invoiceId);
    return result.flag;
  }

  /** Funds left a deposit address for the clinic's wallet: tell the clinic; sweep again if more arrived. */
  forwardConfirmed(params: { invoiceId: string; amount: bigint; txHash: string; depositBalanceAfter: bigint }): void {
    this.announce(this.row(params.invoiceId), 'settlement.forwarded', { forwarding: { tx_hash: params.txHash, amount: params.amount.toString() } });
    if (params.depositBalanceAfter > 0n) this.sweep.add(params.invoiceId);
  }

  /** A payment that had only been seen vanished in a reorg: it no longer counts as pending. */
  pendingPaymentDropped(invoiceId: string, dropped: bigint, decimals?: number): void {
    const invoice = this.row(invoiceId);
    const amount = this.credit(invoice, dropped, decimals);
    const pending = BigInt(invoice.token_amount_pending) - amount;
    const paid = BigInt(invoice.token_amount_paid);
    const status: InvoiceStatus = invoice.status === 'processing' && pending <= 0n ? (paid > 0n ? 'underpaid' : 'open') : invoice.status;
    this.update(invoiceId, { token_amount_pending: pending.toString(), status });
  }

  /** A payment that had been final and posted was undone by a deep reorg: take it back and say so. */
  confirmedPaymentReorged(params: ReorgedPaymentParameters): void {
    const invoice = this.row(params.invoiceId);
    const amount = this.credit(invoice, params.amount, params.decimals);
    const result = applyReorgedPayment(
      {
        status: invoice.status,
        tokenAmountDue: BigInt(invoice.token_amount_due),
        tokenAmountPaid: BigInt(invoice.token_amount_paid),
        expiresAt: invoice.expires_at,
      },
      amount,
      { tolerance: params.tolerance, now: params.now },
    );
    const updated = this.update(params.invoiceId, {
      status: result.status,
      token_amount_paid: result.tokenAmountPaid.toString(),
      ...(result.status === 'open' || result.status === 'underpaid' ? { paid_at: null } : {}),
    });
    this.announce(updated, 'payment.reorged', { payment: { tx_hash: params.txHash, amount: params.amount.toString() } });
  }

  /** `amount` of what was credited to the invoice now counts for another one (a resolution applied it there). */
  creditMovedOff(invoiceId: string, amount: bigint): void {
    const invoice = this.row(invoiceId);
    const paid = BigInt(invoice.token_amount_paid) - amount;
    const status = invoice.status === 'paid' || invoice.status === 'overpaid' ? settledStatus(BigInt(invoice.token_amount_due), paid, 0n) : invoice.status;
    this.update(invoiceId, { token_amount_paid: paid.toString(), status });
  }

  /**
   * A confirmed payment from a listed payer is held: credited as any payment, but its deposit
   * stays until two finance people decide. The clinic is told.
   */
  paymentHeld(invoiceId: string, hold: { id: string; txHash: string; amount: bigint; lists: readonly string[]; reason: HoldReason }): void {
    this.announce(this.row(invoiceId), 'payment.held', {
      payment: { tx_hash: hold.txHash, amount: hold.amount.toString() },
      hold: { id: hold.id, reason: hold.reason, lists: [...hold.lists] },
    });
  }

  /** An invoice billing has just marked expired: tell the clinic, and sweep what it received. */
  expired(invoice: InvoiceRow): void {
    this.rows.set(invoice.id, invoice);
    this.announce(invoice, 'invoice.expired');
    if (BigInt(invoice.token_amount_paid) > 0n) this.sweep.add(invoice.id);
  }

  /** Audit records of the invoices whose status this batch changed. */
  statusChanges(): AuditEvent[] {
    return [...this.changed]
      .map((id) => this.rows.get(id)!)
      .filter((row) => row.status !== this.statusesAtLock.get(row.id))
      .map((row) => ({
        action: 'invoice.status_changed',
        target: { type: 'invoice', id: row.id },
        clinicId: row.clinic_id,
        before: { status: this.statusesAtLock.get(row.id)! },
        after: { status: row.status, token_amount_paid: String(row.token_amount_paid), token_amount_pending: String(row.token_amount_pending) },
      }));
  }

  /**
   * Writes the changed invoices, the webhook events and the flush requests. The events are built
   * while the database writes the invoices.
   */
  async write(trx: Trx): Promise<void> {
    const changed = [...this.changed].map((id) => this.rows.get(id)!);
    // The transfers as they stand now: the events show them.
    const views = this.events.length
      ? await invoiceChainViews(
          trx,
          this.events[0]!.invoice.token_chain_id,
          this.events.map((event) => event.invoice.id),
        )
      : new Map<string, InvoiceChainView>();
    const now = new Date();
    const events = await whileRunning(saveInvoiceProgress(trx, changed), () =>
      this.events.map(({ invoice, type, extra }) => ({
        clinicId: invoice.clinic_id,
        type,
        data: { ...webhookInvoice(presentInvoice(invoice, now, views.get(invoice.id))), ...extra },
      })),
    );
    await enqueueWebhookEvents(trx, events);
    await requestFlushes(trx, [...this.sweep]);
  }
}

export interface ReorgedPaymentParameters {
  invoiceId: string;
  /** In the payment's token's base units. */
  amount: bigint;
  /** The payment token's decimals, when it is not the invoice's token. */
  decimals?: number;
  txHash: string;
  tolerance: bigint;
  now: Date;
}

export interface ConfirmedPaymentParameters {
  invoiceId: string;
  /** In the payment's token's base units. */
  amount: bigint;
  /** The payment token's decimals, when it is not the invoice's token. */
  decimals?: number;
  /** The payment's token (the API's form), when it is not the invoice's token. */
  token?: string;
  blockTimestamp: Date;
  txHash: string;
  tolerance: bigint;
  /** Whether this payment had been counted as pending (seen before it was final). */
  wasPending: boolean;
}

/** A payment became final: apply it to the invoice and say so. Returns the payment's flag, if any. */
export async function recordPaymentConfirmed(trx: Trx, params: ConfirmedPaymentParameters): Promise<PaymentFlag | undefined> {
  return withInvoice(trx, params.invoiceId, (batch) => batch.paymentConfirmed(params));
}

/** Changes one invoice through a batch of one, and writes it. */
async function withInvoice<T>(trx: Trx, invoiceId: string, change: (batch: InvoiceBatch) => T): Promise<T> {
  const batch = await InvoiceBatch.lock(trx, [invoiceId]);
  const result = change(batch);
  await batch.write(trx);
  return result;
}

/** A payment that had only been seen vanished in a reorg: it no longer counts as pending. */
export async function recordPendingPaymentDropped(trx: Trx, invoiceId: string, amount: bigint, decimals?: number): Promise<void> {
  await withInvoice(trx, invoiceId, (batch) => batch.pendingPaymentDropped(invoiceId, amount, decimals));
}

/** A payment that had been final and posted was undone by a deep reorg. */
export async function recordConfirmedPaymentReorged(trx: Trx, params: ReorgedPaymentParameters): Promise<void> {
  await withInvoice(trx, params.invoiceId, (batch) => batch.confirmedPaymentReorged(params));
}

/** Part of an invoice's credit now counts for another invoice. */
export async function recordCreditMovedOff(trx: Trx, invoiceId: string, amount: bigint): Promise<void> {
  await withInvoice(trx, invoiceId, (batch) => batch.creditMovedOff(invoiceId, amount));
}

/**
 * Marks open and underpaid invoices whose expiry is at or before `chainTime` (the timestamp of
 * the latest final block) as expired, unless a payment to them is still being confirmed; tells
 * each clinic and sweeps what was received.
 */
export async function expireDueInvoices(trx: Trx, chainTime: Date): Promise<number> {
  const expired = await markDueInvoicesExpired(trx, chainTime);
  const batch = InvoiceBatch.of([]);
  for (const { after } of expired) batch.expired(after);
  await batch.write(trx);
  await appendAudit(
    trx,
    SYSTEM.expirer,
    expired.map(({ before }) => ({
      action: 'invoice.expired',
      target: { type: 'invoice', id: before.id },
      clinicId: before.clinic_id,
      before: { status: before.status },
      after: { status: 'expired', token_amount_paid: String(before.token_amount_paid), chain_time: chainTime.toISOString() },
    })),
  );
  return expired.length;
}
