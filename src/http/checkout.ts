/**
 * `/checkout/:token`: the patient's hosted payment page, its live status, and the receipt (page
 * and PDF). No login: the token is the credential, so every answer is `no-store`, never indexed,
 * sent with no Referer onwards, and framed by nobody. A token that is not an invoice's gets the
 * same 404 page whatever it was. `?token=<address>` picks which of the invoice's accepted
 * stablecoins the page (and its polled status) asks for; any other value is the pricing token.
 */
import express, { type Request, type Response, Router } from 'express';
import QRCode from 'qrcode';
import { getAddress } from 'viem';
import type { AuditActor } from '../audit/auditLog.js';
import { getInvoice, invoiceByCheckoutToken, markTravelRuleCaptured } from '../billing/invoices.js';
import { checkoutPageStatus, loadCheckoutView } from '../checkout/checkoutView.js';
import { type CheckoutLanguage, negotiateLanguage } from '../checkout/messages.js';
import { renderCheckoutPage, renderNotFoundPage, renderReceiptPage } from '../checkout/pages.js';
import { writeReceiptPdf } from '../checkout/receiptPdf.js';
import { TravelRuleError } from '../compliance/errors.js';
import { captureTravelRule, parseTravelRuleForm } from '../compliance/travelRule.js';
import { ValidationError } from '../platform/errors.js';
import { CHECKOUT_ASSETS_DIR } from '../platform/paths.js';
import { withTransaction } from '../platform/transaction.js';
import type { ApiDeps } from './apiDeps.js';
import { sendJson } from './json.js';

/**
 * The pages' Content-Security-Policy: no inline script or style, nothing from another origin,
 * no framing; forms may post only to `formAction` (default: nowhere).
 */
export function pageCsp(formAction = "'none'"): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    `form-action ${formAction}`,
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The patient's pages post no forms at all. */
export const CHECKOUT_CSP = pageCsp();

function patientHeaders(res: Response): void {
  res.setHeader('Content-Security-Policy', CHECKOUT_CSP);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Robots-Tag', 'noindex, nofollow');
  res.setHeader('Referrer-Policy', 'no-referrer');
  // For browsers older than frame-ancestors: nobody frames a payment page.
  res.setHeader('X-Frame-Options', 'DENY');
}

function languageOf(req: Request): CheckoutLanguage {
  return negotiateLanguage(req.query.lang, req.get('accept-language'));
}

function sendNotFound(req: Request, res: Response): void {
  const language = languageOf(req);
  res.status(404).type('html').setHeader('Content-Language', language);
  res.send(renderNotFoundPage(language));
}

/** Who writes a travel-rule record: the patient on the payment page, known by the page's token only. */
const PAYER: AuditActor = { actor: 'checkout:payer', role: 'payer' };

export function checkoutRouter({
  db,
  finality,
  checkout: settings,
  secrets,
  network,
}: Pick<ApiDeps, 'db' | 'finality' | 'checkout' | 'secrets' | 'network'>): Router {
  const router = Router();
  router.use('/checkout', (_req, res, next) => {
    patientHeaders(res);
    next();
  });
  router.use('/checkout/assets', express.static(CHECKOUT_ASSETS_DIR, { index: false, maxAge: '1h', fallthrough: false }));

  // `?token=` picks which accepted token the page asks for (an address, any case); anything else asks for the pricing token.
  const load = (req: Request) => loadCheckoutView(db, String(req.params.token), finality.confirmations, req.query.token);

  router.get('/checkout/:token', async (req, res) => {
    const view = await load(req);
    if (!view) return sendNotFound(req, res);
    const language = languageOf(req);
    // The QR, like the amount and the link, is in the token the patient chose.
    const qr = view.paymentUri === null ? '' : await QRCode.toString(view.paymentUri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    res.status(200).type('html').setHeader('Content-Language', language);
    res.send(renderCheckoutPage(view, language, qr));
  });

  router.get('/checkout/:token/status', async (req, res) => {
    const view = await load(req);
    if (!view) return sendNotFound(req, res);
    sendJson(res, 200, checkoutPageStatus(view));
  });

  router.get('/checkout/:token/receipt', async (req, res) => {
    const view = await load(req);
    if (!view || (view.status !== 'paid' && view.status !== 'overpaid')) return sendNotFound(req, res);
    const language = languageOf(req);
    res.status(200).type('html').setHeader('Content-Language', language);
    res.send(renderReceiptPage(view, language, settings.explorerTxUrl));
  });

  // The payer's travel-rule information and their wallet's signature, from the payment page
  // (JSON, by its script: the wallet signs in the browser). Every field is checked; nothing is
  // written unless all is well. Once it is in, the page shows where to pay.
  router.post('/checkout/:token/travel-rule', express.json({ limit: '8kb' }), async (req, res) => {
    const found = await invoiceByCheckoutToken(db, String(req.params.token));
    if (!found) return sendNotFound(req, res);
    const body = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Record<string, unknown>;
    const payer = await withTransaction(db, async (trx) => {
      const invoice = await getInvoice(trx, { clinicId: found.clinic_id }, found.id, { forUpdate: true });
      if (invoice.travel_rule === 'not_required') throw new ValidationError('This invoice does not need travel-rule information.', 'token');
      if (invoice.travel_rule === 'captured') throw new TravelRuleError('travel_rule_captured', "The payer's information for this invoice is in already.");
      const input = parseTravelRuleForm(body);
      const proven = await captureTravelRule(trx, secrets, PAYER, {
        invoiceId: invoice.id,
        clinicId: invoice.clinic_id,
        chainId: network.chainId,
        payer: body.payer_address,
        signature: body.signature,
        input,
      });
      await markTravelRuleCaptured(trx, invoice.id, proven);
      return proven;
    });
    sendJson(res, 200, { status: 'captured', payer_address: getAddress(payer) });
  });

  router.get('/checkout/:token/receipt.pdf', async (req, res) => {
    const view = await load(req);
    if (!view || (view.status !== 'paid' && view.status !== 'overpaid')) return sendNotFound(req, res);
    const language = languageOf(req);
    res.status(200).type('application/pdf').setHeader('Content-Disposition', `attachment; filename="receipt-${view.invoiceNumber}.pdf"`);
    await writeReceiptPdf(res, { view, language, explorerTxUrl: settings.explorerTxUrl });
  });

  return router;
}
