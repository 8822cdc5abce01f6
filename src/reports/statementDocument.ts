/**
 * The shape of a clinic statement, shared by every rendering (JSON, CSV, PDF, FHIR Bundle) and
 * by the offline verifier. Amounts in token base units are integer strings; HKD amounts are
 * decimal strings with the currency's two minor units.
 *
 * A statement is for one asset (the gateway's token) and one clinic over a half-open period
 * `[from, to)`. Its lines, in order, are: the opening balance, every invoice issued and every
 * journal entry posted in the period (by time, then id), and the closing balance. The Merkle
 * root commits to all of them, so the balances are covered too.
 */
import type { AccountKind } from '../ledger/ledger.js';

/** Signed base units per ledger account (zero amounts omitted). */
export type AccountAmounts = Partial<Record<AccountKind, string>>;

export const STATEMENT_ACCOUNT_KINDS: readonly AccountKind[] = ['deposits', 'settlement', 'patient_payments', 'written_off', 'unexpected_outflows'];

interface LineBase {
  /** 1-based position in the statement; part of the leaf, so a reordered line is detected. */
  line: number;
  occurred_at: string;
}

/** First line: balances of every account at `period.from`. */
export interface OpeningBalanceLine extends LineBase {
  type: 'opening_balance';
  clinic_id: string;
  asset: string;
  /** Balance of every account (all five kinds present, zero included). */
  balances: Record<AccountKind, string>;
  /** deposits + settlement: what the clinic holds from patients, at deposit addresses or in its wallet. */
  token_amount: string;
  hkd_amount: string;
}

/**
 * Last line: balances of every account at `period.to`, and the audit log's head as of then. The
 * head is in a hashed line so that the statement's root, and an anchor of it, commits to the
 * audit log too: a log rewritten afterwards no longer reaches the head the statement names.
 */
export interface ClosingBalanceLine extends Omit<OpeningBalanceLine, 'type'> {
  type: 'closing_balance';
  /** The last audit row written before `period.to`; null when there was none. */
  audit_log_head: { seq: string; row_hash: string } | null;
}

/** An invoice issued in the period: moves no money, listed so none is dropped silently. */
export interface InvoiceLine extends LineBase {
  type: 'invoice';
  invoice_id: string;
  invoice_number: number;
  currency: string;
  hkd_amount: string;
  token_amount: string;
  asset: string;
  expires_at: string;
}

export type EntryLineType = 'payment' | 'forward' | 'outflow' | 'reversal' | 'refund' | 'application' | 'write_off';

/** A journal entry posted in the period, with the transfer it records when there is one. */
export interface EntryLine extends LineBase {
  type: EntryLineType;
  entry_id: string;
  invoice_id: string | null;
  invoice_number: number | null;
  asset: string;
  /** Net postings of the entry per account. */
  postings: AccountAmounts;
  /** Absolute size of the movement (the largest posting). */
  token_amount: string;
  hkd_amount: string;
  reverses_entry_id: string | null;
  resolution_id: string | null;
  /** The on-chain transfer the entry records (payments, forwards, outflows, their reversals), else null. */
  transfer: TransferFacts | null;
  /** For a refund: the clinic wallet's transfer that completed it, else null. */
  refund_transfer: { tx_hash: string; log_index: number } | null;
  /**
   * For a payment (and the reversal of one): where its evidence is (`/v1/payments/{id}/evidence`:
   * confirmations and block hash at posting, the token's allow-list entry, screening, any hold).
   */
  evidence: string | null;
}

export interface TransferFacts {
  transfer_id: string;
  chain_id: number;
  tx_hash: string;
  log_index: number;
  block_number: string;
  block_hash: string;
  block_time: string;
  token_address: string;
  from_address: string;
  to_address: string;
  amount: string;
  /** Confirmations the transfer had when it was posted (null where not recorded). */
  confirmations: number | null;
}

export type StatementLine = OpeningBalanceLine | InvoiceLine | EntryLine | ClosingBalanceLine;

/** Everything in a statement except its lines. */
export interface StatementHeader {
  object: 'statement';
  id: string;
  version: 1;
  clinic: { id: string; name: string; settlement_address: string };
  period: { from: string; to: string };
  generated_at: string;
  currency: 'HKD';
  asset: string;
  chain_id: number;
  token: { address: string; symbol: string; decimals: number };
  opening_balance: { token_amount: string; hkd_amount: string; accounts: Record<AccountKind, string> };
  closing_balance: { token_amount: string; hkd_amount: string; accounts: Record<AccountKind, string> };
  /** The audit log's last row written before `period.to` (null when the log was empty). */
  audit_log_head: { seq: string; row_hash: string } | null;
}

/** What follows the lines: their count, the root, and the anchor when the root was anchored. */
export interface StatementTrailer {
  line_count: number;
  merkle_root: string;
  merkle: { tree: 'RFC 6962'; hash: 'SHA-256'; leaf: 'RFC 8785 JSON of the line' };
  anchor: StatementAnchor | null;
}

export interface StatementAnchor {
  chain_id: number;
  tx_hash: string;
  block_number: string;
  from_address: string;
}

export type StatementDocument = StatementHeader & { lines: StatementLine[] } & StatementTrailer;
