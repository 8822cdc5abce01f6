/**
 * The checkout page of an invoice offered two HKD stablecoins, in Debian's Chromium: the
 * patient picks the one to pay in (server-rendered links, no script needed), and the amount,
 * the EIP-681 link, the QR code, the copy buttons and the wallet button follow the choice. The
 * second token (tHKDB, another test issuer) has 18 decimals where the pricing token (tHKD) has
 * 6, so every amount is rescaled at par. Real app, database, anvil and watcher.
 *
 * Screenshots of the picker at phone widths are left in `test-results/checkout/` for review.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import QRCode from 'qrcode';
import { decodeFunctionData, getAddress, type Hex } from 'viem';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { testHKDAbi } from '../contracts/artifacts/TestHKD.js';
import { type CreatedInvoice, createInvoice } from '../src/billing/invoices.js';
import type { PaymentNetwork } from '../src/chain/paymentNetwork.js';
import { CATALOGUES, CHECKOUT_LANGUAGES, LANGUAGE_NAMES, message } from '../src/checkout/messages.js';
import { withTransaction } from '../src/platform/transaction.js';
import { buildTestApp, TEST_ACTOR } from './support/app.js';
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
import { newClinic, pay, readInvoice, type SettlementEnv, settle, startSettlementEnv, startWatcherHere, type TestClinic } from './support/settlement.js';

/** How long the page may take to follow a change: it polls every 2.5 s. */
const LIVE_MS = 10_000;
/** The page's polling interval (public/checkout/checkout.js). */
const POLL_MS = 2_500;
const RESULTS_DIR = path.join(TEST_RESULTS_DIR, 'checkout');
const ISSUER_A = 'Harbour Test Issuer Ltd';
const ISSUER_B = 'Lion Rock Test Issuer Ltd';
/** HK$400.00: 400 tHKD (6 decimals) or 400 tHKDB (18 decimals). */
const AMOUNT = '400.00';
const UNITS_A = 400_000_000n;
const UNITS_B = 400n * 10n ** 18n;

