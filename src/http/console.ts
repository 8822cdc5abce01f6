/**
 * The console's front-desk pages (`/console/bills…`): server-rendered reads within the signed-in
 * person's clinic, through the same billing and checkout functions as the API. Writes (create,
 * void) are the API's own endpoints, called by the page's script with the session. A bill of
 * another clinic answers the same 404 page as an unknown id.
 *
 * The session and its principal are set by the sign-in router's `/console` guard.
 */
import { randomUUID } from 'node:crypto';
import { Decimal } from 'decimal.js';
import express, { type Request, type Response, Router } from 'express';
import QRCode from 'qrcode';
import { formatUnits } from 'viem';
import { catchUpChain } from '../audit/auditLog.js';
import { checkoutTokenFromUrl, getInvoice, type InvoiceRow, invoiceTokenOption, invoiceWithCheckoutToken, listInvoices } from '../billing/invoices.js';
import { listPriceList } from '../billing/priceList.js';
import { openAmounts, takingsByDay } from '../billing/takings.js';
import { readCursor } from '../chain/cursor.js';
import { checkoutStatus, loadCounterView } from '../checkout/checkoutView.js';
import { type BillDetail, counterText, renderBillPage, renderBillsPage, renderCounterPage, renderNewBillPage } from '../console/bills.js';
import { type DashboardView, renderDashboardPage } from '../console/finance.js';
import { confirmationsAt } from '../domain/confirmations.js';
import { CURRENCIES, tokenUnitsToFiat } from '../domain/currency.js';
import { hongKongDate, hongKongDayStart } from '../domain/hongKongDate.js';
import { effectiveStatus, isInvoiceStatus } from '../domain/invoiceStatus.js';
import { type AccountBalance, accountBalances, assetOf } from '../ledger/ledger.js';
import { NotFoundError } from '../platform/errors.js';
import { openExceptionCounts } from '../recon/exceptions.js';
import { lastRun } from '../recon/runs.js';
import { invoiceChainViews } from '../settlement/transfers.js';
import type { ApiDeps } from './apiDeps.js';
import { consoleAdminRouter } from './consoleAdmin.js';
import { consoleAuditRouter } from './consoleAudit.js';
import { consoleFinanceRouter } from './consoleFinance.js';
import { forSection, languageOf, scopeOf, sendNotFound, sendPage, staffOf } from './consolePages.js';
import { sendJson } from './json.js';

const FRONT_DESK = '/console/bills';

/**
 * What the ledger says has been forwarded to the clinics' wallets (less refunds sent from them)
 * and what still waits in deposit addresses, in HKD at par summed over the accepted tokens,
 * each rounded down to the cent.
 */
function forwardedAndWaiting(
  balances: readonly AccountBalance[],
  chainId: number,
  tokens: readonly { address: string; decimals: number }[],
): { forwarded: string; waiting: string } {
  const hkd = (kind: AccountBalance['kind']) =>
    tokens
      .map((token) => {
        const asset = assetOf(chainId, token.address);
        const units = balances.filter((account) => account.kind === kind && account.asset === asset).reduce((sum, account) => sum + account.balance, 0n);
        return new Decimal(tokenUnitsToFiat(units, token.decimals, CURRENCIES.HKD!));
      })
      .reduce((sum, amount) => sum.plus(amount), new Decimal(0))
      .toFixed(2);
  return { forwarded: hkd('settlement'), waiting: hkd('deposits') };
}
/** Base units of one of the invoice's tokens as decimal text with its symbol ("6.5 tHKDB"). */
function tokenAmountText(row: InvoiceRow, tokenAddress: string, units: string): string {
  const option = invoiceTokenOption(row, tokenAddress);
  return option ? `${formatUnits(BigInt(units), option.decimals)} ${option.symbol}` : `${units} (${tokenAddress})`;
}

/** At most this many of today's bills on one page (a clinic's day fits). */
const BILLS_SHOWN = 200;

