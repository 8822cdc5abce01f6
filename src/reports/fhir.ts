/**
 * FHIR R4 forms of ClinicPay's records, for health insurers and regulators: an invoice as an
 * `Invoice`, one transaction's payments or forwarding as a `PaymentReconciliation` with one
 * allocation (`detail`) per invoice, and a statement as a `Bundle` of type `collection`, built in
 * parts so that it streams. Pure: no I/O; the loaders are in `fhirResources.ts`.
 *
 * Conventions (the README's "FHIR R4 exports" lists every mapping):
 * - Money is `{ value, currency: 'HKD' }`: `value` a JSON number whose digits are exactly the
 *   amount's decimal text (checked when it is built); {@link fhirJson} writes it with the
 *   currency's two minor units (`350.00`), as FHIR asks precision to be kept.
 * - What FHIR has no element for (token, chain, transaction, ledger) goes in extensions under
 *   {@link FHIR_EXTENSION_BASE}. Token amounts are integers in base units as `valueString`, as
 *   are block numbers and chain ids (they can exceed FHIR's 32-bit `integer`).
 * - Our ids contain `_`, which FHIR ids may not: a resource's id is ours with `-` (`inv-…`,
 *   `je-…`, `stmt-…`); a PaymentReconciliation's id is its transaction hash without `0x`. Our
 *   own ids are also given as identifiers under {@link FHIR_IDENTIFIER_BASE}.
 * - A patient is only ever the clinic's opaque `patient_ref`, as an identifier; payers' wallet
 *   addresses are not exported (only deposit addresses and the clinic's settlement address).
 * - FHIR `date`s (paymentDate, detail.date, Basic.created) are Hong Kong dates (UTC+8); the exact
 *   instant is always given too (`created`, `block-time`, `occurred-at`).
 */

import { createHash } from 'node:crypto';
import { Decimal } from 'decimal.js';
import { getAddress } from 'viem';
import type { InvoiceRow } from '../billing/invoices.js';
import { type CurrencyInfo, currencyInfo, tokenUnitsToFiat } from '../domain/currency.js';
import { hongKongDate } from '../domain/hongKongDate.js';
import { effectiveStatus, type InvoiceStatus } from '../domain/invoiceStatus.js';
import {
  type ClosingBalanceLine,
  type EntryLine,
  type InvoiceLine,
  type OpeningBalanceLine,
  STATEMENT_ACCOUNT_KINDS,
  type StatementHeader,
  type StatementLine,
  type StatementTrailer,
} from './statementDocument.js';

/** Where ClinicPay's FHIR names live. Nothing is served there; the URLs only name things. */
export const FHIR_BASE = 'https://clinicpay.dev/fhir';
/** Base of every extension URL: `${FHIR_EXTENSION_BASE}<name>`. */
export const FHIR_EXTENSION_BASE = `${FHIR_BASE}/StructureDefinition/`;
/** Base of identifier systems. */
export const FHIR_IDENTIFIER_BASE = `${FHIR_BASE}/sid/`;

const ext = (name: string) => `${FHIR_EXTENSION_BASE}${name}`;

