/**
 * The evidence of one payment, in one answer: what a bank, an issuer or an auditor asks about a
 * payment the gateway credited. Where it came from on the chain and how final it was when it
 * was posted; which token it was and whether the allow-list had it (with the issuer and
 * licence); how its payer was screened (the list versions consulted, clear or hit); whether it
 * was held and what two finance people decided; and where each step is in the audit chain.
 * Every part is read from the table that owns it; nothing here is stored.
 */
import { type Address, getAddress } from 'viem';
import { auditTrailOf } from '../audit/auditLog.js';
import { getClinic } from '../billing/clinics.js';
import { getInvoice, invoiceTokenOption } from '../billing/invoices.js';
import { acceptedTokenAt, type PaymentNetwork } from '../chain/paymentNetwork.js';
import { holdOfTransfer } from '../compliance/holds.js';
import { paymentScreenings } from '../compliance/screening.js';
import { toIvms101, travelRuleRecordOf, travelRuleReference } from '../compliance/travelRule.js';
import { apiAddress } from '../domain/address.js';
import { type ClinicScope, inScope } from '../identity/principal.js';
import { entriesOfTransfer } from '../ledger/ledger.js';
import type { Db } from '../platform/db.js';
import { NotFoundError } from '../platform/errors.js';
import type { SecretBox } from '../platform/secretBox.js';
import { exceptionOfHold } from '../recon/exceptions.js';
import { resolutionsOf } from '../recon/resolutions.js';
import { paymentTransfer } from '../settlement/transfers.js';

/** The path of a payment's evidence: what statement lines point to. */
export function evidencePath(transferId: string): string {
  return `/v1/payments/${transferId}/evidence`;
}

/**
 * The evidence of payment `id` (a `pay_…` transfer into a deposit address) in `scope`;
 * {@link NotFoundError} for an id that is not a payment or not the caller's clinic's.
 */
export async function paymentEvidence(db: Db, scope: ClinicScope, id: string, network: PaymentNetwork): Promise<Record<string, unknown>> {
  const payment = await paymentTransfer(db, id);
  if (!payment || !inScope(scope, payment.clinic_id)) throw new NotFoundError('payment');
  const [invoice, entries, screenings, hold, audit, travelRule] = await Promise.all([
    getInvoice(db, { clinicId: payment.clinic_id }, payment.invoice_id),
    entriesOfTransfer(db, payment.id),
    paymentScreenings(db, payment.id),
    holdOfTransfer(db, payment.id),
    auditTrailOf(db, payment.id),
    travelRuleReference(db, payment.invoice_id),
  ]);
  const token = getAddress(payment.token_address);
  const offered = invoiceTokenOption(invoice, payment.token_address);
  const accepted = acceptedTokenAt(network, token);
  const exception = hold ? await exceptionOfHold(db, hold.id) : undefined;
  const resolutions = exception ? await resolutionsOf(db, exception.id) : [];
  const holdAudit = hold ? await auditTrailOf(db, hold.id) : [];
  return {
    object: 'payment_evidence',
    payment: {
      id: payment.id,
      invoice_id: payment.invoice_id,
      clinic_id: payment.clinic_id,
      chain_id: payment.chain_id,
      tx_hash: payment.tx_hash,
      log_index: payment.log_index,
      block_number: Number(payment.block_number),
      block_time: payment.block_timestamp.toISOString(),
      token,
      from_address: apiAddress(payment.from_address),
      to_address: apiAddress(payment.to_address),
      amount: payment.amount,
      status: payment.status,
      flag: payment.flag,
    },
    posting:
      payment.confirmed_at === null
        ? null
        : {
            posted_at: payment.confirmed_at.toISOString(),
            // Counted when the payment was posted: the block itself is one.
            confirmations: payment.confirmations,
            block_hash: payment.block_hash,
            entries: entries.map((entry) => ({
              id: entry.id,
              kind: entry.kind,
              reverses_entry_id: entry.reverses_entry_id,
              created_at: entry.created_at.toISOString(),
            })),
          },
    token: tokenEvidence(token, offered ?? accepted, accepted !== undefined, offered !== undefined),
    screening: screenings.map((screening) => ({
      generation: screening.generation,
      screened_at: screening.screened_at.toISOString(),
      address: apiAddress(screening.address),
      result: screening.result,
      lists: screening.lists,
      hits: screening.hits,
      oracle: screening.oracle,
    })),
    // The sanctions oracle's latest answer about the payer, at the payment's block (null: none is configured).
    oracle: screenings.at(-1)?.oracle ?? null,
    // The record's reference only: the information itself is for auditors and platform admins (the export).
    travel_rule:
      invoice.travel_rule === 'not_required'
        ? null
        : {
            status: invoice.travel_rule,
            record_id: travelRule?.id ?? null,
            captured_at: travelRule?.captured_at.toISOString() ?? null,
            payer_address: travelRule ? apiAddress(travelRule.payer_address) : null,
            paid_from_payer: travelRule ? travelRule.payer_address === payment.from_address : false,
            erased_at: travelRule?.erased_at?.toISOString() ?? null,
            export: `/v1/payments/${payment.id}/travel-rule`,
          },
    hold: hold
      ? {
          id: hold.id,
          reason: hold.reason,
          status: hold.status,
          hits: hold.hits,
          created_at: hold.created_at.toISOString(),
          decided_by: hold.decided_by,
          decided_at: hold.decided_at?.toISOString() ?? null,
          exception_id: exception?.id ?? null,
          // The decision's steps; the proposer's free-text reason stays out (it may describe a patient).
          resolutions: resolutions.map((resolution) => ({
            id: resolution.id,
            action: resolution.action,
            status: resolution.status,
            proposed_by: resolution.created_by,
            proposed_at: resolution.created_at.toISOString(),
            approved_by: resolution.approved_by,
            approved_at: resolution.approved_at?.toISOString() ?? null,
          })),
        }
      : null,
    audit: [...audit, ...holdAudit].sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : 1)),
  };
}

