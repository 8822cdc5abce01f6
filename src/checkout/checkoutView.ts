/**
 * checkout/ — the patient's pages: the hosted checkout, its live status, and the receipt
 * (page and PDF), in zh-HK, zh-CN and en.
 *
 * What the patient's page may show about one invoice, found by its checkout token: the clinic's
 * name, the invoice number, line items, amounts, where and how to pay, the status — and never
 * other invoices, the patient reference or the clinic's settlement wallet, nor internal ids but
 * the invoice's own while its travel-rule information is pending (the payer's wallet signs it).
 * While it is pending, nothing says where to pay: no deposit address, payment request or token
 * amount to send, on the page or in its polled status.
 *
 * Owns tables: none.
 * May import: platform, domain, identity, chain, billing, settlement, reports, compliance.
 */
import { Decimal } from 'decimal.js';
import { formatUnits, getAddress, zeroAddress } from 'viem';
import {
  type InvoiceRow,
  invoiceByCheckoutToken,
  invoiceTokenOption,
  invoiceWithClinicName,
  paymentOptions,
  type TravelRuleStatus,
} from '../billing/invoices.js';
import { travelRuleTypedData } from '../compliance/travelRule.js';
import { confirmationsAt } from '../domain/confirmations.js';
import { CURRENCIES, tokenUnitsToFiat } from '../domain/currency.js';
import { effectiveStatus, type InvoiceStatus } from '../domain/invoiceStatus.js';
import { type ReferenceAmount, referenceAmounts } from '../domain/referenceAmounts.js';
import type { ClinicScope } from '../identity/principal.js';
import type { Db } from '../platform/db.js';
import { invoiceChainViews } from '../settlement/transfers.js';

const HKD = CURRENCIES.HKD!;
/** Statuses in which a patient may still pay. */
const PAYABLE: readonly InvoiceStatus[] = ['open', 'processing', 'underpaid'];

export interface CheckoutLineItem {
  description: string;
  quantity: number;
  unitAmount: string;
  amount: string;
}

export interface CheckoutPayment {
  txHash: string;
  /** Base units of the token it was paid in (`symbol`, `decimals`): any accepted token, at par. */
  amount: string;
  symbol: string;
  decimals: number;
  confirmations: number;
  final: boolean;
}

export interface CheckoutView {
  token: string;
  clinicName: string;
  invoiceNumber: number;
  status: InvoiceStatus;
  currency: string;
  amountDue: string;
  amountPaid: string;
  amountRemaining: string;
  tokenInfo: { symbol: string; decimals: number; address: string; chainId: number };
  tokenAmountDue: bigint;
  tokenAmountPaid: bigint;
  tokenAmountRemaining: bigint;
  /**
   * Exact decimal text of what is still to send (what a wallet is asked for), in the token the
   * page asks for: the patient's choice on the checkout page ({@link CheckoutPageView.payIn}),
   * the pricing token elsewhere. Null while the payer's travel-rule information is pending.
   */
  tokenAmountToSend: string | null;
  /** Where to pay; null while the payer's travel-rule information is pending. */
  depositAddress: string | null;
  /**
   * The EIP-681 request for what is still due, in the same token; null when nothing is to be
   * paid (settled, expired or void) and while the payer's travel-rule information is pending.
   */
  paymentUri: string | null;
  lineItems: CheckoutLineItem[];
  expiresAt: Date;
  paidAt: Date | null;
  reference: { source: string; asOf: string; amounts: ReferenceAmount[] } | null;
  /** The newest payment still being confirmed, as "current of required". */
  confirming: { current: number; required: number } | null;
  payments: CheckoutPayment[];
}

/**
 * The view of an invoice being paid, as the patient's page and the counter screen show it: with
 * whether the payer's travel-rule information is needed and in, and what their wallet signs
 * (the invoice's id, on its chain) while it is pending.
 */
export interface PayingView extends CheckoutView {
  invoiceId: string;
  /** The chain the invoice is paid on (its token's). */
  chainId: number;
  travelRule: TravelRuleStatus;
}

