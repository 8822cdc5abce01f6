/**
 * `/v1/webhooks/events`: what the gateway announced to a clinic's webhook endpoint, how each
 * attempt went, and a way to send an event again. Everyone who may see a clinic may read its
 * events; its clinic_admin (and platform admins) may ask for a redelivery.
 */
import { Router } from 'express';
import {
  getWebhookEvent,
  listWebhookDeliveries,
  listWebhookEvents,
  presentWebhookEvent,
  redeliverWebhookEvent,
  type WebhookEventRow,
  type WebhookEventStatus,
  type WebhookEventType,
} from '../webhooks/outbox.js';
import type { ApiDeps } from './apiDeps.js';
import { actorOf, requireRole } from './auth.js';
import { idempotent } from './idempotency.js';
import { sendJson } from './json.js';
import { listHandler } from './lists.js';
import { scopeOf } from './scope.js';

export function webhooksRouter({ db, logger, contract }: ApiDeps): Router {
  const router = Router();

  contract.route(
    router,
    'get',
    '/v1/webhooks/events',
    listHandler<WebhookEventRow>({
      url: '/v1/webhooks/events',
      fetch: (scope, query, page) =>
        listWebhookEvents(db, scope, { type: query.type as WebhookEventType | undefined, status: query.status as WebhookEventStatus | undefined }, page),
      present: (rows) => rows.map((row) => presentWebhookEvent(row)),
    }),
  );

  contract.route(router, 'get', '/v1/webhooks/events/{id}', async (req, res) => {
    const event = await getWebhookEvent(db, scopeOf(res), req.params.id as string);
    sendJson(res, 200, presentWebhookEvent(event, await listWebhookDeliveries(db, event.id)));
  });

  contract.route(
    router,
    'post',
    '/v1/webhooks/events/{id}/redeliver',
    requireRole('clinic_admin', 'platform_admin'),
    idempotent(db, logger, async (trx, req, res) => {
      const event = await redeliverWebhookEvent(trx, actorOf(res), scopeOf(res), req.params.id as string);
      logger.info(
        { event_id: event.id, event_type: event.type, clinic_id: event.clinic_id, req_id: res.locals.requestId as string | undefined },
        'webhook redelivery requested',
      );
      return { status: 202, body: presentWebhookEvent(event) };
    }),
  );

  return router;
}
