/**
 * Where a clinic's money goes, changed with four eyes. A settlement address decides where every
 * future payment of the clinic is forwarded on the chain, so one person cannot change it: a
 * platform admin or the clinic's admin proposes a new address, and a different person (another
 * platform admin, or the clinic's admin) approves it. The clinic's webhook endpoint hears of the
 * proposal, so a change it did not ask for can be cancelled before anyone approves it, and of the
 * change itself. The new address applies to invoices created after the approval; earlier invoices
 * keep the one bound into their deposit addresses.
 *
 * A proposal waits at most {@link SETTLEMENT_ADDRESS_CHANGE_TTL_HOURS}; one clinic has at most one
 * waiting (a partial unique index), and the database refuses an approval by the proposer.
 */
import type { Address } from 'viem';
import { type AuditActor, type AuditEvent, appendAudit } from '../audit/auditLog.js';
import { getClinic, setSettlementAddress } from '../billing/clinics.js';
import { refuseScreenedAddress } from '../compliance/screening.js';
import { apiAddress, storedAddress } from '../domain/address.js';
import { ForbiddenError } from '../identity/errors.js';
import { type ClinicScope, inScope, type Principal, scopeQuery } from '../identity/principal.js';
import type { Db, Trx } from '../platform/db.js';
import { NotFoundError, ValidationError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { keysetPage, type Page, type PageRequest } from '../platform/pagination.js';
import { enqueueWebhookEvent } from '../webhooks/outbox.js';
import { SettlementAddressChangeNotPendingError, SettlementAddressChangePendingError } from './errors.js';

/** How long a proposed change waits for its approval before it lapses: a week. */
export const SETTLEMENT_ADDRESS_CHANGE_TTL_HOURS = 168;

export const SETTLEMENT_ADDRESS_CHANGE_STATUSES = ['pending', 'approved', 'cancelled', 'expired'] as const;
export type SettlementAddressChangeStatus = (typeof SETTLEMENT_ADDRESS_CHANGE_STATUSES)[number];

export interface SettlementAddressChangeRow {
  id: string;
  clinic_id: string;
  /** As stored: a pending change past `expires_at` is shown as expired (see {@link statusAt}). */
  status: SettlementAddressChangeStatus;
  previous_address: string;
  address: string;
  reason: string;
  proposed_by: string;
  created_at: Date;
  expires_at: Date;
  decided_by: string | null;
  decided_at: Date | null;
}

export interface ProposeSettlementAddressChange {
  address: Address;
  reason: string;
  now: Date;
}

/** A change's status at `now`: a pending change past its expiry has expired, whether or not the row says so yet. */
export function statusAt(row: SettlementAddressChangeRow, now: Date): SettlementAddressChangeStatus {
  return row.status === 'pending' && row.expires_at <= now ? 'expired' : row.status;
}

/**
 * Proposes a new settlement address for a clinic in `principal`'s scope, audits it and tells the
 * clinic's webhook endpoint (`clinic.settlement_address_change_requested`). Nothing changes
 * until another person approves it.
 */
export async function proposeSettlementAddressChange(
  trx: Trx,
  principal: Principal,
  actor: AuditActor,
  clinicId: string,
  params: ProposeSettlementAddressChange,
): Promise<SettlementAddressChangeRow> {
  if (!inScope(principal, clinicId)) throw new NotFoundError('clinic');
  // The clinic's row lock orders proposals and approvals of one clinic.
  const clinic = await getClinic(trx, clinicId, { forUpdate: true });
  await expireLapsedChanges(trx, clinicId, params.now);
  const waiting = (await trx('settlement_address_changes').where({ clinic_id: clinicId, status: 'pending' }).first('id')) as { id: string } | undefined;
  if (waiting) throw new SettlementAddressChangePendingError(waiting.id);
  if (storedAddress(params.address) === clinic.settlement_address) {
    throw new ValidationError('"address" is already the clinic\'s settlement address.', 'address');
  }
  await refuseScreenedAddress(trx, params.address, 'address');
  const [row] = (await trx('settlement_address_changes')
    .insert({
      id: newId('sac'),
      clinic_id: clinicId,
      status: 'pending',
      previous_address: clinic.settlement_address,
      address: storedAddress(params.address),
      reason: params.reason,
      proposed_by: principal.sub,
      created_at: params.now,
      expires_at: new Date(params.now.getTime() + SETTLEMENT_ADDRESS_CHANGE_TTL_HOURS * 3_600_000),
    })
    .returning('*')) as SettlementAddressChangeRow[];
  await announce(trx, actor, row!, 'settlement_address_change.proposed', 'clinic.settlement_address_change_requested', params.now);
  return row!;
}

/**
 * Approves a waiting change: the clinic's settlement address becomes the proposed one for
 * invoices created from now on. The approver must be someone other than the proposer (403
 * otherwise, and a database check besides).
 */
export async function approveSettlementAddressChange(
  trx: Trx,
  principal: Principal,
  actor: AuditActor,
  id: string,
  now: Date,
): Promise<SettlementAddressChangeRow> {
  const change = await lockWaitingChange(trx, principal, id, now);
  if (change.proposed_by === principal.sub) {
    throw new ForbiddenError('Whoever proposed a settlement address change cannot approve it; a second person must.');
  }
  await setSettlementAddress(trx, actor, change.clinic_id, apiAddress(change.address), id);
  return decide(trx, actor, principal, id, now, 'approved', 'clinic.settlement_address_changed');
}

/** Withdraws a waiting change (its proposer, or anyone who could approve it). The address stays as it is. */
export async function cancelSettlementAddressChange(
  trx: Trx,
  principal: Principal,
  actor: AuditActor,
  id: string,
  now: Date,
): Promise<SettlementAddressChangeRow> {
  await lockWaitingChange(trx, principal, id, now);
  return decide(trx, actor, principal, id, now, 'cancelled', 'clinic.settlement_address_change_cancelled');
}

/** The change if it is in `scope`; {@link NotFoundError} otherwise (never "forbidden"). */
export async function getSettlementAddressChange(
  db: Db | Trx,
  scope: ClinicScope,
  id: string,
  { forUpdate = false } = {},
): Promise<SettlementAddressChangeRow> {
  const query = scopeQuery(db('settlement_address_changes').where({ id }), scope).first();
  const row = (await (forUpdate ? query.forUpdate() : query)) as SettlementAddressChangeRow | undefined;
  if (!row) throw new NotFoundError('settlement address change');
  return row;
}

export interface SettlementAddressChangeFilters {
  status?: SettlementAddressChangeStatus;
  now: Date;
}

/** One page of the changes in `scope`, newest first; `status` as {@link statusAt} tells it. */
export async function listSettlementAddressChanges(
  db: Db,
  scope: ClinicScope,
  filters: SettlementAddressChangeFilters,
  page: PageRequest,
): Promise<Page<SettlementAddressChangeRow>> {
  const query = scopeQuery(db('settlement_address_changes'), scope);
  if (filters.status === 'pending') query.where({ status: 'pending' }).where('expires_at', '>', filters.now);
  else if (filters.status === 'expired')
    query.where((q) => q.where({ status: 'expired' }).orWhere((p) => p.where({ status: 'pending' }).where('expires_at', '<=', filters.now)));
  else if (filters.status !== undefined) query.where({ status: filters.status });
  return keysetPage<SettlementAddressChangeRow>(query, page, scopeQuery(db('settlement_address_changes'), scope));
}

/** The API (and webhook) form of a change. */
export function presentSettlementAddressChange(row: SettlementAddressChangeRow, now: Date): Record<string, unknown> {
  return {
    object: 'settlement_address_change',
    id: row.id,
    clinic_id: row.clinic_id,
    status: statusAt(row, now),
    previous_address: apiAddress(row.previous_address),
    address: apiAddress(row.address),
    reason: row.reason,
    proposed_by: row.proposed_by,
    created_at: row.created_at.toISOString(),
    expires_at: row.expires_at.toISOString(),
    decided_by: row.decided_by,
    decided_at: row.decided_at?.toISOString() ?? null,
  };
}

/** Locks the clinic, then the change; refuses one outside the caller's scope (404) or no longer waiting (409). */
async function lockWaitingChange(trx: Trx, principal: Principal, id: string, now: Date): Promise<SettlementAddressChangeRow> {
  const seen = await getSettlementAddressChange(trx, principal, id);
  await getClinic(trx, seen.clinic_id, { forUpdate: true });
  const change = await getSettlementAddressChange(trx, principal, id, { forUpdate: true });
  const status = statusAt(change, now);
  if (status !== 'pending') throw new SettlementAddressChangeNotPendingError(status);
  return change;
}

/** Records a locked, waiting change as approved or cancelled by `principal`, and announces it. */
async function decide(
  trx: Trx,
  actor: AuditActor,
  principal: Principal,
  id: string,
  now: Date,
  status: 'approved' | 'cancelled',
  type: 'clinic.settlement_address_changed' | 'clinic.settlement_address_change_cancelled',
): Promise<SettlementAddressChangeRow> {
  const [decided] = (await trx('settlement_address_changes')
    .where({ id })
    .update({ status, decided_by: principal.sub, decided_at: now })
    .returning('*')) as SettlementAddressChangeRow[];
  await announce(trx, actor, decided!, `settlement_address_change.${status}`, type, now);
  return decided!;
}

/** Marks the clinic's lapsed proposals expired, so a new one may be made. */
async function expireLapsedChanges(trx: Trx, clinicId: string, now: Date): Promise<void> {
  await trx('settlement_address_changes')
    .where({ clinic_id: clinicId, status: 'pending' })
    .where('expires_at', '<=', now)
    .update({ status: 'expired', decided_at: trx.raw('expires_at') });
}

async function announce(
  trx: Trx,
  actor: AuditActor,
  row: SettlementAddressChangeRow,
  action: string,
  type: 'clinic.settlement_address_change_requested' | 'clinic.settlement_address_changed' | 'clinic.settlement_address_change_cancelled',
  now: Date,
): Promise<void> {
  const event: AuditEvent = {
    action,
    target: { type: 'settlement_address_change', id: row.id },
    clinicId: row.clinic_id,
    after: { status: row.status, previous_address: row.previous_address, address: row.address, reason: row.reason, proposed_by: row.proposed_by },
  };
  await appendAudit(trx, actor, [event]);
  await enqueueWebhookEvent(trx, { clinicId: row.clinic_id, type, data: presentSettlementAddressChange(row, now) });
}
