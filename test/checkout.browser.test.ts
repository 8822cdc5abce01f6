/**
 * The patient's checkout page in a real browser: headless Chromium from Debian's `chromium`
 * package, driven by playwright-core, against the real app on a real port, a database and an
 * anvil of this file's own. Payments are made on anvil and the watcher is driven step by step
 * from the test, while the page (never reloaded) follows on its own.
 *
 * Screenshots of the page in each language and the page's weight and time to interactive are
 * left in `test-results/checkout/` for review.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { decodeFunctionData, getAddress, type Hex } from 'viem';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { testHKDAbi } from '../contracts/artifacts/TestHKD.js';
import { type CreatedInvoice, createInvoice, type InvoiceRow } from '../src/billing/invoices.js';
import { CATALOGUES, CHECKOUT_LANGUAGES, type CheckoutLanguage, LANGUAGE_NAMES, message } from '../src/checkout/messages.js';
import { withTransaction } from '../src/platform/transaction.js';
import { bearer, buildTestApp, TEST_ACTOR, tokenFor } from './support/app.js';
import {
  type AxeFinding,
  describeFindings,
  hasChromium,
  installAxe,
  launchChromium,
  PHONE,
  runAxe,
  type Served,
  serve,
  TEST_RESULTS_DIR,
  watchProblems,
} from './support/browser.js';
import {
  CONFIRMATIONS,
  mine,
  newClinic,
  pay,
  readInvoice,
  type SettlementEnv,
  settle,
  startSettlementEnv,
  startWatcherHere,
  syncUntilCaughtUp,
  type TestClinic,
  watcher,
} from './support/settlement.js';

const REFERENCE_RATES = { rates: { CNY: '0.9213', USD: '0.1285' }, source: 'test rates', asOf: new Date('2026-11-27T08:00:00Z') };
const EXPLORER_TX_URL = 'https://explorer.example/tx/{tx}';
/** HK$880.00 + 2 × HK$177.25 = HK$1,234.50. */
const LINE_ITEMS = [
  { description: 'Consultation', quantity: 1, unit_amount: '880.00' },
  { description: 'Medicine', quantity: 2, unit_amount: '177.25' },
];
const PATIENT_REF = 'patient-browser-0001';

/**
 * What each language shows for HK$1,234.50 and its indicative amounts (× 0.9213 CNY, × 0.1285
 * USD, half up): written out, not computed with the page's own formatter. `acceptLanguage` is
 * what the browser sends as Accept-Language.
 */
const SHOWN: Record<CheckoutLanguage, { acceptLanguage: string; hkd: string; cny: string; usd: string }> = {
  'zh-HK': { acceptLanguage: 'zh-HK', hkd: 'HK$1,234.50', cny: 'CN¥1,137.34', usd: 'US$158.63' },
  'zh-CN': { acceptLanguage: 'zh-CN', hkd: 'HK$1,234.50', cny: '¥1,137.34', usd: 'US$158.63' },
  en: { acceptLanguage: 'en-US', hkd: 'HK$1,234.50', cny: 'CN¥1,137.34', usd: 'US$158.63' },
};

/** How long the page may take to follow a change: it polls every 2.5 s. */
const LIVE_MS = 10_000;
/** The page's polling interval (public/checkout/checkout.js). */
const POLL_MS = 2_500;
const RESULTS_DIR = path.join(TEST_RESULTS_DIR, 'checkout');