/** Every extension the exports use, by name. */
export const FHIR_EXTENSION = {
  /** Token amount in base units (integer string). */
  tokenAmount: ext('token-amount'),
  tokenAmountDue: ext('token-amount-due'),
  tokenAmountPaid: ext('token-amount-paid'),
  /** EIP-55 address of the ERC-20 token. */
  tokenAddress: ext('token-address'),
  tokenSymbol: ext('token-symbol'),
  tokenDecimals: ext('token-decimals'),
  /** EVM chain id (decimal string). */
  chainId: ext('chain-id'),
  txHash: ext('tx-hash'),
  logIndex: ext('log-index'),
  blockNumber: ext('block-number'),
  blockHash: ext('block-hash'),
  blockTime: ext('block-time'),
  /** The amount of the on-chain transfer an entry records, in base units (an entry's own size is token-amount). */
  tokenAmountTransferred: ext('token-amount-transferred'),
  /** The clinic wallet's transfer that completed a refund (complex: chain-id, tx-hash, log-index). */
  refundTransfer: ext('refund-transfer'),
  /** Confirmations a transfer had when it was posted. */
  confirmations: ext('confirmations'),
  depositAddress: ext('deposit-address'),
  settlementAddress: ext('settlement-address'),
  /** HKD received on an invoice (valueMoney). */
  amountPaid: ext('amount-paid'),
  /** ClinicPay's own invoice status (FHIR's is coarser). */
  invoiceStatus: ext('invoice-status'),
  expiresAt: ext('expires-at'),
  paidAt: ext('paid-at'),
  /** One on-chain transfer (complex: kind, tx-hash, log-index, block-number, block-time, token-amount, transfer-id). */
  chainTransfer: ext('chain-transfer'),
  /** payment (into a deposit address) or forward (from it to the clinic). */
  transferKind: ext('transfer-kind'),
  transferId: ext('transfer-id'),
  /** Why a payment needs a person: late, void_invoice, after_settled. */
  paymentFlag: ext('payment-flag'),
  statementId: ext('statement-id'),
  /** The statement's clinic (valueReference to the Organization, by identifier). */
  clinic: ext('clinic'),
  /** The statement's period, half-open: `start` included, `end` excluded. */
  statementPeriod: ext('statement-period'),
  /** The audit log's head when the period ended (complex: seq, row-hash). */
  auditLogHead: ext('audit-log-head'),
  auditLogSeq: ext('audit-log-seq'),
  auditLogRowHash: ext('audit-log-row-hash'),
  /** 1-based position of a line in the statement (the Merkle leaf index + 1). */
  statementLine: ext('statement-line'),
  statementLineType: ext('statement-line-type'),
  occurredAt: ext('occurred-at'),
  /** HKD amount of a statement line (valueMoney). */
  amount: ext('amount'),
  /** One ledger account's amount (complex: account, token-amount). */
  accountAmount: ext('account-amount'),
  account: ext('account'),
  /** A journal entry's postings, per account (complex account-amount, signed base units). */
  posting: ext('posting'),
  resolutionId: ext('resolution-id'),
  /** How the Merkle root is computed. */
  merkleTree: ext('merkle-tree'),
  merkleLeafCount: ext('merkle-leaf-count'),
  /** Where the root was anchored on chain (complex: chain-id, tx-hash, block-number, from-address). */
  statementAnchor: ext('statement-anchor'),
  fromAddress: ext('from-address'),
} as const;

const sid = (name: string) => `${FHIR_IDENTIFIER_BASE}${name}`;

/** Identifier systems. Per-clinic numbering and patient refs are scoped by the clinic's id. */
export const FHIR_IDENTIFIER = {
  invoice: sid('invoice'),
  invoiceNumber: (clinicId: string) => sid(`clinic/${clinicId}/invoice-number`),
  patientRef: (clinicId: string) => sid(`clinic/${clinicId}/patient-ref`),
  clinic: sid('clinic'),
  txHash: sid('tx-hash'),
  transfer: sid('transfer'),
  journalEntry: sid('journal-entry'),
  statement: sid('statement'),
  statementMerkleRoot: sid('statement-merkle-root'),
} as const;

const PAYMENT_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/payment-type';
const BASIC_RESOURCE_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/basic-resource-type';
/** RFC 4122 namespace for URL names: fullUrls are name-based (v5) UUIDs, the same on every export. */
const URL_NAMESPACE = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex');
const INSTANT =
  /^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$/;

/** A FHIR resource or element in its JSON form. */
export type FhirObject = { [key: string]: FhirValue };
export type FhirValue = string | number | boolean | FhirObject | FhirValue[];
export type FhirResource = FhirObject & { resourceType: string };

// ---------------------------------------------------------------------------------------------
// Ids, numbers, dates
// ---------------------------------------------------------------------------------------------

/** Our id in FHIR's id alphabet: `inv_3f…` → `inv-3f…`. */
export function fhirId(id: string): string {
  return id.replace('_', '-');
}

/** An invoice id from either form the API accepts (`inv_…` or `inv-…`), or undefined. */
export function invoiceIdFromFhir(id: string): string | undefined {
  return /^inv[_-][0-9a-f]{24}$/.test(id) ? `inv_${id.slice(4)}` : undefined;
}

/** A transaction hash as stored (`0x` and 64 lower-case hex digits) from 64 hex digits with or without `0x`, or undefined. */
export function txHashFromFhir(id: string): string | undefined {
  return /^(0x)?[0-9a-fA-F]{64}$/.test(id) ? `0x${id.slice(-64).toLowerCase()}` : undefined;
}

/**
 * A FHIR `decimal` from exact decimal text: a JS number whose shortest form has exactly the
 * same value. Throws when the number would not (more than ~15 significant digits), rather
 * than round money silently. HKD amounts (below 1e9, two places) always pass.
 *
 * @example
 * fhirDecimal('123456789.99') // 123456789.99
 */
export function fhirDecimal(text: string): number {
  const exact = new Decimal(text);
  const value = Number(text);
  if (!Number.isFinite(value) || !new Decimal(String(value)).eq(exact)) throw new RangeError(`${text} has no exact JSON number form`);
  return value;
}

/** FHIR Money in `currency` from an exact decimal amount. */
export function fhirMoney(amount: string, currency: string): FhirObject {
  requireCurrency(currency);
  return { value: fhirDecimal(amount), currency };
}

