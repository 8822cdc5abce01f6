/**
 * `/v1/token-revocations`: platform administrators revoke API tokens, one by its `jti` or all of
 * a subject's issued so far, and list what they revoked.
 */
import { Router } from 'express';
import { listRevocations, presentRevocation, type RevocationKind, revokeTokens } from '../identity/revocations.js';
import type { ApiDeps } from './apiDeps.js';
import { actorOf, requireRole } from './auth.js';
import { idempotent } from './idempotency.js';
import { sendJson } from './json.js';
import { validatedQuery } from './openapi.js';

export function tokenRevocationsRouter({ db, logger, contract, revocations }: ApiDeps): Router {
  const router = Router();
  const admins = requireRole('platform_admin');

  contract.route(
    router,
    'post',
    '/v1/token-revocations',
    admins,
    idempotent(db, logger, async (trx, req, res) => {
      const body = req.body as { jti?: string; sub?: string; reason: string };
      const kind: RevocationKind = body.jti !== undefined ? 'jti' : 'sub';
      const row = await revokeTokens(trx, actorOf(res), { kind, value: (body.jti ?? body.sub)!, reason: body.reason });
      // In force on this instance from the next request; on the others within REVOCATION_REFRESH_MS.
      revocations.invalidate();
      res.once('finish', () => revocations.invalidate());
      return { status: 201, body: presentRevocation(row) };
    }),
  );

  contract.route(router, 'get', '/v1/token-revocations', admins, async (_req, res) => {
    const limit = (validatedQuery(res).limit as number | undefined) ?? 10;
    sendJson(res, 200, { object: 'list', data: (await listRevocations(db, limit)).map(presentRevocation) });
  });

  return router;
}
