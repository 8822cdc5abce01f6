/**
 * `/v1/audit-log`: the hash-chained record of every state change, for auditors and platform
 * administrators, and a check of the whole chain.
 */
import { Router } from 'express';
import { type AuditRow, listAuditLog, presentAuditRow, verifyAuditLog } from '../audit/auditLog.js';
import type { ApiDeps } from './apiDeps.js';
import { requireRole, requireUnconfined } from './auth.js';
import { sendJson } from './json.js';
import { listHandler } from './lists.js';

export function auditRouter({ db, contract, rateLimits }: ApiDeps): Router {
  const router = Router();
  const auditorsOnly = requireRole('auditor', 'platform_admin');

  contract.route(
    router,
    'get',
    '/v1/audit-log',
    auditorsOnly,
    listHandler<AuditRow>({
      url: '/v1/audit-log',
      fetch: (scope, query, page) =>
        listAuditLog(db, scope, { action: query.action as string | undefined, targetId: query.target_id as string | undefined }, page),
      present: (rows) => rows.map(presentAuditRow),
    }),
  );

  // The chain runs through every clinic's rows: only a caller who may read them all checks it.
  contract.route(
    router,
    'get',
    '/v1/audit-log/verify',
    auditorsOnly,
    requireUnconfined('Verifying the whole audit chain needs a token not confined to one clinic.'),
    rateLimits.expensive,
    async (_req, res) => {
      sendJson(res, 200, await verifyAuditLog(db));
    },
  );

  return router;
}