function requireCurrency(code: string): CurrencyInfo {
  const info = currencyInfo(code);
  if (!info) throw new RangeError(`no ISO 4217 currency ${code} is configured`);
  return info;
}

function instantText(value: Date | string): string {
  const text = typeof value === 'string' ? value : value.toISOString();
  if (!INSTANT.test(text)) throw new RangeError(`not a FHIR instant: ${text}`);
  return text;
}

/** An RFC 4122 name-based (SHA-1, version 5) UUID of `name` in the URL namespace. */
function uuidV5(name: string): string {
  const bytes = createHash('sha1').update(URL_NAMESPACE).update(name, 'utf8').digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Token base units as a human amount: 12340000 at 6 decimals → "12.34". */
function tokenText(units: string, decimals: number): string {
  return new Decimal(units).div(new Decimal(10).pow(decimals)).toFixed();
}

// ---------------------------------------------------------------------------------------------
// JSON text
// ---------------------------------------------------------------------------------------------

/**
 * FHIR JSON text of `value`. Like `JSON.stringify`, except that every Money value in a known
 * currency is written with the currency's minor-unit places (`"value":350.00`), so the text
 * carries the amount exactly as the invoice does; and `<`, `>`, `&`, U+2028 and U+2029 are
 * written as `\u` escapes (the value a parser reads back is unchanged).
 */
export function fhirJson(value: FhirValue): string {
  if (typeof value === 'string') return escapeJson(JSON.stringify(value));
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RangeError(`${value} is not a FHIR number`);
    return String(value);
  }
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map(fhirJson).join(',')}]`;
  const currency = typeof value.value === 'number' && typeof value.currency === 'string' ? currencyInfo(value.currency) : undefined;
  const members = Object.entries(value).map(([key, member]) => {
    const text = key === 'value' && currency ? moneyValueText(member as number, currency) : fhirJson(member);
    return `${escapeJson(JSON.stringify(key))}:${text}`;
  });
  return `{${members.join(',')}}`;
}

function moneyValueText(value: number, currency: CurrencyInfo): string {
  // String(value) is the exact amount (fhirDecimal made sure); only the trailing zeros are restored.
  const amount = new Decimal(String(value));
  if (amount.decimalPlaces() > currency.minorUnits) throw new RangeError(`${value} has more places than ${currency.code} allows`);
  return amount.toFixed(currency.minorUnits);
}

function escapeJson(text: string): string {
  return text.replaceAll('<', '\\u003c').replaceAll('>', '\\u003e').replaceAll('&', '\\u0026').replaceAll('\u2028', '\\u2028').replaceAll('\u2029', '\\u2029');
}

// ---------------------------------------------------------------------------------------------
// Shared elements
// ---------------------------------------------------------------------------------------------

function extension(url: string, key: string, value: FhirValue): FhirObject {
  return { url, [key]: value };
}
const str = (url: string, value: string) => extension(url, 'valueString', value);
const code = (url: string, value: string) => extension(url, 'valueCode', value);
const unsigned = (url: string, value: number) => extension(url, 'valueUnsignedInt', value);
const instant = (url: string, value: Date | string) => extension(url, 'valueInstant', instantText(value));
const money = (url: string, value: FhirObject) => extension(url, 'valueMoney', value);
const complex = (url: string, parts: FhirObject[]) => ({ url, extension: parts });

function clinicReference(clinic: { id: string; name: string }): FhirObject {
  return { type: 'Organization', identifier: { system: FHIR_IDENTIFIER.clinic, value: clinic.id }, display: clinic.name };
}

function tokenExtensions(token: { chainId: number; address: string; symbol: string; decimals: number }): FhirObject[] {
  return [
    str(FHIR_EXTENSION.chainId, String(token.chainId)),
    str(FHIR_EXTENSION.tokenAddress, getAddress(token.address)),
    str(FHIR_EXTENSION.tokenSymbol, token.symbol),
    unsigned(FHIR_EXTENSION.tokenDecimals, token.decimals),
  ];
}

function invoiceIdentifiers(invoice: { id: string; number: number; clinicId: string }): FhirObject[] {
  return [
    { use: 'official', system: FHIR_IDENTIFIER.invoice, value: invoice.id },
    { use: 'usual', system: FHIR_IDENTIFIER.invoiceNumber(invoice.clinicId), value: String(invoice.number) },
  ];
}

function paymentType(code: 'payment' | 'adjustment', text: string): FhirObject {
  return { coding: [{ system: PAYMENT_TYPE_SYSTEM, code, display: code === 'payment' ? 'Payment' : 'Adjustment' }], text };
}

// ---------------------------------------------------------------------------------------------
// Invoice
// ---------------------------------------------------------------------------------------------

/** A confirmed on-chain transfer of an invoice's deposit address. */
export interface FhirChainTransfer {
  kind: 'payment' | 'forward';
  tx_hash: string;
  log_index: number;
  block_number: string;
  block_time: Date;
  /** Base units. */
  amount: string;
}

export type FhirInvoiceRow = Pick<
  InvoiceRow,
  | 'id'
  | 'clinic_id'
  | 'number'
  | 'status'
  | 'currency'
  | 'amount_due'
  | 'token_chain_id'
  | 'token_address'
  | 'token_symbol'
  | 'token_decimals'
  | 'token_amount_due'
  | 'token_amount_paid'
  | 'deposit_address'
  | 'settlement_address'
  | 'patient_ref'
  | 'line_items'
  | 'expires_at'
  | 'created_at'
  | 'paid_at'
  | 'voided_at'
>;

export interface FhirInvoiceParameters {
  invoice: FhirInvoiceRow;
  clinic: { id: string; name: string };
  /** Confirmed payments into the deposit address and forwards out of it, in chain order. */
  transfers: readonly FhirChainTransfer[];
  /** When the status is read: an open invoice past its expiry is shown as expired. */
  now: Date;
}

/**
 * FHIR Invoice.status for ours: open, processing and underpaid are `issued` (money is still
 * due); paid and overpaid are `balanced`; expired and void are `cancelled`, with the reason and
 * what was received in `cancelledReason`. `draft` and `entered-in-error` are never used.
 */
export function fhirInvoiceStatus(status: InvoiceStatus): 'issued' | 'balanced' | 'cancelled' {
  switch (status) {
    case 'open':
    case 'processing':
    case 'underpaid':
      return 'issued';
    case 'paid':
    case 'overpaid':
      return 'balanced';
    case 'expired':
    case 'void':
      return 'cancelled';
  }
}

/**
 * An invoice as a FHIR R4 Invoice: identifiers (our id and the clinic's invoice number), the
 * patient as the clinic's opaque reference only, the clinic as issuer, line items with their
 * descriptions (the export is for the clinic's insurer), totals in HKD, and the token, chain and
 * on-chain transfers in extensions.
 */
export function fhirInvoice({ invoice, clinic, transfers, now }: FhirInvoiceParameters): FhirResource {
  const currency = requireCurrency(invoice.currency);
  const status = effectiveStatus(invoice.status, invoice.expires_at, now);
  const amountDue = new Decimal(invoice.amount_due).toFixed(currency.minorUnits);
  const amountPaid = tokenUnitsToFiat(BigInt(invoice.token_amount_paid), invoice.token_decimals, currency);
  const patient = { type: 'Patient', identifier: { system: FHIR_IDENTIFIER.patientRef(clinic.id), value: invoice.patient_ref } };
  const cancelledReason = cancellationReason(invoice, status, amountPaid, amountDue, currency);
  return {
    resourceType: 'Invoice',
    id: fhirId(invoice.id),
    extension: [
      code(FHIR_EXTENSION.invoiceStatus, status),
      ...tokenExtensions({ chainId: invoice.token_chain_id, address: invoice.token_address, symbol: invoice.token_symbol, decimals: invoice.token_decimals }),
      str(FHIR_EXTENSION.tokenAmountDue, invoice.token_amount_due),
      str(FHIR_EXTENSION.tokenAmountPaid, invoice.token_amount_paid),
      money(FHIR_EXTENSION.amountPaid, fhirMoney(amountPaid, currency.code)),
      str(FHIR_EXTENSION.depositAddress, getAddress(invoice.deposit_address)),
      str(FHIR_EXTENSION.settlementAddress, getAddress(invoice.settlement_address)),
      extension(FHIR_EXTENSION.expiresAt, 'valueDateTime', instantText(invoice.expires_at)),
      ...(invoice.paid_at ? [extension(FHIR_EXTENSION.paidAt, 'valueDateTime', instantText(invoice.paid_at))] : []),
      ...transfers.map((transfer) =>
        complex(FHIR_EXTENSION.chainTransfer, [
          code(FHIR_EXTENSION.transferKind, transfer.kind),
          str(FHIR_EXTENSION.txHash, transfer.tx_hash),
          unsigned(FHIR_EXTENSION.logIndex, transfer.log_index),
          str(FHIR_EXTENSION.blockNumber, transfer.block_number),
          instant(FHIR_EXTENSION.blockTime, transfer.block_time),
          str(FHIR_EXTENSION.tokenAmount, transfer.amount),
        ]),
      ),
    ],
    identifier: invoiceIdentifiers({ id: invoice.id, number: invoice.number, clinicId: clinic.id }),
    status: fhirInvoiceStatus(status),
    ...(cancelledReason === undefined ? {} : { cancelledReason }),
    subject: patient,
    recipient: patient,
    date: instantText(invoice.created_at),
    issuer: clinicReference(clinic),
    lineItem: invoice.line_items.map((item, index) => ({
      sequence: index + 1,
      chargeItemCodeableConcept: { text: item.description },
      priceComponent: [
        {
          type: 'base',
          // factor × unit amount = the line's amount
          factor: item.quantity,
          amount: fhirMoney(new Decimal(item.unit_amount).times(item.quantity).toFixed(currency.minorUnits), currency.code),
        },
      ],
    })),
    totalNet: fhirMoney(amountDue, currency.code),
    totalGross: fhirMoney(amountDue, currency.code),
    paymentTerms: `Pay ${tokenText(invoice.token_amount_due, invoice.token_decimals)} ${invoice.token_symbol} (${invoice.token_amount_due} base units of token ${getAddress(invoice.token_address)} on chain ${invoice.token_chain_id}) to the deposit address ${getAddress(invoice.deposit_address)} before ${instantText(invoice.expires_at)}.`,
  };
}

function cancellationReason(invoice: FhirInvoiceRow, status: InvoiceStatus, amountPaid: string, amountDue: string, currency: CurrencyInfo): string | undefined {
  const received = `${amountPaid} ${currency.code} of ${amountDue} ${currency.code} received`;
  if (status === 'expired') return `Expired at ${instantText(invoice.expires_at)}; ${received}.`;
  if (status === 'void') return `Voided by the clinic${invoice.voided_at ? ` at ${instantText(invoice.voided_at)}` : ''}; ${received}.`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// PaymentReconciliation
// ---------------------------------------------------------------------------------------------

/** A confirmed transfer of one transaction, with the invoice and clinic it belongs to. */
export interface FhirTransactionTransfer extends FhirChainTransfer {
  /** pay_… */
  id: string;
  chain_id: number;
  block_hash: string;
  token_address: string;
  flag: string | null;
  invoice: { id: string; number: number; currency: string; token_symbol: string; token_decimals: number; deposit_address: string; settlement_address: string };
  clinic: { id: string; name: string };
}

export interface FhirPaymentReconciliationParameters {
  /** The transaction: `0x` and 64 hex digits. */
  txHash: string;
  /** Its confirmed payments and forwards the caller may see (at least one), any order. */
  transfers: readonly FhirTransactionTransfer[];
}

/**
 * One transaction as a FHIR R4 PaymentReconciliation: the payments it made into deposit
 * addresses, or the forwarding it made from them to clinics, with one `detail` per invoice
 * (and kind, should one transaction both pay and forward the same invoice). `paymentAmount` is
 * the sum of the details' HKD amounts; the token total, chain, block and hash are extensions.
 */
export function fhirPaymentReconciliation({ txHash, transfers }: FhirPaymentReconciliationParameters): FhirResource {
  const first = transfers[0];
  if (!first) throw new RangeError('a PaymentReconciliation needs at least one transfer');
  for (const transfer of transfers) {
    if (
      transfer.tx_hash !== txHash ||
      transfer.chain_id !== first.chain_id ||
      transfer.block_hash !== first.block_hash ||
      transfer.token_address !== first.token_address
    ) {
      throw new RangeError(`transfer ${transfer.id} is not of transaction ${txHash} on chain ${first.chain_id}`);
    }
  }
  const ordered = [...transfers].sort((a, b) => a.log_index - b.log_index);
  const groups = new Map<string, FhirTransactionTransfer[]>();
  for (const transfer of ordered) {
    const key = `${transfer.invoice.id}:${transfer.kind}`;
    groups.set(key, [...(groups.get(key) ?? []), transfer]);
  }
  const currencies = new Set(ordered.map((transfer) => transfer.invoice.currency));
  if (currencies.size !== 1) throw new RangeError(`transaction ${txHash} pays invoices in several currencies`);
  const currency = requireCurrency(first.invoice.currency);
  const date = hongKongDate(first.block_time);

  let total = new Decimal(0);
  let tokenTotal = 0n;
  const details = [...groups.values()].map((group) => {
    const head = group[0]!;
    const units = group.reduce((sum, transfer) => sum + BigInt(transfer.amount), 0n);
    const amount = tokenUnitsToFiat(units, head.invoice.token_decimals, currency);
    total = total.plus(amount);
    tokenTotal += units;
    const flags = [...new Set(group.map((transfer) => transfer.flag).filter((flag): flag is string => flag !== null))];
    return {
      extension: [
        code(FHIR_EXTENSION.transferKind, head.kind),
        str(FHIR_EXTENSION.tokenAmount, units.toString()),
        str(FHIR_EXTENSION.depositAddress, getAddress(head.invoice.deposit_address)),
        ...(head.kind === 'forward' ? [str(FHIR_EXTENSION.settlementAddress, getAddress(head.invoice.settlement_address))] : []),
        ...flags.map((flag) => code(FHIR_EXTENSION.paymentFlag, flag)),
        ...group.map((transfer) =>
          complex(FHIR_EXTENSION.chainTransfer, [
            str(FHIR_EXTENSION.transferId, transfer.id),
            unsigned(FHIR_EXTENSION.logIndex, transfer.log_index),
            str(FHIR_EXTENSION.tokenAmount, transfer.amount),
          ]),
        ),
      ],
      identifier: { system: FHIR_IDENTIFIER.transfer, value: head.id },
      type: paymentType(
        'payment',
        head.kind === 'payment' ? 'Patient payment into the invoice deposit address' : "Forwarding of the invoice's deposit to the clinic",
      ),
      request: {
        reference: `Invoice/${fhirId(head.invoice.id)}`,
        type: 'Invoice',
        identifier: { system: FHIR_IDENTIFIER.invoice, value: head.invoice.id },
        display: `Invoice ${head.invoice.number}`,
      },
      submitter: clinicReference(head.clinic),
      date,
      payee: clinicReference(head.clinic),
      amount: fhirMoney(amount, currency.code),
    };
  });

  const kinds = new Set(ordered.map((transfer) => transfer.kind));
  const invoices = new Set(ordered.map((transfer) => transfer.invoice.id)).size;
  const plural = invoices === 1 ? '1 invoice' : `${invoices} invoices`;
  const disposition =
    kinds.size === 2
      ? `Payments into and forwarding of ${plural}`
      : kinds.has('payment')
        ? `Patient payment of ${plural}`
        : `Forwarding of ${plural} to the clinic's settlement wallet`;
  const txIdentifier = { system: FHIR_IDENTIFIER.txHash, value: txHash };
  return {
    resourceType: 'PaymentReconciliation',
    id: txHash.slice(2),
    extension: [
      ...tokenExtensions({ chainId: first.chain_id, address: first.token_address, symbol: first.invoice.token_symbol, decimals: first.invoice.token_decimals }),
      str(FHIR_EXTENSION.txHash, txHash),
      str(FHIR_EXTENSION.blockNumber, first.block_number),
      str(FHIR_EXTENSION.blockHash, first.block_hash),
      instant(FHIR_EXTENSION.blockTime, first.block_time),
      str(FHIR_EXTENSION.tokenAmount, tokenTotal.toString()),
    ],
    identifier: [txIdentifier],
    status: 'active',
    created: instantText(first.block_time),
    outcome: 'complete',
    disposition,
    paymentDate: date,
    paymentAmount: fhirMoney(total.toFixed(currency.minorUnits), currency.code),
    paymentIdentifier: txIdentifier,
    detail: details,
  };
}

