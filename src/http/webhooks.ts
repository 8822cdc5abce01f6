/**
 * `/v1/webhooks/events`: what the gateway announced to a clinic's webhook endpoint, how each
 * attempt went, and a way to send an event again. Everyone who may see a clinic may read its
 * events; its clinic_admin (and platform admins) may ask for a redelivery.
 */
import { Router } from 'express';
import { pageRequestFrom } from '../platform/pagination.js';
import {
  getWebhookEvent,
  listWebhookDeliveries,
  listWebhookEvents,
  presentWebhookEvent,
  redeliverWebhookEvent,
  type WebhookEventStatus,
  type WebhookEventType,
} from '../webhooks/outbox.js';
import type { ApiDeps } from './apiDeps.js';
import { appendAudit } from '../audit/auditLog.js';
import { actorOf, principalOf, requireRole } from './auth.js';
import { idempotent } from './idempotency.js';
import { sendJson } from './json.js';
import { validatedQuery } from './openapi.js';

export function webhooksRouter({ db, logger, contract }: ApiDeps): Router {
  const router = Router();

  contract.route(router, 'get', '/v1/webhooks/events', async (_req, res) => {
    const query = validatedQuery(res);
    const page = await listWebhookEvents(
      db,
      principalOf(res),
      {
        ...(query.clinic_id === undefined ? {} : { clinicId: query.clinic_id as string }),
        ...(query.type === undefined ? {} : { type: query.type as WebhookEventType }),
        ...(query.status === undefined ? {} : { status: query.status as WebhookEventStatus }),
      },
      pageRequestFrom(query),
    );
    sendJson(res, 200, { object: 'list', url: '/v1/webhooks/events', data: page.data.map((row) => presentWebhookEvent(row)), has_more: page.hasMore });
  });

  contract.route(router, 'get', '/v1/webhooks/events/{id}', async (req, res) => {
    const event = await getWebhookEvent(db, principalOf(res), req.params.id as string);
    sendJson(res, 200, presentWebhookEvent(event, await listWebhookDeliveries(db, event.id)));
  });

  contract.route(
    router,
    'post',
    '/v1/webhooks/events/{id}/redeliver',
    requireRole('clinic_admin', 'platform_admin'),
    idempotent(db, logger, async (trx, req, res) => {
      const event = await redeliverWebhookEvent(trx, principalOf(res), req.params.id as string);
      logger.info({ event_id: event.id, event_type: event.type, clinic_id: event.clinic_id, req_id: res.locals.requestId as string | undefined }, 'webhook redelivery requested');
      await appendAudit(trx, actorOf(res), [
        { action: 'webhook_event.redelivery_requested', target: { type: 'webhook_event', id: event.id }, clinicId: event.clinic_id, after: { type: event.type, status: event.status } },
      ]);
      return { status: 202, body: presentWebhookEvent(event) };
    }),
  );

  return router;
}