function tokenEvidence(
  address: Address,
  entry: { symbol: string; decimals: number; issuer: string | null; licence: string | null } | undefined,
  onAllowList: boolean,
  offeredByInvoice: boolean,
): Record<string, unknown> {
  return {
    address,
    symbol: entry?.symbol ?? null,
    decimals: entry?.decimals ?? null,
    issuer: entry?.issuer ?? null,
    licence: entry?.licence ?? null,
    peg: 'HKD',
    on_allow_list: onAllowList,
    offered_by_invoice: offeredByInvoice,
  };
}

/**
 * The travel-rule record of payment `id` in IVMS101 (for auditors and platform admins), with the
 * transfer it travels with. {@link NotFoundError} when the payment is not in `scope` or its
 * invoice needed no record; `ivms101` is null once the record is erased.
 */
export async function paymentTravelRule(db: Db, secrets: SecretBox, scope: ClinicScope, id: string): Promise<Record<string, unknown>> {
  const payment = await paymentTransfer(db, id);
  if (!payment || !inScope(scope, payment.clinic_id)) throw new NotFoundError('payment');
  const record = await travelRuleRecordOf(db, secrets, payment.invoice_id);
  if (!record) throw new NotFoundError('travel-rule record');
  const clinic = await getClinic(db, payment.clinic_id);
  return {
    object: 'travel_rule_record',
    id: record.id,
    payment_id: payment.id,
    invoice_id: payment.invoice_id,
    captured_at: record.captured_at.toISOString(),
    erased_at: record.erased_at?.toISOString() ?? null,
    payer_address: getAddress(record.payer_address),
    signature: record.signature,
    paid_from_payer: record.payer_address === payment.from_address,
    transfer: {
      chain_id: payment.chain_id,
      tx_hash: payment.tx_hash,
      log_index: payment.log_index,
      token: getAddress(payment.token_address),
      amount: payment.amount,
      from_address: getAddress(payment.from_address),
      to_address: getAddress(payment.to_address),
    },
    ivms101: toIvms101(record, { clinicName: clinic.name, account: payment.to_address }),
  };
}