// ---------------------------------------------------------------------------------------------
// Statement Bundle
// ---------------------------------------------------------------------------------------------

/**
 * The start of a statement as a FHIR R4 Bundle of type `collection` (a set of resources kept
 * together, not search results), up to and including the `[` of `entry`. The statement's facts
 * (id, clinic, period, token, audit-log head) are extensions of `Bundle.meta`, since a Bundle
 * has no extensions of its own. Write it, then the entries ({@link fhirBundleEntry}, each in
 * {@link fhirJson}) separated by commas, then {@link fhirBundleClosing}.
 */
export function fhirBundleOpening(header: StatementHeader): string {
  const bundle: FhirObject = {
    resourceType: 'Bundle',
    id: fhirId(header.id),
    meta: {
      extension: [
        str(FHIR_EXTENSION.statementId, header.id),
        extension(FHIR_EXTENSION.clinic, 'valueReference', clinicReference(header.clinic)),
        str(FHIR_EXTENSION.settlementAddress, getAddress(header.clinic.settlement_address)),
        extension(FHIR_EXTENSION.statementPeriod, 'valuePeriod', { start: instantText(header.period.from), end: instantText(header.period.to) }),
        ...tokenExtensions({ chainId: header.chain_id, address: header.token.address, symbol: header.token.symbol, decimals: header.token.decimals }),
        ...(header.audit_log_head
          ? [
              complex(FHIR_EXTENSION.auditLogHead, [
                str(FHIR_EXTENSION.auditLogSeq, header.audit_log_head.seq),
                str(FHIR_EXTENSION.auditLogRowHash, header.audit_log_head.row_hash),
              ]),
            ]
          : []),
      ],
    },
    type: 'collection',
    timestamp: instantText(header.generated_at),
  };
  return `${fhirJson(bundle).slice(0, -1)},"entry":[`;
}