/** A token the invoice may be paid in (each counts at par, 1 token = HK$1), with what is still to send in it. */
export interface CheckoutTokenOption {
  /** Checksummed. */
  address: string;
  symbol: string;
  decimals: number;
  issuer: string | null;
  licence: string | null;
  /** Base units still to send: what remains, at par, rounded up into this token's decimals. */
  units: bigint;
  /** Exact decimal text of `units`. */
  amountToSend: string;
  /** The EIP-681 request for `units`; null when nothing is to be paid. */
  paymentUri: string | null;
}

/**
 * The patient's page: the view, every token the invoice may be paid in, and the one the page
 * asks for — none while the payer's travel-rule information is pending.
 */
export interface CheckoutPageView extends PayingView {
  /** The pricing token first; empty while the travel-rule information is pending. */
  tokenOptions: CheckoutTokenOption[];
  /** The chosen one of `tokenOptions`: `tokenAmountToSend` and `paymentUri` are in it. Null while the travel-rule information is pending. */
  payIn: CheckoutTokenOption | null;
}

/**
 * What the payer's wallet signs (EIP-712, for `eth_signTypedData_v4`) but the wallet itself,
 * which the page's script adds as `message.payer`: compliance's `travelRuleTypedData`, with the
 * domain's own type spelled out as wallets want it.
 */
export function travelRuleSigningRequest(chainId: number, invoiceId: string) {
  const { domain, types, primaryType, message } = travelRuleTypedData(chainId, invoiceId, zeroAddress);
  const { payer: _payer, ...unsigned } = message;
  return {
    types: {
      EIP712Domain: [
        { name: 'name', type: 'string' },
        { name: 'version', type: 'string' },
        { name: 'chainId', type: 'uint256' },
      ],
      ...types,
    },
    domain,
    primaryType,
    message: unsigned,
  };
}

/**
 * The option whose address is `requested` (any case), else the first (the pricing token): a
 * missing, unknown or malformed choice is never an error, just the default.
 */
export function chooseTokenOption<T extends { address: string }>(options: readonly T[], requested: unknown): T {
  const wanted = typeof requested === 'string' ? requested.toLowerCase() : undefined;
  return options.find((option) => option.address.toLowerCase() === wanted) ?? options[0]!;
}

/**
 * The view of the invoice whose checkout token is `token`, or `undefined`, asking for payment
 * in the accepted token `payIn` (an address, any case; anything else: the pricing token). Every
 * token that is not an invoice's — unknown, tampered, malformed — takes the same path: one
 * indexed lookup.
 */
export async function loadCheckoutView(
  db: Db,
  token: string,
  requiredConfirmations: number,
  payIn?: unknown,
  now = new Date(),
): Promise<CheckoutPageView | undefined> {
  const row = await invoiceByCheckoutToken(db, token);
  return row ? viewOf(db, row, token, requiredConfirmations, now, payIn) : undefined;
}

/**
 * The same view of invoice `id` for staff within `scope` (the counter screen turned towards the
 * patient), or undefined outside it. It carries no checkout token: staff pages never hold one.
 */
export async function loadCounterView(
  db: Db,
  scope: ClinicScope,
  id: string,
  requiredConfirmations: number,
  now = new Date(),
): Promise<PayingView | undefined> {
  const row = await invoiceWithClinicName(db, scope, id);
  return row ? viewOf(db, row, '', requiredConfirmations, now) : undefined;
}

