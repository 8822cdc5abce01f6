/**
 * `/v1/api-keys`: a clinic's admin (or a platform admin, naming the clinic) creates API keys for
 * the clinic's own systems, lists them with when each was last used, and revokes them.
 */
import { Router } from 'express';
import { type ApiKeyRole, type ApiKeyRow, createApiKey, listApiKeys, presentApiKey, revokeApiKey } from '../identity/apiKeys.js';
import { ValidationError } from '../platform/errors.js';
import { withTransaction } from '../platform/transaction.js';
import type { ApiDeps } from './apiDeps.js';
import { actorOf, principalOf, requireRole, requireStepUp } from './auth.js';
import { idempotent } from './idempotency.js';
import { sendJson } from './json.js';
import { listHandler } from './lists.js';
import { requireClinicInScope, scopeOf } from './scope.js';

export function apiKeysRouter({ db, logger, contract, apiKeyMode, allowTokenApprovals }: ApiDeps): Router {
  const router = Router();
  const admins = requireRole('clinic_admin', 'platform_admin');

  contract.route(
    router,
    'post',
    '/v1/api-keys',
    admins,
    requireStepUp(allowTokenApprovals),
    idempotent(db, logger, async (trx, req, res) => {
      const body = req.body as { name: string; role: ApiKeyRole; expires_at?: string; clinic_id?: string };
      const principal = principalOf(res);
      const clinicId = body.clinic_id ?? principal.clinicId;
      if (clinicId === undefined) throw new ValidationError('Name the clinic the key is for ("clinic_id").', 'clinic_id');
      requireClinicInScope(res, clinicId);
      const expiresAt = body.expires_at === undefined ? undefined : new Date(body.expires_at);
      if (expiresAt !== undefined && expiresAt <= new Date()) throw new ValidationError('"expires_at" must be in the future.', 'expires_at');
      const created = await createApiKey(trx, actorOf(res), {
        clinicId,
        name: body.name,
        role: body.role,
        expiresAt,
        mode: apiKeyMode,
        createdBy: principal.sub,
      });
      // The secret is in this answer only; a replay of the request says null.
      return {
        status: 201,
        body: { ...presentApiKey(created.row), secret: created.secret },
        replayBody: { ...presentApiKey(created.row), secret: null },
      };
    }),
  );

  contract.route(
    router,
    'get',
    '/v1/api-keys',
    admins,
    listHandler<ApiKeyRow>({
      url: '/v1/api-keys',
      fetch: (scope, _query, page) => listApiKeys(db, scope, page),
      present: (rows) => rows.map(presentApiKey),
    }),
  );

  contract.route(router, 'delete', '/v1/api-keys/{id}', admins, requireStepUp(allowTokenApprovals), async (req, res) => {
    const revoked = await withTransaction(db, (trx) => revokeApiKey(trx, actorOf(res), scopeOf(res), req.params.id as string, principalOf(res).sub));
    sendJson(res, 200, presentApiKey(revoked));
  });

  return router;
}