/**
 * One statement line as a Bundle entry: an invoice issued as an `Invoice` (as issued; its later
 * state is `GET /v1/fhir/Invoice/{id}`), a journal entry as a `PaymentReconciliation` with one
 * detail, and the opening and closing balances as `Basic` (code `account`) with the balance of
 * each ledger account. Every resource carries its line number, type and time. The fullUrl is a
 * UUID named by the statement and line, the same each time the statement is exported.
 */
export function fhirBundleEntry(header: StatementHeader, line: StatementLine): FhirObject {
  const lineExtensions = [
    extension(FHIR_EXTENSION.statementLine, 'valuePositiveInt', line.line),
    code(FHIR_EXTENSION.statementLineType, line.type),
    instant(FHIR_EXTENSION.occurredAt, line.occurred_at),
  ];
  let resource: FhirResource;
  switch (line.type) {
    case 'opening_balance':
    case 'closing_balance':
      resource = balanceResource(header, line, lineExtensions);
      break;
    case 'invoice':
      resource = issuedInvoiceResource(header, line, lineExtensions);
      break;
    default:
      resource = entryResource(header, line, lineExtensions);
  }
  return { fullUrl: `urn:uuid:${uuidV5(`${FHIR_BASE}/statement/${header.id}/line/${line.line}`)}`, resource };
}

