/**
 * Clinics: who invoices, where their money settles, where their webhooks go.
 */
import { randomBytes } from 'node:crypto';
import type { Address } from 'viem';
import { type AuditActor, type AuditSummary, appendAudit } from '../audit/auditLog.js';
import { refuseScreenedAddress } from '../compliance/screening.js';
import { apiAddress, storedAddress } from '../domain/address.js';
import { type ClinicScope, scopeQuery } from '../identity/principal.js';
import type { Db, Trx } from '../platform/db.js';
import { NotFoundError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { SecretBox, SecretUnreadableError } from '../platform/secretBox.js';

export interface ClinicRow {
  id: string;
  name: string;
  settlement_address: string;
  webhook_url: string | null;
  /** Sealed ({@link SecretBox}); open with {@link webhookSigningSecrets}. */
  webhook_secret: string;
  /** The secret the last rotation replaced, sealed, still signing until `webhook_secret_previous_until`. */
  webhook_secret_previous: string | null;
  webhook_secret_previous_until: Date | null;
  /** Whether the clinic's webhooks carry invoices' `patient_ref` (opt-in). */
  webhook_include_patient_ref: boolean;
  created_at: Date;
  updated_at: Date;
}

/** A clinic just created, with its webhook secret in clear: the one time it is ever shown. */
export interface CreatedClinic extends ClinicRow {
  webhookSecretShownOnce: string;
}

export interface CreateClinicParameters {
  name: string;
  settlementAddress: Address;
  webhookUrl: string | undefined;
  /** Default false. */
  webhookIncludePatientRef?: boolean | undefined;
  /** Seals the webhook secret. */
  secrets: SecretBox;
}

/** The longest a rotated-out webhook secret may keep signing: a week. */
export const MAX_WEBHOOK_SECRET_OVERLAP_HOURS = 168;

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

/**
 * Creates a clinic with a fresh webhook signing secret, stored sealed and returned in clear to
 * the caller this once, and audits it.
 */
export async function createClinic(trx: Trx, actor: AuditActor, params: CreateClinicParameters): Promise<CreatedClinic> {
  // A listed address is refused before anything is written (422 address_screened).
  await refuseScreenedAddress(trx, params.settlementAddress, 'settlement_address');
  const id = newId('clin');
  // Through the owner's function: the gateway's database role may not create objects itself.
  await trx.raw('SELECT create_invoice_number_sequence(?)', [invoiceNumberSequence(id)]);
  const secret = newWebhookSecret();
  const [row] = (await trx('clinics')
    .insert({
      id,
      name: params.name,
      settlement_address: storedAddress(params.settlementAddress),
      webhook_url: params.webhookUrl ?? null,
      webhook_secret: params.secrets.seal(secret, webhookSecretContext(id)),
      webhook_include_patient_ref: params.webhookIncludePatientRef ?? false,
    })
    .returning('*')) as ClinicRow[];
  await appendAudit(trx, actor, [{ action: 'clinic.created', target: { type: 'clinic', id }, clinicId: id, after: clinicAuditSummary(row!) }]);
  return { ...row!, webhookSecretShownOnce: secret };
}

export interface RotateWebhookSecretParameters {
  secrets: SecretBox;
  /** How long the replaced secret keeps signing next to the new one; 0 ends it at once. */
  overlapHours: number;
  now: Date;
}

export interface RotatedWebhookSecret {
  clinic: ClinicRow;
  /** In clear, shown this once. */
  webhookSecretShownOnce: string;
  /** Until when deliveries also carry a signature with the replaced secret; null without overlap. */
  previousValidUntil: Date | null;
}

/**
 * Gives a clinic a new webhook secret. For `overlapHours` the replaced one keeps signing too
 * (every delivery carries two `v1` signatures), so the clinic can switch its receiver without
 * refusing a delivery. A rotation during an overlap ends the older overlap: two secrets at most.
 */
export async function rotateWebhookSecret(trx: Trx, actor: AuditActor, id: string, params: RotateWebhookSecretParameters): Promise<RotatedWebhookSecret> {
  if (!Number.isInteger(params.overlapHours) || params.overlapHours < 0 || params.overlapHours > MAX_WEBHOOK_SECRET_OVERLAP_HOURS) {
    throw new RangeError(`overlapHours must be 0 to ${MAX_WEBHOOK_SECRET_OVERLAP_HOURS}`);
  }
  const before = await getClinic(trx, id, { forUpdate: true });
  const secret = newWebhookSecret();
  const previousValidUntil = params.overlapHours === 0 ? null : new Date(params.now.getTime() + params.overlapHours * 3_600_000);
  const [row] = (await trx('clinics')
    .where({ id })
    .update({
      webhook_secret: params.secrets.seal(secret, webhookSecretContext(id)),
      webhook_secret_previous: previousValidUntil === null ? null : before.webhook_secret,
      webhook_secret_previous_until: previousValidUntil,
      updated_at: trx.fn.now(),
    })
    .returning('*')) as ClinicRow[];
  await appendAudit(trx, actor, [
    {
      action: 'clinic.webhook_secret_rotated',
      target: { type: 'clinic', id },
      clinicId: id,
      after: { previous_valid_until: previousValidUntil?.toISOString() ?? null },
    },
  ]);
  return { clinic: row!, webhookSecretShownOnce: secret, previousValidUntil };
}

/**
 * The secrets a delivery to this clinic is signed with at `now`: the current one, and the one a
 * rotation replaced while its overlap lasts. Throws SecretUnreadableError when no configured key
 * opens them.
 */
export function webhookSigningSecrets(
  clinic: Pick<ClinicRow, 'id' | 'webhook_secret' | 'webhook_secret_previous' | 'webhook_secret_previous_until'>,
  secrets: SecretBox,
  now: Date,
): string[] {
  const context = webhookSecretContext(clinic.id);
  const signing = [secrets.open(clinic.webhook_secret, context)];
  if (clinic.webhook_secret_previous !== null && clinic.webhook_secret_previous_until !== null && clinic.webhook_secret_previous_until > now) {
    signing.push(secrets.open(clinic.webhook_secret_previous, context));
  }
  return signing;
}

/**
 * Seals every webhook secret that is not yet sealed with the current key: plain ones stored
 * before secrets were sealed, and ones sealed with a key that has since been replaced at the
 * head of SECRETS_KEYS. Run at start, before the gateway serves. Returns how many it sealed.
 */
export async function sealWebhookSecrets(db: Db, secrets: SecretBox): Promise<number> {
  const rows = (await db('clinics').select('id', 'webhook_secret', 'webhook_secret_previous')) as Pick<
    ClinicRow,
    'id' | 'webhook_secret' | 'webhook_secret_previous'
  >[];
  let sealed = 0;
  for (const row of rows) {
    const context = webhookSecretContext(row.id);
    const reseal = (value: string) => {
      if (!SecretBox.isSealed(value)) return secrets.seal(value, context);
      try {
        return secrets.seal(secrets.open(value, context), context);
      } catch (error) {
        if (!(error instanceof SecretUnreadableError)) throw error;
        throw new SecretUnreadableError(
          `clinic ${row.id}'s webhook secret does not open with any SECRETS_KEYS key (${error.message}); put the key that sealed it back in the list`,
        );
      }
    };
    const changes: Record<string, string> = {};
    if (!secrets.isCurrent(row.webhook_secret)) changes.webhook_secret = reseal(row.webhook_secret);
    if (row.webhook_secret_previous !== null && !secrets.isCurrent(row.webhook_secret_previous)) {
      changes.webhook_secret_previous = reseal(row.webhook_secret_previous);
    }
    if (Object.keys(changes).length === 0) continue;
    // Only if unchanged meanwhile (another instance starting, or a rotation): never overwrite a newer secret.
    const updated = await db('clinics').where({ id: row.id, webhook_secret: row.webhook_secret }).update(changes);
    sealed += updated;
  }
  return sealed;
}

/** Of `clinicIds`, those whose webhooks carry invoices' `patient_ref`. */
export async function clinicsSharingPatientRef(db: Db | Trx, clinicIds: readonly string[]): Promise<Set<string>> {
  if (clinicIds.length === 0) return new Set();
  const ids = (await db('clinics')
    .whereIn('id', [...new Set(clinicIds)])
    .where({ webhook_include_patient_ref: true })
    .pluck('id')) as string[];
  return new Set(ids);
}

function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

/** What a clinic's sealed webhook secrets are bound to: a value copied to another clinic's row does not open. */
function webhookSecretContext(clinicId: string): string {
  return `clinics.webhook_secret:${clinicId}`;
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
  name?: string | undefined;
  webhookUrl?: string | null | undefined;
  webhookIncludePatientRef?: boolean | undefined;
}

/**
 * Changes a clinic's name and webhook settings, and audits it. Its settlement address is not
 * changed here: that takes a second person's approval (settlement/settlementAddressChanges.ts),
 * which then calls {@link setSettlementAddress}.
 */
export async function updateClinic(trx: Trx, actor: AuditActor, id: string, params: UpdateClinicParameters): Promise<ClinicRow> {
  const before = await getClinic(trx, id, { forUpdate: true });
  const changes: Record<string, unknown> = { updated_at: trx.fn.now() };
  if (params.name !== undefined) changes.name = params.name;
  if (params.webhookUrl !== undefined) changes.webhook_url = params.webhookUrl;
  if (params.webhookIncludePatientRef !== undefined) changes.webhook_include_patient_ref = params.webhookIncludePatientRef;
  const [row] = (await trx('clinics').where({ id }).update(changes).returning('*')) as ClinicRow[];
  await appendAudit(trx, actor, [
    { action: 'clinic.updated', target: { type: 'clinic', id }, clinicId: id, before: clinicAuditSummary(before), after: clinicAuditSummary(row!) },
  ]);
  return row!;
}

/**
 * Points the clinic's future invoices at `address`, and audits it. Invoices created earlier keep
 * theirs: it is bound into their deposit addresses. Call it only for an approved change
 * (`changeId`), inside the transaction that approves it.
 */
export async function setSettlementAddress(trx: Trx, actor: AuditActor, id: string, address: Address, changeId: string): Promise<ClinicRow> {
  // Screened again at approval: a list loaded since the proposal counts.
  await refuseScreenedAddress(trx, address, 'address');
  const before = await getClinic(trx, id, { forUpdate: true });
  const [row] = (await trx('clinics')
    .where({ id })
    .update({ settlement_address: storedAddress(address), updated_at: trx.fn.now() })
    .returning('*')) as ClinicRow[];
  await appendAudit(trx, actor, [
    {
      action: 'clinic.settlement_address_changed',
      target: { type: 'clinic', id },
      clinicId: id,
      before: { settlement_address: before.settlement_address },
      after: { settlement_address: row!.settlement_address, change_id: changeId },
    },
  ]);
  return row!;
}

/** What the audit log keeps of a clinic (never its webhook secret). */
export function clinicAuditSummary(row: ClinicRow): AuditSummary {
  return {
    name: row.name,
    settlement_address: row.settlement_address,
    webhook_url: row.webhook_url,
    webhook_include_patient_ref: row.webhook_include_patient_ref,
  };
}

/** The API form of a clinic (never its webhook secret: the create and rotate answers add it themselves). */
export function presentClinic(row: ClinicRow): Record<string, unknown> {
  return {
    object: 'clinic',
    id: row.id,
    name: row.name,
    settlement_address: apiAddress(row.settlement_address),
    webhook_url: row.webhook_url,
    webhook_include_patient_ref: row.webhook_include_patient_ref,
    webhook_secret_previous_valid_until: row.webhook_secret_previous_until?.toISOString() ?? null,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/** Clinics' names by id, in `scope`, by name: for pages that name clinics and for the clinic switcher. */
export async function clinicNames(db: Db | Trx, scope: ClinicScope): Promise<Map<string, string>> {
  const rows = (await scopeQuery(db('clinics').select('id', 'name').orderBy('name').limit(1000), scope, 'id')) as { id: string; name: string }[];
  return new Map(rows.map((row) => [row.id, row.name]));
}

/** The newest clinics first, at most `limit`: the platform admin's list. */
export async function listClinics(
  db: Db | Trx,
  limit: number,
): Promise<Pick<ClinicRow, 'id' | 'name' | 'settlement_address' | 'webhook_url' | 'created_at'>[]> {
  return (await db('clinics')
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .limit(limit)
    .select('id', 'name', 'settlement_address', 'webhook_url', 'created_at')) as Pick<
    ClinicRow,
    'id' | 'name' | 'settlement_address' | 'webhook_url' | 'created_at'
  >[];
}

/** Every clinic's settlement wallet (lower case) with the clinics that use it: what screening checks again when a list changes. */
export async function clinicSettlementAddresses(db: Db | Trx): Promise<Map<string, string[]>> {
  const rows = (await db('clinics').select('id', 'settlement_address')) as { id: string; settlement_address: string }[];
  const byAddress = new Map<string, string[]>();
  for (const row of rows) {
    const address = row.settlement_address.toLowerCase();
    byAddress.set(address, [...(byAddress.get(address) ?? []), row.id]);
  }
  return byAddress;
}
