/**
 * People sign in, in a real browser: Debian's Chromium driven by playwright-core, the real
 * gateway on a port (reached as `localhost`: WebAuthn takes no IP address as relying party), the
 * real dev identity provider, and an anvil and database of this file's own for a real refund to
 * approve.
 *
 * Each dev person signs in through the provider's login page, lands on /console, sees their
 * role, is allowed and refused on the API as their role says, and signs out (here and at the
 * provider). The session cookie's flags are read from the browser. A page of another site
 * forging a POST changes nothing. Finance user 2 registers a passkey with a virtual authenticator
 * (WebAuthn over the DevTools protocol) and, after a passkey confirmation, approves a refund that
 * finance user 1 proposed; without the confirmation the same approval is refused.
 *
 * Screenshots are left in `test-results/sign-in/` for review.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DevPerson } from '../src/dev/identityProvider.js';
import { describeFindings, hasChromium, installAxe, launchChromium, runAxe, TEST_RESULTS_DIR, watchProblems } from './support/browser.js';
import { audited } from './support/database.js';
import { clinicWithWallet, exceptionOf, type ReconEnv, reconcile, settleAll, startReconEnv } from './support/recon.js';
import { newInvoice, pay } from './support/settlement.js';
import { addVirtualPasskey, type SignInStack, startSignInStack } from './support/signIn.js';

const RESULTS_DIR = path.join(TEST_RESULTS_DIR, 'sign-in');
const SESSION = '__Host-clinicpay_session';

/** What each role may read: `GET /v1/exceptions` is for finance, auditors and platform admins. */
const READS_EXCEPTIONS: Record<DevPerson['role'], boolean> = {
  platform_admin: true,
  clinic_admin: false,
  clinic_staff: false,
  finance: true,
  auditor: true,
};