/** The end of the Bundle: closes `entry`, and names the Merkle root (with its leaf count and anchor) as the Bundle's identifier. */
export function fhirBundleClosing(_header: StatementHeader, trailer: StatementTrailer): string {
  const { anchor } = trailer;
  const identifier: FhirObject = {
    extension: [
      str(FHIR_EXTENSION.merkleTree, `${trailer.merkle.tree} tree, ${trailer.merkle.hash}, each leaf the ${trailer.merkle.leaf}`),
      unsigned(FHIR_EXTENSION.merkleLeafCount, trailer.line_count),
      ...(anchor
        ? [
            complex(FHIR_EXTENSION.statementAnchor, [
              str(FHIR_EXTENSION.chainId, String(anchor.chain_id)),
              str(FHIR_EXTENSION.txHash, anchor.tx_hash),
              str(FHIR_EXTENSION.blockNumber, anchor.block_number),
              str(FHIR_EXTENSION.fromAddress, getAddress(anchor.from_address)),
            ]),
          ]
        : []),
    ],
    system: FHIR_IDENTIFIER.statementMerkleRoot,
    value: trailer.merkle_root,
  };
  return `],${fhirJson({ identifier }).slice(1)}`;
}

function accountAmounts(url: string, amounts: Partial<Record<string, string>>): FhirObject[] {
  return STATEMENT_ACCOUNT_KINDS.flatMap((kind) => {
    const amount = amounts[kind];
    return amount === undefined ? [] : [complex(url, [code(FHIR_EXTENSION.account, kind), str(FHIR_EXTENSION.tokenAmount, amount)])];
  });
}

