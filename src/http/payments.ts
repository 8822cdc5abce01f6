/**
 * `/v1/payments/{id}/evidence`: everything the gateway knows of one payment, for the people who
 * answer a bank's, an issuer's or an auditor's questions about it (finance, auditors, the
 * clinic's admin), confined to the caller's clinic.
 */
import { Router } from 'express';
import { paymentEvidence } from '../reports/evidence.js';
import { STATEMENT_ROLES } from '../reports/statement.js';
import type { ApiDeps } from './apiDeps.js';
import { requireRole } from './auth.js';
import { sendJson } from './json.js';
import { scopeOf } from './scope.js';

export function paymentsRouter({ db, contract, network }: ApiDeps): Router {
  const router = Router();
  contract.route(router, 'get', '/v1/payments/{id}/evidence', requireRole(...STATEMENT_ROLES), async (req, res) => {
    sendJson(res, 200, await paymentEvidence(db, scopeOf(res), String(req.params.id), network));
  });
  return router;
}
