/**
 * `/v1/memberships`: who may sign in when the identity provider does not give roles. A platform
 * admin invites an e-mail address with a role (and clinic); a clinic admin, people of their own
 * clinic. Revoking one ends the person's sessions at once.
 */
import { Router } from 'express';
import { clinicExists } from '../billing/clinics.js';
import { ForbiddenError } from '../identity/errors.js';
import { createMembership, listMemberships, type MembershipRow, presentMembership, revokeMembership } from '../identity/memberships.js';
import type { Role } from '../identity/principal.js';
import { NotFoundError } from '../platform/errors.js';
import { withTransaction } from '../platform/transaction.js';
import type { ApiDeps } from './apiDeps.js';
import { actorOf, principalOf, requireRole } from './auth.js';
import { idempotent } from './idempotency.js';
import { sendJson } from './json.js';
import { listHandler } from './lists.js';
import { requireClinicInScope, scopeOf } from './scope.js';

export function membershipsRouter({ db, logger, contract }: ApiDeps): Router {
  const router = Router();
  const admins = requireRole('platform_admin', 'clinic_admin');

  contract.route(
    router,
    'post',
    '/v1/memberships',
    admins,
    idempotent(db, logger, async (trx, req, res) => {
      const body = req.body as { email: string; role: Role; clinic_id?: string | null };
      const principal = principalOf(res);
      const clinicId = body.clinic_id ?? principal.clinicId ?? null;
      if (principal.role !== 'platform_admin') {
        // A clinic admin invites people of their own clinic, never a platform admin or someone of every clinic.
        if (body.role === 'platform_admin' || clinicId === null) throw new ForbiddenError('A clinic admin invites people of their own clinic only.');
      }
      if (clinicId !== null) {
        requireClinicInScope(res, clinicId);
        if (!(await clinicExists(trx, clinicId))) throw new NotFoundError('clinic');
      }
      const row = await createMembership(trx, actorOf(res), { email: body.email, role: body.role, clinicId, invitedBy: principal.sub });
      return { status: 201, body: presentMembership(row) };
    }),
  );

  contract.route(
    router,
    'get',
    '/v1/memberships',
    admins,
    listHandler<MembershipRow>({
      url: '/v1/memberships',
      fetch: (scope, _query, page) => listMemberships(db, scope, page),
      present: (rows) => rows.map(presentMembership),
    }),
  );

  contract.route(router, 'delete', '/v1/memberships/{id}', admins, async (req, res) => {
    const revoked = await withTransaction(db, (trx) => revokeMembership(trx, actorOf(res), scopeOf(res), req.params.id as string));
    sendJson(res, 200, presentMembership(revoked));
  });

  return router;
}
