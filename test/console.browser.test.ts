/**
 * The front desk's console in Chromium (Debian's), against the real gateway, the dev identity
 * provider, and an anvil and database of this file's own: a receptionist signs in on a tablet,
 * creates a bill from the clinic's price list (a double click makes one bill), turns the counter screen to the patient, and
 * the patient's payment on the chain turns it to paid without a reload. Today's bills and the
 * bill's page show it; another clinic's bill answers the same 404 page as an unknown id; the
 * pages have no accessibility violations in three languages.
 *
 * Screenshots are left in `test-results/console/`; the counter screen's weight and time to
 * interactive are printed.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Decimal } from 'decimal.js';
import type { Browser, BrowserContext } from 'playwright-core';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, tokenFor } from './support/app.js';
import { describeFindings, hasChromium, installAxe, launchChromium, pageFigures, runAxe, TEST_RESULTS_DIR, watchProblems } from './support/browser.js';
import { audited } from './support/database.js';
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
const TABLET = { viewport: { width: 1024, height: 768 }, deviceScaleFactor: 1, hasTouch: true };

describe.skipIf(!hasChromium)('the front desk in Chromium', () => {
  let env: SettlementEnv;
  let clinic: TestClinic;
  let stack: SignInStack;
  let browser: Browser;

  const signIn = (context: BrowserContext, username: string, start = '/console') => signInWithBrowser(stack, context, username, start);

  beforeAll(async () => {
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    env = await startSettlementEnv();
    await startWatcherHere(env);
    clinic = await newClinic(env);
    stack = await startSignInStack({
      db: env.db,
      clinicId: clinic.id,
      rpcUrl: env.rpcUrl,
      network: env.network,
      hostname: 'localhost',
      overrides: { checkout: { referenceRates: { rates: { CNY: '0.9213', USD: '0.1285' }, source: 'test rates', asOf: new Date('2026-12-01T00:00:00Z') } } },
    });
    // The clinic's price list, kept by its admin through the API.
    const added = await request(stack.app)
      .post('/v1/price-list')
      .set(bearer(tokenFor('clinic_admin', clinic.id)))
      .set('Idempotency-Key', randomUUID())
      .send({ code: 'CONS-GP', name: 'GP consultation', unit_amount: '150.50' });
    expect(added.status, added.text).toBe(201);
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await env?.close();
  });

  it('creates a bill (one, however often the button is pressed), shows it at the counter, and turns it to paid live when the patient pays', async () => {
    const context = await browser.newContext(TABLET);
    await installAxe(context);
    const page = await signIn(context, 'frontdesk', '/console/bills/new');
    const problems = await watchProblems(page);

    await page.fill('#patient_ref', 'PAT-COUNTER-1');
    // The first line from the clinic's price list, the second written by hand.
    await page.selectOption('.line [name="price_item"]', { label: 'CONS-GP — GP consultation (HK$150.50)' });
    expect(await page.inputValue('.line [name="description"]')).toBe('CONS-GP GP consultation');
    expect(await page.inputValue('.line [name="unit_amount"]')).toBe('150.50');
    await page.fill('.line [name="quantity"]', '2');
    await page.click('#add-line');
    const second = page.locator('.line').nth(1);
    await second.locator('[name="description"]').fill('Medicine');
    await second.locator('[name="unit_amount"]').fill('99.00');
    await expect.poll(() => page.textContent('#total')).toBe('HK$400.00');
    // The indicative amounts of the gateway's rates, exact to the cent (400 × 0.9213, 400 × 0.1285).
    expect(await page.textContent('#indicative')).toBe(
      'About CN¥368.52 · US$51.40 (indicative, test rates, 1 Dec 2026, 08:00 am HKT); the patient pays in HKD.',
    );
    await page.fill('#note', 'Follow-up visit included');
    const findings = await runAxe(page);
    expect(findings, describeFindings(findings)).toEqual([]);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'new-bill-tablet-en.png'), fullPage: true });

    // Two presses in a row: one idempotency key per form, so one bill.
    await page.locator('#create-bill').dblclick();
    await page.waitForURL(/\/console\/bills\/inv_[0-9a-f]{24}\/counter/);
    const billId = /bills\/(inv_[0-9a-f]{24})\//.exec(page.url())![1]!;
    expect(await env.db('invoices').where({ patient_ref: 'PAT-COUNTER-1' }).count({ n: '*' })).toEqual([{ n: '1' }]);
    expect((await readInvoice(env, billId)).metadata).toEqual({ note: 'Follow-up visit included' });

    await page.waitForSelector('#payment-qr svg');
    await page.waitForSelector('#checkout-qr:not([hidden]) svg');
    expect(await page.textContent('#counter-amount')).toBe('HK$400.00');
    expect(await page.textContent('#counter-status-text')).toBe('Waiting for payment');
    const counterFindings = await runAxe(page);
    expect(counterFindings, describeFindings(counterFindings)).toEqual([]);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'counter-waiting-tablet-en.png'), fullPage: true });

    // The patient pays the exact amount; the watcher sees it and it becomes final.
    const invoice = await readInvoice(env, billId);
    await page.evaluate('window.__sameDocument = 1');
    await pay(env, invoice.deposit_address, BigInt(invoice.token_amount_due));
    const deps = watcher(env);
    await syncUntilCaughtUp(deps);
    await page.waitForSelector('main#counter[data-status="processing"]', { timeout: 10_000 });
    await mine(env, deps.finality.confirmations);
    await syncUntilCaughtUp(deps);
    await page.waitForSelector('main#counter[data-status="paid"]', { timeout: 10_000 });
    expect(await page.textContent('#counter-status-text')).toBe('Paid. Thank you!');
    expect(await page.isVisible('#payment-qr')).toBe(false);
    expect(await page.textContent('#checkout-qr-caption')).toBe('Your receipt, on your phone');
    expect(await page.evaluate('window.__sameDocument')).toBe(1);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'counter-paid-tablet-en.png'), fullPage: true });

    // Today's bills list it as paid, and its page shows the payment and what happened.
    await page.goto(`${stack.url}/console/bills?q=PAT-COUNTER-1`);
    expect(await page.textContent(`tr[data-bill="${billId}"] .badge`)).toBe('Paid');
    await page.click(`tr[data-bill="${billId}"] a`);
    await page.waitForSelector('main#bill[data-status="paid"]');
    expect(await page.locator('.payments li').count()).toBe(1);
    expect(await page.textContent('.timeline')).toContain('invoice.created');
    expect(await page.isVisible('#void-bill')).toBe(false);
    expect(problems.pageErrors).toEqual([]);
    expect(await problems.cspViolations()).toEqual([]);
    await context.close();
  });

  it('shows an underpayment at the counter with what is left and a new QR for it, then paid when the rest comes', async () => {
    const invoice = await newInvoice(env, clinic, { amount: '100.00' });
    const due = BigInt(invoice.token_amount_due);
    const context = await browser.newContext(TABLET);
    const page = await signIn(context, 'frontdesk', `/console/bills/${invoice.id}/counter`);
    await page.waitForSelector('#payment-qr svg');
    const firstQr = await page.innerHTML('#payment-qr-image');
    await page.evaluate('window.__sameDocument = 1');

    const deps = watcher(env);
    await pay(env, invoice.deposit_address, due / 2n);
    await mine(env, deps.finality.confirmations);
    await syncUntilCaughtUp(deps);
    await page.waitForSelector('main#counter[data-status="underpaid"]', { timeout: 10_000 });
    expect(await page.textContent('#counter-status-text')).toBe('Received HK$50.00. Still to pay: HK$50.00');
    await expect.poll(() => page.innerHTML('#payment-qr-image'), { timeout: 10_000 }).not.toBe(firstQr);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'counter-underpaid-tablet-en.png'), fullPage: true });

    await pay(env, invoice.deposit_address, due - due / 2n);
    await mine(env, deps.finality.confirmations);
    await syncUntilCaughtUp(deps);
    await page.waitForSelector('main#counter[data-status="paid"]', { timeout: 10_000 });
    expect(await page.evaluate('window.__sameDocument')).toBe(1);
    await context.close();
  });

  it('serves the counter screen small and quick: page weight and time to interactive, measured in the browser', async () => {
    const invoice = await newInvoice(env, clinic, { amount: '120.00' });
    const context = await browser.newContext(TABLET);
    const page = await signIn(context, 'frontdesk', `/console/bills/${invoice.id}/counter`);
    // A cold load: no cached script or stylesheet.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    await page.goto(`${stack.url}/console/bills/${invoice.id}/counter`, { waitUntil: 'load' });
    const figures = await pageFigures(page);
    const loaded = figures.resources.filter((resource) => !resource.name.endsWith('/status'));
    expect(loaded.map((resource) => resource.name).sort()).toEqual(['/console/assets/console.css', '/console/assets/counter.js']);
    const weightBytes = figures.documentBytes + loaded.reduce((sum, resource) => sum + resource.transferSize, 0);
    const interactiveMs = figures.interactiveMs;
    console.log(`counter screen: weight ${weightBytes} bytes, time to interactive ${interactiveMs} ms (1024×768 tablet, local server, cold cache)`);
    fs.writeFileSync(
      path.join(RESULTS_DIR, 'counter-metrics.json'),
      `${JSON.stringify({ weightBytes, timeToInteractiveMs: interactiveMs, parts: loaded }, null, 2)}\n`,
    );
    expect(weightBytes).toBeLessThan(100_000);
    expect(interactiveMs).toBeGreaterThan(0);
    await context.close();
  });

  it('shows finance what came in today: a payment made now raises today’s takings by its amount; the dashboard is small and quick', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await installAxe(context);
    const page = await signIn(context, 'finance1', '/console/finance');
    const figure = async (id: string) => (await page.textContent(`#${id} .figure`))!.replace(/[^0-9.]/g, '');
    const before = new Decimal(await figure('takings-today'));
    const monthBefore = new Decimal(await figure('takings-month'));
    const waitingBefore = new Decimal(await figure('waiting-amount'));
    const forwardedBefore = new Decimal(await figure('forwarded-amount'));

    const invoice = await newInvoice(env, clinic, { amount: '120.00' });
    await pay(env, invoice.deposit_address, BigInt(invoice.token_amount_due));
    const deps = watcher(env);
    await mine(env, deps.finality.confirmations);
    await syncUntilCaughtUp(deps);
    expect((await readInvoice(env, invoice.id)).status).toBe('paid');

    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    await page.goto(`${stack.url}/console/finance`, { waitUntil: 'load' });
    expect(new Decimal(await figure('takings-today')).minus(before).toFixed(2)).toBe('120.00');
    expect(new Decimal(await figure('takings-month')).minus(monthBefore).toFixed(2)).toBe('120.00');
    // Paid, not yet forwarded (no forwarding runs in this test): it waits in its deposit address.
    expect(new Decimal(await figure('waiting-amount')).minus(waitingBefore).toFixed(2)).toBe('120.00');
    expect(new Decimal(await figure('forwarded-amount')).minus(forwardedBefore).toFixed(2)).toBe('0.00');
    expect(await page.locator('svg.chart rect.bar').count()).toBe(30);
    expect(await page.textContent('#watcher')).toMatch(/^The chain watcher is \d+ blocks behind/);

    const figures = await pageFigures(page);
    const weightBytes = figures.documentBytes + figures.resources.reduce((total, resource) => total + resource.transferSize, 0);
    console.log(`finance dashboard: weight ${weightBytes} bytes, time to interactive ${figures.interactiveMs} ms (1280×900 desktop, local server, cold cache)`);
    expect(weightBytes).toBeLessThan(100_000);

    for (const language of ['zh-HK', 'zh-CN', 'en'] as const) {
      await page.goto(`${stack.url}/console/finance?lang=${language}`);
      const findings = await runAxe(page);
      expect(findings, `${language}\n${describeFindings(findings)}`).toEqual([]);
      await page.screenshot({ path: path.join(RESULTS_DIR, `finance-dashboard-${language}.png`), fullPage: true });
    }
    await context.close();
  });

  it('gives a new checkout link and voids an open bill from its page, and answers another clinic’s bill with the same 404 page as an unknown id', async () => {
    const own = await newInvoice(env, clinic, { amount: '80.00' });
    const other = await newInvoice(env, await newClinic(env), { amount: '80.00' });
    const context = await browser.newContext();
    const page = await signIn(context, 'clinicadmin', `/console/bills/${own.id}`);
    // A new checkout link for the patient: it opens the bill's payment page.
    await page.click('#new-link');
    await page.waitForSelector('#link-box:not([hidden])');
    const link = await page.inputValue('#checkout-link');
    expect(link).toMatch(/\/checkout\/[A-Za-z0-9_-]{43}$/);
    // Relative here: the test app has no PUBLIC_URL (in production the link is absolute).
    expect((await page.request.get(new URL(link, stack.url).toString())).status()).toBe(200);
    expect(await page.getAttribute('#email-link', 'href')).toContain(encodeURIComponent(link));
    await page.click('#void-bill');
    await page.waitForSelector('main#bill[data-status="void"]');
    expect((await readInvoice(env, own.id)).status).toBe('void');
    const audit = await (await audited(env.db))('audit_log').where({ action: 'invoice.voided', target_id: own.id }).first();
    expect(audit).toMatchObject({ actor: 'dev-clinic-admin', auth: { method: 'session' } });

    const foreign = await page.goto(`${stack.url}/console/bills/${other.id}`);
    const unknown = await (await context.newPage()).goto(`${stack.url}/console/bills/inv_${'0'.repeat(24)}`);
    expect(foreign?.status()).toBe(404);
    expect(unknown?.status()).toBe(404);
    expect(await foreign?.text()).toBe(await unknown?.text());

    // A stale page: the bill was voided elsewhere after the page was shown. Clicking says so, in words.
    const stale = await newInvoice(env, clinic, { amount: '30.00' });
    await page.goto(`${stack.url}/console/bills/${stale.id}?lang=zh-HK`);
    const voided = await request(stack.app)
      .post(`/v1/invoices/${stale.id}/void`)
      .set(bearer(tokenFor('clinic_admin', clinic.id)))
      .set('Idempotency-Key', randomUUID());
    expect(voided.status).toBe(200);
    await page.click('#void-bill');
    await expect.poll(() => page.textContent('#bill-message')).toBe('頁面顯示後此帳單已有變動（已付款、已過期或已在別處作廢）。請重新載入頁面查看現況。');
    expect(await (await audited(env.db))('audit_log').where({ action: 'invoice.voided', target_id: stale.id }).count({ n: '*' })).toEqual([{ n: '1' }]);

    // The note written on the new-bill form is on the bill's page.
    const noted = await env.db('invoices').where({ patient_ref: 'PAT-COUNTER-1' }).first('id');
    await page.goto(`${stack.url}/console/bills/${noted.id}`);
    expect(await page.textContent('#bill-note')).toBe('Follow-up visit included');
    await context.close();
  });

  it('gives the patient’s receipt of a paid bill: a new link whose PDF prints at the desk', async () => {
    const invoice = await newInvoice(env, clinic, { amount: '64.00' });
    await pay(env, invoice.deposit_address, BigInt(invoice.token_amount_due));
    const deps = watcher(env);
    await mine(env, deps.finality.confirmations);
    await syncUntilCaughtUp(deps);
    const context = await browser.newContext(TABLET);
    const page = await signIn(context, 'frontdesk', `/console/bills/${invoice.id}`);
    expect(await page.getAttribute('main#bill', 'data-status')).toBe('paid');
    await page.click('#new-link');
    await page.waitForSelector('#link-box:not([hidden])');
    const receipt = await page.getAttribute('#receipt-pdf', 'href');
    expect(receipt).toMatch(/\/checkout\/[A-Za-z0-9_-]{43}\/receipt\.pdf$/);
    const pdf = await page.request.get(new URL(receipt!, stack.url).toString());
    expect(pdf.status()).toBe(200);
    expect(pdf.headers()['content-type']).toBe('application/pdf');
    expect((await pdf.body()).subarray(0, 5).toString()).toBe('%PDF-');
    await page.screenshot({ path: path.join(RESULTS_DIR, 'bill-paid-receipt-tablet-en.png'), fullPage: true });
    await context.close();
  });

  it('can be worked with the keyboard alone: Tab reaches the languages, the menu, sign-out and the search, each with a visible focus ring', async () => {
    const context = await browser.newContext(TABLET);
    const page = await signIn(context, 'frontdesk', '/console/bills');
    const focused: { tag: string; name: string; text: string; outline: string }[] = [];
    for (let step = 0; step < 14; step += 1) {
      await page.keyboard.press('Tab');
      focused.push(
        await page.evaluate(`(() => {
          const element = document.activeElement;
          const style = getComputedStyle(element);
          return { tag: element.tagName, name: element.name || '', text: (element.textContent || '').trim().slice(0, 30), outline: style.outlineStyle + ' ' + style.outlineWidth };
        })()`),
      );
    }
    // The language links, the menu, sign-out and the search are all reached in order.
    expect(focused.map((entry) => entry.text)).toEqual(expect.arrayContaining(['繁體中文', 'Today’s bills', 'New bill', 'Sign out']));
    expect(focused.some((entry) => entry.name === 'q')).toBe(true);
    // Every focused control shows a ring at least 3 px wide (never colour alone, never nothing).
    // (Past the last control, focus leaves the page for the browser's own and the body is "active".)
    for (const entry of focused.filter((item) => item.tag !== 'BODY')) expect(entry.outline, JSON.stringify(entry)).toMatch(/^solid 3px$/);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'front-desk-keyboard-focus.png') });
    await context.close();
  });

  it('shows every front-desk page in three languages without accessibility violations, and keeps other roles out of them', async () => {
    const bill = await newInvoice(env, clinic, { amount: '42.00' });
    const context = await browser.newContext(TABLET);
    await installAxe(context);
    const page = await signIn(context, 'frontdesk', '/console/bills');
    for (const language of ['zh-HK', 'zh-CN', 'en'] as const) {
      for (const [name, where] of [
        ['home', '/console'],
        ['bills', '/console/bills'],
        ['new-bill', '/console/bills/new'],
        ['bill', `/console/bills/${bill.id}`],
        ['counter', `/console/bills/${bill.id}/counter`],
        ['not-found', `/console/bills/inv_${'0'.repeat(24)}`],
      ] as const) {
        await page.goto(`${stack.url}${where}?lang=${language}`);
        expect(await page.getAttribute('html', 'lang')).toBe(language);
        const findings = await runAxe(page);
        expect(findings, `${where} ${language}\n${describeFindings(findings)}`).toEqual([]);
        await page.screenshot({ path: path.join(RESULTS_DIR, `front-desk-${name}-${language}.png`), fullPage: true });
      }
    }
    await context.close();

    const finance = await browser.newContext();
    const financePage = await signIn(finance, 'finance1');
    const refused = await financePage.goto(`${stack.url}/console/bills`);
    expect(refused?.status()).toBe(403);
    await finance.close();
  });
});
