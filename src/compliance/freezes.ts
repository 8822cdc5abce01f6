/**
 * Issuers' freezes of the gateway's addresses. A regulated issuer can freeze any address of its
 * token: a frozen clinic wallet cannot receive, a frozen deposit address cannot be swept. The
 * settlement watcher finds them (settlement/freezeWatch.ts) and records them here, from when
 * they were seen until the issuer lifts them; the flusher leaves alone every deposit whose
 * address or destination is frozen, and reconciliation puts each one in finance's queue.
 */
import { type AuditActor, appendAudit } from '../audit/auditLog.js';
import type { Db, Trx } from '../platform/db.js';
import { newId } from '../platform/ids.js';

export type FreezeRole = 'settlement' | 'deposit';

export interface AddressFreeze {
  id: string;
  chain_id: number;
  token_address: string;
  address: string;
  role: FreezeRole;
  clinic_id: string;
  invoice_id: string | null;
  block_number: string | null;
  frozen_at: Date;
  lifted_at: Date | null;
}

export interface FreezeSeen {
  chainId: number;
  token: string;
  address: string;
  role: FreezeRole;
  clinicId: string;
  invoiceId: string | null;
  blockNumber: bigint | null;
}

/**
 * Records freezes seen (one active record per token, address and role: seen again, nothing
 * changes) and audits the new ones. Returns those that are new.
 */
export async function recordFreezes(trx: Trx, actor: AuditActor, seen: readonly FreezeSeen[]): Promise<AddressFreeze[]> {
  if (seen.length === 0) return [];
  const inserted = (await trx('address_freezes')
    .insert(
      seen.map((freeze) => ({
        id: newId('frz'),
        chain_id: freeze.chainId,
        token_address: freeze.token.toLowerCase(),
        address: freeze.address.toLowerCase(),
        role: freeze.role,
        clinic_id: freeze.clinicId,
        invoice_id: freeze.invoiceId,
        block_number: freeze.blockNumber?.toString() ?? null,
      })),
    )
    .onConflict(trx.raw('(chain_id, token_address, address, role) WHERE lifted_at IS NULL'))
    .ignore()
    .returning('*')) as AddressFreeze[];
  await appendAudit(
    trx,
    actor,
    inserted.map((freeze) => ({
      action: 'address.frozen',
      target: { type: 'address_freeze', id: freeze.id },
      clinicId: freeze.clinic_id,
      after: { token_address: freeze.token_address, address: freeze.address, role: freeze.role, invoice_id: freeze.invoice_id },
    })),
  );
  return inserted;
}

/** Marks freezes the issuer has lifted, audited. */
export async function recordLifted(trx: Trx, actor: AuditActor, ids: readonly string[]): Promise<AddressFreeze[]> {
  if (ids.length === 0) return [];
  const lifted = (await trx('address_freezes')
    .whereIn('id', [...ids])
    .whereNull('lifted_at')
    .update({ lifted_at: trx.fn.now() })
    .returning('*')) as AddressFreeze[];
  await appendAudit(
    trx,
    actor,
    lifted.map((freeze) => ({
      action: 'address.unfrozen',
      target: { type: 'address_freeze', id: freeze.id },
      clinicId: freeze.clinic_id,
      before: { status: 'frozen' },
      after: { status: 'lifted', token_address: freeze.token_address, address: freeze.address, role: freeze.role },
    })),
  );
  return lifted;
}

/** Freezes not lifted, oldest first; of one token when given. */
export async function activeFreezes(db: Db | Trx, token?: string): Promise<AddressFreeze[]> {
  const query = db('address_freezes').whereNull('lifted_at').orderBy('frozen_at');
  return (await (token ? query.where({ token_address: token.toLowerCase() }) : query)) as AddressFreeze[];
}

/** The freezes with these ids (for reconciliation: which of its exceptions were lifted). */
export async function freezesById(db: Db | Trx, ids: readonly string[]): Promise<AddressFreeze[]> {
  if (ids.length === 0) return [];
  return (await db('address_freezes').whereIn('id', [...ids])) as AddressFreeze[];
}

/** Frozen addresses (any token, any role): a subquery for the flusher's claim (`whereNotIn`). */
export function frozenAddresses(db: Db | Trx) {
  return db('address_freezes').whereNull('lifted_at').select('address');
}

/** How far the freeze events of `token` have been read; undefined before the first scan. */
export async function freezeScannedTo(db: Db | Trx, chainId: number, token: string): Promise<bigint | undefined> {
  const row = (await db('freeze_scans').where({ chain_id: chainId, token_address: token.toLowerCase() }).first('scanned_to')) as
    | { scanned_to: string }
    | undefined;
  return row ? BigInt(row.scanned_to) : undefined;
}

export async function recordFreezeScan(trx: Trx, chainId: number, token: string, scannedTo: bigint): Promise<void> {
  await trx('freeze_scans')
    .insert({ chain_id: chainId, token_address: token.toLowerCase(), scanned_to: scannedTo.toString() })
    .onConflict(['chain_id', 'token_address'])
    .merge({ scanned_to: scannedTo.toString(), updated_at: trx.fn.now() });
}
