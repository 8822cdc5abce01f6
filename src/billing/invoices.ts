/**
 * billing/ — what clinics bill: clinics, their invoices (numbers, amounts, deposit
 * addresses, expiry, voiding), checkout tokens and payment requests. Payments move invoices
 * through settlement/, which writes their progress through the functions here.
 *
 * Invoices: what a clinic bills, the deposit address a patient pays into, and how the bill
 * reads back through the API.
 *
 * Owns tables: clinics, invoices, price_list_items.
 * May import: platform, domain, audit, identity, chain, compliance.
 */
import { Decimal } from 'decimal.js';
import { type AuditActor, type AuditEvent, type AuditSummary, appendAudit } from '../audit/auditLog.js';
import { predictDepositAddress, randomInvoiceSalt } from '../chain/depositAddress.js';
import type { PaymentNetwork } from '../chain/paymentNetwork.js';
import { apiAddress, storedAddress } from '../domain/address.js';
import { confirmationsAt } from '../domain/confirmations.js';
import { type CurrencyInfo, currencyInfo, fiatToTokenUnits, rescaleAtPar, tokenUnitsToFiat } from '../domain/currency.js';
import { effectiveStatus, InvalidTransitionError, type InvoiceStatus, transition } from '../domain/invoiceStatus.js';
import { formatFiat, invoiceTotal, type LineItemInput } from '../domain/money.js';
import { type ReferenceRatesSnapshot, referenceAmounts } from '../domain/referenceAmounts.js';
import { type ClinicScope, scopeQuery } from '../identity/principal.js';
import type { ReferenceRates } from '../platform/config.js';
import { type Db, type InsertStatement, runInsert, type SelectStatement, type Trx } from '../platform/db.js';
import { NotFoundError, ValidationError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { keysetPage, type Page, type PageRequest } from '../platform/pagination.js';
import { CHECKOUT_TOKEN_PATTERN, checkoutTokenHash, checkoutUrl, newCheckoutToken } from './checkoutToken.js';
import { invoiceNumberSequence } from './clinics.js';
import { InvoiceNotVoidableError } from './errors.js';
import { paymentUri } from './paymentUri.js';

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
  /** SHA-256 (hex) of the credential of the invoice's hosted checkout page; the token itself is never stored. */
  checkout_token_hash: string;
  reference_rates: ReferenceRatesSnapshot | null;
  /**
   * The allow-list the invoice was offered with at creation, the pricing token first: what the
   * patient may pay in. Empty for invoices from before the allow-list: their own token only.
   */
  accepted_tokens: InvoiceTokenOption[];
  /**
   * Whether the payer's travel-rule information is needed (at or above the threshold when the
   * invoice was created) and whether it is in. While `pending`, the invoice shows no place to pay.
   */
  travel_rule: TravelRuleStatus;
  /** The wallet the payer proved they will pay from (lower case), once captured. */
  travel_rule_payer: string | null;
}

export type TravelRuleStatus = 'not_required' | 'pending' | 'captured';

/** An accepted token as an invoice keeps it. */
export interface InvoiceTokenOption {
  address: string;
  symbol: string;
  decimals: number;
  issuer: string | null;
  licence: string | null;
}

