// Generated from openapi.yaml by client/generate.ts (`npm run client:generate`). Do not edit:
// change the contract and generate again; a test fails while this file is stale.
/* eslint-disable */

export type AuditId = string;

export interface AuditRow {
  object: 'audit_row';
  id: AuditId;
  /** Position in the chain (integer string). */
  seq: string;
  occurred_at: string;
  /** JWT subject, or system:<worker>. */
  actor: string;
  role: string;
  action: string;
  target_type: string;
  target_id: string;
  clinic_id?: string | null;
  request_id?: string | null;
  before?: Record<string, unknown> | null;
  after?: Record<string, unknown> | null;
  /**
   * How the actor authenticated: `method` (session, jwt, api_key) and, for actions that need it,
   * `step_up` (`passkey` with `passkey_id` and `stepped_up_at`, or `allowed_for_tokens`). Null for
   * the gateway's own actors and rows written before it was recorded; when null it is not part of `canonical`.
   */
  auth?: Record<string, unknown> | null;
  /** The exact text hashed: RFC 8785 JSON of the fields above (seq excluded; auth only when not null). */
  canonical?: string;
  prev_hash: string;
  row_hash: string;
}

export interface AuditLogList {
  object: 'list';
  url?: string;
  data: AuditRow[];
  has_more: boolean;
}

export interface AuditVerification {
  object: 'audit_log_verification';
  ok: boolean;
  rows_checked: number;
  head?: {
    seq?: string;
    row_hash?: string;
  } | null;
  first_broken?: {
    seq?: string;
    id?: string;
    reason?: string;
  } | null;
}

export interface CheckpointVerification {
  object: 'ledger_checkpoint_verification';
  ok: boolean;
  /** Hong Kong days whose checkpoints are written. */
  days_closed: number;
  checkpoints_checked: number;
  first_mismatch: {
    account_id?: string;
    /** The end of the day the checkpoint is of. */
    as_of?: string;
    /** The checkpoint's balance in base units; null when the postings say one is missing. */
    recorded?: string | null;
    /** The balance the postings give; null when the account did not move that day. */
    from_postings?: string | null;
  } | null;
}

export type PaymentId = string;

export interface PaymentEvidence {
  object: 'payment_evidence';
  payment: {
    id: PaymentId;
    invoice_id: InvoiceId;
    clinic_id: ClinicIdValue;
    chain_id: number;
    tx_hash: string;
    log_index: number;
    block_number: number;
    block_time: string;
    token: Address;
    from_address: Address;
    to_address: Address;
    amount: BaseUnits;
    status: 'pending' | 'confirmed' | 'reorged';
    flag: string | null;
  };
  /** Null until the payment is final and posted. */
  posting: {
    posted_at?: string;
    /** Confirmations when it was posted, the block itself counting as one. */
    confirmations?: number | null;
    block_hash?: string;
    entries?: ({
      id?: string;
      kind?: string;
      reverses_entry_id?: string | null;
      created_at?: string;
    })[];
  } | null;
  token: {
    address: Address;
    symbol: string | null;
    decimals: number | null;
    issuer: string | null;
    licence: string | null;
    peg: 'HKD';
    /** Whether the gateway's allow-list has the token now. */
    on_allow_list: boolean;
    /** Whether the invoice offered the token when it was created. */
    offered_by_invoice: boolean;
  };
  /** How the payer was screened each time the payment was posted (once, unless a reorg undid and redid it); empty for payments posted before screening evidence was kept. */
  screening: ({
    generation?: number;
    screened_at?: string;
    address?: Address;
    result?: 'clear' | 'hit' | 'unscreened';
    lists?: ({
      name?: string;
      version?: string;
      sha256?: string;
      entries?: number;
    })[];
    hits?: Record<string, unknown>[];
  })[];
  /** The sanctions oracle's latest answer about the payer at the payment's block: oracle, block, answer (null when it did not answer), error. Null when no oracle is configured. */
  oracle: {
    oracle?: string;
    block?: string;
    answer?: boolean | null;
    error?: string | null;
  } | null;
  /** For an invoice at or above the travel-rule threshold: whether the information is in, the record's id, when, the proven wallet, whether the payment came from it, whether the record was erased, and the path of its IVMS101 export. Null when none was needed. */
  travel_rule: Record<string, unknown> | null;
  hold: {
    id?: string;
    reason?: string;
    status?: 'held' | 'released' | 'kept';
    hits?: Record<string, unknown>[];
    created_at?: string;
    decided_by?: string | null;
    decided_at?: string | null;
    exception_id?: string | null;
    resolutions?: Record<string, unknown>[];
  } | null;
  /** The audit chain's rows about the payment and its hold, by sequence. */
  audit: ({
    seq?: string;
    action?: string;
    occurred_at?: string;
    row_hash?: string;
  })[];
}

export interface TravelRuleRecord {
  object: 'travel_rule_record';
  id: string;
  payment_id: PaymentId;
  invoice_id: InvoiceId;
  captured_at: string;
  erased_at: string | null;
  payer_address: Address;
  signature: string;
  /** Whether the payment came from the wallet the payer proved. */
  paid_from_payer: boolean;
  transfer: Record<string, unknown>;
  /** IVMS101 originator and beneficiary; null once erased. */
  ivms101: Record<string, unknown> | null;
}

export type StatementId = string;

/** See the README, "Statements and verification", for every field and the leaf encoding. */
export interface Statement {
  object: 'statement';
  id: StatementId;
  lines: Record<string, unknown>[];
  line_count: number;
  merkle_root: string;
}

export interface StatementProof {
  object: 'statement_line_proof';
  statement_id: StatementId;
  line: number;
  leaf: Record<string, unknown>;
  leaf_hash: string;
  tree_size: number;
  audit_path: string[];
  merkle_root: string;
  anchor?: Record<string, unknown> | null;
}

export interface StatementAnchorPending {
  object: 'statement_anchor';
  statement_id: StatementId;
  status: 'pending';
  relayer_transaction_id: string;
}

export interface StatementAnchor {
  object: 'statement_anchor';
  statement_id: StatementId;
  status?: 'anchored';
  chain_id: number;
  tx_hash: string;
  block_number: string;
  from_address: Address;
}

/** EVM address; returned EIP-55 checksummed. */
export type Address = string;

export type ClinicIdValue = string;

export type InvoiceId = string;

export type PatientRef = string;

export type DecimalAmount = string;

/** Token base units as an integer string. */
export type BaseUnits = string;

export type InvoiceStatus = 'open' | 'processing' | 'paid' | 'underpaid' | 'overpaid' | 'expired' | 'void';

export interface ClinicCreate {
  name: string;
  settlement_address: Address;
  webhook_url?: WebhookUrl;
  webhook_include_patient_ref?: WebhookIncludePatientRef;
}

/** Whether invoices in the clinic's webhooks carry `patient_ref`. Off by default: a receiver that needs the patient looks the invoice up by id. */
export type WebhookIncludePatientRef = boolean;

export interface WebhookSecretRotation {
  /** How long the replaced secret keeps signing next to the new one. Default 24. */
  overlap_hours?: number;
}

export interface ClinicUpdate {
  name?: string;
  settlement_address?: unknown;
  webhook_url?: WebhookUrl | null;
  webhook_include_patient_ref?: WebhookIncludePatientRef;
}

