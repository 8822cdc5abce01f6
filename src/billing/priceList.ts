/**
 * A clinic's price list: items with a code, a name and an HKD unit price, kept by its admin,
 * which the front desk picks from when billing. A bill copies the item's name and price into
 * its line items, so changing or archiving an item never changes a bill already made.
 */
import { type AuditActor, appendAudit } from '../audit/auditLog.js';
import { CURRENCIES } from '../domain/currency.js';
import { formatFiat, parseFiatAmount } from '../domain/money.js';
import { type ClinicScope, scopeQuery } from '../identity/principal.js';
import type { Db, Trx } from '../platform/db.js';
import { NotFoundError, ValidationError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';

const HKD = CURRENCIES.HKD!;

export interface PriceListItemRow {
  id: string;
  clinic_id: string;
  code: string;
  name: string;
  unit_amount: string;
  created_by: string;
  created_at: Date;
  archived_at: Date | null;
}

/** The live items of the clinics in `scope` (one clinic's when `clinicId` is given), by code. */
export async function listPriceList(db: Db, scope: ClinicScope, clinicId?: string): Promise<PriceListItemRow[]> {
  const query = scopeQuery(db('price_list_items'), scope).whereNull('archived_at').orderBy(['clinic_id', 'code']);
  if (clinicId !== undefined) query.where({ clinic_id: clinicId });
  return (await query) as PriceListItemRow[];
}

/** Adds an item; a live item with the same code in the clinic is refused (400, `code`). */
export async function createPriceListItem(
  trx: Trx,
  actor: AuditActor,
  params: { clinicId: string; code: string; name: string; unitAmount: string },
): Promise<PriceListItemRow> {
  const amount = parseFiatAmount(params.unitAmount, HKD, 'unit_amount');
  const taken = await trx('price_list_items').where({ clinic_id: params.clinicId, code: params.code }).whereNull('archived_at').first('id');
  if (taken) throw new ValidationError(`The price list has an item with code ${params.code} already; archive it first.`, 'code');
  const [row] = (await trx('price_list_items')
    .insert({
      id: newId('pli'),
      clinic_id: params.clinicId,
      code: params.code,
      name: params.name,
      unit_amount: formatFiat(amount, HKD),
      created_by: actor.actor,
    })
    .returning('*')) as PriceListItemRow[];
  await appendAudit(trx, actor, [
    {
      action: 'price_list_item.created',
      target: { type: 'price_list_item', id: row!.id },
      clinicId: row!.clinic_id,
      after: { code: row!.code, unit_amount: row!.unit_amount },
    },
  ]);
  return row!;
}

/** Archives an item in `scope` (again: nothing changes); {@link NotFoundError} outside it. */
export async function archivePriceListItem(trx: Trx, actor: AuditActor, scope: ClinicScope, id: string): Promise<PriceListItemRow> {
  const row = (await scopeQuery(trx('price_list_items').where({ id }), scope).forUpdate().first()) as PriceListItemRow | undefined;
  if (!row) throw new NotFoundError('price list item');
  if (row.archived_at !== null) return row;
  const [archived] = (await trx('price_list_items').where({ id }).update({ archived_at: trx.fn.now() }).returning('*')) as PriceListItemRow[];
  await appendAudit(trx, actor, [
    { action: 'price_list_item.archived', target: { type: 'price_list_item', id }, clinicId: row.clinic_id, before: { code: row.code } },
  ]);
  return archived!;
}

/** The API form of an item. */
export function presentPriceListItem(row: PriceListItemRow): Record<string, unknown> {
  return {
    object: 'price_list_item',
    id: row.id,
    clinic_id: row.clinic_id,
    code: row.code,
    name: row.name,
    // numeric(14,2): Postgres gives the exact text, two places.
    unit_amount: String(row.unit_amount),
    currency: 'HKD',
    created_at: row.created_at.toISOString(),
    archived_at: row.archived_at?.toISOString() ?? null,
  };
}