describe.skipIf(!hasChromium)('checkout: the patient picks which accepted stablecoin to pay in', () => {
  let env: SettlementEnv;
  let clinic: TestClinic;
  let server: Served;
  let browser: Browser;
  /** The pricing token (tHKD, 6 decimals) and the second one (tHKDB, 18 decimals), checksummed. */
  let tokenA: string;
  let tokenB: string;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    // The env deploys a second TestHKD (tHKDB, 18 decimals) and pins both tokens, each with
    // its issuer, through loadPaymentNetwork: the network invoices are created with.
    const [started, launched] = await Promise.all([startSettlementEnv({ secondTokenDecimals: 18 }), launchChromium()]);
    env = started;
    browser = launched;
    expect(env.network.tokens.map(({ symbol, decimals, issuer }) => ({ symbol, decimals, issuer }))).toEqual([
      { symbol: 'tHKD', decimals: 6, issuer: ISSUER_A },
      { symbol: 'tHKDB', decimals: 18, issuer: ISSUER_B },
    ]);
    tokenA = getAddress(env.token);
    tokenB = getAddress(env.secondToken!);
    await startWatcherHere(env);
    clinic = await newClinic(env);
    const { app } = await buildTestApp({ db: env.db, rpcUrl: env.rpcUrl, network: env.network });
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

  /** An invoice of HK$400.00, offered every token of `network` (both, by default). */
  function newInvoice(network: PaymentNetwork = env.network): Promise<CreatedInvoice> {
    const input = { patient_ref: 'patient-tokens-0001', currency: 'HKD', line_items: [{ description: 'Consultation', quantity: 1, unit_amount: AMOUNT }] };
    return withTransaction(env.db, (trx) => createInvoice(trx, { clinicId: clinic.id, input, network, actor: TEST_ACTOR }));
  }

  const pageUrl = (invoice: CreatedInvoice, suffix = '') => `${server.url}/checkout/${invoice.checkout_token}${suffix}`;

  /** The EIP-681 request the page should hand out for `units` of `token`. */
  const uriOf = (invoice: CreatedInvoice, token: string, units: bigint) =>
    `ethereum:${token}@${env.network.chainId}/transfer?address=${getAddress(invoice.deposit_address)}&uint256=${units}`;

  /** The QR code of `uri`, drawn as the server draws it (src/http/checkout.ts). */
  const qrOf = (uri: string) => QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });

  async function text(page: Page, selector: string): Promise<string> {
    return ((await page.locator(selector).textContent()) ?? '').replace(/\s+/g, ' ').trim();
  }

  /** Each option of the picker: its token, symbol, amount and issuer as shown, and whether it is the chosen one. */
  async function pickerOptions(page: Page) {
    const links = page.locator('.token-options a');
    const options: { token: string | null; symbol: string; amount: string; issuer: string; chosen: boolean; selectedText: string }[] = [];
    for (let index = 0; index < (await links.count()); index += 1) {
      const link = links.nth(index);
      options.push({
        token: await link.getAttribute('data-token'),
        symbol: ((await link.locator('.token-symbol').textContent()) ?? '').trim(),
        amount: ((await link.locator('.token-amount').textContent()) ?? '').trim(),
        issuer: ((await link.locator('.token-issuer').textContent()) ?? '').trim(),
        chosen: (await link.getAttribute('aria-current')) === 'true',
        selectedText: (await link.locator('.token-selected').allTextContents()).join('').trim(),
      });
    }
    return options;
  }

  /** Asserts the page asks for `units` of `token` (`symbol`, `amount` as decimal text) everywhere: amount, link, manual details, wallet data. */
  async function expectAsksFor(page: Page, invoice: CreatedInvoice, token: string, symbol: string, amount: string, units: bigint): Promise<void> {
    expect(await text(page, '.send strong')).toBe(`${amount} ${symbol}`);
    expect(await text(page, '#amount-to-send')).toBe(amount);
    expect(await text(page, '#token-address')).toBe(token);
    expect(await page.locator('#open-wallet').getAttribute('href')).toBe(uriOf(invoice, token, units));
    expect(await page.locator('main').getAttribute('data-token-address')).toBe(token);
    expect(await page.locator('main').getAttribute('data-token-units')).toBe(units.toString());
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
          const hash = await env.payer.wallet.sendTransaction({ to: getAddress(tx.to), data: tx.data, value: BigInt(tx.value ?? '0x0') });
          sent.push(hash);
          return hash;
        }
        default:
          throw new Error(`the test wallet does not do ${method}`);
      }
    });
    await page.addInitScript(`
      window.ethereum = {
        request: function (args) {
          return window.__testWalletRequest(args.method, args.params === undefined ? null : args.params);
        },
      };
    `);
    return { calls, sent };
  }

  it('lists both tokens with their issuers and the at-par note in each language, the pricing token chosen by default', async () => {
    const invoice = await newInvoice();
    const context = await newContext(PHONE);
    const page = await context.newPage();
    for (const language of CHECKOUT_LANGUAGES) {
      const response = await page.goto(pageUrl(invoice, `?lang=${language}`));
      expect(response!.status()).toBe(200);
      expect(await text(page, '#token-choice-title')).toBe(CATALOGUES[language].choose_token);
      expect(await text(page, '#token-par-note')).toBe(CATALOGUES[language].tokens_at_par);
      expect(await pickerOptions(page)).toEqual([
        {
          token: tokenA,
          symbol: 'tHKD',
          amount: '400 tHKD',
          issuer: message(language, 'issued_by', { issuer: ISSUER_A }),
          chosen: true,
          selectedText: `✓ ${CATALOGUES[language].token_selected}`,
        },
        { token: tokenB, symbol: 'tHKDB', amount: '400 tHKDB', issuer: message(language, 'issued_by', { issuer: ISSUER_B }), chosen: false, selectedText: '' },
      ]);
      await expectAsksFor(page, invoice, tokenA, 'tHKD', '400', UNITS_A);
      // With no choice made, nothing is added to the language links or the polled status.
      expect(await page.locator('main').getAttribute('data-status-url')).toBe(`/checkout/${invoice.checkout_token}/status`);
    }
    // The note is near the picker: the paragraph right under its heading.
    expect(await page.locator('.token-choice h3 + p.par-note').count()).toBe(1);
  });

  it('switches to the 18-decimal token by its link, without JavaScript: amount, link, QR and details follow, and the language links keep it', async () => {
    const invoice = await newInvoice();
    const context = await newContext({ ...PHONE, locale: 'en-US', javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(pageUrl(invoice, '?lang=en'));
    await page.locator('.token-options a', { hasText: 'tHKDB' }).click();
    await page.waitForURL(`${pageUrl(invoice)}?token=${tokenB}&lang=en#pay`);
    expect((await pickerOptions(page)).map((option) => [option.symbol, option.chosen])).toEqual([
      ['tHKD', false],
      ['tHKDB', true],
    ]);
    await expectAsksFor(page, invoice, tokenB, 'tHKDB', '400', UNITS_B);
    expect(await page.locator('#open-wallet').getAttribute('href')).toContain('uint256=400000000000000000000');
    expect(await page.locator('main').getAttribute('data-token-decimals')).toBe('18');
    expect(await page.locator('main').getAttribute('data-status-url')).toBe(`/checkout/${invoice.checkout_token}/status?token=${tokenB}`);

    // The QR code is the 18-decimal request's, not the pricing token's.
    const html = await (await fetch(pageUrl(invoice, `?token=${tokenB}`))).text();
    expect(html).toContain(await qrOf(uriOf(invoice, tokenB, UNITS_B)));
    expect(html).not.toContain(await qrOf(uriOf(invoice, tokenA, UNITS_A)));
    expect(await page.locator('.qr svg').isVisible()).toBe(true);

    // The language links keep the choice.
    expect(await page.locator('nav.languages a[hreflang="zh-HK"]').getAttribute('href')).toBe(`/checkout/${invoice.checkout_token}?token=${tokenB}&lang=zh-HK`);
    await page.locator('nav.languages a[hreflang="zh-HK"]').click();
    await page.waitForURL(`${pageUrl(invoice)}?token=${tokenB}&lang=zh-HK`);
    expect(await page.locator('nav.languages [aria-current="true"]').textContent()).toBe(LANGUAGE_NAMES['zh-HK']);
    await expectAsksFor(page, invoice, tokenB, 'tHKDB', '400', UNITS_B);

    // The status the page polls is in the chosen token too.
    const status = (await (await fetch(pageUrl(invoice, `/status?token=${tokenB.toLowerCase()}`))).json()) as Record<string, unknown>;
    expect(status).toMatchObject({
      token_amount_to_send: '400',
      payment_uri: uriOf(invoice, tokenB, UNITS_B),
      payment_options: [
        { token: tokenA, token_amount_to_send: '400' },
        { token: tokenB, token_amount_to_send: '400' },
      ],
    });
  });

  it('copies the chosen token’s amount, and takes the choice in any letter case', async () => {
    const invoice = await newInvoice();
    const context = await newContext({ ...PHONE, locale: 'en-US' });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    const page = await context.newPage();
    const problems = await watchProblems(page);
    for (const asked of [tokenB.toLowerCase(), `0x${tokenB.slice(2).toUpperCase()}`]) {
      await page.goto(pageUrl(invoice, `?token=${asked}`));
      await expectAsksFor(page, invoice, tokenB, 'tHKDB', '400', UNITS_B);
    }
    const copyAmount = page.locator('button.copy[data-copy="amount-to-send"]');
    await copyAmount.waitFor({ state: 'visible' });
    await copyAmount.click();
    await page.locator('button.copy[data-copy="amount-to-send"]', { hasText: CATALOGUES.en.copied }).waitFor({ timeout: LIVE_MS });
    expect(await page.evaluate<string>('navigator.clipboard.readText()')).toBe('400');
    await page.locator('button.copy[data-copy="deposit-address"]').click();
    await page.locator('button.copy[data-copy="deposit-address"]', { hasText: CATALOGUES.en.copied }).waitFor({ timeout: LIVE_MS });
    expect(await page.evaluate<string>('navigator.clipboard.readText()')).toBe(getAddress(invoice.deposit_address));
    expect(await problems.cspViolations()).toEqual([]);
    expect(problems.pageErrors).toEqual([]);
  });

  it('falls back to the pricing token for a bogus, unknown or repeated ?token=, never an error page', async () => {
    const invoice = await newInvoice();
    const context = await newContext({ ...PHONE, locale: 'en-US' });
    const page = await context.newPage();
    const foreign = getAddress(`0x${'12'.repeat(20)}`);
    for (const query of [
      '?token=bogus',
      '?token=',
      `?token=${foreign}`,
      `?token=${tokenB}x`,
      `?token=${encodeURIComponent('"><script>alert(1)</script>')}`,
      `?token=${tokenB}&token=${tokenA}`,
      `?token[]=${tokenB}`,
    ]) {
      const response = await page.goto(pageUrl(invoice, query));
      expect(response!.status(), query).toBe(200);
      expect(
        (await pickerOptions(page)).map((option) => option.chosen),
        query,
      ).toEqual([true, false]);
      await expectAsksFor(page, invoice, tokenA, 'tHKD', '400', UNITS_A);
      expect(await page.content(), query).not.toContain('<script>alert(1)');
      const status = await fetch(pageUrl(invoice, `/status${query}`));
      expect(status.status, query).toBe(200);
      expect(((await status.json()) as { payment_uri: string }).payment_uri, query).toBe(uriOf(invoice, tokenA, UNITS_A));
    }
  });

  it('shows a partly paid invoice with what is left in each token, and a reload-free update pays the rest in the chosen token', async () => {
    const invoice = await newInvoice();
    // HK$150 paid in the 18-decimal token counts at par: HK$250 is left, in either token.
    await pay(env, invoice.deposit_address, 150n * 10n ** 18n, { token: env.secondToken! });
    await settle(env);
    expect(await readInvoice(env, invoice.id)).toMatchObject({ status: 'underpaid', token_amount_paid: '150000000' });

    const context = await newContext({ ...PHONE, locale: 'en-US' });
    const page = await context.newPage();
    await page.goto(pageUrl(invoice));
    expect((await pickerOptions(page)).map((option) => option.amount)).toEqual(['250 tHKD', '250 tHKDB']);
    await expectAsksFor(page, invoice, tokenA, 'tHKD', '250', 250_000_000n);
    expect(await text(page, '#status-detail')).toBe(
      message('en', 'status_underpaid_detail', { paid: 'HK$150.00', amount: 'HK$400.00', remaining: 'HK$250.00' }),
    );
    await page.goto(pageUrl(invoice, `?token=${tokenB}`));
    await expectAsksFor(page, invoice, tokenB, 'tHKDB', '250', 250n * 10n ** 18n);
    const html = await (await fetch(pageUrl(invoice, `?token=${tokenB}`))).text();
    expect(html).toContain(await qrOf(uriOf(invoice, tokenB, 250n * 10n ** 18n)));

    // Live: another HK$50 arrives in the pricing token while the page (choosing tHKDB) is open;
    // it follows without a reload, then its wallet button sends exactly the rest in tHKDB.
    const live = await newContext({ locale: 'en-US' });
    const livePage = await live.newPage();
    const wallet = await injectWallet(livePage);
    await livePage.clock.install();
    await livePage.goto(pageUrl(invoice, `?token=${tokenB}`));
    await livePage.waitForSelector('main[data-status="underpaid"]');
    await livePage.evaluate('window.__sameDocument = 1');
    await pay(env, invoice.deposit_address, 50_000_000n);
    await settle(env);
    await livePage.clock.runFor(POLL_MS);
    await livePage.locator('#token-amount', { hasText: /^200$/ }).waitFor({ timeout: LIVE_MS });
    expect((await pickerOptions(livePage)).map((option) => option.amount)).toEqual(['200 tHKD', '200 tHKDB']);
    await expectAsksFor(livePage, invoice, tokenB, 'tHKDB', '200', 200n * 10n ** 18n);
    expect(await livePage.evaluate('window.__sameDocument')).toBe(1);

    await livePage.locator('#pay-with-wallet').click();
    await livePage.locator('#wallet-message', { hasText: CATALOGUES.en.wallet_sent }).waitFor({ timeout: LIVE_MS });
    expect(wallet.calls.map((call) => call.method)).toEqual(['eth_requestAccounts', 'wallet_switchEthereumChain', 'eth_sendTransaction']);
    const [tx] = wallet.calls[2]!.params as [{ to: string; data: Hex }];
    expect(getAddress(tx.to)).toBe(tokenB);
    const call = decodeFunctionData({ abi: testHKDAbi, data: tx.data });
    expect(call.args).toEqual([getAddress(invoice.deposit_address), 200n * 10n ** 18n]);
    await env.chain.publicClient.waitForTransactionReceipt({ hash: wallet.sent[0]!, pollingInterval: 50 });
    await settle(env);
    await livePage.clock.runFor(POLL_MS);
    await livePage.waitForSelector('main[data-status="paid"]', { timeout: LIVE_MS });
    expect(await readInvoice(env, invoice.id)).toMatchObject({ status: 'paid', token_amount_paid: UNITS_A.toString() });
  });

  it('shows no picker for an invoice offered one token, whatever ?token= asks for', async () => {
    const single: PaymentNetwork = { ...env.network, tokens: [env.network.token] };
    const invoice = await newInvoice(single);
    const context = await newContext({ ...PHONE, locale: 'en-US' });
    const page = await context.newPage();
    for (const query of ['', `?token=${tokenB}`]) {
      await page.goto(pageUrl(invoice, query));
      expect(await page.locator('.token-choice, .token-options, #token-par-note').count(), query).toBe(0);
      await expectAsksFor(page, invoice, tokenA, 'tHKD', '400', UNITS_A);
      expect(await page.locator('nav.languages a[hreflang="zh-HK"]').getAttribute('href')).toBe(`/checkout/${invoice.checkout_token}?lang=zh-HK`);
    }
  });

  it('has no accessibility violations (axe-core) with the picker, in each language, chosen or not, partly paid', async () => {
    const open = await newInvoice();
    const partly = await newInvoice();
    await pay(env, partly.deposit_address, 100_000_000n);
    await settle(env);
    const context = await newContext({ ...PHONE, locale: 'en-US' });
    await installAxe(context);
    const page = await context.newPage();
    const problems = await watchProblems(page);
    const pages = [
      ...CHECKOUT_LANGUAGES.map((language) => ({ name: `${language}, default`, url: pageUrl(open, `?lang=${language}`) })),
      ...CHECKOUT_LANGUAGES.map((language) => ({ name: `${language}, tHKDB`, url: pageUrl(open, `?token=${tokenB}&lang=${language}`) })),
      { name: 'underpaid en, tHKDB', url: pageUrl(partly, `?token=${tokenB}&lang=en`) },
    ];
    const found: string[] = [];
    for (const { name, url } of pages) {
      expect((await page.goto(url))!.status(), name).toBe(200);
      await page.waitForSelector('.token-options');
      const findings: AxeFinding[] = await runAxe(page);
      if (findings.length > 0) found.push(`${name}:\n${describeFindings(findings)}`);
    }
    expect(found.join('\n'), 'axe violations').toBe('');
    expect(await problems.cspViolations()).toEqual([]);
    expect(problems.pageErrors).toEqual([]);
  });

  it('looks right on a phone: screenshots of the picker at 390 and 320 CSS pixels, nothing wider than the screen', async () => {
    const invoice = await newInvoice();
    for (const [width, language] of [
      [390, 'en'],
      [390, 'zh-HK'],
      [320, 'en'],
    ] as const) {
      const context = await newContext({ ...PHONE, viewport: { width, height: 844 } });
      const page = await context.newPage();
      await page.goto(pageUrl(invoice, `?token=${tokenB}&lang=${language}`));
      await page.locator('button.copy').first().waitFor({ state: 'visible' });
      // Nothing spills sideways: the document is no wider than the viewport, and each option fits the list.
      expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(width);
      const list = (await page.locator('.token-options').boundingBox())!;
      for (const box of await Promise.all((await page.locator('.token-options a').all()).map((link) => link.boundingBox()))) {
        expect(box!.x).toBeGreaterThanOrEqual(list.x - 0.5);
        expect(box!.x + box!.width).toBeLessThanOrEqual(list.x + list.width + 0.5);
        // A comfortable tap target.
        expect(box!.height).toBeGreaterThanOrEqual(44);
      }
      await page.screenshot({ path: path.join(RESULTS_DIR, `tokens-${language}-${width}.png`), fullPage: true });
    }
  });
});
