/**
 * `/v1/clinics`: platform administrators onboard clinics; a clinic's own users may read theirs.
 */
import { Router } from 'express';
import { canSeeClinic } from '../identity/principal.js';
import { parseAddressParam } from '../domain/address.js';
import { clinicAuditSummary, createClinic, getClinic, presentClinic, updateClinic } from '../billing/clinics.js';
import { appendAudit } from '../audit/auditLog.js';
import { withTransaction } from '../platform/transaction.js';
import { NotFoundError } from '../platform/errors.js';
import type { ApiDeps } from './apiDeps.js';
import { actorOf, principalOf, requireRole } from './auth.js';
import { idempotent } from './idempotency.js';
import { sendJson } from './json.js';

interface ClinicBody {
  name?: string;
  settlement_address?: string;
  webhook_url?: string | null;
}

export function clinicsRouter({ db, logger, contract }: ApiDeps): Router {
  const router = Router();

  contract.route(
    router,
    'post',
    '/v1/clinics',
    requireRole('platform_admin'),
    idempotent(db, logger, async (trx, req, res) => {
      const body = req.body as Required<Pick<ClinicBody, 'name' | 'settlement_address'>> & ClinicBody;
      const clinic = await createClinic(trx, {
        name: body.name,
        settlementAddress: parseAddressParam(body.settlement_address, 'settlement_address'),
        webhookUrl: body.webhook_url ?? undefined,
      });
      await appendAudit(trx, actorOf(res), [{ action: 'clinic.created', target: { type: 'clinic', id: clinic.id }, clinicId: clinic.id, after: clinicAuditSummary(clinic) }]);
      return { status: 201, body: presentClinic(clinic, { withSecret: true }) };
    }),
  );

  contract.route(router, 'get', '/v1/clinics/{id}', async (req, res) => {
    const principal = principalOf(res);
    const id = req.params.id as string;
    if (!canSeeClinic(principal, id)) throw new NotFoundError('clinic');
    sendJson(res, 200, presentClinic(await getClinic(db, id)));
  });

  contract.route(router, 'patch', '/v1/clinics/{id}', requireRole('platform_admin'), async (req, res) => {
    const body = req.body as ClinicBody;
    const clinic = await withTransaction(db, async (trx) => {
      const { before, after } = await updateClinic(trx, req.params.id as string, {
        ...(body.name === undefined ? {} : { name: body.name }),
        ...(body.settlement_address === undefined ? {} : { settlementAddress: parseAddressParam(body.settlement_address, 'settlement_address') }),
        ...(body.webhook_url === undefined ? {} : { webhookUrl: body.webhook_url }),
      });
      await appendAudit(trx, actorOf(res), [
        { action: 'clinic.updated', target: { type: 'clinic', id: after.id }, clinicId: after.id, before: clinicAuditSummary(before), after: clinicAuditSummary(after) },
      ]);
      return after;
    });
    sendJson(res, 200, presentClinic(clinic));
  });

  return router;
}
