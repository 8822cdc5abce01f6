/**
 * Settlement address changes: a platform admin or the clinic's admin proposes a new address for
 * a clinic, and a different person approves it (settlement/settlementAddressChanges.ts). Anyone
 * who may see the clinic may read its changes.
 */
import { Router } from 'express';
import { parseAddressParam } from '../domain/address.js';
import {
  approveSettlementAddressChange,
  cancelSettlementAddressChange,
  getSettlementAddressChange,
  listSettlementAddressChanges,
  presentSettlementAddressChange,
  proposeSettlementAddressChange,
  type SettlementAddressChangeRow,
  type SettlementAddressChangeStatus,
} from '../settlement/settlementAddressChanges.js';
import type { ApiDeps } from './apiDeps.js';
import { actorOf, principalOf, requireRole, requireStepUp } from './auth.js';
import { idempotent } from './idempotency.js';
import { sendJson } from './json.js';
import { listHandler } from './lists.js';
import { scopeOf } from './scope.js';

export function settlementAddressChangesRouter({ db, logger, contract, allowTokenApprovals }: ApiDeps): Router {
  const router = Router();
  const admins = requireRole('platform_admin', 'clinic_admin');

  contract.route(
    router,
    'post',
    '/v1/clinics/{id}/settlement-address-changes',
    admins,
    idempotent(db, logger, async (trx, req, res) => {
      const body = req.body as { address: string; reason: string };
      const now = new Date();
      const change = await proposeSettlementAddressChange(trx, principalOf(res), actorOf(res), req.params.id as string, {
        address: parseAddressParam(body.address, 'address'),
        reason: body.reason,
        now,
      });
      return { status: 201, body: presentSettlementAddressChange(change, now) };
    }),
  );

  contract.route(
    router,
    'get',
    '/v1/settlement-address-changes',
    listHandler<SettlementAddressChangeRow>({
      url: '/v1/settlement-address-changes',
      fetch: (scope, query, page) =>
        listSettlementAddressChanges(db, scope, { status: query.status as SettlementAddressChangeStatus | undefined, now: new Date() }, page),
      present: (rows) => {
        const now = new Date();
        return rows.map((row) => presentSettlementAddressChange(row, now));
      },
    }),
  );

  contract.route(router, 'get', '/v1/settlement-address-changes/{id}', async (req, res) => {
    sendJson(res, 200, presentSettlementAddressChange(await getSettlementAddressChange(db, scopeOf(res), req.params.id as string), new Date()));
  });

  for (const [verb, decide] of [
    ['approve', approveSettlementAddressChange],
    ['cancel', cancelSettlementAddressChange],
  ] as const) {
    contract.route(
      router,
      'post',
      `/v1/settlement-address-changes/{id}/${verb}`,
      admins,
      // Approving moves where the clinic's money goes; cancelling moves nothing.
      verb === 'approve' ? requireStepUp(allowTokenApprovals) : (_req, _res, next) => next(),
      idempotent(db, logger, async (trx, req, res) => {
        const now = new Date();
        const change = await decide(trx, principalOf(res), actorOf(res), req.params.id as string, now);
        return { status: 200, body: presentSettlementAddressChange(change, now) };
      }),
    );
  }

  return router;
}