export type ApiKeyId = string;

export interface ApiKeyCreate {
  /** What the key is for, e.g. "front-desk PMS". */
  name: string;
  /** clinic_staff bills; auditor reads. */
  role: 'clinic_staff' | 'auditor';
  /** When the key stops working; none by default. */
  expires_at?: string;
  clinic_id?: ClinicIdValue;
}

export interface ApiKey {
  object: 'api_key';
  id: ApiKeyId;
  clinic_id: ClinicIdValue;
  name: string;
  role: 'clinic_staff' | 'auditor';
  /** The key prefix and its last four characters. */
  hint: string;
  created_by: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export type Role = 'platform_admin' | 'clinic_admin' | 'clinic_staff' | 'finance' | 'auditor';

export type MembershipId = string;

export interface MembershipCreate {
  email: string;
  role: Role;
  clinic_id?: ClinicIdValue;
}

export interface Membership {
  object: 'membership';
  id: MembershipId;
  email: string;
  role: Role;
  clinic_id: string | null;
  invited_by: string;
  created_at: string;
  /** The subject of the person who accepted it on first sign-in. */
  sub: string | null;
  accepted_at: string | null;
  revoked_at: string | null;
}

export interface MembershipList {
  object: 'list';
  url: string;
  data: Membership[];
  has_more: boolean;
}

export interface PriceListItem {
  object: 'price_list_item';
  id: string;
  clinic_id: string;
  code: string;
  name: string;
  unit_amount: DecimalAmount;
  currency: 'HKD';
  created_at: string;
  archived_at: string | null;
}

export interface ApiKeyList {
  object: 'list';
  url: string;
  data: ApiKey[];
  has_more: boolean;
}

export type SettlementAddressChangeId = string;

/** pending: waiting for a second person; approved: the clinic's invoices created since settle to `address`; cancelled: withdrawn; expired: not approved within a week. */
export type SettlementAddressChangeStatus = 'pending' | 'approved' | 'cancelled' | 'expired';

export interface SettlementAddressChangeCreate {
  address: Address;
  /** Why the address changes, for the approver and the audit log. */
  reason: string;
}

export interface SettlementAddressChange {
  object: 'settlement_address_change';
  id: SettlementAddressChangeId;
  clinic_id: ClinicIdValue;
  status: SettlementAddressChangeStatus;
  /** The settlement address when the change was proposed (EIP-55). */
  previous_address: string;
  /** The proposed settlement address (EIP-55). */
  address: string;
  reason: string;
  /** The proposer's token subject. */
  proposed_by: string;
  created_at: string;
  /** A change not approved by then lapses. */
  expires_at: string;
  /** Who approved or cancelled it. */
  decided_by: string | null;
  decided_at: string | null;
}

export interface SettlementAddressChangeList {
  object: 'list';
  url: string;
  data: SettlementAddressChange[];
  has_more: boolean;
}

export type WebhookUrl = string;

export interface TokenRevocationCreate {
  /** The id of the one token to revoke. */
  jti?: string;
  /** The subject whose tokens issued so far are revoked. */
  sub?: string;
  reason: string;
}

export interface TokenRevocation {
  object: 'token_revocation';
  id: string;
  kind: 'jti' | 'sub';
  value: string;
  reason: string;
  /** The subject of the platform admin who revoked. */
  revoked_by: string;
  created_at: string;
}

export interface Clinic {
  object: 'clinic';
  id: ClinicIdValue;
  name: string;
  settlement_address: Address;
  webhook_url: string | null;
  webhook_include_patient_ref: WebhookIncludePatientRef;
  /** Until when deliveries also carry a signature with the secret the last rotation replaced (null when no rotation kept one). */
  webhook_secret_previous_valid_until: string | null;
  created_at: string;
  updated_at: string;
}

export interface LineItem {
  /** Treated as health data: never logged, never on-chain, not in webhooks. */
  description: string;
  quantity: number;
  unit_amount: DecimalAmount;
}

export interface InvoiceCreate {
  patient_ref: PatientRef;
  /** ISO 4217 code; HKD is accepted today. */
  currency: string;
  line_items: LineItem[];
  /** Default 60. */
  expires_in_minutes?: number;
  /** Up to 20 string values for the clinic's own use; no patient data. */
  metadata?: {
    [key: string]: string;
  };
}

export interface Invoice {
  object: 'invoice';
  id: InvoiceId;
  clinic_id: ClinicIdValue;
  /** Sequential per clinic */
  number: number;
  status: InvoiceStatus;
  currency: string;
  amount_due: DecimalAmount;
  amount_paid: DecimalAmount;
  token: {
    chain_id: number;
    address: Address;
    symbol: string;
    decimals: number;
  };
  token_amount_due: BaseUnits;
  token_amount_paid: BaseUnits;
  /** Where to pay; null while the payer's travel-rule information is not in (`travel_rule.status` pending). */
  deposit_address: Address | null;
  /** EIP-681: ethereum:<token>@<chainId>/transfer?address=<deposit>&uint256=<base units>; null while travel-rule information is pending. */
  payment_uri: string | null;
  /** Every token on the gateway's allow-list when the invoice was created, the pricing token (`token`, `token_amount_due`, `payment_uri` above) first. The patient may pay in any of them, or a mix, to the same deposit address: each payment counts at par (one token unit for one HK dollar), rescaled to the pricing token's decimals with anything below its smallest unit dropped. `amount_paid` is the HKD sum. */
  payment_options: PaymentOption[] | null;
  /** The payment URI as an SVG QR code (same authorisation as the invoice); null while travel-rule information is pending. */
  payment_qr_url: string | null;
  /** Whether the payer's travel-rule information is needed (the invoice was at or above TRAVEL_RULE_THRESHOLD_HKD, HK$8,000 by default, when created) and whether it is in. While `pending`, the invoice has no `deposit_address`, `payment_uri`, `payment_options` or QR code: the patient gives their information on the checkout page and signs with the wallet they will pay from. A payment from another wallet is held (`travel_rule_mismatch`). */
  travel_rule: {
    required: boolean;
    status: 'pending' | 'captured' | null;
  };
  /** The patient's hosted payment page. Its token is the page's only credential and is stored only as a hash: it is here in the answer that creates the invoice and nowhere else (null when read again, or in a replay). Share it with the patient only; POST /v1/invoices/{id}/checkout-link issues a new one. */
  checkout_url: string | null;
  /** Indicative amounts in CNY and USD at the rates configured when the invoice was created (null when none are configured). The invoice is due in HKD. */
  reference_amounts: {
    indicative?: true;
    source?: string;
    as_of?: string;
    amounts?: ({
      currency?: string;
      amount?: string;
      rate?: string;
    })[];
  } | null;
  patient_ref: PatientRef;
  line_items: LineItem[];
  metadata: {
    [key: string]: string;
  };
  expires_at: string;
  created_at: string;
  paid_at: string | null;
  voided_at: string | null;
  /** Transfers into the deposit address (GET of one invoice only). */
  payments?: ChainTransfer[];
  /** Transfers from the deposit address to the clinic (GET of one invoice only). */
  forwarding?: ChainTransfer[];
}

export interface PaymentOption {
  token: {
    address: Address;
    symbol: string;
    decimals: number;
    /** The licensed issuer as the operator's allow-list names it (null for a token configured by address alone). */
    issuer: string | null;
    /** The issuer's licence number on the HKMA register. */
    licence: string | null;
  };
  /** The invoice's amount due in this token's base units, rounded up. */
  token_amount_due: BaseUnits;
  /** EIP-681 URI to pay the whole amount due in this token. */
  payment_uri: string;
}

export interface InvoiceList {
  object: 'list';
  url: string;
  data: Invoice[];
  has_more: boolean;
}

/** RFC 9457 problem details. */
export interface Problem {
  /** URI reference identifying the problem type: /problems/<code>. */
  type: string;
  title: string;
  status: number;
  detail?: string;
  code: ProblemCode;
  /** The offending request field */
  param?: string;
  request_id?: string;
}

/** Stable machine-readable code of a problem; `GET /problems/{code}` explains each. */
export type ProblemCode = 'invalid_request' | 'malformed_json' | 'bad_request' | 'range_beyond_head' | 'range_not_final' | 'range_too_large' | 'missing_token' | 'invalid_token' | 'token_expired' | 'session_expired' | 'csrf_failed' | 'step_up_required' | 'forbidden' | 'not_found' | 'invoice_not_voidable' | 'exception_not_open' | 'resolution_not_pending' | 'settlement_address_change_pending' | 'settlement_address_change_not_pending' | 'nothing_to_reconcile' | 'reconciliation_running' | 'anchoring_disabled' | 'statement_not_reproducible' | 'body_too_large' | 'unsupported_media_type' | 'unsupported_encoding' | 'idempotency_key_reused' | 'amount_exceeds_received' | 'refund_not_possible' | 'apply_not_possible' | 'invalid_target_invoice' | 'invalid_signature' | 'address_screened' | 'travel_rule_required' | 'travel_rule_captured' | 'headers_too_large' | 'rate_limited' | 'internal_error' | 'sign_in_failed' | 'passkey_failed' | 'identity_provider_unavailable' | 'not_ready';

export interface ProblemType {
  object: 'problem_type';
  /** The problem `type` URI: /problems/<code>. */
  type: string;
  code: ProblemCode;
  status: number;
  title: string;
  happened: string;
  todo: string;
}

export interface CheckResult {
  ok: boolean;
  detail?: string;
  /** Head block number (RPC check only) */
  block_number?: string;
}

export interface ReadinessChecks {
  database: CheckResult;
  rpc: CheckResult;
}

export type WebhookEventId = string;

export type WebhookEventType = 'invoice.processing' | 'invoice.paid' | 'invoice.underpaid' | 'invoice.overpaid' | 'invoice.expired' | 'invoice.voided' | 'payment.late' | 'payment.void_invoice' | 'payment.reorged' | 'payment.held' | 'settlement.forwarded' | 'clinic.settlement_address_change_requested' | 'clinic.settlement_address_change_cancelled' | 'clinic.settlement_address_changed';

/** pending: due to be sent (again); delivered: answered 2xx; failed: no attempts left; skipped: the clinic had no webhook_url. */
export type WebhookEventStatus = 'pending' | 'delivered' | 'failed' | 'skipped';

export interface WebhookEvent {
  object: 'webhook_event';
  id: WebhookEventId;
  clinic_id: ClinicIdValue;
  type: WebhookEventType;
  status: WebhookEventStatus;
  /** Attempts made since the event was written or last redelivered. */
  attempts: number;
  /** When a pending event is sent next; null otherwise. */
  next_attempt_at: string | null;
  /** Why the last attempt failed, e.g. "HTTP 500" or "timeout: no response within 10000 ms". */
  last_error: string | null;
  created_at: string;
  delivered_at: string | null;
  /** The object the event is about, as sent in the webhook body: an invoice without line-item descriptions, or for clinic.settlement_address_change_* and clinic.settlement_address_changed a settlement_address_change. */
  data: Record<string, unknown>;
}

/** The body of a webhook delivery. `data` is the object the event is about: for clinic.settlement_address_change_* and clinic.settlement_address_changed a settlement_address_change; for every other event the invoice as `GET /v1/invoices/{id}` shows it, without `checkout_url` and with line items without their descriptions (health data stays in the gateway), and with `payment` (payment.*, invoice.overpaid), `forwarding` (settlement.forwarded) or `hold` (payment.held) saying what happened. */
export interface WebhookPayload {
  id: WebhookEventId;
  type: WebhookEventType;
  /** When the event was written, in unix seconds. */
  created: number;
  data: Record<string, unknown>;
}

export interface WebhookDelivery {
  object: 'webhook_delivery';
  attempt: number;
  url: string;
  /** The HTTP status the receiver answered; null when it did not answer. */
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  attempted_at: string;
}

export type WebhookEventWithDeliveries = WebhookEvent & ({
  deliveries: WebhookDelivery[];
});

export interface WebhookEventList {
  object: 'list';
  url: string;
  data: WebhookEvent[];
  has_more: boolean;
}

export type JournalEntryId = string;

/** Signed token base units as an integer string (debit positive, credit negative). */
export type SignedBaseUnits = string;

export interface LedgerAccount {
  object: 'ledger_account';
  id: string;
  clinic_id: ClinicIdValue;
  /** deposits: held at deposit addresses; settlement: forwarded to the clinic wallet; patient_payments: what patients paid (credit); written_off: received amounts finance kept as the clinic's (credit). */
  kind: 'deposits' | 'settlement' | 'patient_payments' | 'written_off';
  /** <chain id>:<token address> */
  asset: string;
  balance: SignedBaseUnits;
}

export interface LedgerAccountList {
  object: 'list';
  url: string;
  data: LedgerAccount[];
  has_more: boolean;
}

export interface JournalEntry {
  object: 'journal_entry';
  id: JournalEntryId;
  kind: 'payment' | 'forward' | 'reversal' | 'refund' | 'application' | 'write_off';
  clinic_id: ClinicIdValue;
  invoice_id: string | null;
  transfer_id: string | null;
  reverses_entry_id: string | null;
  created_at: string;
  postings: ({
    account: string;
    asset: string;
    amount: SignedBaseUnits;
  })[];
}

export interface JournalEntryList {
  object: 'list';
  url: string;
  data: JournalEntry[];
  has_more: boolean;
}

export interface ChainTransfer {
  tx_hash: string;
  log_index: number;
  block_number: number;
  /** Blocks from the transfer's block to the block the watcher has read, the block itself counting as one. */
  confirmations: number;
  /** The accepted token transferred; `amount` is in its base units. */
  token: Address;
  amount: BaseUnits;
  status: 'pending' | 'confirmed' | 'reorged';
  /** Why a confirmed payment needs a person. */
  flag?: 'late' | 'void_invoice' | 'after_settled' | null;
}

export type ReconciliationId = string;

export type ExceptionId = string;

export type ResolutionId = string;

export type ExceptionType = 'overpayment' | 'underpayment_expired' | 'late_payment' | 'payment_to_void_invoice' | 'unknown_transfer' | 'missing_on_chain' | 'balance_mismatch' | 'flush_failed' | 'screening_hit' | 'address_frozen' | 'travel_rule_mismatch';

export type ExceptionStatus = 'open' | 'pending_approval' | 'resolved';

export interface Reconciliation {
  object: 'reconciliation';
  id: ReconciliationId;
  status: 'running' | 'completed' | 'failed';
  from_block: number;
  to_block: number;
  progress_percent: number;
  /** transfers_on_chain, matched, matched_amount (base units), exceptions, new_exceptions, balances_checked, balance_mismatches; balance_reads: `multicall3` (balances read in batches through Multicall3 at the run's last block) or `single_calls` (one `balanceOf` call each: Multicall3 not configured, without code at that block, or failing), absent when the run read no balance; and with `single_calls`, balance_reads_note saying why; balance_scope: `range` (the deposit addresses the range touched and those the ledger says hold tokens) or `full` (every deposit address of the chain). */
  counts: Record<string, unknown>;
  error: string | null;
  requested_by: string;
  /** Whether the run compared every deposit address (see `balance_scope` in its counts). */
  full_sweep: boolean;
  created_at: string;
  finished_at: string | null;
}

export interface Exception {
  object: 'exception';
  id: ExceptionId;
  type: ExceptionType;
  status: ExceptionStatus;
  clinic_id: string | null;
  invoice_id: string | null;
  tx_hash: string | null;
  log_index?: number | null;
  block_number: number | null;
  block_time?: string | null;
  token_address?: string | null;
  from_address?: string | null;
  amount: BaseUnits;
  expected?: string | null;
  observed?: string | null;
  details: Record<string, unknown>;
  first_run_id?: string | null;
  last_run_id?: string | null;
  created_at: string;
  updated_at?: string;
  resolved_at?: string | null;
  resolutions?: Resolution[];
}

export interface ResolutionCreate {
  action: 'refund' | 'apply_to_invoice' | 'write_off' | 'release' | 'keep_held';
  amount?: BaseUnits;
  to_address?: Address;
  signature?: string;
  target_invoice_id?: InvoiceId;
  reason?: string;
}

export interface Resolution {
  object: 'resolution';
  id: ResolutionId;
  exception_id: ExceptionId;
  action: 'refund' | 'apply_to_invoice' | 'write_off' | 'release' | 'keep_held';
  status: 'pending_approval' | 'awaiting_transfer' | 'completed';
  amount: BaseUnits;
  to_address?: string | null;
  target_invoice_id?: string | null;
  reason?: string | null;
  created_by: string;
  approved_by?: string | null;
  approved_at?: string | null;
  /** EIP-681 transfer for the clinic's wallet (refunds, once approved). */
  payment_uri?: string | null;
  /** ERC-20 transfer(to, amount) call data for the token contract. */
  calldata?: string | null;
  refund_tx_hash?: string | null;
  completed_at?: string | null;
  created_at: string;
}

/** Per operation of the contract: its path and query parameters, its JSON body and its answer. */
export interface Operations {
  getHealth: {
    path: never;
    query: never;
    body: never;
    response: {
        status: 'ok';
      };
  };
  getReady: {
    path: never;
    query: never;
    body: never;
    response: {
        status: 'ready';
        checks: ReadinessChecks;
        screening?: {
          /** null when no oracle is configured; else ok and, when failing, detail. */
          oracle?: Record<string, unknown> | null;
          held_pending_screening?: number | null;
        };
        /** Audited events written and not yet on the hash chain, and how long the oldest has waited (null when the database does not answer). Reported, not a reason for 503: writers never wait for the chain. */
        audit_chain?: {
          unchained?: number | null;
          lag_seconds?: number | null;
        };
      };
  };
  getMetrics: {
    path: never;
    query: never;
    body: never;
    response: string;
  };
  getOpenApi: {
    path: never;
    query: never;
    body: never;
    response: string;
  };
  getDocs: {
    path: never;
    query: never;
    body: never;
    response: string;
  };
  getDocsInit: {
    path: never;
    query: never;
    body: never;
    response: string;
  };
  getSignInPage: {
    path: never;
    query: {
      /** zh-HK, zh-CN or en; anything else falls back to Accept-Language. */
      lang?: string;
      /** A path of this gateway to land on afterwards; default /console. */
      return_to?: string;
      error?: string;
    };
    body: never;
    response: string;
  };
  startSignIn: {
    path: never;
    query: {
      return_to?: string;
      /** zh-HK, zh-CN or en; anything else falls back to Accept-Language. */
      lang?: string;
    };
    body: never;
    response: undefined;
  };
  finishSignIn: {
    path: never;
    query: never;
    body: never;
    response: undefined;
  };
  signOut: {
    path: never;
    query: never;
    body: never;
    response: undefined;
  };
  getSignedOutPage: {
    path: never;
    query: {
      /** zh-HK, zh-CN or en; anything else falls back to Accept-Language. */
      lang?: string;
    };
    body: never;
    response: string;
  };
  getSession: {
    path: never;
    query: never;
    body: never;
    response: {
        object: 'session';
        id: string;
        sub: string;
        role: Role;
        clinic_id: string | null;
        name?: string | null;
        email?: string | null;
        created_at?: string;
        expires_at: string;
        stepped_up_at: string | null;
        csrf_token: string;
      };
  };
  passkeyRegistrationOptions: {
    path: never;
    query: never;
    body: never;
    response: Record<string, unknown>;
  };
  registerPasskey: {
    path: never;
    query: never;
    body: never;
    response: Record<string, unknown>;
  };
  stepUpOptions: {
    path: never;
    query: never;
    body: never;
    response: Record<string, unknown>;
  };
  stepUp: {
    path: never;
    query: never;
    body: never;
    response: Record<string, unknown>;
  };
  getConsole: {
    path: never;
    query: {
      /** zh-HK, zh-CN or en; anything else falls back to Accept-Language. */
      lang?: string;
    };
    body: never;
    response: string;
  };
  getConsoleFinanceDashboard: {
    path: never;
    query: {
      /** zh-HK, zh-CN or en; anything else falls back to Accept-Language. */
      lang?: string;
    };
    body: never;
    response: string;
  };
  getConsoleExceptions: {
    path: never;
    query: {
      /** zh-HK, zh-CN or en; anything else falls back to Accept-Language. */
      lang?: string;
      /** An exception type; anything else shows every type. */
      type?: string;
      /** open, pending_approval or resolved; empty for every status; absent for open. */
      status?: string;
    };
    body: never;
    response: string;
  };
  getConsoleException: {
    path: {
      id: string;
    };
    query: {
      /** zh-HK, zh-CN or en; anything else falls back to Accept-Language. */
      lang?: string;
    };
    body: never;
    response: string;
  };
  getConsoleReconciliation: {
    path: never;
    query: {
      /** zh-HK, zh-CN or en; anything else falls back to Accept-Language. */
      lang?: string;
    };
    body: never;
    response: string;
  };
  getConsoleStatements: {
    path: never;
    query: {
      /** zh-HK, zh-CN or en; anything else falls back to Accept-Language. */
      lang?: string;
      clinic_id?: string;
      /** First day, Hong Kong (YYYY-MM-DD). */
      from?: string;
      /** Last day, Hong Kong (YYYY-MM-DD), included. */
      to?: string;
    };
    body: never;
    response: string;
  };
  getConsoleAuditLog: {
    path: never;
    query: {
      /** zh-HK, zh-CN or en; anything else falls back to Accept-Language. */
      lang?: string;
      /** First day, Hong Kong (YYYY-MM-DD). */
      from?: string;
      /** Last day, Hong Kong (YYYY-MM-DD), included. */
      to?: string;
      actor?: string;
      action?: string;
      target_type?: string;
      target_id?: string;
      /** Rows older than this sequence number. */
      before?: string;
      /** Rows newer than this sequence number. */
      after?: string;
    };
    body: never;
    response: string;
  };
  getConsoleBills: {
    path: never;
    query: {
      /** zh-HK, zh-CN or en; anything else falls back to Accept-Language. */
      lang?: string;
      q?: string;
      status?: string;
    };
    body: never;
    response: string;
  };
  getConsoleNewBill: {
    path: never;
    query: {
      /** zh-HK, zh-CN or en; anything else falls back to Accept-Language. */
      lang?: string;
    };
    body: never;
    response: string;
  };
  getConsoleBill: {
    path: {
      id: string;
    };
    query: {
      /** zh-HK, zh-CN or en; anything else falls back to Accept-Language. */
      lang?: string;
    };
    body: never;
    response: string;
  };
  getConsoleCounter: {
    path: {
      id: string;
    };
    query: {
      /** zh-HK, zh-CN or en; anything else falls back to Accept-Language. */
      lang?: string;
    };
    body: never;
    response: string;
  };
  getConsoleCounterStatus: {
    path: {
      id: string;
    };
    query: never;
    body: never;
    response: Record<string, unknown>;
  };
  getConsolePaymentQr: {
    path: {
      id: string;
    };
    query: never;
    body: never;
    response: string;
  };
  getConsoleCheckoutQr: {
    path: {
      id: string;
    };
    query: never;
    body: never;
    response: string;
  };
  getConsoleClinics: {
    path: never;
    query: {
      /** zh-HK, zh-CN or en; anything else falls back to Accept-Language. */
      lang?: string;
    };
    body: never;
    response: string;
  };
  getConsoleClinic: {
    path: {
      id: string;
    };
    query: {
      /** zh-HK, zh-CN or en; anything else falls back to Accept-Language. */
      lang?: string;
    };
    body: never;
    response: string;
  };
  getCheckoutPage: {
    path: {
      /** The invoice's checkout token (43 base64url characters). */
      token: string;
    };
    query: {
      /** zh-HK, zh-CN or en; anything else falls back to Accept-Language. */
      lang?: string;
      /** Which of the invoice's accepted stablecoins the page asks for (its address, any case); anything else, or none, is the pricing token. */
      token?: string;
    };
    body: never;
    response: string;
  };
  getCheckoutStatus: {
    path: {
      /** The invoice's checkout token (43 base64url characters). */
      token: string;
    };
    query: {
      /** Which of the invoice's accepted stablecoins the page asks for (its address, any case); anything else, or none, is the pricing token. */
      token?: string;
    };
    body: never;
    response: {
        status: InvoiceStatus;
        amount_due: string;
        amount_paid: string;
        amount_remaining: string;
        token_amount_to_send?: string;
        /** The EIP-681 request for what is still due, in the chosen token; null once nothing is to be paid (settled, expired or void). */
        payment_uri?: string | null;
        /** What is still to send in each accepted token (exact decimal text), the pricing token first. */
        payment_options?: ({
          token?: Address;
          token_amount_to_send?: string;
        })[];
        confirmations: {
          current?: number;
          required?: number;
        } | null;
        paid_at?: string | null;
      };
  };
  submitTravelRule: {
    path: {
      /** The invoice's checkout token (43 base64url characters). */
      token: string;
    };
    query: never;
    body: {
      full_name: string;
      id_type?: 'CCPT' | 'IDCD' | 'MISC';
      id_number?: string;
      /** ISO 3166 alpha-2 */
      id_country?: string;
      birth_date?: string;
      birth_place?: string;
      address_line: string;
      address_town: string;
      /** ISO 3166 alpha-2 */
      address_country: string;
      payer_address: Address;
      signature: string;
    };
    response: {
        status: 'captured';
        payer_address: Address;
      };
  };
  getCheckoutReceipt: {
    path: {
      /** The invoice's checkout token (43 base64url characters). */
      token: string;
    };
    query: {
      /** zh-HK, zh-CN or en; anything else falls back to Accept-Language. */
      lang?: string;
    };
    body: never;
    response: string;
  };
  getCheckoutReceiptPdf: {
    path: {
      /** The invoice's checkout token (43 base64url characters). */
      token: string;
    };
    query: {
      /** zh-HK, zh-CN or en; anything else falls back to Accept-Language. */
      lang?: string;
    };
    body: never;
    response: Uint8Array;
  };
  createClinic: {
    path: never;
    query: never;
    body: ClinicCreate;
    response: Clinic & ({
        /** HMAC-SHA256 key of webhook signatures. Shown in this answer only: the gateway keeps it encrypted, and a replay of the request (same Idempotency-Key) answers null. POST /v1/clinics/{id}/webhook-secret issues a new one. */
        webhook_secret: string | null;
      });
  };
  getClinic: {
    path: {
      id: ClinicIdValue;
    };
    query: never;
    body: never;
    response: Clinic;
  };
  updateClinic: {
    path: {
      id: ClinicIdValue;
    };
    query: never;
    body: ClinicUpdate;
    response: Clinic;
  };
  rotateWebhookSecret: {
    path: {
      id: ClinicIdValue;
    };
    query: never;
    body: WebhookSecretRotation;
    response: {
        object: 'webhook_secret';
        clinic_id: ClinicIdValue;
        /** In this answer only; null in a replay. */
        webhook_secret: string | null;
        /** Until when the replaced secret also signs; null when it no longer does. */
        previous_valid_until: string | null;
      };
  };
  proposeSettlementAddressChange: {
    path: {
      id: ClinicIdValue;
    };
    query: never;
    body: SettlementAddressChangeCreate;
    response: SettlementAddressChange;
  };
  listSettlementAddressChanges: {
    path: never;
    query: {
      /** Page size, 1–100 (default 10). */
      limit?: number;
      /** Id of the last change of the previous page. */
      starting_after?: SettlementAddressChangeId;
      /** Id of the first change of the previous page. */
      ending_before?: SettlementAddressChangeId;
      status?: SettlementAddressChangeStatus;
      /** For callers not confined to one clinic. */
      clinic_id?: ClinicIdValue;
    };
    body: never;
    response: SettlementAddressChangeList;
  };
  getSettlementAddressChange: {
    path: {
      id: SettlementAddressChangeId;
    };
    query: never;
    body: never;
    response: SettlementAddressChange;
  };
  approveSettlementAddressChange: {
    path: {
      id: SettlementAddressChangeId;
    };
    query: never;
    body: never;
    response: SettlementAddressChange;
  };
  cancelSettlementAddressChange: {
    path: {
      id: SettlementAddressChangeId;
    };
    query: never;
    body: never;
    response: SettlementAddressChange;
  };
  listApiKeys: {
    path: never;
    query: {
      /** Page size, 1–100 (default 10). */
      limit?: number;
      /** Id of the last key of the previous page. */
      starting_after?: ApiKeyId;
      /** Id of the first key of the previous page. */
      ending_before?: ApiKeyId;
      /** For callers not confined to one clinic. */
      clinic_id?: ClinicIdValue;
    };
    body: never;
    response: ApiKeyList;
  };
  createApiKey: {
    path: never;
    query: never;
    body: ApiKeyCreate;
    response: ApiKey & ({
        /** The key itself; null in a replay. */
        secret: string | null;
      });
  };
  revokeApiKey: {
    path: {
      id: ApiKeyId;
    };
    query: never;
    body: never;
    response: ApiKey;
  };
  listMemberships: {
    path: never;
    query: {
      /** Page size, 1–100 (default 10). */
      limit?: number;
      /** Id of the last membership of the previous page. */
      starting_after?: MembershipId;
      /** Id of the first membership of the previous page. */
      ending_before?: MembershipId;
      /** For callers not confined to one clinic. */
      clinic_id?: ClinicIdValue;
    };
    body: never;
    response: MembershipList;
  };
  createMembership: {
    path: never;
    query: never;
    body: MembershipCreate;
    response: Membership;
  };
  revokeMembership: {
    path: {
      id: MembershipId;
    };
    query: never;
    body: never;
    response: Membership;
  };
  listPriceList: {
    path: never;
    query: {
      clinic_id?: ClinicIdValue;
    };
    body: never;
    response: {
        object: 'list';
        url: string;
        data: PriceListItem[];
        has_more: boolean;
      };
  };
  createPriceListItem: {
    path: never;
    query: never;
    body: {
      code: string;
      name: string;
      unit_amount: DecimalAmount;
      clinic_id?: ClinicIdValue;
    };
    response: PriceListItem;
  };
  archivePriceListItem: {
    path: {
      id: string;
    };
    query: never;
    body: never;
    response: PriceListItem;
  };
  listInvoices: {
    path: never;
    query: {
      /** Page size, 1–100 (default 10). */
      limit?: number;
      /** Id of the last invoice of the previous page. */
      starting_after?: InvoiceId;
      /** Id of the first invoice of the previous page. */
      ending_before?: InvoiceId;
      status?: InvoiceStatus;
      patient_ref?: PatientRef;
      /** For callers not confined to one clinic. */
      clinic_id?: ClinicIdValue;
      /** Created at or after (RFC 3339). */
      created_gte?: string;
      /** Created at or before (RFC 3339). */
      created_lte?: string;
    };
    body: never;
    response: InvoiceList;
  };
  createInvoice: {
    path: never;
    query: never;
    body: InvoiceCreate;
    response: Invoice;
  };
  getInvoice: {
    path: {
      id: InvoiceId;
    };
    query: never;
    body: never;
    response: Invoice;
  };
  getInvoicePaymentQr: {
    path: {
      id: InvoiceId;
    };
    query: never;
    body: never;
    response: string;
  };
  voidInvoice: {
    path: {
      id: InvoiceId;
    };
    query: never;
    body: never;
    response: Invoice;
  };
  reissueCheckoutLink: {
    path: {
      id: InvoiceId;
    };
    query: never;
    body: never;
    response: {
        object: 'checkout_link';
        invoice_id: InvoiceId;
        checkout_url: string | null;
      };
  };
  listWebhookEvents: {
    path: never;
    query: {
      /** Page size, 1–100 (default 10). */
      limit?: number;
      /** Id of the last event of the previous page. */
      starting_after?: WebhookEventId;
      /** Id of the first event of the previous page. */
      ending_before?: WebhookEventId;
      type?: WebhookEventType;
      status?: WebhookEventStatus;
      /** For callers not confined to one clinic. */
      clinic_id?: ClinicIdValue;
    };
    body: never;
    response: WebhookEventList;
  };
  getWebhookEvent: {
    path: {
      id: WebhookEventId;
    };
    query: never;
    body: never;
    response: WebhookEventWithDeliveries;
  };
  redeliverWebhookEvent: {
    path: {
      id: WebhookEventId;
    };
    query: never;
    body: never;
    response: WebhookEvent;
  };
  listLedgerAccounts: {
    path: never;
    query: {
      clinic_id?: ClinicIdValue;
    };
    body: never;
    response: LedgerAccountList;
  };
  listJournalEntries: {
    path: never;
    query: {
      /** Page size, 1–100 (default 10). */
      limit?: number;
      starting_after?: JournalEntryId;
      ending_before?: JournalEntryId;
      clinic_id?: ClinicIdValue;
      invoice_id?: InvoiceId;
      kind?: 'payment' | 'forward' | 'reversal' | 'refund' | 'application' | 'write_off';
    };
    body: never;
    response: JournalEntryList;
  };
  verifyLedgerCheckpoints: {
    path: never;
    query: never;
    body: never;
    response: CheckpointVerification;
  };
  startReconciliation: {
    path: never;
    query: never;
    body: {
      from_block?: number;
      to_block?: number;
      /** Compare the balance of every deposit address of the chain at the run's last block, not only those the range touched or the ledger says hold tokens. The scheduler makes one every RECON_FULL_SWEEP_DAYS. */
      full_sweep?: boolean;
    };
    response: Reconciliation;
  };
  getReconciliation: {
    path: {
      id: ReconciliationId;
    };
    query: never;
    body: never;
    response: Reconciliation;
  };
  exportReconciliation: {
    path: {
      id: ReconciliationId;
    };
    query: {
      format?: 'csv';
    };
    body: never;
    response: string;
  };
  listExceptions: {
    path: never;
    query: {
      /** Page size, 1–100 (default 10). */
      limit?: number;
      starting_after?: ExceptionId;
      ending_before?: ExceptionId;
      type?: ExceptionType;
      status?: ExceptionStatus;
      clinic_id?: ClinicIdValue;
      invoice_id?: InvoiceId;
    };
    body: never;
    response: {
        object: 'list';
        url: string;
        data: Exception[];
        has_more: boolean;
      };
  };
  exportExceptions: {
    path: never;
    query: {
      format?: 'csv';
      type?: ExceptionType;
      status?: ExceptionStatus;
    };
    body: never;
    response: string;
  };
  getException: {
    path: {
      id: ExceptionId;
    };
    query: never;
    body: never;
    response: Exception;
  };
  createResolution: {
    path: {
      id: ExceptionId;
    };
    query: never;
    body: ResolutionCreate;
    response: Resolution;
  };
  getResolution: {
    path: {
      id: ResolutionId;
    };
    query: never;
    body: never;
    response: Resolution;
  };
  approveResolution: {
    path: {
      id: ResolutionId;
    };
    query: never;
    body: never;
    response: Resolution;
  };
  listAuditLog: {
    path: never;
    query: {
      /** Page size, 1–100 (default 10). */
      limit?: number;
      starting_after?: AuditId;
      ending_before?: AuditId;
      clinic_id?: ClinicIdValue;
      action?: string;
      target_id?: string;
    };
    body: never;
    response: AuditLogList;
  };
  verifyAuditLog: {
    path: never;
    query: never;
    body: never;
    response: AuditVerification;
  };
  createStatement: {
    path: never;
    query: {
      clinic_id: ClinicIdValue;
      from: string;
      to: string;
      /** The accepted token the statement is of (one asset each); default: the pricing token, the first of the allow-list. */
      token?: Address;
      /** json (default), csv, pdf, or fhir (a FHIR R4 Bundle). */
      format?: 'json' | 'csv' | 'pdf' | 'fhir';
      /** Language of the PDF's text (both languages' labels are always shown; this picks the first). Default en. */
      lang?: 'en' | 'zh-HK';
    };
    body: never;
    response: Statement;
  };
  getPaymentEvidence: {
    path: {
      id: PaymentId;
    };
    query: never;
    body: never;
    response: PaymentEvidence;
  };
  getPaymentTravelRule: {
    path: {
      id: PaymentId;
    };
    query: never;
    body: never;
    response: TravelRuleRecord;
  };
  getStatement: {
    path: {
      id: StatementId;
    };
    query: {
      /** json (default), csv, pdf, or fhir (a FHIR R4 Bundle). */
      format?: 'json' | 'csv' | 'pdf' | 'fhir';
      /** Language of the PDF's text (both languages' labels are always shown; this picks the first). Default en. */
      lang?: 'en' | 'zh-HK';
    };
    body: never;
    response: Statement;
  };
  getStatementProof: {
    path: {
      id: StatementId;
    };
    query: {
      /** Line number, 1-based. */
      line: number;
    };
    body: never;
    response: StatementProof;
  };
  anchorStatement: {
    path: {
      id: StatementId;
    };
    query: never;
    body: never;
    response: StatementAnchor | StatementAnchorPending;
  };
  listTokenRevocations: {
    path: never;
    query: {
      /** Page size, 1–100 (default 10). */
      limit?: number;
    };
    body: never;
    response: {
        object: 'list';
        data: TokenRevocation[];
      };
  };
  revokeTokens: {
    path: never;
    query: never;
    body: TokenRevocationCreate;
    response: TokenRevocation;
  };
  getFhirInvoice: {
    path: {
      /** Invoice id (inv_… or its FHIR form inv-…). */
      id: string;
    };
    query: never;
    body: never;
    response: Record<string, unknown>;
  };
  getFhirPaymentReconciliation: {
    path: {
      /** A transaction hash (64 hex digits, 0x optional): one forwarding or one payment batch. */
      id: string;
    };
    query: never;
    body: never;
    response: Record<string, unknown>;
  };
  listProblemTypes: {
    path: never;
    query: never;
    body: never;
    response: {
        object: 'list';
        url: string;
        data: ProblemType[];
        has_more: boolean;
      };
  };
  getProblemType: {
    path: {
      code: string;
    };
    query: never;
    body: never;
    response: ProblemType;
  };
}

export type OperationId = keyof Operations;

/** How each operation is called: method, path template, whether it takes an `Idempotency-Key`, and what its answer is. */
export const OPERATIONS = {
  getHealth: { method: 'GET', path: '/health', idempotencyKey: false, answer: 'json' },
  getReady: { method: 'GET', path: '/ready', idempotencyKey: false, answer: 'json' },
  getMetrics: { method: 'GET', path: '/metrics', idempotencyKey: false, answer: 'text' },
  getOpenApi: { method: 'GET', path: '/openapi.yaml', idempotencyKey: false, answer: 'text' },
  getDocs: { method: 'GET', path: '/docs', idempotencyKey: false, answer: 'text' },
  getDocsInit: { method: 'GET', path: '/docs/init.js', idempotencyKey: false, answer: 'text' },
  getSignInPage: { method: 'GET', path: '/auth/sign-in', idempotencyKey: false, answer: 'text' },
  startSignIn: { method: 'GET', path: '/auth/login', idempotencyKey: false, answer: 'none' },
  finishSignIn: { method: 'GET', path: '/auth/callback', idempotencyKey: false, answer: 'none' },
  signOut: { method: 'POST', path: '/auth/sign-out', idempotencyKey: false, answer: 'none' },
  getSignedOutPage: { method: 'GET', path: '/auth/signed-out', idempotencyKey: false, answer: 'text' },
  getSession: { method: 'GET', path: '/auth/session', idempotencyKey: false, answer: 'json' },
  passkeyRegistrationOptions: { method: 'POST', path: '/auth/passkeys/options', idempotencyKey: false, answer: 'json' },
  registerPasskey: { method: 'POST', path: '/auth/passkeys', idempotencyKey: false, answer: 'json' },
  stepUpOptions: { method: 'POST', path: '/auth/step-up/options', idempotencyKey: false, answer: 'json' },
  stepUp: { method: 'POST', path: '/auth/step-up', idempotencyKey: false, answer: 'json' },
  getConsole: { method: 'GET', path: '/console', idempotencyKey: false, answer: 'text' },
  getConsoleFinanceDashboard: { method: 'GET', path: '/console/finance', idempotencyKey: false, answer: 'text' },
  getConsoleExceptions: { method: 'GET', path: '/console/exceptions', idempotencyKey: false, answer: 'text' },
  getConsoleException: { method: 'GET', path: '/console/exceptions/{id}', idempotencyKey: false, answer: 'text' },
  getConsoleReconciliation: { method: 'GET', path: '/console/reconciliation', idempotencyKey: false, answer: 'text' },
  getConsoleStatements: { method: 'GET', path: '/console/statements', idempotencyKey: false, answer: 'text' },
  getConsoleAuditLog: { method: 'GET', path: '/console/audit', idempotencyKey: false, answer: 'text' },
  getConsoleBills: { method: 'GET', path: '/console/bills', idempotencyKey: false, answer: 'text' },
  getConsoleNewBill: { method: 'GET', path: '/console/bills/new', idempotencyKey: false, answer: 'text' },
  getConsoleBill: { method: 'GET', path: '/console/bills/{id}', idempotencyKey: false, answer: 'text' },
  getConsoleCounter: { method: 'GET', path: '/console/bills/{id}/counter', idempotencyKey: false, answer: 'text' },
  getConsoleCounterStatus: { method: 'GET', path: '/console/bills/{id}/status', idempotencyKey: false, answer: 'json' },
  getConsolePaymentQr: { method: 'GET', path: '/console/bills/{id}/payment-qr.svg', idempotencyKey: false, answer: 'text' },
  getConsoleCheckoutQr: { method: 'POST', path: '/console/bills/{id}/checkout-qr', idempotencyKey: false, answer: 'text' },
  getConsoleClinics: { method: 'GET', path: '/console/clinics', idempotencyKey: false, answer: 'text' },
  getConsoleClinic: { method: 'GET', path: '/console/clinics/{id}', idempotencyKey: false, answer: 'text' },
  getCheckoutPage: { method: 'GET', path: '/checkout/{token}', idempotencyKey: false, answer: 'text' },
  getCheckoutStatus: { method: 'GET', path: '/checkout/{token}/status', idempotencyKey: false, answer: 'json' },
  submitTravelRule: { method: 'POST', path: '/checkout/{token}/travel-rule', idempotencyKey: false, answer: 'json' },
  getCheckoutReceipt: { method: 'GET', path: '/checkout/{token}/receipt', idempotencyKey: false, answer: 'text' },
  getCheckoutReceiptPdf: { method: 'GET', path: '/checkout/{token}/receipt.pdf', idempotencyKey: false, answer: 'binary' },
  createClinic: { method: 'POST', path: '/v1/clinics', idempotencyKey: true, answer: 'json' },
  getClinic: { method: 'GET', path: '/v1/clinics/{id}', idempotencyKey: false, answer: 'json' },
  updateClinic: { method: 'PATCH', path: '/v1/clinics/{id}', idempotencyKey: false, answer: 'json' },
  rotateWebhookSecret: { method: 'POST', path: '/v1/clinics/{id}/webhook-secret', idempotencyKey: true, answer: 'json' },
  proposeSettlementAddressChange: { method: 'POST', path: '/v1/clinics/{id}/settlement-address-changes', idempotencyKey: true, answer: 'json' },
  listSettlementAddressChanges: { method: 'GET', path: '/v1/settlement-address-changes', idempotencyKey: false, answer: 'json' },
  getSettlementAddressChange: { method: 'GET', path: '/v1/settlement-address-changes/{id}', idempotencyKey: false, answer: 'json' },
  approveSettlementAddressChange: { method: 'POST', path: '/v1/settlement-address-changes/{id}/approve', idempotencyKey: true, answer: 'json' },
  cancelSettlementAddressChange: { method: 'POST', path: '/v1/settlement-address-changes/{id}/cancel', idempotencyKey: true, answer: 'json' },
  listApiKeys: { method: 'GET', path: '/v1/api-keys', idempotencyKey: false, answer: 'json' },
  createApiKey: { method: 'POST', path: '/v1/api-keys', idempotencyKey: true, answer: 'json' },
  revokeApiKey: { method: 'DELETE', path: '/v1/api-keys/{id}', idempotencyKey: false, answer: 'json' },
  listMemberships: { method: 'GET', path: '/v1/memberships', idempotencyKey: false, answer: 'json' },
  createMembership: { method: 'POST', path: '/v1/memberships', idempotencyKey: true, answer: 'json' },
  revokeMembership: { method: 'DELETE', path: '/v1/memberships/{id}', idempotencyKey: false, answer: 'json' },
  listPriceList: { method: 'GET', path: '/v1/price-list', idempotencyKey: false, answer: 'json' },
  createPriceListItem: { method: 'POST', path: '/v1/price-list', idempotencyKey: true, answer: 'json' },
  archivePriceListItem: { method: 'DELETE', path: '/v1/price-list/{id}', idempotencyKey: false, answer: 'json' },
  listInvoices: { method: 'GET', path: '/v1/invoices', idempotencyKey: false, answer: 'json' },
  createInvoice: { method: 'POST', path: '/v1/invoices', idempotencyKey: true, answer: 'json' },
  getInvoice: { method: 'GET', path: '/v1/invoices/{id}', idempotencyKey: false, answer: 'json' },
  getInvoicePaymentQr: { method: 'GET', path: '/v1/invoices/{id}/payment-qr.svg', idempotencyKey: false, answer: 'text' },
  voidInvoice: { method: 'POST', path: '/v1/invoices/{id}/void', idempotencyKey: true, answer: 'json' },
  reissueCheckoutLink: { method: 'POST', path: '/v1/invoices/{id}/checkout-link', idempotencyKey: true, answer: 'json' },
  listWebhookEvents: { method: 'GET', path: '/v1/webhooks/events', idempotencyKey: false, answer: 'json' },
  getWebhookEvent: { method: 'GET', path: '/v1/webhooks/events/{id}', idempotencyKey: false, answer: 'json' },
  redeliverWebhookEvent: { method: 'POST', path: '/v1/webhooks/events/{id}/redeliver', idempotencyKey: true, answer: 'json' },
  listLedgerAccounts: { method: 'GET', path: '/v1/ledger/accounts', idempotencyKey: false, answer: 'json' },
  listJournalEntries: { method: 'GET', path: '/v1/ledger/entries', idempotencyKey: false, answer: 'json' },
  verifyLedgerCheckpoints: { method: 'GET', path: '/v1/ledger/checkpoints/verify', idempotencyKey: false, answer: 'json' },
  startReconciliation: { method: 'POST', path: '/v1/reconciliations', idempotencyKey: true, answer: 'json' },
  getReconciliation: { method: 'GET', path: '/v1/reconciliations/{id}', idempotencyKey: false, answer: 'json' },
  exportReconciliation: { method: 'GET', path: '/v1/reconciliations/{id}/export', idempotencyKey: false, answer: 'text' },
  listExceptions: { method: 'GET', path: '/v1/exceptions', idempotencyKey: false, answer: 'json' },
  exportExceptions: { method: 'GET', path: '/v1/exceptions/export', idempotencyKey: false, answer: 'text' },
  getException: { method: 'GET', path: '/v1/exceptions/{id}', idempotencyKey: false, answer: 'json' },
  createResolution: { method: 'POST', path: '/v1/exceptions/{id}/resolutions', idempotencyKey: true, answer: 'json' },
  getResolution: { method: 'GET', path: '/v1/resolutions/{id}', idempotencyKey: false, answer: 'json' },
  approveResolution: { method: 'POST', path: '/v1/resolutions/{id}/approve', idempotencyKey: true, answer: 'json' },
  listAuditLog: { method: 'GET', path: '/v1/audit-log', idempotencyKey: false, answer: 'json' },
  verifyAuditLog: { method: 'GET', path: '/v1/audit-log/verify', idempotencyKey: false, answer: 'json' },
  createStatement: { method: 'GET', path: '/v1/statements', idempotencyKey: false, answer: 'json' },
  getPaymentEvidence: { method: 'GET', path: '/v1/payments/{id}/evidence', idempotencyKey: false, answer: 'json' },
  getPaymentTravelRule: { method: 'GET', path: '/v1/payments/{id}/travel-rule', idempotencyKey: false, answer: 'json' },
  getStatement: { method: 'GET', path: '/v1/statements/{id}', idempotencyKey: false, answer: 'json' },
  getStatementProof: { method: 'GET', path: '/v1/statements/{id}/proof', idempotencyKey: false, answer: 'json' },
  anchorStatement: { method: 'POST', path: '/v1/statements/{id}/anchor', idempotencyKey: true, answer: 'json' },
  listTokenRevocations: { method: 'GET', path: '/v1/token-revocations', idempotencyKey: false, answer: 'json' },
  revokeTokens: { method: 'POST', path: '/v1/token-revocations', idempotencyKey: true, answer: 'json' },
  getFhirInvoice: { method: 'GET', path: '/v1/fhir/Invoice/{id}', idempotencyKey: false, answer: 'json' },
  getFhirPaymentReconciliation: { method: 'GET', path: '/v1/fhir/PaymentReconciliation/{id}', idempotencyKey: false, answer: 'json' },
  listProblemTypes: { method: 'GET', path: '/problems', idempotencyKey: false, answer: 'json' },
  getProblemType: { method: 'GET', path: '/problems/{code}', idempotencyKey: false, answer: 'json' },
} as const satisfies Record<OperationId, { method: string; path: string; idempotencyKey: boolean; answer: 'json' | 'text' | 'binary' | 'none' }>;