describe.skipIf(!hasChromium)('signing in with Chromium', () => {
  let r: ReconEnv;
  let stack: SignInStack;
  let browser: Browser;
  let clinicId: string;
  let exceptionId: string;

  beforeAll(async () => {
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    r = await startReconEnv();
    const clinic = await clinicWithWallet(r.env);
    clinicId = clinic.id;
    // A real overpayment, forwarded and reconciled: finance has a refund to propose and approve.
    const invoice = await newInvoice(r.env, clinic, { amount: '12.34' });
    await pay(r.env, invoice.deposit_address, 15_000_000n);
    await settleAll(r.env);
    expect((await reconcile(r.app)).status).toBe('completed');
    exceptionId = (await exceptionOf(r.app, 'overpayment', invoice.id)).id;
    stack = await startSignInStack({ db: r.env.db, clinicId, rpcUrl: r.env.rpcUrl, network: r.env.network, hostname: 'localhost' });
    browser = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await r?.env.close();
  });

  /** Signs `username` in from /console through the provider's login page; the page ends on /console. */
  async function signIn(context: BrowserContext, username: string): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`${stack.url}/console`);
    await page.waitForURL((url) => url.pathname === '/auth/sign-in');
    await page.click('#sign-in');
    await page.waitForURL((url) => url.origin === new URL(stack.idp.issuer).origin && url.pathname.startsWith('/interaction/'));
    const person = stack.people.find((candidate) => candidate.username === username)!;
    await page.fill('input[name="username"]', person.username);
    await page.fill('input[name="password"]', person.password);
    await page.click('button[type="submit"]');
    await page.waitForURL(`${stack.url}/console`);
    return page;
  }

  /** A request from the page with its session cookie, as the console's script makes them. */
  function fromPage(page: Page, method: string, url: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    return page.evaluate(
      `(async () => {
        const session = await (await fetch('/auth/session')).json();
        const response = await fetch(${JSON.stringify(url)}, {
          method: ${JSON.stringify(method)},
          headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrf_token, 'idempotency-key': crypto.randomUUID() },
          ${body === undefined ? '' : `body: ${JSON.stringify(JSON.stringify(body))},`}
        });
        return { status: response.status, body: await response.json().catch(() => ({})) };
      })()`,
    );
  }

  it('signs each dev person in, shows their role, allows and refuses as the role says, and signs them out here and at the provider', async () => {
    for (const person of stack.people) {
      const context = await browser.newContext();
      await installAxe(context);
      const page = await signIn(context, person.username);
      expect(await page.getAttribute('#console', 'data-role')).toBe(person.role);
      expect(await page.textContent('#clinic')).toContain(person.clinic_id ?? 'All clinics');

      const cookie = (await context.cookies()).find((candidate) => candidate.name === SESSION);
      expect(cookie, person.username).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Lax', path: '/' });
      expect((await fromPage(page, 'GET', '/v1/exceptions')).status, person.username).toBe(READS_EXCEPTIONS[person.role] ? 200 : 403);

      if (person.username === 'finance1') {
        const findings = await runAxe(page);
        expect(findings, describeFindings(findings)).toEqual([]);
        await page.screenshot({ path: path.join(RESULTS_DIR, 'console-finance-en.png'), fullPage: true });
      }

      await page.click('#sign-out');
      await page.waitForURL(`${stack.url}/auth/signed-out`);
      expect(await page.textContent('h1')).toBe('You have signed out');
      expect((await context.cookies()).some((candidate) => candidate.name === SESSION)).toBe(false);
      // Signed out at the provider too: the next sign-in asks for the password again.
      await page.goto(`${stack.url}/auth/login`);
      await page.waitForURL((url) => url.pathname.startsWith('/interaction/'));
      await context.close();
    }
  });

  it('shows the sign-in pages in three languages, without script errors or accessibility violations', async () => {
    const context = await browser.newContext();
    await installAxe(context);
    const page = await context.newPage();
    const problems = await watchProblems(page);
    for (const [language, heading] of [
      ['zh-HK', '登入 ClinicPay'],
      ['zh-CN', '登录 ClinicPay'],
      ['en', 'Sign in to ClinicPay'],
    ] as const) {
      await page.goto(`${stack.url}/auth/sign-in?lang=${language}`);
      expect(await page.textContent('h1')).toBe(heading);
      expect(await page.getAttribute('html', 'lang')).toBe(language);
      const findings = await runAxe(page);
      expect(findings, describeFindings(findings)).toEqual([]);
      await page.screenshot({ path: path.join(RESULTS_DIR, `sign-in-${language}.png`), fullPage: true });
    }
    expect(problems.pageErrors).toEqual([]);
    expect(await problems.cspViolations()).toEqual([]);
    await context.close();
  });

  it('refuses a forged POST from a page of another site: the session and the data stay as they were', async () => {
    const context = await browser.newContext();
    const page = await signIn(context, 'frontdesk');
    const invoicesBefore = Number(((await r.env.db('invoices').count('* as n').first()) as { n: string }).n);
    // Another site (127.0.0.1 is not localhost's site) whose page posts forms to the gateway as soon as it loads.
    const evil = http.createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<!doctype html><title>prize</title>
        <form id="a" method="post" action="${stack.url}/auth/sign-out" target="one"><input name="_csrf" value="guess"></form>
        <form id="b" method="post" action="${stack.url}/v1/invoices" target="two" enctype="text/plain"><input name='{"patient_ref":"X","currency":"HKD","line_items":[{"description":"x","quantity":1,"unit_amount":"1.00"}],"a":"' value='"}'></form>
        <iframe name="one"></iframe><iframe name="two"></iframe>
        <script>document.getElementById('a').submit(); document.getElementById('b').submit();</script>`);
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    try {
      const responses: number[] = [];
      page.on('response', (response) => {
        if (response.request().method() === 'POST') responses.push(response.status());
      });
      await page.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
      await expect.poll(() => responses.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
      // The cookie is SameSite=Lax: a cross-site POST arrives without it, so nothing is signed out or billed.
      await page.goto(`${stack.url}/console`);
      expect(page.url()).toBe(`${stack.url}/console`);
      expect(Number(((await r.env.db('invoices').count('* as n').first()) as { n: string }).n)).toBe(invoicesBefore);
    } finally {
      await new Promise((resolve) => evil.close(resolve));
      await context.close();
    }
  });

  it('lets finance user 2 approve the refund finance user 1 proposed only after a passkey confirmation, and records the passkey in the audit row', async () => {
    const proposer = await browser.newContext();
    const proposed = await fromPage(await signIn(proposer, 'finance1'), 'POST', `/v1/exceptions/${exceptionId}/resolutions`, { action: 'refund' });
    expect(proposed.status, JSON.stringify(proposed.body)).toBe(201);
    expect(proposed.body).toMatchObject({ status: 'pending_approval', created_by: 'dev-finance-1' });
    const resolutionId = proposed.body.id as string;
    await proposer.close();

    const approver = await browser.newContext();
    const page = await signIn(approver, 'finance2');
    const problems = await watchProblems(page);
    const withoutStepUp = await fromPage(page, 'POST', `/v1/resolutions/${resolutionId}/approve`);
    expect(withoutStepUp.status).toBe(403);
    expect(withoutStepUp.body.code).toBe('step_up_required');

    // A virtual platform authenticator with user verification, as a phone or laptop has.
    await addVirtualPasskey(stack, approver, page);
    const passkey = await r.env.db('passkeys').where({ sub: 'dev-finance-2' }).first();
    expect(passkey).toMatchObject({ issuer: stack.idp.issuer, counter: expect.anything() });

    await page.click('#confirm-passkey');
    await page.waitForSelector('#passkey-status[data-state="confirmed"]');
    await page.screenshot({ path: path.join(RESULTS_DIR, 'console-passkey-confirmed.png'), fullPage: true });

    const approved = await fromPage(page, 'POST', `/v1/resolutions/${resolutionId}/approve`);
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    // Approved: the refund now waits for the clinic's wallet to send it.
    expect(approved.body).toMatchObject({ status: 'awaiting_transfer', approved_by: 'dev-finance-2', created_by: 'dev-finance-1' });
    const audit = await (await audited(r.env.db))('audit_log').where({ action: 'resolution.approved', target_id: resolutionId }).first();
    expect(audit).toMatchObject({ actor: 'dev-finance-2', role: 'finance', auth: { method: 'session', step_up: 'passkey', passkey_id: passkey.id } });
    expect(problems.pageErrors).toEqual([]);
    expect(await problems.cspViolations()).toEqual([]);
    await approver.close();
  });
});
