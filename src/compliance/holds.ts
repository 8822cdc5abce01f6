/**
 * Payments held by screening. A payment whose payer a list in force has is credited to its
 * invoice as any payment is, but its deposit is not forwarded: the flusher leaves an invoice
 * with a hold alone. Two finance people decide (through the exception queue): release, and the
 * deposit is forwarded; or keep it held, pending a report.
 */
import { type AuditActor, appendAudit } from '../audit/auditLog.js';
import type { Db, Trx } from '../platform/db.js';
import { NotFoundError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import type { ScreeningHit } from './screening.js';

export type HoldStatus = 'held' | 'released' | 'kept';
/**
 * Why a payment is held: its payer is listed; it could not be screened yet; or it came, above the
 * travel-rule threshold, from another wallet than the one the payer proved (or before they did).
 */
export type HoldReason = 'screening_hit' | 'screening_pending' | 'travel_rule_mismatch';
/** The holds two finance people decide (release or keep held); a pending screening decides itself. */
export const DECIDED_HOLDS: readonly HoldReason[] = ['screening_hit', 'travel_rule_mismatch'];

export interface PaymentHold {
  id: string;
  transfer_id: string;
  invoice_id: string;
  clinic_id: string;
  from_address: string;
  amount: string;
  reason: HoldReason;
  hits: ScreeningHit[];
  status: HoldStatus;
  created_at: Date;
  decided_by: string | null;
  decided_at: Date | null;
}

/** A payment to hold, and why. */
export interface PaymentToHold {
  transferId: string;
  invoiceId: string;
  clinicId: string;
  from: string;
  amount: bigint;
  hits: readonly ScreeningHit[];
  /** `screening_pending`: the payer could not be screened yet (the oracle did not answer). */
  reason?: HoldReason;
}

/**
 * Holds payments the screening matched, in one statement per table; once per transfer (a
 * payment held before keeps its first hold). Each new hold is audited as `payment.held`, naming
 * the lists, versions and entries. Returns the holds in the order of `payments`.
 */
export async function holdPayments(trx: Trx, actor: AuditActor, payments: readonly PaymentToHold[]): Promise<PaymentHold[]> {
  if (payments.length === 0) return [];
  const inserted = (await trx.raw(
    `INSERT INTO payment_holds (id, transfer_id, invoice_id, clinic_id, from_address, amount, reason, hits)
     SELECT * FROM jsonb_to_recordset(?::jsonb) AS x(id text, transfer_id text, invoice_id text, clinic_id text, from_address text, amount numeric, reason text, hits jsonb)
     ON CONFLICT (transfer_id) DO NOTHING
     RETURNING *`,
    [
      JSON.stringify(
        payments.map((payment) => ({
          id: newId('hld'),
          transfer_id: payment.transferId,
          invoice_id: payment.invoiceId,
          clinic_id: payment.clinicId,
          from_address: payment.from.toLowerCase(),
          amount: payment.amount.toString(),
          reason: payment.reason ?? 'screening_hit',
          hits: payment.hits,
        })),
      ),
    ],
  )) as { rows: PaymentHold[] };
  const holds = new Map(inserted.rows.map((hold) => [hold.transfer_id, hold]));
  const earlier = payments.filter((payment) => !holds.has(payment.transferId)).map((payment) => payment.transferId);
  const existing = earlier.length ? ((await trx('payment_holds').whereRaw('transfer_id = ANY(?)', [earlier])) as PaymentHold[]) : [];
  await appendAudit(
    trx,
    actor,
    payments
      .filter((payment) => holds.has(payment.transferId))
      .map((payment) => {
        const hold = holds.get(payment.transferId)!;
        return {
          action: 'payment.held',
          target: { type: 'payment_hold', id: hold.id },
          clinicId: payment.clinicId,
          after: {
            invoice_id: payment.invoiceId,
            transfer_id: payment.transferId,
            from_address: hold.from_address,
            amount: hold.amount,
            lists: payment.hits.map((hit) => `${hit.list}@${hit.version}`).join(','),
          },
        };
      }),
  );
  for (const hold of existing) holds.set(hold.transfer_id, hold);
  return payments.map((payment) => holds.get(payment.transferId)!);
}

/** The invoices whose deposits are held: a subquery for the flusher's claim (`whereNotIn`). */
export function heldInvoiceIds(db: Db | Trx) {
  return db('payment_holds').whereIn('status', ['held', 'kept']).select('invoice_id');
}

/** Holds of listed payers still waiting for a decision: what reconciliation puts in the exception queue. */
export async function undecidedHolds(db: Db | Trx): Promise<PaymentHold[]> {
  return (await db('payment_holds').where({ status: 'held' }).whereIn('reason', DECIDED_HOLDS).orderBy('created_at')) as PaymentHold[];
}

/** How many payments are held because their payer could not be screened yet. */
export async function pendingScreeningCount(db: Db | Trx): Promise<number> {
  const row = (await db('payment_holds').where({ status: 'held', reason: 'screening_pending' }).count('* as n').first()) as { n: string };
  return Number(row.n);
}

/** Payments held because their payer could not be screened yet, oldest first. */
export async function pendingScreeningHolds(db: Db | Trx, limit = 200): Promise<PaymentHold[]> {
  return (await db('payment_holds').where({ status: 'held', reason: 'screening_pending' }).orderBy('created_at').limit(limit)) as PaymentHold[];
}

/**
 * A payment held pending screening has now been screened: clear, it is released by the
 * gateway itself (nobody decided anything: the screening did); listed, it becomes a hold of a
 * listed payer, for two finance people to decide. Audited.
 */
export async function settlePendingHold(trx: Trx, actor: AuditActor, id: string, hits: readonly ScreeningHit[]): Promise<PaymentHold> {
  const hold = await getHold(trx, id, { forUpdate: true });
  if (hold.status !== 'held' || hold.reason !== 'screening_pending') return hold;
  const listed = hits.length > 0;
  const [row] = (await trx('payment_holds')
    .where({ id })
    .update(listed ? { reason: 'screening_hit', hits: JSON.stringify(hits) } : { status: 'released', decided_by: actor.actor, decided_at: trx.fn.now() })
    .returning('*')) as PaymentHold[];
  await appendAudit(trx, actor, [
    {
      action: listed ? 'payment.screening_hit' : 'payment.screened_clear',
      target: { type: 'payment_hold', id },
      clinicId: hold.clinic_id,
      before: { status: 'held', reason: 'screening_pending' },
      after: listed
        ? { status: 'held', reason: 'screening_hit', lists: hits.map((hit) => `${hit.list}@${hit.version}`).join(',') }
        : { status: 'released', reason: 'screening_pending' },
    },
  ]);
  return row!;
}

/** The hold on the payment `transferId`, if it was ever held. */
export async function holdOfTransfer(db: Db | Trx, transferId: string): Promise<PaymentHold | undefined> {
  return (await db('payment_holds').where({ transfer_id: transferId }).first()) as PaymentHold | undefined;
}

export async function getHold(db: Db | Trx, id: string, { forUpdate = false } = {}): Promise<PaymentHold> {
  const query = db('payment_holds').where({ id }).first();
  const row = (await (forUpdate ? query.forUpdate() : query)) as PaymentHold | undefined;
  if (!row) throw new NotFoundError('payment hold');
  return row;
}

/**
 * Records the decision on a hold (made by two finance people through a resolution): `released`
 * lets the flusher forward the deposit; `kept` keeps it where it is. Audited.
 */
export async function decideHold(trx: Trx, actor: AuditActor, id: string, decision: 'released' | 'kept'): Promise<PaymentHold> {
  const hold = await getHold(trx, id, { forUpdate: true });
  const [row] = (await trx('payment_holds')
    .where({ id })
    .update({ status: decision, decided_by: actor.actor, decided_at: trx.fn.now() })
    .returning('*')) as PaymentHold[];
  await appendAudit(trx, actor, [
    {
      action: decision === 'released' ? 'payment.released' : 'payment.kept_held',
      target: { type: 'payment_hold', id },
      clinicId: hold.clinic_id,
      before: { status: hold.status },
      after: { status: decision, invoice_id: hold.invoice_id },
    },
  ]);
  return row!;
}
