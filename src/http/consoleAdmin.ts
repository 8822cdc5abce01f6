/**
 * The platform administrator's console pages (`/console/clinics…`): server-rendered reads through
 * the same functions as the API's (billing for clinics, settlement for address changes, identity
 * for API keys, memberships and revocations, webhooks for the delivery log). Every change is made
 * by the page's script through `/v1`, so authorization, idempotency and the audit log are the
 * API's own. An unknown clinic answers the console's 404 page.
 */
import { randomUUID } from 'node:crypto';
import { type Request, type Response, Router } from 'express';
import { type ClinicRow, getClinic, listClinics } from '../billing/clinics.js';
import { renderClinicPage, renderClinicsPage } from '../console/admin.js';
import { apiAddress } from '../domain/address.js';
import { listApiKeys } from '../identity/apiKeys.js';
import { listMemberships } from '../identity/memberships.js';
import { listRevocations } from '../identity/revocations.js';
import { NotFoundError } from '../platform/errors.js';
import { listSettlementAddressChanges, statusAt } from '../settlement/settlementAddressChanges.js';
import { listWebhookEvents } from '../webhooks/outbox.js';
import type { ApiDeps } from './apiDeps.js';
import { forSection, principalOf, sendNotFound, sendPage, staffOf } from './consolePages.js';

const SECTION = '/console/clinics';
/** At most this many of each list on a page: the newest. */
const SHOWN = 50;
/** Clinics on the list page (a gateway's clinics fit). */
const CLINICS_SHOWN = 500;

export function consoleAdminRouter(deps: ApiDeps): Router {
  const { db } = deps;
  const router = Router();

  router.use(SECTION, forSection(SECTION));

  router.get(SECTION, async (req, res) => {
    const [clinics, revocations] = await Promise.all([listClinics(db, CLINICS_SHOWN), listRevocations(db, SHOWN)]);
    const view = {
      clinics: clinics.map((clinic) => ({ ...clinic, settlement_address: apiAddress(clinic.settlement_address) })),
      revocations: revocations.map((row) => ({ kind: row.kind, value: row.value, reason: row.reason, revoked_by: row.revoked_by, created_at: row.created_at })),
      // One key per form: a double submit replays the first answer instead of adding a second clinic.
      idempotencyKey: randomUUID(),
    };
    sendPage(req, res, 200, (language) => renderClinicsPage(language, staffOf(res), view));
  });

  const clinicOf = async (req: Request): Promise<ClinicRow | undefined> => {
    try {
      return await getClinic(db, String(req.params.id));
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  };

  router.get(`${SECTION}/:id`, async (req: Request, res: Response) => {
    const clinic = await clinicOf(req);
    if (!clinic) return sendNotFound(req, res);
    const scope = { clinicId: clinic.id };
    const now = new Date();
    const [changes, events, keys, memberships] = await Promise.all([
      listSettlementAddressChanges(db, scope, { now }, { limit: SHOWN }),
      listWebhookEvents(db, scope, {}, { limit: SHOWN }),
      listApiKeys(db, scope, { limit: SHOWN }),
      listMemberships(db, scope, { limit: SHOWN }),
    ]);
    const view = {
      id: clinic.id,
      name: clinic.name,
      settlement_address: apiAddress(clinic.settlement_address),
      webhook_url: clinic.webhook_url,
      webhook_secret_previous_until:
        clinic.webhook_secret_previous_until !== null && clinic.webhook_secret_previous_until > now ? clinic.webhook_secret_previous_until : null,
      created_at: clinic.created_at,
      changes: changes.data.map((change) => ({
        ...change,
        status: statusAt(change, now),
        address: apiAddress(change.address),
        previous_address: apiAddress(change.previous_address),
      })),
      events: events.data.map((event) => ({
        id: event.id,
        type: event.type,
        status: event.status,
        attempts: event.attempts,
        last_error: event.last_error,
        created_at: event.created_at,
      })),
      apiKeys: keys.data,
      memberships: memberships.data,
      viewerSub: principalOf(res).sub,
    };
    sendPage(req, res, 200, (language) => renderClinicPage(language, staffOf(res), view));
  });

  return router;
}
