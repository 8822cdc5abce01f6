/**
 * The auditor's console in Chromium, against the real gateway, the dev identity provider, and an
 * anvil and database of this file's own: a patient pays a bill; the auditor signs in, opens the
 * clinic's statement for the period and sees its totals, downloads the JSON through the API and
 * verifies it in the browser (offline, then against the chain through the RPC node they name);
 * a copy with one amount changed fails with the failure shown. The audit log page filters by
 * action and its chain check reports the chain verified. Bad dates and other people's pages
 * answer with a clear page; the pages have no accessibility violations in three languages.
 *
 * Screenshots are left in `test-results/console/`.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hongKongDate } from '../src/domain/hongKongDate.js';
import { buildVerifierBundle, VERIFIER_PATH } from '../src/http/consoleAudit.js';
import type { StatementDocument } from '../src/reports/statementDocument.js';
import { verifyStatementOffline } from '../src/reports/verifyStatement.js';
import { describeFindings, hasChromium, installAxe, launchChromium, PHONE, runAxe, TEST_RESULTS_DIR, watchProblems } from './support/browser.js';
import {
  mine,
  newClinic,
  newInvoice,
  pay,
  readInvoice,
  type SettlementEnv,
  startSettlementEnv,
  startWatcherHere,
  syncUntilCaughtUp,
  type TestClinic,
  watcher,
} from './support/settlement.js';
import { type SignInStack, signInWithBrowser, startSignInStack } from './support/signIn.js';

const RESULTS_DIR = path.join(TEST_RESULTS_DIR, 'console');
const DESKTOP = { viewport: { width: 1280, height: 900 } };
const LANGUAGES = ['zh-HK', 'zh-CN', 'en'] as const;

describe.skipIf(!hasChromium)('the auditor in Chromium', () => {
  let env: SettlementEnv;
  let clinic: TestClinic;
  let other: TestClinic;
  let stack: SignInStack;
  let browser: Browser;
  const today = hongKongDate(new Date());
  const yesterday = hongKongDate(new Date(Date.now() - 86_400_000));

  const signIn = (context: BrowserContext, username: string, start: string) => signInWithBrowser(stack, context, username, start);

  beforeAll(async () => {
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    env = await startSettlementEnv();
    await startWatcherHere(env);
    clinic = await newClinic(env);
    other = await newClinic(env);
    stack = await startSignInStack({ db: env.db, clinicId: clinic.id, rpcUrl: env.rpcUrl, network: env.network, hostname: 'localhost' });
    // A patient pays a bill in full: the statement has a payment (and its forward) to state.
    const invoice = await newInvoice(env, clinic, { amount: '150.50' });
    await pay(env, invoice.deposit_address, BigInt(invoice.token_amount_due));
    const deps = watcher(env);
    await syncUntilCaughtUp(deps);
    await mine(env, deps.finality.confirmations);
    await syncUntilCaughtUp(deps);
    expect((await readInvoice(env, invoice.id)).status).toBe('paid');
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await env?.close();
  });

  async function verifyFile(page: Page, file: string): Promise<string> {
    await page.setInputFiles('#statement-file', file);
    await page.click('#verify');
    await page.waitForSelector('#verify-result[data-state="passed"], #verify-result[data-state="failed"]', { timeout: 30_000 });
    return (await page.getAttribute('#verify-result', 'data-state'))!;
  }

  it('shows the statement of a clinic and period, downloads it through the API and verifies it in the browser; a tampered copy fails', async () => {
    const context = await browser.newContext(DESKTOP);
    await installAxe(context);
    const page = await signIn(context, 'auditor', '/console/statements');
    const problems = await watchProblems(page);
    await page.goto(`${stack.url}/console/statements?lang=en`);

    // The auditor has no clinic of their own: every clinic is offered.
    const offered = await page.$$eval('#clinic_id option', (options) => options.map((option) => (option as unknown as { value: string }).value));
    expect(offered).toEqual(expect.arrayContaining([clinic.id, other.id]));
    await page.selectOption('#clinic_id', clinic.id);
    await page.fill('#from', yesterday);
    await page.fill('#to', today);
    await page.click('#show-statement');
    await page.waitForSelector('#statement');
    const statementId = (await page.getAttribute('#statement', 'data-statement'))!;
    expect(statementId).toMatch(/^stmt_/);
    const root = (await page.textContent('#merkle-root'))!;
    expect(root).toMatch(/^[0-9a-f]{64}$/);
    expect(Number(await page.textContent('#line-count'))).toBeGreaterThanOrEqual(3);
    expect(await page.textContent('#statement-totals tr[data-kind="payment"]')).toContain('HK$150.50');
    expect(await page.textContent('#anchor')).toBe('Not anchored');
    for (const format of ['pdf', 'csv', 'json', 'fhir']) {
      expect(await page.getAttribute(`#download-${format}`, 'href')).toMatch(new RegExp(`^/v1/statements/${statementId}\\?format=${format}`));
    }
    const findings = await runAxe(page);
    expect(findings, describeFindings(findings)).toEqual([]);

    // The JSON, downloaded from the API's own URL with the session.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-json')]);
    const file = path.join(RESULTS_DIR, `statement-${statementId}.json`);
    await download.saveAs(file);
    const statement = JSON.parse(fs.readFileSync(file, 'utf8')) as StatementDocument;
    expect(statement.merkle_root).toBe(root);
    expect(verifyStatementOffline(statement).ok).toBe(true);

    // Verified in the browser: offline, then with the chain through the RPC node the auditor names.
    expect(await verifyFile(page, file)).toBe('passed');
    expect(await page.textContent('#verify-outcome')).toContain('Passes');
    expect(await page.textContent('#verify-notes')).toContain(`merkle root ${root} matches all ${statement.lines.length} lines`);
    await page.fill('#rpc-url', env.rpcUrl);
    expect(await verifyFile(page, file)).toBe('passed');
    expect(await page.textContent('#verify-notes')).toMatch(/[1-9]\d* transfer line\(s\) found on chain/);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'statements-verified-desktop-en.png'), fullPage: true });

    // One amount changed: it fails, and says why.
    const tampered = structuredClone(statement);
    const payment = tampered.lines.find((line) => line.type === 'payment') as { hkd_amount: string } | undefined;
    expect(payment).toBeDefined();
    payment!.hkd_amount = '1500.50';
    const tamperedFile = path.join(RESULTS_DIR, `statement-${statementId}-tampered.json`);
    fs.writeFileSync(tamperedFile, JSON.stringify(tampered));
    await page.fill('#rpc-url', '');
    expect(await verifyFile(page, tamperedFile)).toBe('failed');
    expect(await page.textContent('#verify-outcome')).toContain('Fails');
    const failures = await page.$$eval('#verify-failures li', (items) => items.map((item) => item.textContent ?? ''));
    expect(failures.join('\n')).toContain('merkle_root does not match the lines');
    expect(failures.join('\n')).toMatch(/hkd_amount 1500\.50 is not/);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'statements-tampered-desktop-en.png'), fullPage: true });

    // The served verifier is built from the current sources.
    const served = await page.request.get(`${stack.url}${VERIFIER_PATH}`);
    expect(served.status()).toBe(200);
    expect(served.headers()['content-type']).toMatch(/^text\/javascript/);
    expect(await served.text()).toBe(await buildVerifierBundle());

    // Only this page may reach an RPC node: the console's other pages keep connect-src to our own origin.
    const policy = (await page.request.get(`${stack.url}/console/statements`)).headers()['content-security-policy']!;
    expect(policy).toContain("connect-src 'self' https: http://localhost:* http://127.0.0.1:*");
    expect(policy).toContain("script-src 'self';");
    expect((await page.request.get(`${stack.url}/console/audit`)).headers()['content-security-policy']).toContain("connect-src 'self';");

    const shown = `/console/statements?clinic_id=${clinic.id}&from=${yesterday}&to=${today}`;
    for (const language of LANGUAGES) {
      await page.goto(`${stack.url}${shown}&lang=${language}`);
      expect(await page.getAttribute('html', 'lang')).toBe(language);
      await page.waitForSelector('#statement');
      const languageFindings = await runAxe(page);
      expect(languageFindings, `${language}\n${describeFindings(languageFindings)}`).toEqual([]);
      await page.screenshot({ path: path.join(RESULTS_DIR, `statements-desktop-${language}.png`), fullPage: true });
    }
    expect(problems.pageErrors).toEqual([]);
    expect(await problems.cspViolations()).toEqual([]);
    await context.close();

    const phone = await browser.newContext(PHONE);
    const phonePage = await signIn(phone, 'auditor', shown);
    await phonePage.waitForSelector('#statement');
    await phonePage.screenshot({ path: path.join(RESULTS_DIR, 'statements-phone-en.png'), fullPage: true });
    await phonePage.setInputFiles('#statement-file', tamperedFile);
    await phonePage.click('#verify', { timeout: 5000 });
    await phonePage.waitForSelector('#verify-result[data-state="failed"]');
    await phonePage.screenshot({ path: path.join(RESULTS_DIR, 'statements-phone-en.png'), fullPage: true });
    await phone.close();
  }, 120_000);

  it('filters the audit log by action and verifies its chain through the API', async () => {
    const context = await browser.newContext(DESKTOP);
    await installAxe(context);
    const page = await signIn(context, 'auditor', '/console/audit');
    const problems = await watchProblems(page);
    await page.goto(`${stack.url}/console/audit?action=statement.generated&lang=en`);
    const actions = await page.$$eval('#audit-rows tbody tr', (rows) => rows.map((row) => row.getAttribute('data-action')));
    expect(actions.length).toBeGreaterThanOrEqual(1);
    expect(new Set(actions)).toEqual(new Set(['statement.generated']));
    const first = page.locator('#audit-rows tbody tr').first();
    expect(await first.locator('.actor').textContent()).toBe('dev-auditor');
    expect(await first.locator('.role').textContent()).toBe('Auditor');
    expect(await first.locator('.auth').textContent()).toBe('Console session');
    expect(await first.locator('td').nth(3).textContent()).toMatch(/^statement stmt_/);

    await page.click('#verify-chain');
    await page.waitForSelector('#chain-result[data-state="verified"]', { timeout: 30_000 });
    expect(await page.textContent('#chain-result')).toMatch(/^✓ Verified: the chain holds over \d+ rows, up to row \d+\.$/);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'audit-verified-desktop-en.png'), fullPage: true });

    // Paging: one row a page is not offered, but the older link leads on through the whole log.
    await page.goto(`${stack.url}/console/audit?lang=en`);
    expect(await page.locator('#audit-rows tbody tr').count()).toBeGreaterThanOrEqual(3);

    for (const language of LANGUAGES) {
      await page.goto(`${stack.url}/console/audit?lang=${language}`);
      expect(await page.getAttribute('html', 'lang')).toBe(language);
      await page.click('#verify-chain');
      await page.waitForSelector('#chain-result[data-state="verified"]', { timeout: 30_000 });
      const findings = await runAxe(page);
      expect(findings, `${language}\n${describeFindings(findings)}`).toEqual([]);
      await page.screenshot({ path: path.join(RESULTS_DIR, `audit-desktop-${language}.png`), fullPage: true });
    }
    expect(problems.pageErrors).toEqual([]);
    expect(await problems.cspViolations()).toEqual([]);
    await context.close();

    const phone = await browser.newContext(PHONE);
    const phonePage = await signIn(phone, 'auditor', '/console/audit');
    await phonePage.screenshot({ path: path.join(RESULTS_DIR, 'audit-phone-en.png'), fullPage: true });
    await phone.close();
  }, 60_000);

  it('answers bad dates, bad filters, an unknown clinic and people whose role does not use the pages with a clear page', async () => {
    const context = await browser.newContext(DESKTOP);
    await installAxe(context);
    const page = await signIn(context, 'auditor', '/console/statements');
    const problems = await watchProblems(page);

    const badDates = await page.goto(`${stack.url}/console/statements?clinic_id=${clinic.id}&from=2026-02-30&to=${today}&lang=en`);
    expect(badDates?.status()).toBe(400);
    expect(await page.textContent('#statement-error')).toBe('The first day must be a date (YYYY-MM-DD).');
    expect(await page.getAttribute('#from', 'aria-invalid')).toBe('true');
    const badFindings = await runAxe(page);
    expect(badFindings, describeFindings(badFindings)).toEqual([]);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'statements-bad-dates-en.png'), fullPage: true });

    const backwards = await page.goto(`${stack.url}/console/statements?clinic_id=${clinic.id}&from=${today}&to=${yesterday}&lang=en`);
    expect(backwards?.status()).toBe(400);
    expect(await page.textContent('#statement-error')).toBe('The last day cannot be before the first day.');

    const unknown = await page.goto(`${stack.url}/console/statements?clinic_id=cli_${'0'.repeat(24)}&from=${yesterday}&to=${today}&lang=en`);
    expect(unknown?.status()).toBe(404);
    expect(await page.isVisible('#not-found')).toBe(true);

    const badFilter = await page.goto(`${stack.url}/console/audit?action=DROP%20TABLE&from=yesterday&lang=en`);
    expect(badFilter?.status()).toBe(400);
    expect(await page.textContent('#filter-error')).toBe('These filters are not valid: From (day), Action.');
    expect(problems.pageErrors).toEqual([]);
    expect(await problems.cspViolations()).toEqual([]);
    await context.close();

    // A clinic's own administrator is confined to their clinic and does not use these pages: a 403 page, not another clinic's statement.
    const admin = await browser.newContext();
    const adminPage = await signIn(admin, 'clinicadmin', '/console');
    const refused = await adminPage.goto(`${stack.url}/console/statements?clinic_id=${other.id}&from=${yesterday}&to=${today}`);
    expect(refused?.status()).toBe(403);
    expect(await adminPage.isVisible('#not-found')).toBe(true);
    expect((await adminPage.goto(`${stack.url}/console/audit`))?.status()).toBe(403);
    expect((await adminPage.request.get(`${stack.url}${VERIFIER_PATH}`)).status()).toBe(403);
    await admin.close();
  });
});
