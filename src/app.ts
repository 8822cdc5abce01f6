/**
 * The Express application, built from injected dependencies: no globals, no environment reads,
 * so tests build the same app the process serves.
 */

import express, { type Express } from 'express';
import helmet from 'helmet';
import type { Address } from 'viem';
import { clinicExists } from './billing/clinics.js';
import type { ChainClient } from './chain/client.js';
import type { Finality } from './chain/finality.js';
import type { PaymentNetwork } from './chain/paymentNetwork.js';
import type { WebhookUrlRules } from './domain/webhookUrl.js';
import type { ApiDeps, CheckoutSettings } from './http/apiDeps.js';
import { apiKeysRouter } from './http/apiKeys.js';
import { auditRouter } from './http/audit.js';
import { authenticate, metricsAccess } from './http/auth.js';
import { checkoutRouter } from './http/checkout.js';
import { clinicsRouter } from './http/clinics.js';
import { consoleRouter } from './http/console.js';
import { consoleErrorHandler } from './http/consolePages.js';
import { docsRouter } from './http/docs.js';
import { fhirRouter } from './http/fhir.js';
import { healthRouter } from './http/health.js';
import { invoicesRouter } from './http/invoices.js';
import { ledgerRouter } from './http/ledger.js';
import { membershipsRouter } from './http/memberships.js';
import { ApiContract } from './http/openapi.js';
import { paymentsRouter } from './http/payments.js';
import { priceListRouter } from './http/priceList.js';
import { errorHandler, notFoundHandler } from './http/problem.js';
import { problemPagesRouter } from './http/problemPages.js';
import { DEFAULT_RATE_LIMITS, type RateLimitSettings, RateLimits } from './http/rateLimits.js';
import { reconciliationRouter } from './http/reconciliation.js';
import { ReportSlots } from './http/reportSlots.js';
import { requestContext } from './http/requestContext.js';
import { cookieSettingsFor, ownOrigin } from './http/sessionCookies.js';
import { settlementAddressChangesRouter } from './http/settlementAddressChanges.js';
import { signInRouter } from './http/signIn.js';
import { statementsRouter } from './http/statements.js';
import { tokenRevocationsRouter } from './http/tokenRevocations.js';
import { webhooksRouter } from './http/webhooks.js';
import { type ApiKeyMode, isApiKey, verifyApiKey } from './identity/apiKeys.js';
import { DEFAULT_JWT_MAX_AGE_SECONDS, type VerifyToken } from './identity/jwt.js';
import type { OidcRelyingParty } from './identity/oidc.js';
import { RevocationList } from './identity/revocations.js';
import { DEFAULT_SESSION_SETTINGS, findSession, type SessionSettings } from './identity/sessions.js';
import { registerOperationalMetrics } from './operationalMetrics.js';
import type { Db } from './platform/db.js';
import type { Logger } from './platform/log.js';
import type { Metrics } from './platform/metrics.js';
import type { SecretBox } from './platform/secretBox.js';
import type { StatementAnchorer } from './reports/statementAnchor.js';

export interface AppDeps {
  db: Db;
  /** The pool of long reads (statements, exports); defaults to `db`. */
  reportsDb?: Db | undefined;
  /** How long a download may go unread before it is cut; default 60 s. */
  streamStallTimeoutMs?: number | undefined;
  /** Long downloads at once in this process (the reports pool's size); default 4, two per caller. */
  maxReportsAtOnce?: number | undefined;
  /** Where clinics' webhooks may go; default: https or http, public addresses and loopback. */
  webhookUrls?: WebhookUrlRules | undefined;
  /** Seals and opens secrets kept at rest (clinics' webhook secrets). */
  secrets: SecretBox;
  chain: ChainClient;
  logger: Logger;
  metrics: Metrics;
  openapiYaml: string;
  bodyLimitBytes: number;
  readinessTimeoutMs: number;
  network: PaymentNetwork;
  verifyToken: VerifyToken;
  /** The longest a token is accepted after it was issued (JWT_MAX_AGE_SECONDS); default 24 h. */
  jwtMaxAgeSeconds?: number | undefined;
  /** When a block is final, for reconciliation, refund matching and the confirmations shown. */
  finality: Finality;
  /** Checkout links, indicative rates and the explorer link of receipts. */
  checkout?: CheckoutSettings | undefined;
  /** Sends statement anchors; absent when ANCHOR_STATEMENTS is off (anchoring answers 409). */
  anchorer?: StatementAnchorer | undefined;
  /** The bearer token `GET /metrics` requires; absent: metrics are open. */
  metricsToken?: string | undefined;
  /** Requests per window (0 turns one off); default {@link DEFAULT_RATE_LIMITS}. */
  rateLimits?: RateLimitSettings | undefined;
  /** Express's `trust proxy`: which proxies' X-Forwarded-For names the client. Default: none. */
  trustProxy?: number | readonly string[] | undefined;
  /** More of this process's pools to report in /metrics (the workers'), besides the API's and the reports'. */
  otherPools?: Record<string, Db> | undefined;
  /** `live` API keys in production, `test` elsewhere; default `test`. */
  apiKeyMode?: ApiKeyMode | undefined;
  /** The relayer's address, for the balance gauges in /metrics. */
  relayerAddress?: Address | undefined;
  /** People's sign-in; absent: no identity provider, sessions last {@link DEFAULT_SESSION_SETTINGS}. */
  signIn?: AppSignIn | undefined;
  /** Whether approvals and key handling may be done by token (ALLOW_TOKEN_APPROVALS); default true. */
  allowTokenApprovals?: boolean | undefined;
  /** Production: cookies are always Secure. */
  production?: boolean | undefined;
}

