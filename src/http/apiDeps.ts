/**
 * http/ — the HTTP edge: routes, request validation against `openapi.yaml`, authentication,
 * idempotent POSTs, problem responses, and the patient's checkout routes. Routes hold no
 * business rules: each validates, scopes the caller to what it may see, calls the folder that
 * owns the job, and presents the result. People's sign-in and sessions come in here too.
 *
 * Owns tables: idempotency_keys, rate_limits.
 * May import: platform, domain, audit, identity, chain, ledger, billing, webhooks, settlement, recon, reports, checkout, console, compliance.
 */
import type { ChainClient } from '../chain/client.js';
import type { Finality } from '../chain/finality.js';
import type { PaymentNetwork } from '../chain/paymentNetwork.js';
import type { WebhookUrlRules } from '../domain/webhookUrl.js';
import type { ApiKeyMode } from '../identity/apiKeys.js';
import type { VerifyToken } from '../identity/jwt.js';
import type { RevocationList } from '../identity/revocations.js';
import type { ReferenceRates } from '../platform/config.js';
import type { Db } from '../platform/db.js';
import type { Logger } from '../platform/log.js';
import type { SecretBox } from '../platform/secretBox.js';
import type { StatementAnchorer } from '../reports/statementAnchor.js';
import type { ApiContract } from './openapi.js';
import type { RateLimits } from './rateLimits.js';
import type { ReportSlots } from './reportSlots.js';

/** What the routers are built from. */
export interface ApiDeps {
  /** The API's pool: short queries, bounded by a statement timeout. */
  db: Db;
  /** The pool of long reads (statements, exports), so that they can never take the API's connections. */
  reportsDb: Db;
  /** How long a download may go unread before it is cut (its connection goes back to the pool). */
  streamStallTimeoutMs: number;
  /** Long downloads at once, per caller and in all. */
  reportSlots: ReportSlots;
  /** Requests per window: by address on public routes, by caller on expensive ones. */
  rateLimits: RateLimits;
  /** Where clinics' webhooks may go. */
  webhookUrls: WebhookUrlRules;
  /** Seals and opens secrets kept at rest (clinics' webhook secrets). */
  secrets: SecretBox;
  chain: ChainClient;
  logger: Logger;
  contract: ApiContract;
  network: PaymentNetwork;
  finality: Finality;
  verifyToken: VerifyToken;
  /** The revoked tokens this instance knows of. */
  revocations: RevocationList;
  /** The patient-facing side: where checkout pages live, indicative rates, the explorer for receipts. */
  checkout: CheckoutSettings;
  /** Sends statement anchors; undefined when ANCHOR_STATEMENTS is off (anchoring answers 409). */
  anchorer: StatementAnchorer | undefined;
  /** Which kind of API key this gateway issues: `live` in production. */
  apiKeyMode: ApiKeyMode;
  /** Whether approvals and key handling may be done by bearer token or API key, without a person's passkey. */
  allowTokenApprovals: boolean;
}

export interface CheckoutSettings {
  publicUrl?: string | undefined;
  referenceRates?: ReferenceRates | undefined;
  /** HKD amount from which invoices need the payer's travel-rule information (TRAVEL_RULE_THRESHOLD_HKD). */
  travelRuleThresholdHkd?: string | undefined;
  explorerTxUrl?: string | undefined;
}