// The browser is Debian's `chromium` package (never a downloaded one); where it is not
// installed (a developer machine without it) these tests are skipped, not failed.
describe.skipIf(!hasChromium)('patient checkout in Chromium', () => {
  let env: SettlementEnv;
  let clinic: TestClinic;
  let server: Served;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    const [started, launched] = await Promise.all([startSettlementEnv(), launchChromium()]);
    env = started;
    browser = launched;
    await startWatcherHere(env);
    clinic = await newClinic(env);
    const { app } = await buildTestApp({
      db: env.db,
      rpcUrl: env.rpcUrl,
      network: env.network,
      overrides: { checkout: { referenceRates: REFERENCE_RATES, explorerTxUrl: EXPLORER_TX_URL } },
    });
    server = await serve(app);
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
  });

  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((context) => context.close()));
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await env?.close();
  });

  async function newContext(options: BrowserContextOptions = {}): Promise<BrowserContext> {
    const context = await browser.newContext(options);
    contexts.push(context);
    return context;
  }

  /** An invoice issued through the API, so it carries the app's configured reference rates. */
  async function issueInvoice(): Promise<CreatedInvoice> {
    const response = await fetch(`${server.url}/v1/invoices`, {
      method: 'POST',
      headers: { ...bearer(tokenFor('clinic_admin', clinic.id)), 'Idempotency-Key': randomUUID(), 'Content-Type': 'application/json' },
      body: JSON.stringify({ patient_ref: PATIENT_REF, currency: 'HKD', line_items: LINE_ITEMS }),
    });
    const body = (await response.json()) as { id: string; checkout_url: string };
    expect(response.status, JSON.stringify(body)).toBe(201);
    const row = await readInvoice(env, body.id);
    // Only the token's hash is stored; the answer that created the invoice is where the token is.
    const token = body.checkout_url.split('/').at(-1)!;
    expect(body.checkout_url).toBe(`/checkout/${token}`);
    expect(row.checkout_token_hash).toBe(createHash('sha256').update(token).digest('hex'));
    return { ...row, checkout_token: token };
  }

  /** An invoice created ten minutes ago that was due in five: expired, though no worker has marked it. */
  async function expiredInvoice(): Promise<CreatedInvoice> {
    const input = { patient_ref: PATIENT_REF, currency: 'HKD', line_items: LINE_ITEMS, expires_in_minutes: 5 };
    return withTransaction(env.db, (trx) =>
      createInvoice(trx, {
        clinicId: clinic.id,
        input,
        network: env.network,
        actor: TEST_ACTOR,
        now: new Date(Date.now() - 10 * 60_000),
        referenceRates: REFERENCE_RATES,
      }),
    );
  }

  const pageUrl = (invoice: CreatedInvoice, suffix = '') => `${server.url}/checkout/${invoice.checkout_token}${suffix}`;

  async function text(page: Page, selector: string): Promise<string> {
    return ((await page.locator(selector).textContent()) ?? '').trim();
  }

  /** Waits (with a deadline) until the status headline reads exactly `title`. */
  async function waitForStatusTitle(page: Page, title: string): Promise<void> {
    // A locator, not waitForFunction: a string predicate is eval'd in the page, which its CSP refuses.
    const exactly = new RegExp(`^\\s*${title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`);
    await page.locator('#status-title', { hasText: exactly }).waitFor({ timeout: LIVE_MS });
  }

  /**
   * Opens the checkout page of `invoice` with Playwright's clock in it, so the test can make
   * the page poll at once after changing the chain instead of waiting for its next tick
   * ({@link pollNow}). Time still flows on its own: the page keeps polling by itself as well.
   */
  async function openLive(page: Page, invoice: CreatedInvoice): Promise<void> {
    await page.clock.install();
    await page.goto(pageUrl(invoice));
    await page.waitForSelector('main[data-status="open"]');
  }

  /** Fires the page's polling timer now (one interval ahead on its clock). */
  async function pollNow(page: Page): Promise<void> {
    await page.clock.runFor(POLL_MS);
  }

  /** A wallet injected into the page (EIP-1193) whose requests the test answers, sending from the payer. */
  async function injectWallet(page: Page): Promise<{ calls: { method: string; params: unknown }[]; sent: Hex[] }> {
    const calls: { method: string; params: unknown }[] = [];
    const sent: Hex[] = [];
    await page.exposeFunction('__testWalletRequest', async (method: string, params: unknown) => {
      calls.push({ method, params });
      switch (method) {
        case 'eth_requestAccounts':
          return [env.payer.address];
        case 'wallet_switchEthereumChain':
          return null;
        case 'eth_sendTransaction': {
          const [tx] = params as [{ from: string; to: string; data: Hex; value?: Hex }];
          if (getAddress(tx.from) !== env.payer.address) throw new Error(`unexpected sender ${tx.from}`);
          const hash = await env.payer.wallet.sendTransaction({ to: getAddress(tx.to), data: tx.data, value: BigInt(tx.value ?? '0x0') });
          sent.push(hash);
          return hash;
        }
        default:
          throw new Error(`the test wallet does not do ${method}`);
      }
    });
    // Looked up at call time: the exposed binding is there by then whatever the order of set-up.
    await page.addInitScript(`
      window.ethereum = {
        request: function (args) {
          return window.__testWalletRequest(args.method, args.params === undefined ? null : args.params);
        },
      };
    `);
    return { calls, sent };
  }

  /** Checks the wallet was asked for the right chain and one exact ERC-20 transfer; returns its hash. */
  async function expectWalletTransfer(
    wallet: { calls: { method: string; params: unknown }[]; sent: Hex[] },
    invoice: InvoiceRow,
    amount: bigint,
  ): Promise<Hex> {
    expect(wallet.calls.map((call) => call.method)).toEqual(['eth_requestAccounts', 'wallet_switchEthereumChain', 'eth_sendTransaction']);
    expect(wallet.calls[1]!.params).toEqual([{ chainId: `0x${env.network.chainId.toString(16)}` }]);
    const [tx] = wallet.calls[2]!.params as [{ to: string; data: Hex; value: string }];
    expect(getAddress(tx.to)).toBe(getAddress(env.token));
    expect(BigInt(tx.value)).toBe(0n);
    const call = decodeFunctionData({ abi: testHKDAbi, data: tx.data });
    expect(call.functionName).toBe('transfer');
    expect(call.args).toEqual([getAddress(invoice.deposit_address), amount]);
    expect(wallet.sent).toHaveLength(1);
    const receipt = await env.chain.publicClient.waitForTransactionReceipt({ hash: wallet.sent[0]!, pollingInterval: 50 });
    expect(receipt.status).toBe('success');
    return wallet.sent[0]!;
  }

  it('shows the invoice in the language of Accept-Language, with indicative CNY and USD, and switches language by its links', async () => {
    const invoice = await issueInvoice();
    // One page for the three languages (a new page costs a renderer process): the browser's
    // Accept-Language header is changed between visits.
    const context = await newContext(PHONE);
    const page = await context.newPage();
    for (const language of CHECKOUT_LANGUAGES) {
      const shown = SHOWN[language];
      const catalogue = CATALOGUES[language];
      await page.setExtraHTTPHeaders({ 'Accept-Language': shown.acceptLanguage });
      const response = await page.goto(pageUrl(invoice));
      expect(response!.status()).toBe(200);
      expect(response!.headers()['content-language']).toBe(language);
      expect(await page.locator('html').getAttribute('lang')).toBe(language);
      await page.waitForSelector('main[data-status="open"]');
      expect(await text(page, 'h1')).toBe(message(language, 'invoice_number', { number: invoice.number }));
      expect(await text(page, '.clinic')).toBe('Harbour Clinic');
      expect(await text(page, '#status-title')).toBe(catalogue.status_open);
      expect(await text(page, '#status-detail')).toBe(catalogue.status_open_detail);
      expect(await text(page, '.amount-due')).toBe(shown.hkd);
      expect(await text(page, 'tfoot td')).toBe(shown.hkd);
      expect(await text(page, '#amount-to-send')).toBe('1234.5');

      // The reference amounts, each marked indicative with its rate and source.
      expect(await text(page, '#reference-title')).toBe(catalogue.reference_title);
      const references = await page.locator('.reference li').allTextContents();
      const indicative = (rate: string) => catalogue.reference_note.split('{time}')[0]!.replace('{rate}', rate).replace('{source}', REFERENCE_RATES.source);
      expect(references).toHaveLength(2);
      expect(references[0]).toContain(`≈ ${shown.cny}`);
      expect(references[0]).toContain(indicative('0.9213'));
      expect(references[1]).toContain(`≈ ${shown.usd}`);
      expect(references[1]).toContain(indicative('0.1285'));

      // Only what the patient needs: no internal ids, patient reference or the clinic's wallet.
      const html = await page.content();
      for (const secret of [invoice.id, clinic.id, PATIENT_REF, clinic.wallet, clinic.wallet.toLowerCase(), invoice.deposit_salt])
        expect(html).not.toContain(secret);

      await page.screenshot({ path: path.join(RESULTS_DIR, `${language}.png`), fullPage: true });
    }

    // The last page is English (from Accept-Language); its links switch the language.
    expect(await page.locator('nav.languages [aria-current="true"]').textContent()).toBe(LANGUAGE_NAMES.en);
    for (const language of ['zh-HK', 'zh-CN'] as const) {
      await page.locator(`nav.languages a[hreflang="${language}"]`).click();
      await page.waitForURL(`${pageUrl(invoice)}?lang=${language}`);
      expect(await page.locator('html').getAttribute('lang')).toBe(language);
      expect(await text(page, '#status-title')).toBe(CATALOGUES[language].status_open);
      expect(await page.locator('nav.languages [aria-current="true"]').textContent()).toBe(LANGUAGE_NAMES[language]);
    }
  });

  it('is complete without JavaScript: QR code, payment link, amount and address', async () => {
    const invoice = await issueInvoice();
    const context = await newContext({ ...PHONE, locale: 'zh-HK', javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(pageUrl(invoice));
    expect(await page.locator('html').getAttribute('lang')).toBe('zh-HK');
    expect(await page.locator('.qr svg').isVisible()).toBe(true);
    expect(await page.locator('#open-wallet').getAttribute('href')).toMatch(
      new RegExp(
        `^ethereum:${env.token}@${env.network.chainId}/transfer\\?address=${getAddress(invoice.deposit_address)}&uint256=${invoice.token_amount_due}$`,
        'i',
      ),
    );
    expect(await text(page, '#deposit-address')).toBe(getAddress(invoice.deposit_address));
    expect(await text(page, '#amount-to-send')).toBe('1234.5');
    // (Playwright's text matching skips <noscript>, so the element is asked for directly.)
    expect(await page.locator('#status noscript p').isVisible()).toBe(true);
    expect(await text(page, '#status noscript p')).toBe(CATALOGUES['zh-HK'].live_updates_off);
    // What needs the script stays hidden rather than broken.
    expect(await page.locator('button.copy:visible, #pay-with-wallet:visible').count()).toBe(0);
  });

  it('follows a payment on the chain from waiting to confirming (n of m) to paid without a reload, then links the receipt', async () => {
    const invoice = await issueInvoice();
    const context = await newContext({ ...PHONE, locale: 'en-US' });
    const page = await context.newPage();
    await openLive(page, invoice);
    expect(await page.locator('#receipt-links').isVisible()).toBe(false);
    await page.evaluate('window.__sameDocument = 1');

    const due = BigInt(invoice.token_amount_due);
    const payment = await pay(env, invoice.deposit_address, due);
    const deps = watcher(env);
    await syncUntilCaughtUp(deps);
    await pollNow(page);
    await page.waitForSelector('main[data-status="processing"]', { timeout: LIVE_MS });
    // One confirmation more per block; the page is waited on before the chain moves again.
    for (let seen = 1; seen < CONFIRMATIONS; seen += 1) {
      await waitForStatusTitle(page, message('en', 'status_processing', { current: seen, required: CONFIRMATIONS }));
      await mine(env, 1);
      await syncUntilCaughtUp(deps);
      await pollNow(page);
    }
    expect((await readInvoice(env, invoice.id)).status).toBe('paid');
    await page.waitForSelector('main[data-status="paid"]', { timeout: LIVE_MS });
    await waitForStatusTitle(page, CATALOGUES.en.status_paid);
    expect(await text(page, '#status-detail')).toBe(message('en', 'status_paid_detail', { amount: SHOWN.en.hkd }));
    expect(await page.locator('#status').getAttribute('class')).toBe('status status-paid');
    expect(await page.locator('#pay').isVisible()).toBe(false);
    // The amount says what was paid and when, no longer what is due and by when.
    expect(await text(page, '#amount-title')).toBe(CATALOGUES.en.amount_paid_title);
    expect(await text(page, '#amount-value')).toBe(SHOWN.en.hkd);
    const paidOnLive = await text(page, '#amount-note');
    expect(paidOnLive).toMatch(/^Paid on \d{1,2} \w{3} 20\d\d, .+ (GMT\+8|HKT)\.$/);
    expect(await page.evaluate('window.__sameDocument')).toBe(1);
    // The server renders the same words after a reload as the script wrote live.
    await page.reload();
    expect(await text(page, '#amount-title')).toBe(CATALOGUES.en.amount_paid_title);
    expect(await text(page, '#amount-note')).toBe(paidOnLive);

    const receiptLink = page.locator('#receipt-links a.button');
    expect(await receiptLink.isVisible()).toBe(true);
    await receiptLink.click();
    await page.waitForURL(`${pageUrl(invoice)}/receipt?lang=en`);
    await page.waitForSelector('main#receipt[data-status="paid"]');
    expect(await text(page, 'h1')).toBe(CATALOGUES.en.receipt_heading);
    expect(await text(page, 'code.hash')).toBe(payment.txHash);
    expect(await page.locator('.transactions a').getAttribute('href')).toBe(EXPLORER_TX_URL.replace('{tx}', payment.txHash));
  });

  it('shows an expired invoice as expired, with what to do next and nothing to pay', async () => {
    const invoice = await expiredInvoice();
    const context = await newContext({ ...PHONE, locale: 'en-US' });
    const page = await context.newPage();
    for (const language of ['en', 'zh-HK'] as const) {
      const response = await page.goto(pageUrl(invoice, `?lang=${language}`));
      expect(response!.status()).toBe(200);
      expect(await page.locator('main').getAttribute('data-status')).toBe('expired');
      expect(await page.locator('main').getAttribute('data-final')).toBe('true');
      expect(await text(page, '#status-title')).toBe(CATALOGUES[language].status_expired);
      expect(await text(page, '#status-detail')).toBe(CATALOGUES[language].status_expired_detail);
      expect(await page.locator('#status').getAttribute('class')).toBe('status status-expired');
      for (const payWidget of ['#pay', '#open-wallet', '#pay-with-wallet', '.qr', '#deposit-address'])
        expect(await page.locator(payWidget).count(), payWidget).toBe(0);
      expect(await page.locator('#receipt-links').isVisible()).toBe(false);
    }
    const status = await fetch(pageUrl(invoice, '/status'));
    expect(((await status.json()) as { status: string }).status).toBe('expired');
  });

  it('answers an unknown and a tampered token with the same 404, byte for byte, in about the same time', async () => {
    const invoice = await issueInvoice();
    const real = invoice.checkout_token;
    const at = 21;
    const tampered = `${real.slice(0, at)}${real[at] === 'A' ? 'B' : 'A'}${real.slice(at + 1)}`;
    const unknown = randomBytes(32).toString('base64url');
    expect(tampered).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(unknown).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const headers = { Accept: 'text/html', 'Accept-Language': 'zh-HK' };
    const get = (token: string, suffix = '') => fetch(`${server.url}/checkout/${token}${suffix}`, { headers });

    expect((await get(real)).status).toBe(200);
    const compared = ['content-type', 'content-length', 'content-language', 'content-security-policy', 'cache-control', 'x-robots-tag', 'referrer-policy'];
    for (const suffix of ['', '/status', '/receipt', '/receipt.pdf']) {
      const answers = await Promise.all([get(unknown, suffix), get(tampered, suffix)]);
      const [a, b] = await Promise.all(
        answers.map(async (response) => ({
          status: response.status,
          headers: compared.map((name) => `${name}: ${response.headers.get(name)}`),
          body: Buffer.from(await response.arrayBuffer()),
        })),
      );
      expect(a!.status, suffix).toBe(404);
      expect(b!.status, suffix).toBe(404);
      expect(b!.headers, suffix).toEqual(a!.headers);
      expect(b!.body.equals(a!.body), `${suffix}: the two 404 bodies differ`).toBe(true);
    }

    // A smoke check that the time does not tell them apart (both are one indexed lookup that
    // finds nothing): medians over 20 interleaved requests each, with a generous bound. It
    // catches, say, a slow path for tokens that are "almost" right, not a fine timing channel.
    const timeOf = async (token: string) => {
      const start = performance.now();
      const response = await get(token);
      await response.arrayBuffer();
      return performance.now() - start;
    };
    for (let warm = 0; warm < 5; warm += 1) await Promise.all([timeOf(unknown), timeOf(tampered)]);
    const times = { unknown: [] as number[], tampered: [] as number[] };
    for (let round = 0; round < 20; round += 1) {
      if (round % 2 === 0) {
        times.unknown.push(await timeOf(unknown));
        times.tampered.push(await timeOf(tampered));
      } else {
        times.tampered.push(await timeOf(tampered));
        times.unknown.push(await timeOf(unknown));
      }
    }
    const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!;
    const [unknownMs, tamperedMs] = [median(times.unknown), median(times.tampered)];
    console.log(`checkout 404: median ${unknownMs.toFixed(2)} ms (unknown token) vs ${tamperedMs.toFixed(2)} ms (tampered token)`);
    const close = Math.abs(unknownMs - tamperedMs) <= 20 || Math.max(unknownMs, tamperedMs) <= 3 * Math.min(unknownMs, tamperedMs);
    expect(close, `medians ${unknownMs} ms vs ${tamperedMs} ms`).toBe(true);

    // The one not-found page, in the patient's language (the browser renders it in the axe test).
    const notFound = await (await get(unknown)).text();
    expect(notFound).toContain('<html lang="zh-HK">');
    expect(notFound).toContain(`<h1>${CATALOGUES['zh-HK'].not_found_title}</h1>`);
  });

  it('is served with a strict Content-Security-Policy and works under it: its script runs, nothing is refused', async () => {
    const invoice = await issueInvoice();
    const context = await newContext({ ...PHONE, locale: 'en-US' });
    const page = await context.newPage();
    const problems = await watchProblems(page);
    const polled = page.waitForResponse((response) => response.url() === pageUrl(invoice, '/status'), { timeout: LIVE_MS });
    const response = await page.goto(pageUrl(invoice));
    const csp = response!.headers()['content-security-policy'] ?? '';
    for (const directive of [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "connect-src 'self'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
      "form-action 'none'",
    ])
      expect(csp).toContain(directive);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/);

    // The script ran: the copy buttons it un-hides are shown, and it polled the status (connect-src 'self').
    await page.locator('button.copy').first().waitFor({ state: 'visible' });
    expect(await page.locator('button.copy:visible').count()).toBe(2);
    expect((await polled).status()).toBe(200);
    // No wallet injected: no "Pay with wallet" button.
    expect(await page.locator('#pay-with-wallet').isVisible()).toBe(false);

    expect(await problems.cspViolations()).toEqual([]);
    // The page names an empty icon, so the browser makes no /favicon.ico request to fail either.
    expect(problems.consoleErrors).toEqual([]);
    expect(problems.pageErrors).toEqual([]);

    // The rest of a payment page's headers: not cached, not indexed, no Referer onwards.
    expect(response!.headers()).toMatchObject({
      'cache-control': 'no-store',
      'x-robots-tag': 'noindex, nofollow',
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
    });

    // Framed by nobody: another page's iframe of the checkout gets Chromium's error page instead
    // (frame-ancestors 'none'; the X-Frame-Options helmet adds would refuse it too).
    await page.goto('about:blank');
    await page.setContent(`<iframe src="${pageUrl(invoice)}"></iframe>`, { waitUntil: 'load' });
    const framed = page.frames().find((frame) => frame !== page.mainFrame());
    expect(framed?.url()).toBe('chrome-error://chromewebdata/');
    expect(await framed!.locator('#checkout').count()).toBe(0);
  });

  it('has no serious or critical accessibility violations (axe-core), in each language, expired, the receipt and the 404', async () => {
    const paid = await issueInvoice();
    await pay(env, paid.deposit_address, BigInt(paid.token_amount_due));
    await settle(env);
    expect((await readInvoice(env, paid.id)).status).toBe('paid');
    const open = await issueInvoice();
    const expired = await expiredInvoice();

    // No bypassCSP: axe-core comes in as an init script, which the page's CSP does not govern,
    // so the pages are audited under their real policy (and with their script running).
    const context = await newContext({ ...PHONE, locale: 'en-US' });
    await installAxe(context);
    const page = await context.newPage();
    const problems = await watchProblems(page);
    const pages = [
      ...CHECKOUT_LANGUAGES.map((language) => ({ name: `checkout ${language}`, url: pageUrl(open, `?lang=${language}`) })),
      { name: 'receipt zh-HK', url: pageUrl(paid, '/receipt?lang=zh-HK') },
      { name: 'checkout paid en', url: pageUrl(paid, '?lang=en') },
      { name: 'checkout expired en', url: pageUrl(expired, '?lang=en') },
      { name: 'not found en', url: `${server.url}/checkout/${randomBytes(32).toString('base64url')}?lang=en` },
    ];
    const blocking: string[] = [];
    for (const { name, url } of pages) {
      const response = await page.goto(url);
      expect(response!.status(), name).toBe(name.startsWith('not found') ? 404 : 200);
      await page.waitForSelector('main[data-status]');
      expect(await problems.cspViolations(), name).toEqual([]);
      const findings: AxeFinding[] = await runAxe(page);
      if (findings.length > 0) console.log(`axe, ${name}:\n${describeFindings(findings)}`);
      const serious = findings.filter((finding) => finding.impact === 'serious' || finding.impact === 'critical');
      if (serious.length > 0) blocking.push(`${name}:\n${describeFindings(serious)}`);
    }
    expect(blocking.join('\n'), 'serious or critical axe violations').toBe('');
    expect(problems.pageErrors).toEqual([]);
  });

  it('pays with an injected EIP-1193 wallet: the right chain, the exact transfer, then paid', async () => {
    const invoice = await issueInvoice();
    const context = await newContext({ locale: 'en-US' });
    const page = await context.newPage();
    const wallet = await injectWallet(page);
    await openLive(page, invoice);
    const button = page.locator('#pay-with-wallet');
    await button.waitFor({ state: 'visible' });
    expect(await text(page, '#pay-with-wallet')).toBe(CATALOGUES.en.pay_with_wallet);

    await button.click();
    await page.locator('#wallet-message', { hasText: CATALOGUES.en.wallet_sent }).waitFor({ timeout: LIVE_MS });
    await expectWalletTransfer(wallet, invoice, BigInt(invoice.token_amount_due));

    await settle(env);
    await pollNow(page);
    await page.waitForSelector('main[data-status="paid"]', { timeout: LIVE_MS });
    expect(await readInvoice(env, invoice.id)).toMatchObject({ status: 'paid', token_amount_paid: invoice.token_amount_due });
  });

  it('shows an underpaid invoice live with what is left, and the wallet sends exactly the rest', async () => {
    const invoice = await issueInvoice();
    const context = await newContext({ locale: 'en-US' });
    const page = await context.newPage();
    const wallet = await injectWallet(page);
    await openLive(page, invoice);

    const due = BigInt(invoice.token_amount_due);
    const rest = 234_500_000n; // HK$234.50 of HK$1,234.50 (6 decimals)
    await pay(env, invoice.deposit_address, due - rest);
    await settle(env);
    await pollNow(page);
    await page.waitForSelector('main[data-status="underpaid"]', { timeout: LIVE_MS });
    await waitForStatusTitle(page, CATALOGUES.en.status_underpaid);
    expect(await text(page, '#status-detail')).toBe(
      message('en', 'status_underpaid_detail', { paid: 'HK$1,000.00', amount: SHOWN.en.hkd, remaining: 'HK$234.50' }),
    );
    expect(await text(page, '#amount-to-send')).toBe('234.5');
    expect(await text(page, '#token-amount')).toBe('234.5');
    expect(await page.locator('#open-wallet').getAttribute('href')).toContain(`uint256=${rest}`);

    await page.locator('#pay-with-wallet').click();
    await page.locator('#wallet-message', { hasText: CATALOGUES.en.wallet_sent }).waitFor({ timeout: LIVE_MS });
    await expectWalletTransfer(wallet, invoice, rest);
    await settle(env);
    await pollNow(page);
    await page.waitForSelector('main[data-status="paid"]', { timeout: LIVE_MS });
    expect(await readInvoice(env, invoice.id)).toMatchObject({ status: 'paid', token_amount_paid: due.toString() });
  });

  it('is small and quick: page weight and time to interactive, measured in the browser', async () => {
    const invoice = await issueInvoice();
    const context = await newContext({ ...PHONE, locale: 'zh-HK' });
    const page = await context.newPage();
    await page.goto(pageUrl(invoice), { waitUntil: 'load' });
    await page.locator('button.copy').first().waitFor({ state: 'visible' });
    const timing = await page.evaluate<{
      document: { transferSize: number; decodedBodySize: number };
      resources: { name: string; transferSize: number; decodedBodySize: number }[];
      domInteractive: number;
      domContentLoadedEventEnd: number;
    }>(`(function () {
      var nav = performance.getEntriesByType('navigation')[0];
      return {
        document: { transferSize: nav.transferSize, decodedBodySize: nav.decodedBodySize },
        resources: performance.getEntriesByType('resource').map(function (entry) {
          return { name: new URL(entry.name).pathname, transferSize: entry.transferSize, decodedBodySize: entry.decodedBodySize };
        }),
        domInteractive: nav.domInteractive,
        domContentLoadedEventEnd: nav.domContentLoadedEventEnd,
      };
    })()`);
    const loaded = timing.resources.filter((resource) => !resource.name.endsWith('/status'));
    expect(loaded.map((resource) => resource.name).sort()).toEqual(['/checkout/assets/checkout.css', '/checkout/assets/checkout.js']);
    const weightBytes = timing.document.transferSize + loaded.reduce((sum, resource) => sum + resource.transferSize, 0);
    // Time to interactive: the end of DOMContentLoaded, by when the deferred script has run.
    const interactiveMs = Math.round(timing.domContentLoadedEventEnd);
    const metrics = {
      page: 'checkout (zh-HK, 390×844 phone viewport, local server, cold cache)',
      measuredAt: new Date().toISOString(),
      weightBytes,
      timeToInteractiveMs: interactiveMs,
      domInteractiveMs: Math.round(timing.domInteractive),
      parts: [{ name: 'document', transferSize: timing.document.transferSize, decodedBodySize: timing.document.decodedBodySize }, ...loaded],
    };
    console.log(`checkout page: weight ${weightBytes} bytes, time to interactive ${interactiveMs} ms`);
    fs.writeFileSync(path.join(RESULTS_DIR, 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);

    for (const part of metrics.parts) expect(part.transferSize, part.name).toBeGreaterThan(0);
    expect(weightBytes).toBeLessThan(100_000);
    expect(interactiveMs).toBeGreaterThan(0);
    expect(interactiveMs).toBeLessThan(5_000);
  });
});
