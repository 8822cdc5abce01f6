/**
 * `/v1/price-list`: the clinic's price list. Everyone of the clinic reads it (the front desk bills
 * from it); its admin (or a platform admin, naming the clinic) adds and archives items.
 */
import { Router } from 'express';
import { clinicExists } from '../billing/clinics.js';
import { archivePriceListItem, createPriceListItem, listPriceList, presentPriceListItem } from '../billing/priceList.js';
import { NotFoundError, ValidationError } from '../platform/errors.js';
import { withTransaction } from '../platform/transaction.js';
import type { ApiDeps } from './apiDeps.js';
import { actorOf, principalOf, requireRole } from './auth.js';
import { idempotent } from './idempotency.js';
import { sendJson } from './json.js';
import { requireClinicInScope, scopeOf } from './scope.js';

export function priceListRouter({ db, logger, contract }: ApiDeps): Router {
  const router = Router();
  const admins = requireRole('clinic_admin', 'platform_admin');

  contract.route(router, 'get', '/v1/price-list', requireRole('clinic_admin', 'clinic_staff', 'platform_admin'), async (req, res) => {
    const clinicId = req.query.clinic_id as string | undefined;
    if (clinicId !== undefined) requireClinicInScope(res, clinicId);
    const items = await listPriceList(db, scopeOf(res), clinicId);
    sendJson(res, 200, { object: 'list', url: '/v1/price-list', data: items.map(presentPriceListItem), has_more: false });
  });

  contract.route(
    router,
    'post',
    '/v1/price-list',
    admins,
    idempotent(db, logger, async (trx, req, res) => {
      const body = req.body as { code: string; name: string; unit_amount: string; clinic_id?: string };
      const clinicId = body.clinic_id ?? principalOf(res).clinicId;
      if (clinicId === undefined) throw new ValidationError('Name the clinic the item is for ("clinic_id").', 'clinic_id');
      requireClinicInScope(res, clinicId);
      if (!(await clinicExists(trx, clinicId))) throw new NotFoundError('clinic');
      const item = await createPriceListItem(trx, actorOf(res), { clinicId, code: body.code, name: body.name, unitAmount: body.unit_amount });
      return { status: 201, body: presentPriceListItem(item) };
    }),
  );

  contract.route(router, 'delete', '/v1/price-list/{id}', admins, async (req, res) => {
    const archived = await withTransaction(db, (trx) => archivePriceListItem(trx, actorOf(res), scopeOf(res), req.params.id as string));
    sendJson(res, 200, presentPriceListItem(archived));
  });

  return router;
}
