/**
 * Invoices: what a clinic bills, the deposit address a patient pays into, and how the bill
 * reads back through the API.
 */
import { Decimal } from 'decimal.js';
import type { Address } from 'viem';
import type { Principal } from '../identity/principal.js';
import { canSeeClinic } from '../identity/principal.js';
import { apiAddress, storedAddress } from '../domain/address.js';
import { predictDepositAddress, randomInvoiceSalt } from '../chain/depositAddress.js';
import type { Db, Trx } from '../platform/db.js';
import { confirmationsAt } from '../domain/confirmations.js';
import { currencyInfo, fiatToTokenUnits, tokenUnitsToFiat, type CurrencyInfo } from '../domain/currency.js';
import { effectiveStatus, InvalidTransitionError, transition, type InvoiceStatus } from '../domain/invoiceStatus.js';
import { formatFiat, invoiceTotal, type LineItemInput } from '../domain/money.js';
import { ClinicPayError, NotFoundError, ValidationError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import type { AuditSummary } from '../audit/auditLog.js';
import { keysetPage, type Page, type PageRequest } from '../platform/pagination.js';
import { invoiceNumberSequence } from './clinics.js';
import { paymentUri } from './paymentUri.js';
import { checkoutUrl, newCheckoutToken } from './checkoutToken.js';
import { referenceAmounts, type ReferenceRatesSnapshot } from '../domain/referenceAmounts.js';
import type { ReferenceRates } from '../platform/config.js';

/** The chain, token and contracts invoices are paid through. */
export interface PaymentNetwork {
  chainId: number;
  token: { address: Address; symbol: string; decimals: number };
  factory: Address;
  forwarderImplementation: Address;
}

export interface InvoiceRow {
  id: string;
  clinic_id: string;
  number: number;
  status: InvoiceStatus;
  currency: string;
  amount_due: string;
  token_chain_id: number;
  token_address: string;
  token_symbol: string;
  token_decimals: number;
  token_amount_due: string;
  token_amount_paid: string;
  /** Seen on the chain but not final yet. */
  token_amount_pending: string;
  settlement_address: string;
  deposit_salt: string;
  deposit_address: string;
  factory_address: string;
  patient_ref: string;
  line_items: LineItemInput[];
  metadata: Record<string, string>;
  expires_at: Date;
  created_at: Date;
  paid_at: Date | null;
  voided_at: Date | null;
  expired_at: Date | null;
  /** The credential of the invoice's hosted checkout page. */
  checkout_token: string;
  reference_rates: ReferenceRatesSnapshot | null;
}

/** What invoices are created with besides the request: the indicative rates of the moment, if configured. */
export interface InvoiceOptions {
  referenceRates?: ReferenceRates | undefined;
}

export interface CreateInvoiceInput {
  patient_ref: string;
  currency: string;
  line_items: LineItemInput[];
  expires_in_minutes?: number;
  metadata?: Record<string, string>;
}

export const DEFAULT_EXPIRY_MINUTES = 60;

function requireCurrency(code: string): CurrencyInfo {
  const currency = currencyInfo(code);
  if (!currency) throw new ValidationError(`Invoices in ${code} are not supported; use HKD.`, 'currency');
  return currency;
}

/**
 * The row of a new invoice for `clinicId`, built in memory and written by the caller (in one
 * statement with its idempotency key): the clinic's next invoice number, and a deposit address
 * bound to the clinic's current settlement address. Reads only.
 */
export async function prepareInvoice(db: Db | Trx, clinicId: string, input: CreateInvoiceInput, network: PaymentNetwork, now: Date, options: InvoiceOptions = {}): Promise<InvoiceRow> {
  const currency = requireCurrency(input.currency);
  const amountDue = invoiceTotal(input.line_items, currency);
  const clinic = (await db('clinics')
    .where({ id: clinicId })
    .first('settlement_address', db.raw('nextval(?::regclass)::int AS number', [invoiceNumberSequence(clinicId)]))) as { settlement_address: string; number: number } | undefined;
  if (!clinic) throw new NotFoundError('clinic');
  const salt = randomInvoiceSalt();
  const depositAddress = predictDepositAddress({
    factory: network.factory,
    implementation: network.forwarderImplementation,
    destination: apiAddress(clinic.settlement_address),
    salt,
  });
  // Milliseconds, as stored and as the API shows them.
  const createdAt = new Date(Math.floor(now.getTime()));
  return {
    id: newId('inv'),
    clinic_id: clinicId,
    number: clinic.number,
    status: 'open',
    currency: currency.code,
    amount_due: formatFiat(amountDue, currency),
    token_chain_id: network.chainId,
    token_address: storedAddress(network.token.address),
    token_symbol: network.token.symbol,
    token_decimals: network.token.decimals,
    token_amount_due: fiatToTokenUnits(amountDue, network.token.decimals).toString(),
    token_amount_paid: '0',
    token_amount_pending: '0',
    settlement_address: clinic.settlement_address,
    deposit_salt: salt.toLowerCase(),
    deposit_address: storedAddress(depositAddress),
    factory_address: storedAddress(network.factory),
    patient_ref: input.patient_ref,
    line_items: input.line_items,
    metadata: input.metadata ?? {},
    expires_at: new Date(createdAt.getTime() + (input.expires_in_minutes ?? DEFAULT_EXPIRY_MINUTES) * 60_000),
    created_at: createdAt,
    paid_at: null,
    voided_at: null,
    expired_at: null,
    checkout_token: newCheckoutToken(),
    reference_rates: options.referenceRates
      ? { source: options.referenceRates.source, as_of: options.referenceRates.asOf.toISOString(), rates: { ...options.referenceRates.rates } }
      : null,
  };
}

/** Prepares and inserts an invoice inside `trx`, for server-side callers without an idempotency key. */
export async function createInvoice(trx: Trx, clinicId: string, input: CreateInvoiceInput, network: PaymentNetwork, now = new Date(), options: InvoiceOptions = {}): Promise<InvoiceRow> {
  const row = await prepareInvoice(trx, clinicId, input, network, now, options);
  await trx('invoices').insert({
    ...row,
    line_items: JSON.stringify(row.line_items),
    metadata: JSON.stringify(row.metadata),
    reference_rates: row.reference_rates === null ? null : JSON.stringify(row.reference_rates),
  });
  return row;
}

/** The invoice if `principal` may see it; {@link NotFoundError} otherwise (never "forbidden"). */
export async function getInvoice(db: Db | Trx, principal: Principal, id: string, { forUpdate = false } = {}): Promise<InvoiceRow> {
  const query = db('invoices').where({ id }).first();
  const row = (await (forUpdate ? query.forUpdate() : query)) as InvoiceRow | undefined;
  if (!row || !canSeeClinic(principal, row.clinic_id)) throw new NotFoundError('invoice');
  return row;
}

/** Voids an invoice on which nothing has been paid or seen. */
export async function voidInvoice(trx: Trx, principal: Principal, id: string): Promise<{ before: InvoiceRow; after: InvoiceRow }> {
  const invoice = await getInvoice(trx, principal, id, { forUpdate: true });
  const shown = effectiveStatus(invoice.status, invoice.expires_at, new Date());
  if (BigInt(invoice.token_amount_paid) > 0n) throw new ClinicPayError('invoice_not_voidable', 'A payment has been received on this invoice; it can no longer be voided.', { status: 409 });
  try {
    transition(shown, { type: 'void' });
  } catch (error) {
    if (error instanceof InvalidTransitionError) {
      throw new ClinicPayError('invoice_not_voidable', `An invoice that is ${shown} cannot be voided.`, { status: 409 });
    }
    throw error;
  }
  const [row] = (await trx('invoices').where({ id }).update({ status: 'void', voided_at: trx.fn.now() }).returning('*')) as InvoiceRow[];
  return { before: invoice, after: row! };
}

/**
 * What the audit log keeps of a new invoice: its number, amounts, deposit address and expiry —
 * not the patient reference or the line items (those may describe the patient).
 */
export function invoiceAuditSummary(row: InvoiceRow): AuditSummary {
  return {
    number: row.number,
    status: row.status,
    currency: row.currency,
    amount_due: String(row.amount_due),
    token_amount_due: String(row.token_amount_due),
    deposit_address: row.deposit_address,
    expires_at: new Date(row.expires_at).toISOString(),
  };
}

export interface InvoiceFilters {
  clinicId?: string;
  status?: InvoiceStatus;
  patientRef?: string;
  createdGte?: Date;
  createdLte?: Date;
}

/** One page of the invoices `principal` may see, newest first, with the given filters. */
export async function listInvoices(db: Db, principal: Principal, filters: InvoiceFilters, page: PageRequest): Promise<Page<InvoiceRow>> {
  const query = db('invoices');
  const clinicId = principal.clinicId ?? filters.clinicId;
  if (principal.clinicId !== undefined && filters.clinicId !== undefined && filters.clinicId !== principal.clinicId) return { data: [], hasMore: false };
  if (clinicId !== undefined) query.where({ clinic_id: clinicId });
  if (filters.patientRef !== undefined) query.where({ patient_ref: filters.patientRef });
  if (filters.createdGte !== undefined) query.where('created_at', '>=', filters.createdGte);
  if (filters.createdLte !== undefined) query.where('created_at', '<=', filters.createdLte);
  if (filters.status !== undefined) {
    // "expired" includes open invoices whose time has run out but that no worker has marked yet.
    if (filters.status === 'expired') query.where((q) => q.where({ status: 'expired' }).orWhere((o) => o.where({ status: 'open' }).andWhere('expires_at', '<=', db.fn.now())));
    else if (filters.status === 'open') query.where({ status: 'open' }).andWhere('expires_at', '>', db.fn.now());
    else query.where({ status: filters.status });
  }
  return keysetPage<InvoiceRow>(query, page, async (id) => {
    const anchor = (await db('invoices').where({ id }).first('created_at', 'id', 'clinic_id')) as { created_at: Date; id: string; clinic_id: string } | undefined;
    return anchor && canSeeClinic(principal, anchor.clinic_id) ? anchor : undefined;
  });
}

export interface InvoiceTransfer {
  tx_hash: string;
  log_index: number;
  block_number: string;
  amount: string;
  kind: 'payment' | 'forward' | 'foreign_token';
  status: 'pending' | 'confirmed' | 'reorged';
  flag: string | null;
}

/** The transfers of the deposit addresses of `invoiceIds`, oldest first, by invoice. */
export async function invoiceTransfers(db: Db | Trx, invoiceIds: readonly string[]): Promise<Map<string, InvoiceTransfer[]>> {
  const byInvoice = new Map<string, InvoiceTransfer[]>(invoiceIds.map((id) => [id, []]));
  if (invoiceIds.length === 0) return byInvoice;
  const rows = (await db('transfers')
    .whereRaw('invoice_id = ANY(?)', [[...invoiceIds]])
    // By the number, not its text alias (block 10 after block 9).
    .orderBy([{ column: 'transfers.block_number' }, { column: 'transfers.log_index' }])
    .select('invoice_id', 'tx_hash', 'log_index', db.raw('block_number::text AS block_number'), db.raw('amount::text AS amount'), 'kind', 'status', 'flag')) as (InvoiceTransfer & {
    invoice_id: string;
  })[];
  for (const { invoice_id, ...transfer } of rows) byInvoice.get(invoice_id)?.push(transfer);
  return byInvoice;
}

/** What the chain says about an invoice: its transfers and the block the watcher has read to. */
export interface InvoiceChainView {
  transfers: InvoiceTransfer[];
  /** The watcher's cursor: confirmations are counted against it. */
  head: bigint | undefined;
}

/**
 * The API form of an invoice at `now`, with its payments and forwarding from `chainView`
 * (none for an invoice just created).
 */
export function presentInvoice(
  row: InvoiceRow,
  now: Date,
  chainView: InvoiceChainView = { transfers: [], head: undefined },
  { publicUrl }: { publicUrl?: string | undefined } = {},
): Record<string, unknown> {
  const currency = requireCurrency(row.currency);
  const token = { chain_id: row.token_chain_id, address: apiAddress(row.token_address), symbol: row.token_symbol, decimals: row.token_decimals };
  const depositAddress = apiAddress(row.deposit_address);
  return {
    object: 'invoice',
    id: row.id,
    clinic_id: row.clinic_id,
    number: row.number,
    status: effectiveStatus(row.status, row.expires_at, now),
    currency: row.currency,
    amount_due: formatFiatText(row.amount_due, currency),
    amount_paid: tokenUnitsToFiat(BigInt(row.token_amount_paid), row.token_decimals, currency),
    token,
    token_amount_due: row.token_amount_due,
    token_amount_paid: row.token_amount_paid,
    deposit_address: depositAddress,
    payment_uri: paymentUri({ chainId: row.token_chain_id, token: token.address, recipient: depositAddress, amount: BigInt(row.token_amount_due) }),
    payment_qr_url: `/v1/invoices/${row.id}/payment-qr.svg`,
    checkout_url: checkoutUrl(row.checkout_token, publicUrl),
    reference_amounts: row.reference_rates
      ? { indicative: true, source: row.reference_rates.source, as_of: row.reference_rates.as_of, amounts: referenceAmounts(formatFiatText(row.amount_due, currency), row.reference_rates) }
      : null,
    patient_ref: row.patient_ref,
    line_items: row.line_items,
    metadata: row.metadata,
    expires_at: row.expires_at.toISOString(),
    created_at: row.created_at.toISOString(),
    paid_at: row.paid_at?.toISOString() ?? null,
    voided_at: row.voided_at?.toISOString() ?? null,
    ...presentTransfers(chainView),
  };
}

function presentTransfers({ transfers, head }: InvoiceChainView): Record<string, unknown> {
  const present = (transfer: InvoiceTransfer) => ({
    tx_hash: transfer.tx_hash,
    log_index: transfer.log_index,
    block_number: Number(transfer.block_number),
    confirmations: transfer.status === 'reorged' ? 0 : confirmationsAt(BigInt(transfer.block_number), head),
    amount: transfer.amount,
    status: transfer.status,
    ...(transfer.kind === 'payment' ? { flag: transfer.flag } : {}),
  });
  return {
    payments: transfers.filter((transfer) => transfer.kind === 'payment').map(present),
    forwarding: transfers.filter((transfer) => transfer.kind === 'forward').map(present),
  };
}

function formatFiatText(stored: string, currency: CurrencyInfo): string {
  return formatFiat(new Decimal(stored), currency);
}