function balanceResource(header: StatementHeader, line: OpeningBalanceLine | ClosingBalanceLine, lineExtensions: FhirObject[]): FhirResource {
  const opening = line.type === 'opening_balance';
  return {
    resourceType: 'Basic',
    id: `${fhirId(header.id)}-${opening ? 'opening' : 'closing'}`,
    extension: [
      ...lineExtensions,
      str(FHIR_EXTENSION.tokenAmount, line.token_amount),
      money(FHIR_EXTENSION.amount, fhirMoney(line.hkd_amount, header.currency)),
      ...accountAmounts(FHIR_EXTENSION.accountAmount, line.balances),
    ],
    code: {
      coding: [{ system: BASIC_RESOURCE_TYPE_SYSTEM, code: 'account', display: 'Account' }],
      text: opening ? 'Opening balance: deposits and settlement held from patients' : 'Closing balance: deposits and settlement held from patients',
    },
    subject: clinicReference(header.clinic),
    created: hongKongDate(new Date(line.occurred_at)),
  };
}

function issuedInvoiceResource(header: StatementHeader, line: InvoiceLine, lineExtensions: FhirObject[]): FhirResource {
  return {
    resourceType: 'Invoice',
    id: fhirId(line.invoice_id),
    extension: [
      ...lineExtensions,
      str(FHIR_EXTENSION.tokenAmountDue, line.token_amount),
      extension(FHIR_EXTENSION.expiresAt, 'valueDateTime', instantText(line.expires_at)),
    ],
    identifier: invoiceIdentifiers({ id: line.invoice_id, number: line.invoice_number, clinicId: header.clinic.id }),
    status: 'issued',
    date: instantText(line.occurred_at),
    issuer: clinicReference(header.clinic),
    totalNet: fhirMoney(line.hkd_amount, line.currency),
    totalGross: fhirMoney(line.hkd_amount, line.currency),
  };
}