export interface AppSignIn {
  /** The identity provider people sign in with; read per request, so the dev stack can start its own after the API listens. */
  relyingParty(): OidcRelyingParty | undefined;
  sessions?: SessionSettings | undefined;
}

/** Builds the gateway's HTTP app. `app.locals.contract` is the loaded API contract. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.set('json escape', true);
  // Client addresses (rate limits by address) come from X-Forwarded-For only through proxies we were told to trust.
  app.set('trust proxy', typeof deps.trustProxy === 'number' ? deps.trustProxy : deps.trustProxy ? [...deps.trustProxy] : false);

  registerOperationalMetrics(deps.metrics, {
    db: deps.db,
    pools: { api: deps.db, ...(deps.reportsDb ? { reports: deps.reportsDb } : {}), ...deps.otherPools },
    chain: deps.chain,
    relayer: deps.relayerAddress,
  });
  app.use(requestContext(deps.logger, deps.metrics));
  app.use(helmet());
  // Only application/json is parsed: the contract declares no other body type (anything else is a 415).
  app.use(express.json({ limit: deps.bodyLimitBytes, strict: true, type: 'application/json' }));

  const rateLimits = new RateLimits(deps.db, deps.rateLimits ?? DEFAULT_RATE_LIMITS);
  // Everything outside /v1: health, metrics, docs, problem pages, checkout, sign-in and the console.
  // API requests leave it at once rather than be matched against every one of its routes.
  const pages = express.Router();
  pages.use((req, _res, next) => next(req.path.startsWith('/v1/') ? 'router' : undefined));
  app.use(pages);
  // What answers without a token is limited per client address, before any work is done.
  pages.use(['/checkout', '/ready', '/problems'], rateLimits.public);

  const revocations = new RevocationList(deps.db, deps.jwtMaxAgeSeconds ?? DEFAULT_JWT_MAX_AGE_SECONDS);

  const contract = new ApiContract(deps.openapiYaml);
  app.locals.contract = contract;
  const api: ApiDeps = {
    db: deps.db,
    reportsDb: deps.reportsDb ?? deps.db,
    streamStallTimeoutMs: deps.streamStallTimeoutMs ?? 60_000,
    reportSlots: new ReportSlots(deps.maxReportsAtOnce ?? 4, 2),
    rateLimits,
    webhookUrls: deps.webhookUrls ?? { requireHttps: false, allowedNetworks: ['127.0.0.0/8', '::1'] },
    secrets: deps.secrets,
    chain: deps.chain,
    logger: deps.logger,
    contract,
    network: deps.network,
    finality: deps.finality,
    verifyToken: deps.verifyToken,
    revocations,
    checkout: deps.checkout ?? {},
    anchorer: deps.anchorer,
    apiKeyMode: deps.apiKeyMode ?? 'test',
    allowTokenApprovals: deps.allowTokenApprovals ?? true,
  };
  const sessionSettings = deps.signIn?.sessions ?? DEFAULT_SESSION_SETTINGS;
  const cookies = cookieSettingsFor(api.checkout.publicUrl, deps.production ?? false);

  pages.use(
    healthRouter({
      db: deps.db,
      chain: deps.chain,
      chainId: deps.network.chainId,
      checkTimeoutMs: deps.readinessTimeoutMs,
      sanctionsOracle: deps.network.sanctionsOracle,
    }),
  );
  pages.get('/metrics', metricsAccess(deps.metricsToken), async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  pages.use(docsRouter(deps.openapiYaml));
  pages.use(problemPagesRouter());
  pages.use(checkoutRouter(api));
  pages.use(['/auth', '/console'], rateLimits.public);
  pages.use(signInRouter(api, { relyingParty: () => deps.signIn?.relyingParty(), sessions: sessionSettings, cookies }));
  pages.use(consoleRouter(api));
  // Pages people read: errors there are pages too (the API's stay problem+json).
  pages.use(['/console', '/auth'], consoleErrorHandler(deps.logger));

  app.use(
    '/v1',
    authenticate({
      // A clinic system's API key (`cpk_…`) or a JWT from the operator's identity provider.
      verify: (token) => (isApiKey(token) ? verifyApiKey(deps.db, token) : deps.verifyToken(token)),
      clinicExists: (id) => clinicExists(deps.db, id),
      isRevoked: (principal) => revocations.isRevoked(principal),
      failedAuth: rateLimits.failedAuth,
      sessions: {
        cookies,
        find: (secret) => findSession(deps.db, secret, sessionSettings),
        origin: (req) => ownOrigin(req, api.checkout.publicUrl),
      },
      logger: deps.logger,
    }),
  );
  for (const router of [
    clinicsRouter,
    invoicesRouter,
    webhooksRouter,
    ledgerRouter,
    fhirRouter,
    auditRouter,
    statementsRouter,
    paymentsRouter,
    reconciliationRouter,
    tokenRevocationsRouter,
    apiKeysRouter,
    membershipsRouter,
    priceListRouter,
    settlementAddressChangesRouter,
  ])
    app.use(router(api));

  app.use(rateLimits.public, notFoundHandler);
  app.use(errorHandler(deps.logger));
  return app;
}
