/**
 * Finance's work in the console, in Chromium (Debian's), against the real gateway, the dev
 * identity provider, anvil and Postgres: a patient overpays, finance starts a reconciliation
 * run and watches its progress, finds the overpayment in the queue, one finance person proposes
 * the refund, a second approves it with a (virtual) passkey, the clinic's wallet (an EIP-1193
 * provider injected into the page, backed by the wallet's dev key) sends it, and the page
 * follows it until the gateway matches it and the exception closes.
 *
 * Screenshots are left in `test-results/console/`.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM } from '../src/audit/auditLog.js';
import { loadScreeningList } from '../src/compliance/screening.js';
import { matchRefunds } from '../src/recon/resolutions.js';
import { describeFindings, hasChromium, installAxe, launchChromium, runAxe, TEST_RESULTS_DIR, watchProblems } from './support/browser.js';
import type { FundedAccount } from './support/chain.js';
import { audited } from './support/database.js';
import { CONFIRMATIONS, clinicWithWallet, exceptionOf, type ReconEnv, reconcile, refundMatcher, settleAll, startReconEnv } from './support/recon.js';
import { mine, newClinic, newInvoice, pay } from './support/settlement.js';
import { addVirtualPasskey, type SignInStack, signInWithBrowser, startSignInStack } from './support/signIn.js';

const RESULTS_DIR = path.join(TEST_RESULTS_DIR, 'console');
const DESKTOP = { viewport: { width: 1280, height: 900 } };
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const LANGUAGES = ['en', 'zh-HK', 'zh-CN'] as const;

describe.skipIf(!hasChromium)("finance's exceptions, approvals, refunds and reconciliation in Chromium", () => {
  let r: ReconEnv;
  let stack: SignInStack;
  let browser: Browser;
  let wallet: FundedAccount;
  let invoiceId: string;
  let exceptionId: string;
  let screeningHitId: string;

  const signIn = (context: BrowserContext, username: string, start = '/console') => signInWithBrowser(stack, context, username, start);

  beforeAll(async () => {
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    r = await startReconEnv();
    const clinic = await clinicWithWallet(r.env);
    wallet = clinic.owner;
    // A real overpayment (HK$15 for a HK$12.34 bill), final and forwarded to the clinic's wallet.
    const invoice = await newInvoice(r.env, clinic, { amount: '12.34' });
    invoiceId = invoice.id;
    await pay(r.env, invoice.deposit_address, 15_000_000n);
    await settleAll(r.env);
    stack = await startSignInStack({ db: r.env.db, clinicId: clinic.id, rpcUrl: r.env.rpcUrl, network: r.env.network, hostname: 'localhost' });
    browser = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await r?.env.close();
  });

  it('starts a reconciliation run with a progress bar, shows its result and CSV, and puts the overpayment in the queue', async () => {
    const context = await browser.newContext(DESKTOP);
    const page = await signIn(context, 'finance1', '/console/reconciliation');
    const problems = await watchProblems(page);
    await page.click('#start-run');
    await page.waitForSelector('#run-status[data-state="completed"]', { timeout: 60_000 });
    expect(await page.getAttribute('#run-bar', 'value')).toBe('100');
    const run = await r.env.db('reconciliation_runs').orderBy('created_at', 'desc').first();
    expect(run).toMatchObject({ status: 'completed', requested_by: 'dev-finance-1' });
    expect(await page.textContent('#run-status')).toContain(`${run.counts.matched} of ${run.counts.transfers_on_chain} transfers matched`);
    // The CSV the page links to is the API's export of this run.
    const csvHref = await page.getAttribute('#run-csv', 'href');
    expect(csvHref).toBe(`/v1/reconciliations/${run.id}/export`);
    const csv = await page.evaluate(async (href) => (await fetch(href!)).text(), csvHref);
    expect(csv.split('\n')[0]).toContain('tx_hash');
    expect(csv).toContain(invoiceId);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'finance-reconciliation.png'), fullPage: true });

    // The overpayment is in the queue (open by default), and opens.
    await page.goto(`${stack.url}/console/exceptions`);
    const row = page.locator('#exceptions tr[data-type="overpayment"]');
    expect(await row.count()).toBe(1);
    exceptionId = (await row.getAttribute('data-exception'))!;
    const stored = await r.env.db('exceptions').where({ id: exceptionId }).first();
    expect(stored).toMatchObject({ type: 'overpayment', status: 'open', invoice_id: invoiceId });
    expect(problems.pageErrors).toEqual([]);
    expect(await problems.cspViolations()).toEqual([]);
    await context.close();
  });

  it('refuses a bad proposal next to its field and writes nothing; one person proposes, another approves with a passkey, the clinic wallet sends the refund, and the exception closes', {
    timeout: 120_000,
  }, async () => {
    // Finance person 1 proposes.
    const proposerContext = await browser.newContext(DESKTOP);
    const proposer = await signIn(proposerContext, 'finance1', `/console/exceptions/${exceptionId}`);
    const proposerProblems = await watchProblems(proposer);
    // More than was received: the API's rule, shown next to the amount, and nothing written.
    await proposer.fill('#amount', '99');
    await proposer.click('#propose-button');
    await proposer.waitForSelector('#amount-error:not([hidden])');
    expect(await proposer.textContent('#amount-error')).toBe('That is more than this exception concerns.');
    expect(await proposer.getAttribute('#amount', 'aria-invalid')).toBe('true');
    await proposer.fill('#amount', 'twelve');
    await proposer.click('#propose-button');
    await proposer.waitForFunction("document.getElementById('amount-error')?.textContent?.includes('such as 2.50')");
    expect(await r.env.db('resolutions').where({ exception_id: exceptionId }).count('* as n').first()).toMatchObject({ n: '0' });
    await proposer.screenshot({ path: path.join(RESULTS_DIR, 'finance-propose-error.png'), fullPage: true });

    // The whole overpayment (2.66) back to the address that paid; pressed twice, proposed once.
    const exception = await r.env.db('exceptions').where({ id: exceptionId }).first();
    await proposer.fill('#amount', '2.66');
    await proposer.dblclick('#propose-button');
    await proposer.waitForSelector('.resolution[data-status="pending_approval"] .own-proposal');
    const proposals = await r.env.db('resolutions').where({ exception_id: exceptionId });
    expect(proposals).toHaveLength(1);
    expect(proposals[0]).toMatchObject({ action: 'refund', amount: exception.amount, created_by: 'dev-finance-1', status: 'pending_approval' });
    // The proposer cannot approve their own: no button, and the queue does not ask them.
    expect(await proposer.locator('button.approve').count()).toBe(0);
    await proposer.goto(`${stack.url}/console/exceptions`);
    expect(await proposer.locator('#approvals').count()).toBe(0);
    expect(proposerProblems.pageErrors).toEqual([]);
    await proposerContext.close();

    // Finance person 2: a passkey first.
    const approverContext = await browser.newContext(DESKTOP);
    const approver = await signIn(approverContext, 'finance2');
    const problems = await watchProblems(approver);
    await addVirtualPasskey(stack, approverContext, approver);
    // The clinic's wallet in this browser: an EIP-1193 provider whose key is the clinic's dev key.
    const sent: string[] = [];
    await approverContext.exposeBinding('clinicWalletRequest', async (_source, method: string, params: unknown[]) => {
      if (method === 'eth_chainId') return `0x${r.env.network.chainId.toString(16)}`;
      if (method === 'eth_requestAccounts' || method === 'eth_accounts') return [wallet.address];
      if (method === 'eth_sendTransaction') {
        const [tx] = params as [{ from: string; to: `0x${string}`; data: `0x${string}` }];
        expect(tx.from.toLowerCase()).toBe(wallet.address.toLowerCase());
        const hash = await wallet.wallet.sendTransaction({ to: tx.to, data: tx.data });
        sent.push(hash);
        return hash;
      }
      throw new Error(`unsupported method ${method}`);
    });
    await approverContext.addInitScript({
      content: `window.ethereum = { request: ({ method, params }) => window.clinicWalletRequest(method, params || []) };`,
    });

    await approver.goto(`${stack.url}/console/exceptions`);
    expect(await approver.locator(`#approvals tr[data-resolution="${proposals[0].id}"]`).count()).toBe(1);
    await approver.screenshot({ path: path.join(RESULTS_DIR, 'finance-approvals.png'), fullPage: true });
    await approver.click(`#approvals tr[data-resolution="${proposals[0].id}"] a`);
    await approver.waitForURL(`${stack.url}/console/exceptions/${exceptionId}`);
    await approver.click('button.approve');
    // Approved after the passkey confirmed it; the page reloads with the transfer to send.
    await approver.waitForSelector('.resolution[data-status="awaiting_transfer"] button.send-refund:not([hidden])');
    const approved = await r.env.db('resolutions').where({ id: proposals[0].id }).first();
    expect(approved).toMatchObject({ status: 'awaiting_transfer', approved_by: 'dev-finance-2' });
    const audit = await (await audited(r.env.db))('audit_log').where({ action: 'resolution.approved', target_id: approved.id }).first();
    expect(audit).toMatchObject({ actor: 'dev-finance-2', auth: { method: 'session', step_up: 'passkey' } });
    expect(await approver.textContent('.resolution .transfer')).toContain(wallet.address);
    await approver.screenshot({ path: path.join(RESULTS_DIR, 'finance-refund-to-send.png'), fullPage: true });

    // The wallet sends exactly the prepared transfer; the gateway matches it once it is final.
    await approver.click('button.send-refund');
    await approver.waitForSelector('.status-line[data-state="sent"]');
    expect(sent).toHaveLength(1);
    await mine(r.env, CONFIRMATIONS);
    await expect.poll(async () => matchRefunds(refundMatcher(r.env)), { timeout: 20_000 }).toBe(1);
    await approver.waitForSelector('.status-line[data-state="done"]', { timeout: 20_000 });
    expect(await r.env.db('exceptions').where({ id: exceptionId }).first()).toMatchObject({ status: 'resolved' });
    expect(await r.env.db('resolutions').where({ id: approved.id }).first()).toMatchObject({
      status: 'completed',
      refund_tx_hash: expect.stringContaining(sent[0]!.toLowerCase()),
    });
    await approver.screenshot({ path: path.join(RESULTS_DIR, 'finance-refund-done.png'), fullPage: true });
    await approver.reload();
    expect(await approver.getAttribute('#exception-page', 'data-status')).toBe('resolved');
    expect(problems.pageErrors).toEqual([]);
    expect(await problems.cspViolations()).toEqual([]);
    await approverContext.close();
  });

  it('answers an unknown exception with the 404 page and the front desk with the 403 page', async () => {
    const context = await browser.newContext(DESKTOP);
    const page = await signIn(context, 'finance1');
    const unknown = await page.goto(`${stack.url}/console/exceptions/exc_00000000000000000000000000`);
    expect(unknown?.status()).toBe(404);
    expect(await page.locator('#not-found').count()).toBe(1);
    await context.close();
    const desk = await browser.newContext(DESKTOP);
    const deskPage = await signIn(desk, 'frontdesk');
    // A person of one clinic has no clinic to switch to.
    expect(await deskPage.locator('#clinic-switch').count()).toBe(0);
    for (const route of ['/console/exceptions', `/console/exceptions/${exceptionId}`, '/console/reconciliation']) {
      const answer = await deskPage.goto(`${stack.url}${route}`);
      expect(answer?.status(), route).toBe(403);
    }
    await desk.close();
  });

  it('narrows finance’s pages to one clinic with the bar’s switcher, keeps the choice, and takes only a clinic that exists', async () => {
    const other = await newClinic(r.env);
    const context = await browser.newContext(DESKTOP);
    const page = await signIn(context, 'finance1', '/console/exceptions?status=');
    const overpayments = () => page.locator('#exceptions tr[data-type="overpayment"]').count();
    expect(await overpayments()).toBe(1);
    await page.selectOption('#clinic-choice', other.id);
    await page.click('#clinic-switch button');
    await page.waitForURL((url) => url.searchParams.get('clinic') === other.id);
    // Kept for the next pages: the other clinic has no exceptions.
    await page.goto(`${stack.url}/console/exceptions?status=`);
    expect(await page.inputValue('#clinic-choice')).toBe(other.id);
    expect(await overpayments()).toBe(0);
    expect(await page.locator('#no-exceptions').count()).toBe(1);
    // An id that is no clinic is not a choice: every clinic again.
    await page.goto(`${stack.url}/console/exceptions?status=&clinic=cli_not_a_clinic`);
    expect(await page.inputValue('#clinic-choice')).toBe('');
    expect(await overpayments()).toBe(1);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'finance-clinic-switcher.png') });
    await context.close();
  });

  it('shows a payment held by screening with the lists that matched, and offers only release or keep held', { timeout: 60_000 }, async () => {
    await loadScreeningList(r.env.db, SYSTEM.operator, {
      name: 'hk-designations',
      bytes: Buffer.from(`address,name,reference\n${r.env.payer.address},Example Payer,HK-2026-001\n`),
    });
    const clinic = await clinicWithWallet(r.env);
    const invoice = await newInvoice(r.env, clinic, { amount: '25.00' });
    await pay(r.env, invoice.deposit_address, 25_000_000n);
    await settleAll(r.env);
    expect((await reconcile(r.app)).status).toBe('completed');
    const exception = await exceptionOf(r.app, 'screening_hit', invoice.id);
    screeningHitId = exception.id;
    const context = await browser.newContext(DESKTOP);
    await installAxe(context);
    const page = await signIn(context, 'finance1', `/console/exceptions/${exception.id}`);
    expect(await page.textContent('h1')).toBe('Exception: Payer on a screening list (held)');
    expect(await page.textContent('#screening-hits')).toContain('hk-designations');
    expect(await page.textContent('#screening-hits')).toContain('HK-2026-001');
    expect(await page.locator('input[name="action"]').evaluateAll((inputs) => inputs.map((input) => (input as { value: string }).value))).toEqual([
      'release',
      'keep_held',
    ]);
    expect(await page.isVisible('#amount')).toBe(false);
    await page.fill('#reason', 'Name match only; checked against ID.');
    await page.click('#propose-button');
    await page.waitForSelector('.resolution[data-status="pending_approval"] .own-proposal');
    expect(await r.env.db('resolutions').where({ exception_id: exception.id }).first()).toMatchObject({ action: 'release', created_by: 'dev-finance-1' });
    const findings = await runAxe(page);
    expect(findings, describeFindings(findings)).toEqual([]);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'finance-screening-hit.png'), fullPage: true });
    await context.close();
  });

  it("has no accessibility violations on finance's pages in three languages, on a desktop and a phone", { timeout: 120_000 }, async () => {
    for (const [name, options] of [
      ['desktop', DESKTOP],
      ['phone', PHONE],
    ] as const) {
      const context = await browser.newContext(options);
      await installAxe(context);
      const page = await signIn(context, 'finance1');
      const problems = await watchProblems(page);
      for (const language of LANGUAGES) {
        for (const [slug, route] of [
          ['dashboard', '/console/finance'],
          ['exceptions', '/console/exceptions?status='],
          ['exception', `/console/exceptions/${exceptionId}`],
          ['reconciliation', '/console/reconciliation'],
          ['screening-hit', `/console/exceptions/${screeningHitId}`],
        ] as const) {
          await page.goto(`${stack.url}${route}${route.includes('?') ? '&' : '?'}lang=${language}`);
          expect(await page.getAttribute('html', 'lang')).toBe(language);
          const findings = await runAxe(page);
          expect(findings, `${slug} ${language} ${name}: ${describeFindings(findings)}`).toEqual([]);
          await page.screenshot({ path: path.join(RESULTS_DIR, `finance-${slug}-${language}-${name}.png`), fullPage: true });
        }
      }
      expect(problems.pageErrors).toEqual([]);
      expect(await problems.cspViolations()).toEqual([]);
      await context.close();
    }
  });
});