/** What invoices are created with besides the request: the indicative rates of the moment, if configured, and the travel-rule threshold. */
export interface InvoiceOptions {
  referenceRates?: ReferenceRates | undefined;
  /** HKD amount from which the payer's travel-rule information is needed (TRAVEL_RULE_THRESHOLD_HKD); unset: never. */
  travelRuleThresholdHkd?: string | undefined;
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

/** A new invoice, prepared in memory: its row, its checkout token, the statement that writes it, and what the audit log records of it. */
export interface PreparedInvoice {
  row: InvoiceRow;
  /** The checkout page's credential: shown once, in the answer that creates the invoice, never stored. */
  checkoutToken: string;
  insert: InsertStatement;
  audit: AuditEvent;
}

/** What creating an invoice reads of its clinic: where it settles, and the invoice's number (taken from the clinic's sequence). */
export interface InvoiceClinicRead {
  settlement_address: string;
  number: number;
}

/**
 * A new invoice for `clinicId`, checked but neither read nor written yet: `read` takes the
 * clinic's next invoice number and reads its current settlement address; `prepare` makes the
 * invoice from what it returned (`undefined`: no such clinic), with a deposit address bound to
 * that settlement address. A request that is refused is refused here, before `read`: it takes
 * no number.
 */
export interface InvoicePlan {
  read: SelectStatement;
  prepare(clinic: InvoiceClinicRead | undefined): PreparedInvoice;
}

/**
 * Plans a new invoice (see {@link InvoicePlan}); throws {@link ValidationError} for a request
 * that cannot be billed. The API runs `read` in the same statement as its idempotency key lookup.
 */
export function planInvoice(clinicId: string, input: CreateInvoiceInput, network: PaymentNetwork, now: Date, options: InvoiceOptions = {}): InvoicePlan {
  const currency = requireCurrency(input.currency);
  const amountDue = invoiceTotal(input.line_items, currency);
  return {
    read: {
      text: (condition) =>
        `SELECT settlement_address, nextval(?::regclass)::int AS number FROM clinics WHERE id = ?${condition === undefined ? '' : ` AND ${condition}`}`,
      bindings: [invoiceNumberSequence(clinicId), clinicId],
    },
    prepare(clinic) {
      if (!clinic) throw new NotFoundError('clinic');
      const checkoutToken = newCheckoutToken();
      const row = newInvoiceRow(clinicId, input, currency, amountDue, clinic, network, now, options, checkoutTokenHash(checkoutToken));
      return {
        row,
        checkoutToken,
        insert: invoiceInsert([row]),
        audit: { action: 'invoice.created', target: { type: 'invoice', id: row.id }, clinicId: row.clinic_id, after: invoiceAuditSummary(row) },
      };
    },
  };
}

/**
 * A new invoice for `clinicId`, prepared but not written: the clinic's next invoice number, and
 * a deposit address bound to the clinic's current settlement address. Reads only (taking the
 * number uses the clinic's sequence). {@link createInvoice} writes it in a transaction.
 */
export async function prepareInvoice(
  db: Db | Trx,
  clinicId: string,
  input: CreateInvoiceInput,
  network: PaymentNetwork,
  now: Date,
  options: InvoiceOptions = {},
): Promise<PreparedInvoice> {
  const plan = planInvoice(clinicId, input, network, now, options);
  const { rows } = (await db.raw(plan.read.text(), [...plan.read.bindings])) as { rows: InvoiceClinicRead[] };
  return plan.prepare(rows[0]);
}

/** Inserts whole invoice rows (every column given: column defaults do not apply). */
function invoiceInsert(rows: readonly InvoiceRow[]): InsertStatement {
  return {
    text: (condition) =>
      `INSERT INTO invoices SELECT * FROM jsonb_populate_recordset(NULL::invoices, ?::jsonb)${condition === undefined ? '' : ` WHERE ${condition}`}`,
    bindings: [JSON.stringify(rows)],
  };
}

function newInvoiceRow(
  clinicId: string,
  input: CreateInvoiceInput,
  currency: CurrencyInfo,
  amountDue: Decimal,
  clinic: InvoiceClinicRead,
  network: PaymentNetwork,
  now: Date,
  options: InvoiceOptions,
  tokenHash: string,
): InvoiceRow {
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
    checkout_token_hash: tokenHash,
    reference_rates: options.referenceRates
      ? { source: options.referenceRates.source, as_of: options.referenceRates.asOf.toISOString(), rates: { ...options.referenceRates.rates } }
      : null,
    travel_rule:
      options.travelRuleThresholdHkd !== undefined && currency.code === 'HKD' && amountDue.gte(options.travelRuleThresholdHkd) ? 'pending' : 'not_required',
    travel_rule_payer: null,
    accepted_tokens: network.tokens.map(({ address, symbol, decimals, issuer, licence }) => ({
      address: storedAddress(address),
      symbol,
      decimals,
      issuer,
      licence,
    })),
  };
}

