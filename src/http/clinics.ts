/**
 * `/v1/clinics`: platform administrators onboard clinics; a clinic's own users may read theirs,
 * and its administrators rotate its webhook secret. Settlement address changes, which need a
 * second person, are in settlementAddressChanges.ts.
 */
import { Router } from 'express';
import { createClinic, getClinic, presentClinic, rotateWebhookSecret, updateClinic } from '../billing/clinics.js';
import { parseAddressParam } from '../domain/address.js';
import { parseWebhookUrl } from '../domain/webhookUrl.js';
import { withTransaction } from '../platform/transaction.js';
import type { ApiDeps } from './apiDeps.js';
import { actorOf, requireRole, requireStepUp } from './auth.js';
import { idempotent } from './idempotency.js';
import { sendJson } from './json.js';
import { requireClinicInScope } from './scope.js';

interface ClinicBody {
  name?: string;
  settlement_address?: string;
  webhook_url?: string | null;
  webhook_include_patient_ref?: boolean;
}

/** How long a replaced webhook secret keeps signing when the rotation does not say. */
const DEFAULT_OVERLAP_HOURS = 24;

export function clinicsRouter({ db, logger, contract, webhookUrls, secrets, allowTokenApprovals }: ApiDeps): Router {
  const router = Router();

  contract.route(
    router,
    'post',
    '/v1/clinics',
    requireRole('platform_admin'),
    idempotent(db, logger, async (trx, req, res) => {
      const body = req.body as Required<Pick<ClinicBody, 'name' | 'settlement_address'>> & ClinicBody;
      const clinic = await createClinic(trx, actorOf(res), {
        name: body.name,
        settlementAddress: parseAddressParam(body.settlement_address, 'settlement_address'),
        webhookUrl: body.webhook_url === undefined || body.webhook_url === null ? undefined : parseWebhookUrl(body.webhook_url, 'webhook_url', webhookUrls),
        webhookIncludePatientRef: body.webhook_include_patient_ref,
        secrets,
      });
      // The secret is shown in this answer only: a replay of the request shows null (it is never kept in clear).
      return {
        status: 201,
        body: { ...presentClinic(clinic), webhook_secret: clinic.webhookSecretShownOnce },
        replayBody: { ...presentClinic(clinic), webhook_secret: null },
      };
    }),
  );

  contract.route(
    router,
    'post',
    '/v1/clinics/{id}/webhook-secret',
    requireRole('platform_admin', 'clinic_admin'),
    requireStepUp(allowTokenApprovals),
    idempotent(db, logger, async (trx, req, res) => {
      const id = req.params.id as string;
      requireClinicInScope(res, id);
      const body = (req.body ?? {}) as { overlap_hours?: number };
      const rotated = await rotateWebhookSecret(trx, actorOf(res), id, {
        secrets,
        overlapHours: body.overlap_hours ?? DEFAULT_OVERLAP_HOURS,
        now: new Date(),
      });
      const answer = (secret: string | null) => ({
        object: 'webhook_secret',
        clinic_id: id,
        webhook_secret: secret,
        previous_valid_until: rotated.previousValidUntil?.toISOString() ?? null,
      });
      return { status: 201, body: answer(rotated.webhookSecretShownOnce), replayBody: answer(null) };
    }),
  );

  contract.route(router, 'get', '/v1/clinics/{id}', async (req, res) => {
    const id = req.params.id as string;
    requireClinicInScope(res, id);
    sendJson(res, 200, presentClinic(await getClinic(db, id)));
  });

  contract.route(router, 'patch', '/v1/clinics/{id}', requireRole('platform_admin'), async (req, res) => {
    const body = req.body as ClinicBody;
    const clinic = await withTransaction(db, (trx) =>
      updateClinic(trx, actorOf(res), req.params.id as string, {
        name: body.name,
        webhookUrl:
          body.webhook_url === undefined || body.webhook_url === null ? body.webhook_url : parseWebhookUrl(body.webhook_url, 'webhook_url', webhookUrls),
        webhookIncludePatientRef: body.webhook_include_patient_ref,
      }),
    );
    sendJson(res, 200, presentClinic(clinic));
  });

  return router;
}
