/**
 * The platform administrator's console in Chromium (Debian's), against the real gateway, the dev
 * identity provider (whose two platform administrators are `admin` and `admin2`), and an anvil and database of this
 * file's own. One administrator proposes a clinic's new settlement address, a second approves it
 * after a passkey confirmation (a virtual authenticator), and the clinic's address is the new
 * one; the proposer cannot approve their own. Adding a clinic with bad input shows the error next
 * to the field and adds nothing. An API key is shown once and revoked; an invitation is listed.
 * The pages have no serious accessibility violations in three languages, an unknown clinic
 * answers the console's 404 page, and other roles get the 403 page.
 *
 * Screenshots are left in `test-results/console/`.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import request from 'supertest';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storedAddress } from '../src/domain/address.js';
import { type AxeFinding, describeFindings, hasChromium, installAxe, launchChromium, runAxe, TEST_RESULTS_DIR, watchProblems } from './support/browser.js';
import { audited } from './support/database.js';
import { newClinic, type SettlementEnv, startSettlementEnv, type TestClinic } from './support/settlement.js';
import { addVirtualPasskey, type SignInStack, signInWithBrowser, startSignInStack } from './support/signIn.js';

const RESULTS_DIR = path.join(TEST_RESULTS_DIR, 'console');
const DESKTOP = { viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 };
const TABLET = { viewport: { width: 1024, height: 768 }, deviceScaleFactor: 1, hasTouch: true };
const LANGUAGES = ['zh-HK', 'zh-CN', 'en'] as const;

const serious = (findings: AxeFinding[]) => findings.filter((finding) => finding.impact === 'serious' || finding.impact === 'critical');
const newWallet = () => privateKeyToAccount(generatePrivateKey()).address;

describe.skipIf(!hasChromium)('the platform administrator in Chromium', () => {
  let env: SettlementEnv;
  let clinic: TestClinic;
  let stack: SignInStack;
  let browser: Browser;

  const signIn = (context: BrowserContext, username: string, start = '/console') => signInWithBrowser(stack, context, username, start);

  beforeAll(async () => {
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    env = await startSettlementEnv();
    clinic = await newClinic(env);
    stack = await startSignInStack({ db: env.db, clinicId: clinic.id, rpcUrl: env.rpcUrl, network: env.network, hostname: 'localhost' });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await env?.close();
  });

  /** A request from the page with its session, as the console's script makes them. */
  function fromPage(page: Page, method: string, url: string): Promise<{ status: number; body: Record<string, unknown> }> {
    return page.evaluate(
      `(async () => {
        const session = await (await fetch('/auth/session')).json();
        const response = await fetch(${JSON.stringify(url)}, {
          method: ${JSON.stringify(method)},
          headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrf_token, 'idempotency-key': crypto.randomUUID() },
        });
        return { status: response.status, body: await response.json().catch(() => ({})) };
      })()`,
    );
  }

  const addressOf = async (id: string) =>
    ((await env.db('clinics').where({ id }).first('settlement_address')) as { settlement_address: string }).settlement_address;

  it('changes a clinic’s settlement address with two people: one proposes, a second approves after a passkey confirmation; the proposer cannot approve', async () => {
    const target = await newClinic(env);
    const wallet = newWallet();
    const clinicPage = `/console/clinics/${target.id}`;

    const proposerContext = await browser.newContext(DESKTOP);
    const proposer = await signIn(proposerContext, 'admin', clinicPage);
    const proposerProblems = await watchProblems(proposer);
    await proposer.reload();
    await proposer.fill('#propose-address', wallet);
    await proposer.fill('#propose-reason', 'The clinic moved its treasury to a new wallet');
    await proposer.click('#propose-change');
    const pending = proposer.locator('#change-list tr[data-status="pending"]');
    await pending.waitFor();
    expect(await proposer.textContent('#admin-message')).toBe('Proposed. A second administrator can approve it now.');
    // The proposer's own change: no approve button, and the reason why.
    expect(await pending.locator('[data-action="approve"]').count()).toBe(0);
    expect(await pending.locator('.own-change').textContent()).toBe('You proposed this change: a different administrator must approve it.');
    // The API refuses the proposer's approval too; the address has not moved.
    const changeId = (await pending.getAttribute('data-change'))!;
    expect((await fromPage(proposer, 'POST', `/v1/settlement-address-changes/${changeId}/approve`)).status).toBe(403);
    expect(await addressOf(target.id)).toBe(storedAddress(target.wallet));
    await proposer.screenshot({ path: path.join(RESULTS_DIR, 'clinic-change-proposed-desktop-en.png'), fullPage: true });
    expect(proposerProblems.pageErrors).toEqual([]);
    expect(await proposerProblems.cspViolations()).toEqual([]);
    await proposerContext.close();

    // A second administrator, with a passkey, approves it from the same page.
    const approverContext = await browser.newContext(TABLET);
    const approver = await signIn(approverContext, 'admin2');
    const approverProblems = await watchProblems(approver);
    await addVirtualPasskey(stack, approverContext, approver);
    await approver.goto(`${stack.url}${clinicPage}`);
    await approver.click(`#change-list tr[data-change="${changeId}"] [data-action="approve"]`);
    await approver.waitForSelector(`#change-list tr[data-change="${changeId}"][data-status="approved"]`);
    expect(await approver.textContent('#admin-message')).toBe('Approved: bills created from now on settle to the new address.');
    expect(await approver.textContent('#current-address')).toBe(wallet);
    expect(await addressOf(target.id)).toBe(storedAddress(wallet));
    const audit = await (await audited(env.db))('audit_log').where({ action: 'settlement_address_change.approved', target_id: changeId }).first();
    expect(audit).toMatchObject({ actor: 'dev-admin-2', role: 'platform_admin', auth: { method: 'session', step_up: 'passkey' } });
    await approver.screenshot({ path: path.join(RESULTS_DIR, 'clinic-change-approved-tablet-en.png'), fullPage: true });

    // The clinic's webhook events of the change are in its delivery log, and one can be sent again.
    const event = approver.locator('#event-list tbody tr').first();
    await event.waitFor();
    const eventId = (await event.getAttribute('data-event'))!;
    await event.locator('[data-action="redeliver"]').click();
    // Said after the reload that shows it (the event stays pending: no dispatcher runs here).
    await expect.poll(() => approver.textContent('#admin-message')).toBe('Queued: it is sent again in a moment.');
    await approver.waitForSelector(`#event-list tr[data-event="${eventId}"][data-status="pending"]`);
    expect(await (await audited(env.db))('audit_log').where({ action: 'webhook_event.redelivery_requested', target_id: eventId }).first()).toMatchObject({
      actor: 'dev-admin-2',
    });
    expect(approverProblems.pageErrors).toEqual([]);
    expect(await approverProblems.cspViolations()).toEqual([]);
    await approverContext.close();
  }, 60_000);

  it('shows a clinic’s bad input next to its field in the page’s language and adds nothing; good input adds it and shows its webhook secret once', async () => {
    const context = await browser.newContext(DESKTOP);
    const page = await signIn(context, 'admin', '/console/clinics');
    const problems = await watchProblems(page);
    await page.goto(`${stack.url}/console/clinics?lang=zh-HK`);
    const name = `Kowloon Bay Clinic ${Date.now()}`;
    await page.fill('#clinic-name', name);
    await page.fill('#clinic-settlement_address', '0x1234');
    await page.click('#create-clinic');
    await page.waitForSelector('#clinic-settlement_address-error:not([hidden])');
    expect(await page.textContent('#clinic-settlement_address-error')).toBe(
      '請輸入地址：0x 加 40 個十六進位字元（大小寫混合的地址須有正確校驗碼），不可為零地址。',
    );
    expect(await page.getAttribute('#clinic-settlement_address', 'aria-invalid')).toBe('true');
    expect(await env.db('clinics').where({ name }).count({ n: '*' })).toEqual([{ n: '0' }]);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'clinics-bad-input-desktop-zh-HK.png'), fullPage: true });

    // Corrected, it is added; its secret is on the page this once.
    await page.fill('#clinic-settlement_address', newWallet());
    await page.click('#create-clinic');
    await page.waitForSelector('#clinic-created:not([hidden])');
    expect(await page.isVisible('#clinic-settlement_address-error')).toBe(false);
    expect(await page.inputValue('#clinic-secret')).toMatch(/\S{32,}/);
    const created = (await env.db('clinics').where({ name })) as { id: string }[];
    expect(created).toHaveLength(1);
    await page.click('#open-new-clinic');
    await page.waitForURL(`${stack.url}/console/clinics/${created[0]!.id}?lang=zh-HK`);
    expect(await page.textContent('h1')).toBe(name);

    // Every token of someone who left, revoked from the clinics page, is listed there.
    await page.goto(`${stack.url}/console/clinics`);
    await page.selectOption('#revocation-kind', 'sub');
    await page.fill('#revocation-value', 'someone-who-left');
    await page.fill('#revocation-reason', 'Left the practice');
    await page.click('#revoke-tokens');
    await page.waitForSelector('#revocation-list td:has-text("someone-who-left")');
    expect(await page.textContent('#admin-message')).toBe('Revoked.');
    expect(await env.db('token_revocations').where({ kind: 'sub', value: 'someone-who-left' }).first()).toMatchObject({ revoked_by: 'dev-admin' });
    expect(problems.pageErrors).toEqual([]);
    expect(await problems.cspViolations()).toEqual([]);
    await context.close();
  });

  it('shows a new API key once and revokes it (both after a passkey confirmation), sets the webhook URL, rotates the webhook secret, and lists an invitation', async () => {
    const context = await browser.newContext(DESKTOP);
    const page = await signIn(context, 'admin');
    const problems = await watchProblems(page);
    await addVirtualPasskey(stack, context, page);
    await page.goto(`${stack.url}/console/clinics/${clinic.id}#api-keys`);
    await page.fill('#api-key-name', 'Front-desk PMS');
    await page.selectOption('#api-key-role', 'clinic_staff');
    await page.click('#create-api-key');
    await page.waitForSelector('#api-key-box:not([hidden])');
    const secret = await page.inputValue('#new-api-key');
    expect(secret).toMatch(/^cpk_test_[A-Za-z0-9_-]{43}$/);
    expect((await request(stack.app).get('/v1/invoices').set('Authorization', `Bearer ${secret}`)).status).toBe(200);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'clinic-api-key-once-desktop-en.png'), fullPage: true });

    // Once: after the page is done with it, the key is nowhere on the page.
    await page.click('#api-key-box [data-action="done"]');
    const row = page.locator('#api-key-list tr[data-state="active"]', { hasText: 'Front-desk PMS' });
    await row.waitFor();
    expect(await page.content()).not.toContain(secret);
    const keyId = (await row.getAttribute('data-key'))!;
    await row.locator('[data-action="revoke-key"]').click();
    await page.waitForSelector(`#api-key-list tr[data-key="${keyId}"][data-state="revoked"]`);
    expect(await page.textContent('#admin-message')).toBe('Key revoked: it is refused from now on.');
    expect((await env.db('api_keys').where({ id: keyId }).first()).revoked_by).toBe('dev-admin');
    expect((await request(stack.app).get('/v1/invoices').set('Authorization', `Bearer ${secret}`)).status).toBe(401);

    // The webhook URL: a private address is refused next to the field; a public one is saved.
    await page.fill('#webhook-webhook_url', 'https://10.0.0.7/hooks');
    await page.click('#save-webhook-url');
    await page.waitForSelector('#webhook-webhook_url-error:not([hidden])');
    expect(await page.textContent('#webhook-webhook_url-error')).toBe('Enter a full https:// address the gateway may call (not a private or local address).');
    await page.fill('#webhook-webhook_url', 'https://pms.harbour-clinic.example/clinicpay');
    await page.click('#save-webhook-url');
    await expect.poll(() => page.textContent('#admin-message')).toBe('Webhook URL saved.');
    expect(await page.textContent('#current-webhook-url')).toBe('https://pms.harbour-clinic.example/clinicpay');
    expect((await env.db('clinics').where({ id: clinic.id }).first()).webhook_url).toBe('https://pms.harbour-clinic.example/clinicpay');

    // A new webhook secret (the passkey confirmation is still recent), shown once; the old one overlaps.
    await page.click('#rotate-secret');
    await page.waitForSelector('#secret-box:not([hidden])');
    const webhookSecret = await page.inputValue('#new-secret');
    expect(webhookSecret).toMatch(/\S{32,}/);
    await page.click('#secret-box [data-action="done"]');
    await page.waitForSelector('#secret-overlap');
    expect(await page.content()).not.toContain(webhookSecret);

    // An invitation of a person to the clinic is listed.
    await page.fill('#membership-email', 'new.receptionist@clinic.example');
    await page.selectOption('#membership-role', 'clinic_staff');
    await page.click('#invite');
    const invited = page.locator('#membership-list tr[data-state="invited"]', { hasText: 'new.receptionist@clinic.example' });
    await invited.waitFor();
    expect(await invited.textContent()).toContain('Front desk');
    expect(
      await env.db('memberships').where({ email: 'new.receptionist@clinic.example', clinic_id: clinic.id, role: 'clinic_staff' }).whereNull('revoked_at'),
    ).toHaveLength(1);
    expect(problems.pageErrors).toEqual([]);
    expect(await problems.cspViolations()).toEqual([]);
    await context.close();
  });

  it('shows the pages in three languages without serious accessibility violations, answers an unknown clinic with the 404 page, and keeps other roles out', async () => {
    for (const [device, options] of [
      ['desktop', DESKTOP],
      ['tablet', TABLET],
    ] as const) {
      const context = await browser.newContext(options);
      await installAxe(context);
      const page = await signIn(context, 'admin', '/console/clinics');
      const problems = await watchProblems(page);
      for (const language of LANGUAGES) {
        for (const [name, where] of [
          ['clinics', '/console/clinics'],
          ['clinic', `/console/clinics/${clinic.id}`],
        ] as const) {
          const answer = await page.goto(`${stack.url}${where}?lang=${language}`);
          expect(answer?.status()).toBe(200);
          expect(await page.getAttribute('html', 'lang')).toBe(language);
          const findings = serious(await runAxe(page));
          expect(findings, `${where} ${language}\n${describeFindings(findings)}`).toEqual([]);
          await page.screenshot({ path: path.join(RESULTS_DIR, `admin-${name}-${device}-${language}.png`), fullPage: true });
        }
      }
      expect(problems.pageErrors).toEqual([]);
      expect(await problems.cspViolations()).toEqual([]);

      if (device === 'desktop') {
        const unknown = await page.goto(`${stack.url}/console/clinics/clin_${'0'.repeat(24)}`);
        expect(unknown?.status()).toBe(404);
        expect(await page.locator('main#not-found').count()).toBe(1);
        const findings = serious(await runAxe(page));
        expect(findings, describeFindings(findings)).toEqual([]);
      }
      await context.close();
    }

    for (const username of ['clinicadmin', 'finance1', 'auditor']) {
      const context = await browser.newContext();
      const page = await signIn(context, username);
      for (const where of ['/console/clinics', `/console/clinics/${clinic.id}`]) {
        const refused = await page.goto(`${stack.url}${where}`);
        expect(refused?.status(), `${username} ${where}`).toBe(403);
        expect(await page.textContent('main#not-found h1')).toBe('Your role does not use this page.');
      }
      await context.close();
    }
  });
});
