/**
 * Loads what a FHIR export is made of and builds it (see `fhir.ts` for the mapping). Tenant
 * rule: a caller confined to a clinic sees only that clinic's records; anything else is "not
 * found", never "forbidden".
 *
 * Only `confirmed` transfers are exported: a pending one may still be orphaned by a reorg, a
 * reorged one no longer exists on the chain. Only payments into deposit addresses and forwards
 * from them to the clinic are payments; other tokens and unexpected outflows are left to
 * reconciliation.
 */

import { getInvoice, type InvoiceRow } from '../billing/invoices.js';
import { type ClinicScope, scopeQuery } from '../identity/principal.js';
import type { Db, Trx } from '../platform/db.js';
import { NotFoundError } from '../platform/errors.js';
import {
  type FhirChainTransfer,
  type FhirResource,
  type FhirTransactionTransfer,
  fhirInvoice,
  fhirPaymentReconciliation,
  invoiceIdFromFhir,
  txHashFromFhir,
} from './fhir.js';

const PAYMENT_KINDS = ['payment', 'forward'] as const;

/**
 * The invoice `id` (`inv_…` or `inv-…`) as a FHIR R4 Invoice, with its confirmed payments and
 * forwarding; {@link NotFoundError} when it does not exist or is not in `scope`.
 */
export async function loadFhirInvoice(db: Db | Trx, scope: ClinicScope, id: string, now = new Date()): Promise<FhirResource> {
  const invoiceId = invoiceIdFromFhir(id);
  if (invoiceId === undefined) throw new NotFoundError('invoice');
  const invoice: InvoiceRow = await getInvoice(db, scope, invoiceId);
  const [clinic, transfers] = await Promise.all([
    db('clinics').where({ id: invoice.clinic_id }).first('id', 'name') as Promise<{ id: string; name: string }>,
    db('transfers')
      .where({ invoice_id: invoice.id, status: 'confirmed' })
      .whereIn('kind', PAYMENT_KINDS)
      // Qualified: a bare name would sort by the text alias below ('10' before '9').
      .orderBy([{ column: 'transfers.block_number' }, { column: 'transfers.log_index' }])
      .select(
        'kind',
        'tx_hash',
        'log_index',
        db.raw('block_number::text AS block_number'),
        'block_timestamp AS block_time',
        db.raw('amount::text AS amount'),
      ) as Promise<FhirChainTransfer[]>,
  ]);
  return fhirInvoice({ invoice, clinic, transfers, now });
}

export interface LoadFhirPaymentReconciliationOptions {
  /** Only transfers on this chain (the gateway's). */
  chainId?: number;
}

/**
 * The transaction `txHash` (64 hex digits, `0x` optional) as a FHIR R4 PaymentReconciliation:
 * every confirmed payment or forward of ours in it within `scope`, one allocation per
 * invoice. {@link NotFoundError} when there is none.
 */
export async function loadFhirPaymentReconciliation(
  db: Db | Trx,
  scope: ClinicScope,
  txHash: string,
  options: LoadFhirPaymentReconciliationOptions = {},
): Promise<FhirResource> {
  const hash = txHashFromFhir(txHash);
  if (hash === undefined) throw new NotFoundError('payment');
  const query = db('transfers')
    .join('invoices', 'invoices.id', 'transfers.invoice_id')
    .join('clinics', 'clinics.id', 'transfers.clinic_id')
    .where({ 'transfers.tx_hash': hash, 'transfers.status': 'confirmed' })
    .whereIn('transfers.kind', PAYMENT_KINDS)
    .orderBy('transfers.log_index')
    .select(
      'transfers.id',
      'transfers.kind',
      'transfers.tx_hash',
      'transfers.log_index',
      'transfers.chain_id',
      db.raw('transfers.block_number::text AS block_number'),
      'transfers.block_hash',
      'transfers.block_timestamp AS block_time',
      'transfers.token_address',
      db.raw('transfers.amount::text AS amount'),
      'transfers.flag',
      'transfers.clinic_id',
      'clinics.name AS clinic_name',
      'invoices.number AS invoice_number',
      'invoices.currency AS invoice_currency',
      'invoices.token_symbol',
      'invoices.token_decimals',
      'invoices.deposit_address',
      'invoices.settlement_address',
      'transfers.invoice_id',
    );
  if (options.chainId !== undefined) query.where('transfers.chain_id', options.chainId);
  const rows = (await scopeQuery(query, scope, 'transfers.clinic_id')) as TransactionRow[];
  if (rows.length === 0) throw new NotFoundError('payment');
  const chains = new Set(rows.map((row) => row.chain_id));
  if (chains.size > 1) throw new Error(`transaction ${hash} is recorded on chains ${[...chains].join(', ')}; pass chainId`);
  return fhirPaymentReconciliation({ txHash: hash, transfers: rows.map(toTransactionTransfer) });
}

interface TransactionRow {
  id: string;
  kind: 'payment' | 'forward';
  tx_hash: string;
  log_index: number;
  chain_id: number;
  block_number: string;
  block_hash: string;
  block_time: Date;
  token_address: string;
  amount: string;
  flag: string | null;
  clinic_id: string;
  clinic_name: string;
  invoice_id: string;
  invoice_number: number;
  invoice_currency: string;
  token_symbol: string;
  token_decimals: number;
  deposit_address: string;
  settlement_address: string;
}

function toTransactionTransfer(row: TransactionRow): FhirTransactionTransfer {
  return {
    id: row.id,
    kind: row.kind,
    tx_hash: row.tx_hash,
    log_index: row.log_index,
    chain_id: row.chain_id,
    block_number: row.block_number,
    block_hash: row.block_hash,
    block_time: row.block_time,
    token_address: row.token_address,
    amount: row.amount,
    flag: row.flag,
    invoice: {
      id: row.invoice_id,
      number: row.invoice_number,
      currency: row.invoice_currency,
      token_symbol: row.token_symbol,
      token_decimals: row.token_decimals,
      deposit_address: row.deposit_address,
      settlement_address: row.settlement_address,
    },
    clinic: { id: row.clinic_id, name: row.clinic_name },
  };
}