/** The tokens an invoice may be paid in, the pricing token first. */
export function invoiceTokenOptions(row: InvoiceRow): InvoiceTokenOption[] {
  if (row.accepted_tokens.length > 0) return row.accepted_tokens;
  return [{ address: row.token_address, symbol: row.token_symbol, decimals: row.token_decimals, issuer: null, licence: null }];
}

/** The token at `address` (any case) among those the invoice may be paid in, if it is one. */
export function invoiceTokenOption(row: InvoiceRow, address: string): InvoiceTokenOption | undefined {
  const wanted = address.toLowerCase();
  return invoiceTokenOptions(row).find((option) => option.address === wanted);
}

/**
 * What an invoice asks for in each token it may be paid in: `units` of its pricing token at par,
 * exact into more decimals and rounded up into fewer (never short), with the EIP-681 URI.
 */
export function paymentOptions(row: InvoiceRow, units: bigint = BigInt(row.token_amount_due)): PaymentOption[] {
  const depositAddress = apiAddress(row.deposit_address);
  return invoiceTokenOptions(row).map((option) => {
    const amount = rescaleAtPar(units, row.token_decimals, option.decimals, 'up');
    const address = apiAddress(option.address);
    return {
      token: { address, symbol: option.symbol, decimals: option.decimals, issuer: option.issuer, licence: option.licence },
      token_amount_due: amount.toString(),
      payment_uri: paymentUri({ chainId: row.token_chain_id, token: address, recipient: depositAddress, amount }),
    };
  });
}

export interface PaymentOption {
  token: { address: string; symbol: string; decimals: number; issuer: string | null; licence: string | null };
  token_amount_due: string;
  payment_uri: string;
}

export interface CreateInvoiceParameters {
  clinicId: string;
  input: CreateInvoiceInput;
  network: PaymentNetwork;
  /** Who creates it, as the audit log records. */
  actor: AuditActor;
  now?: Date;
  referenceRates?: ReferenceRates | undefined;
  /** HKD amount from which the payer's travel-rule information is needed; unset: never. */
  travelRuleThresholdHkd?: string | undefined;
}

/**
 * Creates an invoice inside `trx`, with its audit record: {@link prepareInvoice} and its writes.
 *
 * @example
 * const invoice = await withTransaction(db, (trx) => createInvoice(trx, { clinicId, input, network, actor }));
 */
export async function createInvoice(
  trx: Trx,
  { clinicId, input, network, actor, now = new Date(), referenceRates, travelRuleThresholdHkd }: CreateInvoiceParameters,
): Promise<CreatedInvoice> {
  const prepared = await prepareInvoice(trx, clinicId, input, network, now, { referenceRates, travelRuleThresholdHkd });
  await runInsert(trx, prepared.insert);
  await appendAudit(trx, actor, [prepared.audit]);
  return { ...prepared.row, checkout_token: prepared.checkoutToken };
}

/** A new invoice, with the checkout token its hosted page opens with (known to its creator only). */
export type CreatedInvoice = InvoiceRow & { checkout_token: string };

/**
 * Gives the invoice a new checkout token, and audits it: its old link stops working at once.
 * For a clinic that lost the link (it is shown only once), or whose link went to the wrong person.
 */
export async function reissueCheckoutToken(trx: Trx, actor: AuditActor, scope: ClinicScope, id: string): Promise<CreatedInvoice> {
  const invoice = await getInvoice(trx, scope, id, { forUpdate: true });
  const token = newCheckoutToken();
  const [row] = (await trx('invoices')
    .where({ id })
    .update({ checkout_token_hash: checkoutTokenHash(token) })
    .returning('*')) as InvoiceRow[];
  await appendAudit(trx, actor, [
    { action: 'invoice.checkout_link_issued', target: { type: 'invoice', id }, clinicId: invoice.clinic_id, after: { status: invoice.status } },
  ]);
  return { ...row!, checkout_token: token };
}

/** The invoice if it is in `scope`; {@link NotFoundError} otherwise (never "forbidden"). */
export async function getInvoice(db: Db | Trx, scope: ClinicScope, id: string, { forUpdate = false } = {}): Promise<InvoiceRow> {
  const query = scopeQuery(db('invoices').where({ id }), scope).first();
  const row = (await (forUpdate ? query.forUpdate() : query)) as InvoiceRow | undefined;
  if (!row) throw new NotFoundError('invoice');
  return row;
}

