/**
 * `/v1/invoices`: clinics bill patients; everyone allowed to see a clinic can read its invoices.
 */
import { Router } from 'express';
import QRCode from 'qrcode';
import { checkoutUrl } from '../billing/checkoutToken.js';
import {
  type CreateInvoiceInput,
  getInvoice,
  type InvoiceClinicRead,
  type InvoiceRow,
  listInvoices,
  planInvoice,
  presentInvoice,
  reissueCheckoutToken,
  voidInvoice,
} from '../billing/invoices.js';
import { paymentUri } from '../billing/paymentUri.js';
import { TravelRuleError } from '../compliance/errors.js';
import { apiAddress } from '../domain/address.js';
import type { InvoiceStatus } from '../domain/invoiceStatus.js';
import { ForbiddenError } from '../identity/errors.js';
import { CLINIC_ROLES } from '../identity/principal.js';
import { invoiceChainViews } from '../settlement/transfers.js';
import { enqueueWebhookEvent, webhookInvoice } from '../webhooks/outbox.js';
import type { ApiDeps } from './apiDeps.js';
import { actorOf, principalOf, requireRole } from './auth.js';
import { idempotent, idempotentCreate } from './idempotency.js';
import { sendJson } from './json.js';
import { listHandler } from './lists.js';
import { scopeOf } from './scope.js';

export function invoicesRouter({ db, logger, contract, network, checkout }: ApiDeps): Router {
  const shown = { publicUrl: checkout.publicUrl };
  const router = Router();
  const clinicRolesOnly = requireRole(...CLINIC_ROLES);

  contract.route(
    router,
    'post',
    '/v1/invoices',
    clinicRolesOnly,
    idempotentCreate(db, logger, (req, res) => {
      const { clinicId } = principalOf(res);
      if (clinicId === undefined) throw new ForbiddenError('Only a clinic can issue invoices.');
      const now = new Date();
      const plan = planInvoice(clinicId, req.body as CreateInvoiceInput, network, now, {
        referenceRates: checkout.referenceRates,
        travelRuleThresholdHkd: checkout.travelRuleThresholdHkd,
      });
      return {
        read: plan.read,
        prepare: (clinic: InvoiceClinicRead | undefined) => {
          const invoice = plan.prepare(clinic);
          const body = presentInvoice(invoice.row, now, undefined, { ...shown, checkoutToken: invoice.checkoutToken });
          return {
            status: 201,
            body,
            // The checkout token is not kept: a replay answers checkout_url null (POST …/checkout-link issues a new one).
            replayBody: { ...body, checkout_url: null },
            writes: [invoice.insert],
            audit: [invoice.audit],
          };
        },
      };
    }),
  );

  contract.route(
    router,
    'get',
    '/v1/invoices',
    listHandler<InvoiceRow>({
      url: '/v1/invoices',
      fetch: (scope, query, page) =>
        listInvoices(
          db,
          scope,
          {
            status: query.status as InvoiceStatus | undefined,
            patientRef: query.patient_ref as string | undefined,
            createdGte: query.created_gte === undefined ? undefined : new Date(query.created_gte as string),
            createdLte: query.created_lte === undefined ? undefined : new Date(query.created_lte as string),
          },
          page,
        ),
      present: async (rows) => {
        const now = new Date();
        const views = await invoiceChainViews(
          db,
          network.chainId,
          rows.map((row) => row.id),
        );
        return rows.map((row) => presentInvoice(row, now, views.get(row.id), shown));
      },
    }),
  );

  contract.route(router, 'get', '/v1/invoices/{id}', async (req, res) => {
    const invoice = await getInvoice(db, scopeOf(res), req.params.id as string);
    const views = await invoiceChainViews(db, invoice.token_chain_id, [invoice.id]);
    sendJson(res, 200, presentInvoice(invoice, new Date(), views.get(invoice.id), shown));
  });

  contract.route(router, 'get', '/v1/invoices/{id}/payment-qr.svg', async (req, res) => {
    const invoice = await getInvoice(db, scopeOf(res), req.params.id as string);
    if (invoice.travel_rule === 'pending') {
      throw new TravelRuleError(
        'travel_rule_required',
        "The payer's travel-rule information is not in yet: the invoice shows no place to pay until they give it on its checkout page.",
      );
    }
    const uri = paymentUri({
      chainId: invoice.token_chain_id,
      token: apiAddress(invoice.token_address),
      recipient: apiAddress(invoice.deposit_address),
      amount: BigInt(invoice.token_amount_due),
    });
    res.type('image/svg+xml').send(await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 }));
  });

  contract.route(
    router,
    'post',
    '/v1/invoices/{id}/void',
    clinicRolesOnly,
    idempotent(db, logger, async (trx, req, res) => {
      const invoice = await voidInvoice(trx, actorOf(res), scopeOf(res), req.params.id as string);
      const body = presentInvoice(invoice, new Date(), undefined, shown);
      // The clinic's systems hear of it as of every other change of status, in the same transaction
      // (webhookInvoice leaves out the checkout link and the descriptions).
      await enqueueWebhookEvent(trx, { clinicId: invoice.clinic_id, type: 'invoice.voided', data: webhookInvoice(body) });
      return { status: 200, body };
    }),
  );

  contract.route(
    router,
    'post',
    '/v1/invoices/{id}/checkout-link',
    clinicRolesOnly,
    idempotent(db, logger, async (trx, req, res) => {
      const invoice = await reissueCheckoutToken(trx, actorOf(res), scopeOf(res), req.params.id as string);
      const link = (token: string | null) => ({
        object: 'checkout_link',
        invoice_id: invoice.id,
        checkout_url: token === null ? null : checkoutUrl(token, shown.publicUrl),
      });
      return { status: 201, body: link(invoice.checkout_token), replayBody: link(null) };
    }),
  );

  return router;
}
