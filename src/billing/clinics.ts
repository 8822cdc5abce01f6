/**
 * Clinics: who invoices, where their money settles, where their webhooks go.
 */
import { randomBytes } from 'node:crypto';
import type { Address } from 'viem';
import { type AuditActor, type AuditSummary, appendAudit } from '../audit/auditLog.js';
import { apiAddress, storedAddress } from '../domain/address.js';
import type { Db, Trx } from '../platform/db.js';
import { NotFoundError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';

export interface ClinicRow {
  id: string;
  name: string;
  settlement_address: string;
  webhook_url: string | null;
  webhook_secret: string;
  created_at: Date;
  updated_at: Date;
}

export interface CreateClinicParameters {
  name: string;
  settlementAddress: Address;
  webhookUrl: string | undefined;
}

/**
 * The sequence a clinic's invoice numbers come from. A sequence, not a counter column: taking
 * a number does not lock the clinic, so invoices of one clinic are created in parallel. The
 * price is that a request that fails after taking its number leaves a gap; numbers stay unique
 * and increasing per clinic.
 */
export function invoiceNumberSequence(clinicId: string): string {
  if (!/^clin_[0-9a-f]{24}$/.test(clinicId)) throw new Error(`not a clinic id: ${clinicId}`);
  return `invoice_numbers_${clinicId.slice(5)}`;
}

/** Creates a clinic with a fresh webhook signing secret (returned to the caller this once), and audits it. */
export async function createClinic(trx: Trx, actor: AuditActor, params: CreateClinicParameters): Promise<ClinicRow> {
  const id = newId('clin');
  await trx.raw('CREATE SEQUENCE ?? AS integer MINVALUE 1', [invoiceNumberSequence(id)]);
  const [row] = (await trx('clinics')
    .insert({
      id,
      name: params.name,
      settlement_address: storedAddress(params.settlementAddress),
      webhook_url: params.webhookUrl ?? null,
      webhook_secret: `whsec_${randomBytes(32).toString('base64url')}`,
    })
    .returning('*')) as ClinicRow[];
  await appendAudit(trx, actor, [{ action: 'clinic.created', target: { type: 'clinic', id }, clinicId: id, after: clinicAuditSummary(row!) }]);
  return row!;
}

/** Whether a clinic with this id exists. */
export async function clinicExists(db: Db | Trx, id: string): Promise<boolean> {
  return (await db('clinics').where({ id }).first('id')) !== undefined;
}

/** The clinic, or {@link NotFoundError}. `forUpdate` locks the row for the rest of `trx`. */
export async function getClinic(db: Db | Trx, id: string, { forUpdate = false } = {}): Promise<ClinicRow> {
  const query = db('clinics').where({ id }).first();
  const row = (await (forUpdate ? query.forUpdate() : query)) as ClinicRow | undefined;
  if (!row) throw new NotFoundError('clinic');
  return row;
}

export interface UpdateClinicParameters {
  name?: string;
  settlementAddress?: Address;
  webhookUrl?: string | null;
}

/** Changes a clinic, and audits it. A new settlement address applies to invoices created from now on only. */
export async function updateClinic(trx: Trx, actor: AuditActor, id: string, params: UpdateClinicParameters): Promise<ClinicRow> {
  const before = await getClinic(trx, id, { forUpdate: true });
  const changes: Record<string, unknown> = { updated_at: trx.fn.now() };
  if (params.name !== undefined) changes.name = params.name;
  if (params.settlementAddress !== undefined) changes.settlement_address = storedAddress(params.settlementAddress);
  if (params.webhookUrl !== undefined) changes.webhook_url = params.webhookUrl;
  const [row] = (await trx('clinics').where({ id }).update(changes).returning('*')) as ClinicRow[];
  await appendAudit(trx, actor, [
    { action: 'clinic.updated', target: { type: 'clinic', id }, clinicId: id, before: clinicAuditSummary(before), after: clinicAuditSummary(row!) },
  ]);
  return row!;
}

/** What the audit log keeps of a clinic (never its webhook secret). */
export function clinicAuditSummary(row: ClinicRow): AuditSummary {
  return { name: row.name, settlement_address: row.settlement_address, webhook_url: row.webhook_url };
}

/** The API form of a clinic; the webhook secret only when `withSecret` (at creation). */
export function presentClinic(row: ClinicRow, { withSecret = false } = {}): Record<string, unknown> {
  return {
    object: 'clinic',
    id: row.id,
    name: row.name,
    settlement_address: apiAddress(row.settlement_address),
    webhook_url: row.webhook_url,
    ...(withSecret ? { webhook_secret: row.webhook_secret } : {}),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}
