/**
 * `/v1/audit-log`: the hash-chained record of every state change, for auditors and platform
 * administrators, and a check of the whole chain.
 */
import { Router } from 'express';
import { pageRequestFrom } from '../platform/pagination.js';
import { listAuditLog, presentAuditRow, verifyAuditLog } from '../audit/auditLog.js';
import type { ApiDeps } from './apiDeps.js';
import { requireRole } from './auth.js';
import { sendJson } from './json.js';
import { validatedQuery } from './openapi.js';

export function auditRouter({ db, contract }: ApiDeps): Router {
  const router = Router();
  const auditorsOnly = requireRole('auditor', 'platform_admin');

  contract.route(router, 'get', '/v1/audit-log', auditorsOnly, async (_req, res) => {
    const query = validatedQuery(res);
    const page = await listAuditLog(
      db,
      {
        ...(query.clinic_id === undefined ? {} : { clinicId: query.clinic_id as string }),
        ...(query.action === undefined ? {} : { action: query.action as string }),
        ...(query.target_id === undefined ? {} : { targetId: query.target_id as string }),
      },
      pageRequestFrom(query),
    );
    sendJson(res, 200, { object: 'list', url: '/v1/audit-log', data: page.data.map(presentAuditRow), has_more: page.hasMore });
  });

  contract.route(router, 'get', '/v1/audit-log/verify', auditorsOnly, async (_req, res) => {
    sendJson(res, 200, await verifyAuditLog(db));
  });

  return router;
}