async function viewOf(
  db: Db,
  row: InvoiceRow & { clinic_name: string },
  token: string,
  requiredConfirmations: number,
  now: Date,
  payIn?: unknown,
): Promise<CheckoutPageView> {
  const { transfers, head } = (await invoiceChainViews(db, row.token_chain_id, [row.id])).get(row.id)!;
  // Each payment in the token it was made in (the invoice keeps the list it was offered).
  const tokenOf = (address: string) => {
    const option = invoiceTokenOption(row, address);
    return option ? { symbol: option.symbol, decimals: option.decimals } : { symbol: row.token_symbol, decimals: row.token_decimals };
  };
  const payments = transfers
    .filter((transfer) => transfer.kind === 'payment' && transfer.status !== 'reorged')
    .map((transfer) => ({
      txHash: transfer.tx_hash,
      amount: transfer.amount,
      ...tokenOf(transfer.token_address),
      confirmations: confirmationsAt(BigInt(transfer.block_number), head),
      final: transfer.status === 'confirmed',
    }));
  const pending = payments.filter((payment) => !payment.final);
  const status = effectiveStatus(row.status, row.expires_at, now);
  const due = BigInt(row.token_amount_due);
  const paid = BigInt(row.token_amount_paid);
  const remaining = due > paid ? due - paid : 0n;
  const tokenAddress = getAddress(row.token_address);
  // Until the payer's travel-rule information is in, nothing says where to pay, or how much of which token.
  const awaitingPayer = row.travel_rule === 'pending';
  // Only while something is still to be paid: a settled, expired or void invoice hands out no payment request.
  const payable = PAYABLE.includes(status) && remaining > 0n;
  const tokenOptions: CheckoutTokenOption[] = awaitingPayer
    ? []
    : paymentOptions(row, remaining).map((option) => {
        const units = BigInt(option.token_amount_due);
        return { ...option.token, units, amountToSend: formatUnits(units, option.token.decimals), paymentUri: payable ? option.payment_uri : null };
      });
  const chosen = awaitingPayer ? null : chooseTokenOption(tokenOptions, payIn);
  const amountDue = new Decimal(row.amount_due).toFixed(HKD.minorUnits);
  return {
    token,
    invoiceId: row.id,
    chainId: row.token_chain_id,
    travelRule: row.travel_rule,
    clinicName: row.clinic_name,
    invoiceNumber: row.number,
    status,
    currency: row.currency,
    amountDue,
    amountPaid: tokenUnitsToFiat(paid, row.token_decimals, HKD),
    amountRemaining: tokenUnitsToFiat(remaining, row.token_decimals, HKD),
    tokenInfo: { symbol: row.token_symbol, decimals: row.token_decimals, address: tokenAddress, chainId: row.token_chain_id },
    tokenAmountDue: due,
    tokenAmountPaid: paid,
    tokenAmountRemaining: remaining,
    tokenAmountToSend: chosen?.amountToSend ?? null,
    depositAddress: awaitingPayer ? null : getAddress(row.deposit_address),
    paymentUri: chosen?.paymentUri ?? null,
    lineItems: row.line_items.map((item) => ({
      description: item.description,
      quantity: item.quantity,
      unitAmount: new Decimal(item.unit_amount).toFixed(HKD.minorUnits),
      amount: new Decimal(item.unit_amount).times(item.quantity).toFixed(HKD.minorUnits),
    })),
    expiresAt: row.expires_at,
    paidAt: row.paid_at,
    reference: row.reference_rates
      ? { source: row.reference_rates.source, asOf: row.reference_rates.as_of, amounts: referenceAmounts(amountDue, row.reference_rates) }
      : null,
    confirming:
      pending.length > 0
        ? { current: Math.min(Math.max(...pending.map((payment) => payment.confirmations)), requiredConfirmations), required: requiredConfirmations }
        : null,
    payments,
    tokenOptions,
    payIn: chosen,
  };
}

/**
 * The status the page polls: enough to redraw it, nothing more (and, while the travel-rule
 * information is pending, nothing that says where to pay).
 */
export function checkoutStatus(view: PayingView): Record<string, unknown> {
  return {
    status: view.status,
    travel_rule: view.travelRule,
    amount_due: view.amountDue,
    amount_paid: view.amountPaid,
    amount_remaining: view.amountRemaining,
    token_amount_to_send: view.tokenAmountToSend,
    payment_uri: view.paymentUri,
    confirmations: view.confirming,
    paid_at: view.paidAt?.toISOString() ?? null,
  };
}

/** What the patient's page polls: {@link checkoutStatus}, in the chosen token, and what is still to send in each token. */
export function checkoutPageStatus(view: CheckoutPageView): Record<string, unknown> {
  return {
    ...checkoutStatus(view),
    payment_options: view.tokenOptions.map((option) => ({ token: option.address, token_amount_to_send: option.amountToSend })),
  };
}

/** The tokens an invoice was paid in, as the receipt names them ("tHKD, tHKDB"); the pricing token before any payment. */
export function paidSymbols(view: Pick<CheckoutView, 'payments' | 'tokenInfo'>): string {
  const symbols = [...new Set(view.payments.map((payment) => payment.symbol))];
  return symbols.length > 0 ? symbols.join(', ') : view.tokenInfo.symbol;
}
