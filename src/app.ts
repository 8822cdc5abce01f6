/**
 * The Express application, built from injected dependencies: no globals, no environment reads,
 * so tests build the same app the process serves.
 */
import express, { type Express } from 'express';
import helmet from 'helmet';
import type { VerifyToken } from './identity/jwt.js';
import type { ChainClient } from './chain/client.js';
import type { Db } from './platform/db.js';
import { authenticate } from './http/auth.js';
import { auditRouter } from './http/audit.js';
import { checkoutRouter } from './http/checkout.js';
import { clinicsRouter } from './http/clinics.js';
import { docsRouter } from './http/docs.js';
import { fhirRouter } from './http/fhir.js';
import { healthRouter } from './http/health.js';
import { invoicesRouter } from './http/invoices.js';
import { ledgerRouter } from './http/ledger.js';
import { reconciliationRouter } from './http/reconciliation.js';
import { webhooksRouter } from './http/webhooks.js';
import { ApiContract } from './http/openapi.js';
import { errorHandler, notFoundHandler } from './http/problem.js';
import { requestContext } from './http/requestContext.js';
import { statementsRouter } from './http/statements.js';
import type { CheckoutSettings } from './http/apiDeps.js';
import type { StatementAnchorer } from './reports/statementAnchor.js';
import type { PaymentNetwork } from './billing/invoices.js';
import type { Logger } from './platform/log.js';
import type { Metrics } from './platform/metrics.js';

export interface AppDeps {
  db: Db;
  chain: ChainClient;
  logger: Logger;
  metrics: Metrics;
  openapiYaml: string;
  bodyLimitBytes: number;
  readinessTimeoutMs: number;
  network: PaymentNetwork;
  verifyToken: VerifyToken;
  /** How final blocks are told apart, for reconciliation and refund matching. */
  finality: { confirmations: number; useFinalizedTag: boolean; maxBlockRange: bigint };
  /** Checkout links, indicative rates and the explorer link of receipts. */
  checkout?: Omit<CheckoutSettings, 'confirmations'> | undefined;
  /** Sends statement anchors; absent when ANCHOR_STATEMENTS is off (anchoring answers 409). */
  anchorer?: StatementAnchorer | undefined;
}

/** Builds the gateway's HTTP app. `app.locals.contract` is the loaded API contract. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.set('json escape', true);

  app.use(requestContext(deps.logger, deps.metrics));
  app.use(helmet());
  app.use(express.json({ limit: deps.bodyLimitBytes, strict: true, type: ['application/json', 'application/*+json'] }));

  app.use(healthRouter({ db: deps.db, chain: deps.chain, chainId: deps.network.chainId, checkTimeoutMs: deps.readinessTimeoutMs }));
  app.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  app.use(docsRouter(deps.openapiYaml));
  app.use(checkoutRouter({ db: deps.db, settings: { ...deps.checkout, confirmations: deps.finality.confirmations } }));

  const contract = new ApiContract(deps.openapiYaml);
  app.locals.contract = contract;
  const api = {
    db: deps.db,
    logger: deps.logger,
    contract,
    network: deps.network,
    verifyToken: deps.verifyToken,
    checkout: { ...deps.checkout, confirmations: deps.finality.confirmations },
  };
  app.use('/v1', authenticate(deps.verifyToken));
  app.use(clinicsRouter(api));
  app.use(invoicesRouter(api));
  app.use(webhooksRouter(api));
  app.use(ledgerRouter(api));
  app.use(fhirRouter(api));
  app.use(auditRouter(api));
  app.use(statementsRouter({ ...api, anchorer: deps.anchorer }));
  app.use(
    reconciliationRouter({
      ...api,
      chain: deps.chain,
      reconciliation: { chainId: deps.network.chainId, token: deps.network.token.address, ...deps.finality },
    }),
  );

  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger));
  return app;
}
