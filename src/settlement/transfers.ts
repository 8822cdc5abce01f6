/**
 * The transfers the watcher stored, as invoices show them: each invoice's payments and
 * forwarding, with the block the watcher has read to (confirmations are counted against it).
 */
import type { InvoiceChainView, InvoiceTransfer } from '../billing/invoices.js';
import { readCursor } from '../chain/cursor.js';
import type { Db, Trx } from '../platform/db.js';

/** The transfers of the deposit addresses of `invoiceIds`, oldest first, by invoice. */
export async function invoiceTransfers(db: Db | Trx, invoiceIds: readonly string[]): Promise<Map<string, InvoiceTransfer[]>> {
  const byInvoice = new Map<string, InvoiceTransfer[]>(invoiceIds.map((id) => [id, []]));
  if (invoiceIds.length === 0) return byInvoice;
  const rows = (await db('transfers')
    .whereRaw('invoice_id = ANY(?)', [[...new Set(invoiceIds)]])
    // By the number, not its text alias (block 10 after block 9).
    .orderBy([{ column: 'transfers.block_number' }, { column: 'transfers.log_index' }])
    .select(
      'invoice_id',
      'tx_hash',
      'log_index',
      db.raw('block_number::text AS block_number'),
      'token_address',
      db.raw('amount::text AS amount'),
      'kind',
      'status',
      'flag',
    )) as (InvoiceTransfer & {
    invoice_id: string;
  })[];
  for (const { invoice_id, ...transfer } of rows) byInvoice.get(invoice_id)?.push(transfer);
  return byInvoice;
}

/** What the chain says about each of `invoiceIds` (invoices of chain `chainId`), for presenting them. */
export async function invoiceChainViews(db: Db | Trx, chainId: number, invoiceIds: readonly string[]): Promise<Map<string, InvoiceChainView>> {
  // One after the other: a transaction's connection takes one statement at a time.
  const transfers = await invoiceTransfers(db, invoiceIds);
  const head = await readCursor(db, chainId);
  return new Map(invoiceIds.map((id) => [id, { transfers: transfers.get(id) ?? [], head }]));
}

/** A stored payment (a transfer into a deposit address) as evidence describes it. */
export interface PaymentTransferRow {
  id: string;
  chain_id: number;
  tx_hash: string;
  log_index: number;
  block_number: string;
  block_hash: string;
  block_timestamp: Date;
  token_address: string;
  from_address: string;
  to_address: string;
  amount: string;
  invoice_id: string;
  clinic_id: string;
  status: 'pending' | 'confirmed' | 'reorged';
  generation: number;
  flag: string | null;
  confirmations: number | null;
  seen_at: Date;
  confirmed_at: Date | null;
}

/** The payment `id` (kind `payment`), if there is one. The caller confines it to a clinic. */
export async function paymentTransfer(db: Db | Trx, id: string): Promise<PaymentTransferRow | undefined> {
  return (await db('transfers')
    .where({ id, kind: 'payment' })
    .first(
      'id',
      'chain_id',
      'tx_hash',
      'log_index',
      db.raw('block_number::text AS block_number'),
      'block_hash',
      'block_timestamp',
      'token_address',
      'from_address',
      'to_address',
      db.raw('amount::text AS amount'),
      'invoice_id',
      'clinic_id',
      'status',
      'generation',
      'flag',
      'confirmations',
      'seen_at',
      'confirmed_at',
    )) as PaymentTransferRow | undefined;
}