/** Voids an invoice in `scope` on which nothing has been paid or seen, and audits it. */
export async function voidInvoice(trx: Trx, actor: AuditActor, scope: ClinicScope, id: string): Promise<InvoiceRow> {
  const invoice = await getInvoice(trx, scope, id, { forUpdate: true });
  const shown = effectiveStatus(invoice.status, invoice.expires_at, new Date());
  if (BigInt(invoice.token_amount_paid) > 0n) throw new InvoiceNotVoidableError('A payment has been received on this invoice; it can no longer be voided.');
  try {
    transition(shown, { type: 'void' });
  } catch (error) {
    if (error instanceof InvalidTransitionError) {
      throw new InvoiceNotVoidableError(`An invoice that is ${shown} cannot be voided.`);
    }
    throw error;
  }
  const [row] = (await trx('invoices').where({ id }).update({ status: 'void', voided_at: trx.fn.now() }).returning('*')) as InvoiceRow[];
  await appendAudit(trx, actor, [
    {
      action: 'invoice.voided',
      target: { type: 'invoice', id },
      clinicId: invoice.clinic_id,
      before: { status: invoice.status },
      after: { status: row!.status },
    },
  ]);
  return row!;
}

/** Locks `invoiceIds` for the rest of `trx`, in id order (so concurrent lockers cannot deadlock). */
export async function lockInvoices(trx: Trx, invoiceIds: Iterable<string>): Promise<InvoiceRow[]> {
  const ids = [...new Set(invoiceIds)].sort();
  return ids.length ? ((await trx('invoices').whereRaw('id = ANY(?)', [ids]).orderBy('id').forUpdate()) as InvoiceRow[]) : [];
}

/** The columns payments move: status, amounts paid and pending, and when it was paid or expired. */
export type InvoiceProgress = Pick<InvoiceRow, 'id' | 'status' | 'token_amount_paid' | 'token_amount_pending' | 'paid_at' | 'expired_at'>;

/** Writes the payment progress of `rows` (locked by the caller) in one statement. */
export async function saveInvoiceProgress(trx: Trx, rows: readonly InvoiceProgress[]): Promise<void> {
  if (rows.length === 0) return;
  await trx.raw(
    `UPDATE invoices i SET status = v.status, token_amount_paid = v.token_amount_paid, token_amount_pending = v.token_amount_pending,
            paid_at = v.paid_at, expired_at = v.expired_at
       FROM jsonb_to_recordset(?::jsonb) AS v(id text, status text, token_amount_paid numeric, token_amount_pending numeric, paid_at timestamptz, expired_at timestamptz)
      WHERE i.id = v.id`,
    [
      JSON.stringify(
        rows.map((row) => ({
          id: row.id,
          status: row.status,
          token_amount_paid: row.token_amount_paid,
          token_amount_pending: row.token_amount_pending,
          paid_at: row.paid_at,
          expired_at: row.expired_at,
        })),
      ),
    ],
  );
}

/** Most invoices one expiry pass marks; the next pass takes the rest. */
const EXPIRY_BATCH = 500;

/**
 * Marks open and underpaid invoices whose expiry is at or before `chainTime` as expired, unless
 * a payment to them is still being confirmed (pending). Invoices another transaction holds are
 * skipped, not waited for. Returns each invoice as it was and as it is now.
 */
export async function expireDueInvoices(trx: Trx, chainTime: Date): Promise<{ before: InvoiceRow; after: InvoiceRow }[]> {
  const due = (await trx('invoices')
    .whereIn('status', ['open', 'underpaid'])
    .where('expires_at', '<=', chainTime)
    .where('token_amount_pending', 0)
    .orderBy('id')
    .forUpdate()
    .skipLocked()
    .limit(EXPIRY_BATCH)) as InvoiceRow[];
  const expired = due.map((before) => ({ before, after: { ...before, status: 'expired' as const, expired_at: before.expires_at } }));
  await saveInvoiceProgress(
    trx,
    expired.map(({ after }) => after),
  );
  return expired;
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
  status?: InvoiceStatus;
  patientRef?: string;
  /** The clinic's invoice number. */
  number?: number;
  createdGte?: Date;
  createdLte?: Date;
}

