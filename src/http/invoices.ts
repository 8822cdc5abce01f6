/**
 * `/v1/invoices`: clinics bill patients; everyone allowed to see a clinic can read its invoices.
 */
import { Router } from 'express';
import QRCode from 'qrcode';
import { ForbiddenError } from '../identity/errors.js';
import { CLINIC_ROLES } from '../identity/principal.js';
import { pageRequestFrom } from '../platform/pagination.js';
import type { InvoiceStatus } from '../domain/invoiceStatus.js';
import { invoiceAuditSummary, invoiceTransfers, prepareInvoice, getInvoice, listInvoices, presentInvoice, voidInvoice, type CreateInvoiceInput } from '../billing/invoices.js';
import { paymentUri } from '../billing/paymentUri.js';
import { apiAddress } from '../domain/address.js';
import { readCursor } from '../chain/cursor.js';
import type { ApiDeps } from './apiDeps.js';
import { appendAudit } from '../audit/auditLog.js';
import { actorOf, principalOf, requireRole } from './auth.js';
import { idempotent, idempotentCreate } from './idempotency.js';
import { sendJson } from './json.js';
import { validatedQuery } from './openapi.js';

export function invoicesRouter({ db, logger, contract, network, checkout }: ApiDeps): Router {
  const shown = { publicUrl: checkout.publicUrl };
  const router = Router();
  const clinicRolesOnly = requireRole(...CLINIC_ROLES);

  contract.route(
    router,
    'post',
    '/v1/invoices',
    clinicRolesOnly,
    idempotentCreate(db, logger, async (req, res) => {
      const principal = principalOf(res);
      if (principal.clinicId === undefined) throw new ForbiddenError('Only a clinic can issue invoices.');
      const now = new Date();
      const invoice = await prepareInvoice(db, principal.clinicId, req.body as CreateInvoiceInput, network, now, { referenceRates: checkout.referenceRates });
      return {
        status: 201,
        body: presentInvoice(invoice, now, undefined, shown),
        table: 'invoices',
        rows: [invoice as unknown as Record<string, unknown>],
        audit: [{ action: 'invoice.created', target: { type: 'invoice', id: invoice.id }, clinicId: invoice.clinic_id, after: invoiceAuditSummary(invoice) }],
      };
    }),
  );

  contract.route(router, 'get', '/v1/invoices', async (_req, res) => {
    const query = validatedQuery(res);
    const page = await listInvoices(
      db,
      principalOf(res),
      {
        ...(query.clinic_id === undefined ? {} : { clinicId: query.clinic_id as string }),
        ...(query.status === undefined ? {} : { status: query.status as InvoiceStatus }),
        ...(query.patient_ref === undefined ? {} : { patientRef: query.patient_ref as string }),
        ...(query.created_gte === undefined ? {} : { createdGte: new Date(query.created_gte as string) }),
        ...(query.created_lte === undefined ? {} : { createdLte: new Date(query.created_lte as string) }),
      },
      pageRequestFrom(query),
    );
    const now = new Date();
    const [transfers, head] = await Promise.all([invoiceTransfers(db, page.data.map((row) => row.id)), readCursor(db, network.chainId)]);
    sendJson(res, 200, {
      object: 'list',
      url: '/v1/invoices',
      data: page.data.map((row) => presentInvoice(row, now, { transfers: transfers.get(row.id)!, head }, shown)),
      has_more: page.hasMore,
    });
  });

  contract.route(router, 'get', '/v1/invoices/{id}', async (req, res) => {
    const invoice = await getInvoice(db, principalOf(res), req.params.id as string);
    const [transfers, head] = await Promise.all([invoiceTransfers(db, [invoice.id]), readCursor(db, invoice.token_chain_id)]);
    sendJson(res, 200, presentInvoice(invoice, new Date(), { transfers: transfers.get(invoice.id)!, head }, shown));
  });

  contract.route(router, 'get', '/v1/invoices/{id}/payment-qr.svg', async (req, res) => {
    const invoice = await getInvoice(db, principalOf(res), req.params.id as string);
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
      const { before, after: invoice } = await voidInvoice(trx, principalOf(res), req.params.id as string);
      await appendAudit(trx, actorOf(res), [
        { action: 'invoice.voided', target: { type: 'invoice', id: invoice.id }, clinicId: invoice.clinic_id, before: { status: before.status }, after: { status: invoice.status } },
      ]);
      return { status: 200, body: presentInvoice(invoice, new Date(), undefined, shown) };
    }),
  );

  return router;
}
