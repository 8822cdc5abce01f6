/**
 * `/v1/payments/{id}/evidence`: everything the gateway knows of one payment, for the people who
 * answer a bank's, an issuer's or an auditor's questions about it (finance, auditors, the
 * clinic's admin), confined to the caller's clinic.
 */
import { Router } from 'express';
import { appendAudit } from '../audit/auditLog.js';
import { withTransaction } from '../platform/transaction.js';
import { paymentEvidence, paymentTravelRule } from '../reports/evidence.js';
import { STATEMENT_ROLES } from '../reports/statement.js';
import type { ApiDeps } from './apiDeps.js';
import { actorOf, requireRole } from './auth.js';
import { sendJson } from './json.js';
import { scopeOf } from './scope.js';

export function paymentsRouter({ db, contract, network, secrets }: ApiDeps): Router {
  const router = Router();
  contract.route(router, 'get', '/v1/payments/{id}/evidence', requireRole(...STATEMENT_ROLES), async (req, res) => {
    sendJson(res, 200, await paymentEvidence(db, scopeOf(res), String(req.params.id), network));
  });
  // The payer's personal data: for auditors and platform admins, never the clinic's staff. Each read is audited.
  contract.route(router, 'get', '/v1/payments/{id}/travel-rule', requireRole('auditor', 'platform_admin'), async (req, res) => {
    const record = await paymentTravelRule(db, secrets, scopeOf(res), String(req.params.id));
    await withTransaction(db, (trx) =>
      appendAudit(trx, actorOf(res), [
        {
          action: 'travel_rule.read',
          target: { type: 'travel_rule_record', id: String(record.id) },
          clinicId: null,
          after: { payment_id: String(record.payment_id) },
        },
      ]),
    );
    sendJson(res, 200, record);
  });
  return router;
}