const ENTRY_TEXT: Record<EntryLine['type'], string> = {
  payment: 'Patient payment into the invoice deposit address',
  forward: "Forwarding of the invoice's deposit to the clinic",
  outflow: 'Tokens that left a deposit address for anywhere but the clinic',
  reversal: 'Reversal of an entry orphaned by a chain reorganisation',
  refund: "Refund to the patient from the clinic's wallet",
  application: 'Excess payment applied to another invoice',
  write_off: "Received amount kept as the clinic's",
};

/** Line types whose transfer is the payment itself (a reversal's transfer is the orphaned one). */
const MOVED_BY_TRANSFER: ReadonlySet<EntryLine['type']> = new Set(['payment', 'forward', 'outflow']);

function entryResource(header: StatementHeader, line: EntryLine, lineExtensions: FhirObject[]): FhirResource {
  const { transfer, refund_transfer: refundTransfer } = line;
  const movedBy = transfer && MOVED_BY_TRANSFER.has(line.type) ? transfer : undefined;
  const date = hongKongDate(new Date(movedBy?.block_time ?? line.occurred_at));
  const entryIdentifier = { system: FHIR_IDENTIFIER.journalEntry, value: line.entry_id };
  const paymentTx = movedBy?.tx_hash ?? refundTransfer?.tx_hash;
  const detail: FhirObject = {
    ...(line.reverses_entry_id === null ? {} : { predecessor: { system: FHIR_IDENTIFIER.journalEntry, value: line.reverses_entry_id } }),
    type: paymentType(line.type === 'payment' || line.type === 'forward' || line.type === 'refund' ? 'payment' : 'adjustment', ENTRY_TEXT[line.type]),
    ...(line.invoice_id === null
      ? {}
      : {
          request: {
            type: 'Invoice',
            identifier: { system: FHIR_IDENTIFIER.invoice, value: line.invoice_id },
            ...(line.invoice_number === null ? {} : { display: `Invoice ${line.invoice_number}` }),
          },
        }),
    date,
    payee: clinicReference(header.clinic),
    amount: fhirMoney(line.hkd_amount, header.currency),
  };
  // Addresses are left out: a payer's or a refund recipient's wallet is the patient's; tx hash and log index identify the transfer.
  return {
    resourceType: 'PaymentReconciliation',
    id: fhirId(line.entry_id),
    extension: [
      ...lineExtensions,
      str(FHIR_EXTENSION.tokenAmount, line.token_amount),
      ...accountAmounts(FHIR_EXTENSION.posting, line.postings),
      ...(line.resolution_id === null ? [] : [str(FHIR_EXTENSION.resolutionId, line.resolution_id)]),
      ...(transfer
        ? [
            str(FHIR_EXTENSION.chainId, String(transfer.chain_id)),
            str(FHIR_EXTENSION.tokenAddress, getAddress(transfer.token_address)),
            str(FHIR_EXTENSION.txHash, transfer.tx_hash),
            unsigned(FHIR_EXTENSION.logIndex, transfer.log_index),
            str(FHIR_EXTENSION.blockNumber, transfer.block_number),
            str(FHIR_EXTENSION.blockHash, transfer.block_hash),
            instant(FHIR_EXTENSION.blockTime, transfer.block_time),
            str(FHIR_EXTENSION.transferId, transfer.transfer_id),
            str(FHIR_EXTENSION.tokenAmountTransferred, transfer.amount),
            ...(transfer.confirmations === null ? [] : [unsigned(FHIR_EXTENSION.confirmations, transfer.confirmations)]),
          ]
        : []),
      ...(refundTransfer
        ? [
            complex(FHIR_EXTENSION.refundTransfer, [
              str(FHIR_EXTENSION.chainId, String(header.chain_id)),
              str(FHIR_EXTENSION.txHash, refundTransfer.tx_hash),
              unsigned(FHIR_EXTENSION.logIndex, refundTransfer.log_index),
            ]),
          ]
        : []),
    ],
    identifier: [entryIdentifier],
    status: 'active',
    created: instantText(line.occurred_at),
    outcome: 'complete',
    disposition: ENTRY_TEXT[line.type],
    paymentDate: date,
    paymentAmount: fhirMoney(line.hkd_amount, header.currency),
    paymentIdentifier: paymentTx === undefined ? entryIdentifier : { system: FHIR_IDENTIFIER.txHash, value: paymentTx },
    detail: [detail],
  };
}