export function consoleRouter(deps: ApiDeps): Router {
  const { db, finality, checkout, network, chain } = deps;
  const router = Router();
  const html = sendPage;
  const notFound = sendNotFound;

  // The front desk's pages are for the clinic's own people.
  router.use(FRONT_DESK, forSection(FRONT_DESK));

  router.get('/console/finance', forSection('/console/finance'), async (req, res) => {
    const now = new Date();
    const today = hongKongDate(now);
    const monthStart = new Date(`${today.slice(0, 7)}-01T00:00:00+08:00`);
    const days = Array.from({ length: 30 }, (_, back) => hongKongDate(new Date(hongKongDayStart(now).getTime() - (29 - back) * 86_400_000)));
    const from = new Date(Math.min(monthStart.getTime(), new Date(`${days[0]}T00:00:00+08:00`).getTime()));
    const scope = scopeOf(res);
    const [takings, open, balances, exceptions, run, cursor, head] = await Promise.all([
      takingsByDay(db, scope, from),
      openAmounts(db, scope),
      accountBalances(db, scope.clinicId),
      openExceptionCounts(db, scope),
      lastRun(db),
      readCursor(db, network.chainId),
      chain.getBlockNumber().catch(() => undefined),
    ]);
    const byDay = new Map(takings.map((row) => [row.day, row.amount]));
    const sum = (rows: { amount: string }[]) => rows.reduce((total, row) => total.plus(row.amount), new Decimal(0)).toFixed(2);
    const view: DashboardView = {
      today: byDay.get(today) ?? '0.00',
      month: sum(takings.filter((row) => row.day >= today.slice(0, 7))),
      open: { amount: open.open, count: open.openCount },
      processing: { amount: open.processing, count: open.processingCount },
      ...forwardedAndWaiting(balances, network.chainId, network.tokens),
      days: days.map((day) => ({ day, amount: byDay.get(day) ?? '0.00' })),
      exceptions,
      lastRun: run ? { status: run.status, createdAt: run.created_at, finishedAt: run.finished_at, exceptions: Number(run.counts.new_exceptions ?? 0) } : null,
      watcherLag: head === undefined || cursor === undefined ? null : Math.max(0, Number(head - cursor)),
    };
    html(req, res, 200, (language) => renderDashboardPage(language, staffOf(res), view));
  });

  router.get('/console/bills', async (req, res) => {
    const q = typeof req.query.q === 'string' ? req.query.q.trim().slice(0, 64) : '';
    const status = typeof req.query.status === 'string' && isInvoiceStatus(req.query.status) ? req.query.status : undefined;
    const page = await listInvoices(
      db,
      scopeOf(res),
      {
        createdGte: hongKongDayStart(new Date()),
        ...(status ? { status } : {}),
        ...(q === '' ? {} : /^\d{1,9}$/.test(q) ? { number: Number(q) } : { patientRef: q }),
      },
      { limit: BILLS_SHOWN },
    );
    const now = new Date();
    html(req, res, 200, (language) =>
      renderBillsPage(
        language,
        staffOf(res),
        page.data.map((row) => ({ ...row, status: effectiveStatus(row.status, row.expires_at, now), created_at: row.created_at })),
        { q, status: status ?? '' },
      ),
    );
  });

  router.get('/console/bills/new', async (req, res) => {
    const items = await listPriceList(db, scopeOf(res));
    // One key per form: a double submit replays the first answer instead of making a second bill.
    html(req, res, 200, (language) => renderNewBillPage(language, staffOf(res), randomUUID(), items, checkout.referenceRates));
  });

  const bill = async (req: Request, res: Response): Promise<InvoiceRow | undefined> => {
    try {
      return await getInvoice(db, scopeOf(res), String(req.params.id));
    } catch (error) {
      // Only "no such bill here" is the 404 page; a failing database stays an error.
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  };

  router.get('/console/bills/:id', async (req, res) => {
    const row = await bill(req, res);
    if (!row) return notFound(req, res);
    const { transfers, head } = (await invoiceChainViews(db, row.token_chain_id, [row.id])).get(row.id)!;
    await catchUpChain(db);
    const timeline = (await db('audit_log')
      .where({ target_type: 'invoice', target_id: row.id })
      .orderBy('seq')
      .limit(100)
      .select('occurred_at', 'action', 'actor')) as {
      occurred_at: Date;
      action: string;
      actor: string;
    }[];
    const status = effectiveStatus(row.status, row.expires_at, new Date());
    const detail: BillDetail = {
      ...row,
      status,
      travelRule: row.travel_rule,
      payments: transfers
        .filter((transfer) => transfer.kind === 'payment' && transfer.status !== 'reorged')
        .map((transfer) => ({
          txHash: transfer.tx_hash,
          // In the token it was paid in, as decimal text.
          amount: tokenAmountText(row, transfer.token_address, transfer.amount),
          confirmations: confirmationsAt(BigInt(transfer.block_number), head),
          final: transfer.status === 'confirmed',
          url: checkout.explorerTxUrl?.replace('{tx}', transfer.tx_hash) ?? null,
        })),
      timeline: timeline.map((event) => ({ at: event.occurred_at, action: event.action, actor: event.actor })),
      voidable: status === 'open' && BigInt(row.token_amount_paid) === 0n && BigInt(row.token_amount_pending) === 0n,
      payable: status === 'open' || status === 'processing' || status === 'underpaid',
      paid: status === 'paid' || status === 'overpaid',
      note: typeof row.metadata?.note === 'string' ? row.metadata.note : null,
    };
    html(req, res, 200, (language) => renderBillPage(language, staffOf(res), detail));
  });

  router.get('/console/bills/:id/counter', async (req, res) => {
    const view = await loadCounterView(db, scopeOf(res), String(req.params.id), finality.confirmations);
    if (!view) return notFound(req, res);
    const qr = view.paymentUri === null ? '' : await QRCode.toString(view.paymentUri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    html(req, res, 200, (language) => renderCounterPage(language, staffOf(res), String(req.params.id), view, qr));
  });

  router.get('/console/bills/:id/status', async (req, res) => {
    const view = await loadCounterView(db, scopeOf(res), String(req.params.id), finality.confirmations);
    if (!view) return sendJson(res, 404, { status: 'not_found' });
    sendJson(res, 200, { ...checkoutStatus(view), text: counterText(languageOf(req), view) });
  });

  router.get('/console/bills/:id/payment-qr.svg', async (req, res) => {
    const view = await loadCounterView(db, scopeOf(res), String(req.params.id), finality.confirmations);
    if (!view?.paymentUri) return res.status(404).type('text/plain').send('nothing to pay');
    res.type('image/svg+xml').send(await QRCode.toString(view.paymentUri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 }));
  });

  // The checkout link is shown once, in the answer that created the bill; the page that got it
  // asks for its QR here, in a POST body (never a URL that could be logged), and only a link
  // that is this bill's own is drawn.
  router.post('/console/bills/:id/checkout-qr', express.json({ limit: '2kb' }), async (req, res) => {
    const url = (req.body as { url?: unknown } | undefined)?.url;
    const token = typeof url === 'string' ? checkoutTokenFromUrl(url) : undefined;
    const row = token === undefined ? undefined : await invoiceWithCheckoutToken(db, scopeOf(res), String(req.params.id), token);
    if (!row) return res.status(404).type('text/plain').send('not this bill’s checkout link');
    res.type('image/svg+xml').send(await QRCode.toString(url as string, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 }));
  });

  router.use(consoleFinanceRouter(deps));
  router.use(consoleAuditRouter(deps));
  router.use(consoleAdminRouter(deps));
  return router;
}