/** One page of the invoices in `scope`, newest first, with the given filters. */
export async function listInvoices(db: Db, scope: ClinicScope, filters: InvoiceFilters, page: PageRequest): Promise<Page<InvoiceRow>> {
  const query = scopeQuery(db('invoices'), scope);
  if (filters.patientRef !== undefined) query.where({ patient_ref: filters.patientRef });
  if (filters.number !== undefined) query.where({ number: filters.number });
  if (filters.createdGte !== undefined) query.where('created_at', '>=', filters.createdGte);
  if (filters.createdLte !== undefined) query.where('created_at', '<=', filters.createdLte);
  if (filters.status !== undefined) {
    // "expired" includes open invoices whose time has run out but that no worker has marked yet.
    if (filters.status === 'expired')
      query.where((q) => q.where({ status: 'expired' }).orWhere((o) => o.where({ status: 'open' }).andWhere('expires_at', '<=', db.fn.now())));
    else if (filters.status === 'open') query.where({ status: 'open' }).andWhere('expires_at', '>', db.fn.now());
    else query.where({ status: filters.status });
  }
  return keysetPage<InvoiceRow>(query, page, scopeQuery(db('invoices'), scope));
}

/** A transfer into or out of an invoice's deposit address, as the API shows it (settlement/ records them). */
export interface InvoiceTransfer {
  tx_hash: string;
  log_index: number;
  block_number: string;
  /** Lower case, as stored. */
  token_address: string;
  amount: string;
  kind: 'payment' | 'forward' | 'foreign_token';
  status: 'pending' | 'confirmed' | 'reorged';
  flag: string | null;
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
  { publicUrl, checkoutToken }: { publicUrl?: string | undefined; checkoutToken?: string | undefined } = {},
): Record<string, unknown> {
  const currency = requireCurrency(row.currency);
  const token = { chain_id: row.token_chain_id, address: apiAddress(row.token_address), symbol: row.token_symbol, decimals: row.token_decimals };
  const depositAddress = apiAddress(row.deposit_address);
  // Until the payer's travel-rule information is in, nobody is told where to pay.
  const payable = row.travel_rule !== 'pending';
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
    deposit_address: payable ? depositAddress : null,
    payment_uri: payable
      ? paymentUri({ chainId: row.token_chain_id, token: token.address, recipient: depositAddress, amount: BigInt(row.token_amount_due) })
      : null,
    // Every accepted token, the pricing one (the fields above) first; each counts at par (1:1 HKD).
    payment_options: payable ? paymentOptions(row) : null,
    payment_qr_url: payable ? `/v1/invoices/${row.id}/payment-qr.svg` : null,
    travel_rule: { required: row.travel_rule !== 'not_required', status: row.travel_rule === 'not_required' ? null : row.travel_rule },
    // Only the answer that creates the invoice (or issues it a new link) knows the token.
    checkout_url: checkoutToken === undefined ? null : checkoutUrl(checkoutToken, publicUrl),
    reference_amounts: row.reference_rates
      ? {
          indicative: true,
          source: row.reference_rates.source,
          as_of: row.reference_rates.as_of,
          amounts: referenceAmounts(formatFiatText(row.amount_due, currency), row.reference_rates),
        }
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
    token: apiAddress(transfer.token_address),
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

/** Tokens longer than this are not looked up (nothing real is that long). */
const MAX_TOKEN_LENGTH = 128;

/**
 * The invoice whose checkout token is `token`, with its clinic's name, or `undefined`. Every
 * token that is not an invoice's (unknown, tampered, malformed) takes the same path: one
 * indexed lookup, then no answer.
 */
/** The invoice `id` in `scope`, with its clinic's name (what a page shows); undefined outside the scope. */
export async function invoiceWithClinicName(db: Db, scope: ClinicScope, id: string): Promise<(InvoiceRow & { clinic_name: string }) | undefined> {
  return (await scopeQuery(db('invoices').join('clinics', 'clinics.id', 'invoices.clinic_id').where('invoices.id', id), scope, 'invoices.clinic_id').first(
    'invoices.*',
    'clinics.name AS clinic_name',
  )) as (InvoiceRow & { clinic_name: string }) | undefined;
}

/** The checkout token in a checkout link (`…/checkout/<token>`), if it is one. */
export function checkoutTokenFromUrl(url: string): string | undefined {
  const token = /\/checkout\/([^/?#]+)$/.exec(url.length <= 512 ? url : '')?.[1];
  return token !== undefined && CHECKOUT_TOKEN_PATTERN.test(token) ? token : undefined;
}

/** Invoice `id` in `scope` if `token` is its current checkout token. */
export async function invoiceWithCheckoutToken(db: Db, scope: ClinicScope, id: string, token: string): Promise<InvoiceRow | undefined> {
  return (await scopeQuery(db('invoices').where({ id, checkout_token_hash: checkoutTokenHash(token) }), scope).first()) as InvoiceRow | undefined;
}

export async function invoiceByCheckoutToken(db: Db, token: string): Promise<(InvoiceRow & { clinic_name: string }) | undefined> {
  const lookup = checkoutTokenHash(token.length <= MAX_TOKEN_LENGTH ? token : '');
  const row = (await db('invoices')
    .join('clinics', 'clinics.id', 'invoices.clinic_id')
    .where('invoices.checkout_token_hash', lookup)
    .first('invoices.*', 'clinics.name AS clinic_name')) as (InvoiceRow & { clinic_name: string }) | undefined;
  return row && CHECKOUT_TOKEN_PATTERN.test(token) ? row : undefined;
}

/** The numbers people use at the desk, by invoice id (ids not found are left out). */
export async function invoiceNumbers(db: Db | Trx, ids: readonly string[]): Promise<Map<string, number>> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return new Map();
  const rows = (await db('invoices').whereIn('id', unique).select('id', 'number')) as { id: string; number: number }[];
  return new Map(rows.map((row) => [row.id, row.number]));
}

/** The payer's travel-rule information is in: the invoice may show where to pay, and only `payer` is expected to. */
export async function markTravelRuleCaptured(trx: Trx, invoiceId: string, payer: string): Promise<InvoiceRow> {
  const [row] = (await trx('invoices')
    .where({ id: invoiceId, travel_rule: 'pending' })
    .update({ travel_rule: 'captured', travel_rule_payer: payer.toLowerCase() })
    .returning('*')) as InvoiceRow[];
  if (!row) throw new Error(`invoice ${invoiceId} is not waiting for travel-rule information`);
  return row;
}

/** One of the gateway's addresses, and whose it is. */
export interface OwnedAddress {
  address: string;
  role: 'deposit' | 'settlement';
  clinic_id: string;
  /** The invoice of a deposit address; null for a clinic's wallet. */
  invoice_id: string | null;
}

/**
 * Which of `addresses` (any case) are the gateway's on chain `chainId`: invoices' deposit
 * addresses, and the wallets clinics settle to (each clinic's current one and every one an
 * invoice was bound to).
 */
export async function ownersOfAddresses(db: Db | Trx, chainId: number, addresses: readonly string[]): Promise<OwnedAddress[]> {
  const wanted = [...new Set(addresses.map((address) => address.toLowerCase()))];
  if (wanted.length === 0) return [];
  const result = (await db.raw(
    `SELECT deposit_address AS address, 'deposit' AS role, clinic_id, id AS invoice_id
       FROM invoices WHERE token_chain_id = ? AND deposit_address = ANY(?)
     UNION
     SELECT DISTINCT settlement_address, 'settlement', clinic_id, NULL FROM invoices WHERE token_chain_id = ? AND settlement_address = ANY(?)
     UNION
     SELECT settlement_address, 'settlement', id, NULL FROM clinics WHERE settlement_address = ANY(?)`,
    [chainId, wanted, chainId, wanted, wanted],
  )) as { rows: OwnedAddress[] };
  return result.rows;
}
