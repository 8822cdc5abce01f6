/**
 * The payment page and the counter screen of an invoice at or above the travel-rule threshold,
 * in Debian's Chromium, against the real app, database and anvil: while the payer's details are
 * pending nothing says where to pay (page, HTML, polled status, counter); the patient fills in
 * the form, their injected EIP-1193 wallet really signs (EIP-712, with a private key of the
 * test's), and the page reloads to show where to pay. Refused fields are marked next to them in
 * the page's language; a signature for another invoice is refused; nothing is written then.
 *
 * Screenshots of the form at phone width are left in `test-results/travel-rule/` for review.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { getAddress, type LocalAccount, type TypedDataDefinition } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { InvoiceRow } from '../src/billing/invoices.js';
import { CATALOGUES, CHECKOUT_LANGUAGES, type CheckoutLanguage } from '../src/checkout/messages.js';
import { travelRuleTypedData } from '../src/compliance/travelRule.js';
import { consoleMessage } from '../src/console/messages.js';
import { bearer, tokenFor } from './support/app.js';
import {
  describeFindings,
  hasChromium,
  installAxe,
  launchChromium,
  type PageProblems,
  PHONE,
  runAxe,
  TEST_RESULTS_DIR,
  watchProblems,
} from './support/browser.js';
import { newClinic, readInvoice, type SettlementEnv, startSettlementEnv, startWatcherHere, type TestClinic } from './support/settlement.js';
import { type SignInStack, signInWithBrowser, startSignInStack } from './support/signIn.js';

const RESULTS_DIR = path.join(TEST_RESULTS_DIR, 'travel-rule');
/** How long a page may take to follow a change (the checkout page polls every 2.5 s, the counter every 2 s). */
const LIVE_MS = 10_000;
const TABLET: BrowserContextOptions = { viewport: { width: 1024, height: 768 }, deviceScaleFactor: 1, hasTouch: true };
/** At or above the threshold (HK$8,000), and what the page shows of it. */
const LARGE = { unit_amount: '9000.00', hkd: 'HK$9,000.00', tokenAmount: '9000' };
/** Below it. */
const SMALL = { unit_amount: '1234.50', hkd: 'HK$1,234.50', tokenAmount: '1234.5' };

interface Issued {
  id: string;
  token: string;
  row: InvoiceRow;
}

interface TestWallet {
  account: LocalAccount;
  calls: { method: string; params: unknown }[];
  /** The typed data the page asked the wallet to sign, as it sent it. */
  signed: TypedDataDefinition[];
}

/** The payer's details, as the form takes them (the document or the birth branch). */
interface Details {
  fullName: string;
  document?: { type: 'CCPT' | 'IDCD' | 'MISC'; number: string; country: string };
  birth?: { date: string; place: string };
  line: string;
  town: string;
  country: string;
}

const CHAN_TAI_MAN: Details = {
  fullName: 'Chan Tai Man',
  document: { type: 'CCPT', number: 'K12345678', country: 'HK' },
  line: 'Flat 12A, 88 Harbour Road',
  town: 'Wan Chai',
  country: 'HK',
};

describe.skipIf(!hasChromium)('travel-rule details on the payment page and the counter screen, in Chromium', () => {
  let env: SettlementEnv;
  let clinic: TestClinic;
  let stack: SignInStack;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    const [started, launched] = await Promise.all([startSettlementEnv(), launchChromium()]);
    env = started;
    browser = launched;
    await startWatcherHere(env);
    clinic = await newClinic(env);
    stack = await startSignInStack({
      db: env.db,
      clinicId: clinic.id,
      rpcUrl: env.rpcUrl,
      network: env.network,
      overrides: { checkout: { travelRuleThresholdHkd: '8000' } },
    });
  }, 120_000);

  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((context) => context.close()));
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
    await env?.close();
  });

  async function newContext(options: BrowserContextOptions = {}): Promise<BrowserContext> {
    const context = await browser.newContext(options);
    contexts.push(context);
    return context;
  }

  /** An invoice issued through the API by the clinic (the app's threshold is HK$8,000). */
  async function issueInvoice(amount: { unit_amount: string } = LARGE): Promise<Issued> {
    const response = await fetch(`${stack.url}/v1/invoices`, {
      method: 'POST',
      headers: { ...bearer(tokenFor('clinic_admin', clinic.id)), 'Idempotency-Key': randomUUID(), 'Content-Type': 'application/json' },
      body: JSON.stringify({
        patient_ref: 'patient-travel-rule',
        currency: 'HKD',
        line_items: [{ description: 'Day surgery', quantity: 1, unit_amount: amount.unit_amount }],
      }),
    });
    const body = (await response.json()) as { id: string; checkout_url: string };
    expect(response.status, JSON.stringify(body)).toBe(201);
    return { id: body.id, token: body.checkout_url.split('/').at(-1)!, row: await readInvoice(env, body.id) };
  }

  const pageUrl = (invoice: Issued, suffix = '') => `${stack.url}/checkout/${invoice.token}${suffix}`;

  /** Everything that would say where to pay the invoice, in any letter case. */
  const paymentSecrets = (invoice: Issued) => [invoice.row.deposit_address.toLowerCase(), 'ethereum:'];

  function expectNothingOfWhereToPay(text: string, invoice: Issued, what: string): void {
    const lower = text.toLowerCase();
    for (const secret of paymentSecrets(invoice)) expect(lower, `${what} has ${secret}`).not.toContain(secret);
  }

  async function recordsOf(invoiceId: string): Promise<number> {
    const [{ n }] = (await env.db('travel_rule_records').where({ invoice_id: invoiceId }).count({ n: '*' })) as [{ n: string }];
    return Number(n);
  }

  async function text(page: Page, selector: string): Promise<string> {
    return ((await page.locator(selector).textContent()) ?? '').trim();
  }

  /** Waits (with a deadline) until `selector` reads exactly `expected`. */
  async function waitForText(page: Page, selector: string, expected: string, timeout = LIVE_MS): Promise<void> {
    const exactly = new RegExp(`^\\s*${expected.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`);
    await page.locator(selector, { hasText: exactly }).waitFor({ timeout });
  }

  /**
   * A wallet injected into the page (EIP-1193) that really signs typed data with a key of its
   * own, as a browser wallet does (the types as the page sent them, its EIP712Domain included).
   * `tamper` changes what is signed from what the page asked (a wallet signing something else).
   */
  async function injectWallet(page: Page, tamper?: (typed: TypedDataDefinition) => TypedDataDefinition): Promise<TestWallet> {
    const account = privateKeyToAccount(generatePrivateKey());
    const wallet: TestWallet = { account, calls: [], signed: [] };
    await page.exposeFunction('__testWalletRequest', async (method: string, params: unknown) => {
      wallet.calls.push({ method, params });
      switch (method) {
        case 'eth_requestAccounts':
          return [account.address];
        case 'eth_chainId':
          return `0x${env.network.chainId.toString(16)}`;
        case 'eth_signTypedData_v4': {
          const [from, json] = params as [string, string];
          if (getAddress(from) !== account.address) throw new Error(`unexpected signer ${from}`);
          const typed = JSON.parse(json) as TypedDataDefinition;
          wallet.signed.push(typed);
          return account.signTypedData(tamper ? tamper(typed) : typed);
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
    return wallet;
  }

  /** Fills in the form as a patient does. */
  async function fillForm(page: Page, details: Details): Promise<void> {
    await page.fill('#tr-full_name', details.fullName);
    if (details.document) {
      await page.check('input[name="identity"][value="document"]');
      await page.selectOption('#tr-id_type', details.document.type);
      await page.fill('#tr-id_number', details.document.number);
      await chooseCountry(page, 'id_country', details.document.country);
    }
    if (details.birth) {
      await page.check('input[name="identity"][value="birth"]');
      await page.fill('#tr-birth_date', details.birth.date);
      await page.fill('#tr-birth_place', details.birth.place);
    }
    await page.fill('#tr-address_line', details.line);
    await page.fill('#tr-address_town', details.town);
    await chooseCountry(page, 'address_country', details.country);
  }

  /** A country by name from the list, or "other" and its code. */
  async function chooseCountry(page: Page, name: string, code: string): Promise<void> {
    const listed = await page.locator(`#tr-${name} option[value="${code}"]`).count();
    if (listed > 0) return void (await page.selectOption(`#tr-${name}`, code));
    await page.selectOption(`#tr-${name}`, 'other');
    await page.locator(`#tr-${name}-other`).waitFor({ state: 'visible' });
    await page.fill(`#tr-${name}-other`, code);
  }

  /** What the form would send for `details`, signed by `account` for invoice `invoiceId`. */
  async function signedBody(account: LocalAccount, invoiceId: string, fields: Record<string, string>): Promise<Record<string, string>> {
    const signature = await account.signTypedData(travelRuleTypedData(env.network.chainId, invoiceId, account.address));
    return { ...fields, payer_address: account.address, signature };
  }

  const DOCUMENT_FIELDS = {
    full_name: 'Chan Tai Man',
    id_type: 'IDCD',
    id_number: 'A123456(7)',
    id_country: 'HK',
    address_line: 'Flat 12A, 88 Harbour Road',
    address_town: 'Wan Chai',
    address_country: 'HK',
  };

  function postDetails(invoice: Issued, body: Record<string, string>): Promise<Response> {
    return fetch(pageUrl(invoice, '/travel-rule'), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  }

  async function expectNoProblems(problems: PageProblems): Promise<void> {
    expect(await problems.cspViolations()).toEqual([]);
    expect(problems.pageErrors).toEqual([]);
  }

  it('says nothing of where to pay while the details are pending: not in the page, its HTML, its polled status or the QR', async () => {
    const invoice = await issueInvoice();
    expect(invoice.row).toMatchObject({ travel_rule: 'pending', travel_rule_payer: null });

    // The HTML as served, in each language: the form and why, and nothing of where to pay.
    for (const language of CHECKOUT_LANGUAGES) {
      const response = await fetch(pageUrl(invoice, `?lang=${language}`));
      expect(response.status).toBe(200);
      const html = await response.text();
      expectNothingOfWhereToPay(html, invoice, `the ${language} page`);
      for (const absent of [
        'id="pay"',
        'id="deposit-address"',
        'id="amount-to-send"',
        'id="token-amount"',
        'class="qr"',
        'pay-with-wallet',
        'open-wallet',
        'data-deposit-address',
        'data-token-units',
      ])
        expect(html, `${language}: ${absent}`).not.toContain(absent);
      // Token amounts to send (9000 tHKD): only the HKD amount due is there.
      expect(html).not.toMatch(/>\s*9000\s*</);
      const catalogue = CATALOGUES[language];
      for (const key of ['tr_title', 'tr_why', 'tr_private', 'tr_sign', 'status_travel_rule'] as const)
        expect(html, `${language}: ${key}`).toContain(catalogue[key]);
      expect(html).toContain('id="travel-rule-form"');
    }

    // The polled status: the state, no payment request, no amount of any token to send.
    const status = (await (await fetch(pageUrl(invoice, '/status'))).json()) as Record<string, unknown>;
    expect(status).toMatchObject({ status: 'open', travel_rule: 'pending', payment_uri: null, token_amount_to_send: null, payment_options: [] });
    expectNothingOfWhereToPay(JSON.stringify(status), invoice, 'the status');
    // Nor through another token's page.
    const otherToken = await (await fetch(pageUrl(invoice, `/status?token=${env.token}`))).text();
    expectNothingOfWhereToPay(otherToken, invoice, 'the status in a chosen token');

    // In the browser, with its script running and polling.
    const context = await newContext({ ...PHONE, locale: 'en-US' });
    const page = await context.newPage();
    const problems = await watchProblems(page);
    const polled = page.waitForResponse((response) => response.url() === pageUrl(invoice, '/status'), { timeout: LIVE_MS });
    await page.goto(pageUrl(invoice));
    await page.waitForSelector('main[data-status="open"][data-travel-rule="pending"]');
    expect((await polled).status()).toBe(200);
    expect(await text(page, '#status-title')).toBe(CATALOGUES.en.status_travel_rule);
    expect(await text(page, '#status-detail')).toBe(CATALOGUES.en.status_travel_rule_detail);
    expect(await text(page, '#amount-value')).toBe(LARGE.hkd);
    expect(await page.locator('#travel-rule-form').isVisible()).toBe(true);
    // The birth fields wait for their choice; the document's are shown.
    expect(await page.locator('#tr-id_number').isVisible()).toBe(true);
    expect(await page.locator('#tr-birth_date').isVisible()).toBe(false);
    expectNothingOfWhereToPay(await page.content(), invoice, 'the page in the browser');
    // No wallet in this browser: the page says so, and what to do.
    await page.locator('#tr-no-wallet').waitFor({ state: 'visible' });
    expect(await text(page, '#tr-no-wallet')).toContain(CATALOGUES.en.tr_no_wallet);
    await expectNoProblems(problems);

    // The API's QR code of the payment request is refused too.
    const qr = await fetch(`${stack.url}/v1/invoices/${invoice.id}/payment-qr.svg`, { headers: bearer(tokenFor('clinic_admin', clinic.id)) });
    expect(qr.status).toBe(409);
  });

  it('takes the details signed by the wallet, then reloads to show where to pay', async () => {
    const invoice = await issueInvoice();
    const context = await newContext({ ...PHONE, locale: 'en-US' });
    const page = await context.newPage();
    const problems = await watchProblems(page);
    const wallet = await injectWallet(page);
    await page.goto(pageUrl(invoice));
    await page.waitForSelector('main[data-travel-rule="pending"]');
    // A wallet is there: no word of its absence.
    expect(await page.locator('#tr-no-wallet').isVisible()).toBe(false);

    await fillForm(page, CHAN_TAI_MAN);
    await page.click('#tr-sign');
    // The page reloads itself once the details are in, and shows where to pay.
    await page.waitForSelector('main[data-travel-rule="captured"]', { timeout: LIVE_MS });
    const deposit = getAddress(invoice.row.deposit_address);
    expect(await text(page, '#deposit-address')).toBe(deposit);
    expect(await text(page, '#amount-to-send')).toBe(LARGE.tokenAmount);
    expect(await page.locator('.qr svg').isVisible()).toBe(true);
    expect(await page.locator('#open-wallet').getAttribute('href')).toMatch(
      new RegExp(`^ethereum:${env.token}@${env.network.chainId}/transfer\\?address=${deposit}&`, 'i'),
    );
    expect(await page.locator('#travel-rule').count()).toBe(0);
    expect(await text(page, '#status-title')).toBe(CATALOGUES.en.status_open);

    // The wallet was asked for its account, its chain (already the invoice's) and one signature.
    expect(wallet.calls.map((call) => call.method)).toEqual(['eth_requestAccounts', 'eth_chainId', 'eth_signTypedData_v4']);
    expect(wallet.calls[2]!.params).toEqual([wallet.account.address, expect.any(String)]);
    // Exactly the typed data the gateway checks, with the domain's own type as wallets want it.
    const expected = travelRuleTypedData(env.network.chainId, invoice.id, wallet.account.address);
    expect(wallet.signed).toEqual([
      {
        types: {
          EIP712Domain: [
            { name: 'name', type: 'string' },
            { name: 'version', type: 'string' },
            { name: 'chainId', type: 'uint256' },
          ],
          ...expected.types,
        },
        domain: expected.domain,
        primaryType: expected.primaryType,
        message: expected.message,
      },
    ]);

    // Captured: the invoice expects this wallet; the record is there, sealed.
    expect(await readInvoice(env, invoice.id)).toMatchObject({ travel_rule: 'captured', travel_rule_payer: wallet.account.address.toLowerCase() });
    const record = await env.db('travel_rule_records').where({ invoice_id: invoice.id }).first();
    expect(record).toMatchObject({ payer_address: wallet.account.address.toLowerCase(), chain_id: env.network.chainId });
    expect(String(record.ciphertext)).not.toContain('Chan Tai Man');
    // The status now says where to pay.
    const status = (await (await fetch(pageUrl(invoice, '/status'))).json()) as { travel_rule: string; payment_uri: string };
    expect(status.travel_rule).toBe('captured');
    expect(status.payment_uri.toLowerCase()).toContain(invoice.row.deposit_address.toLowerCase());
    // Once in, it is not replaced.
    const again = await postDetails(invoice, await signedBody(wallet.account, invoice.id, DOCUMENT_FIELDS));
    expect(again.status).toBe(409);
    expect(((await again.json()) as { code: string }).code).toBe('travel_rule_captured');
    await expectNoProblems(problems);
    expect(problems.consoleErrors).toEqual([]);
  });

  it('takes a date and place of birth instead of a document, and a country typed as its code', async () => {
    const invoice = await issueInvoice();
    const context = await newContext({ ...PHONE, locale: 'zh-CN' });
    const page = await context.newPage();
    const wallet = await injectWallet(page);
    await page.goto(pageUrl(invoice));
    await page.waitForSelector('main[data-travel-rule="pending"][data-lang="zh-CN"]');
    await fillForm(page, {
      fullName: 'Li Xiao Ming',
      birth: { date: '1985-06-15', place: 'Guangzhou, CN' },
      line: '12 Rue de Rivoli',
      town: 'Paris',
      country: 'FR',
    });
    // The document's fields are not shown once the birth is chosen.
    expect(await page.locator('#tr-id_number').isVisible()).toBe(false);
    await page.click('#tr-sign');
    await page.waitForSelector('main[data-travel-rule="captured"]', { timeout: LIVE_MS });
    expect(await text(page, '#deposit-address')).toBe(getAddress(invoice.row.deposit_address));
    expect(await readInvoice(env, invoice.id)).toMatchObject({ travel_rule: 'captured', travel_rule_payer: wallet.account.address.toLowerCase() });
  });

  it('marks a refused field next to it in the page’s language, and writes nothing', async () => {
    const invoice = await issueInvoice();
    const language: CheckoutLanguage = 'zh-HK';
    const catalogue = CATALOGUES[language];
    const context = await newContext({ ...PHONE, locale: 'zh-HK' });
    await installAxe(context);
    const page = await context.newPage();
    const problems = await watchProblems(page);
    const wallet = await injectWallet(page);
    await page.goto(pageUrl(invoice));
    await page.waitForSelector('main[data-travel-rule="pending"][data-lang="zh-HK"]');

    // Nothing filled in: each missing field is marked, the wallet is not asked anything.
    await page.click('#tr-sign');
    await waitForText(page, '#tr-form-error', catalogue.tr_check_fields);
    const missing = {
      full_name: catalogue.tr_missing_full_name,
      id_type: catalogue.tr_err_id_type,
      id_number: catalogue.tr_err_id_number,
      id_country: catalogue.tr_err_id_country,
      address_line: catalogue.tr_missing_address_line,
      address_town: catalogue.tr_missing_address_town,
      address_country: catalogue.tr_err_address_country,
    };
    for (const [name, said] of Object.entries(missing)) expect(await text(page, `#tr-${name}-error`), name).toBe(said);
    expect(await page.locator('#tr-full_name').getAttribute('aria-invalid')).toBe('true');
    expect(await page.evaluate<string>('document.activeElement.id')).toBe('tr-full_name');
    const marked = await runAxe(page);
    expect(marked, describeFindings(marked)).toEqual([]);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'form-errors-phone-zh-HK.png'), fullPage: true });

    // The date and place of birth chosen instead of the document, the date in the future: marked next to it.
    await fillForm(page, { ...CHAN_TAI_MAN, birth: { date: '2099-01-01', place: 'Hong Kong' } });
    await page.click('#tr-sign');
    await waitForText(page, '#tr-birth_date-error', catalogue.tr_err_birth_date);
    expect(await page.locator('#tr-birth_date').getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('#tr-full_name-error').isVisible()).toBe(false);
    expect(wallet.calls).toEqual([]);

    // A document number the gateway refuses (too short): the wallet signs, the gateway says no,
    // and the page marks the number, in Chinese, not the gateway's English.
    await page.check('input[name="identity"][value="document"]');
    await page.fill('#tr-id_number', 'K1');
    const refused = page.waitForResponse((response) => response.url() === pageUrl(invoice, '/travel-rule'));
    await page.click('#tr-sign');
    const answer = await refused;
    expect(answer.status()).toBe(400);
    expect(await answer.json()).toMatchObject({ code: 'invalid_request', param: 'id_number' });
    await waitForText(page, '#tr-id_number-error', catalogue.tr_err_id_number);
    expect(await page.evaluate<string>('document.activeElement.id')).toBe('tr-id_number');
    expect(wallet.calls.map((call) => call.method)).toEqual(['eth_requestAccounts', 'eth_chainId', 'eth_signTypedData_v4']);

    // Fixed: sent again with the same signature (the wallet is not asked to sign twice).
    await page.fill('#tr-id_number', 'K1234567');
    await page.click('#tr-sign');
    await page.waitForSelector('main[data-travel-rule="captured"]', { timeout: LIVE_MS });
    expect(wallet.calls.filter((call) => call.method === 'eth_signTypedData_v4')).toHaveLength(1);
    await expectNoProblems(problems);
  });

  it('refuses what the gateway checks, straight to the endpoint, writing nothing: no document nor birth, a future birth, another invoice’s signature', async () => {
    const invoice = await issueInvoice();
    const other = await issueInvoice();
    const account = privateKeyToAccount(generatePrivateKey());
    const { id_type: _type, id_number: _number, id_country: _country, ...withoutIdentity } = DOCUMENT_FIELDS;
    const cases: { name: string; body: Record<string, string>; param: string }[] = [
      { name: 'no document and no birth', body: await signedBody(account, invoice.id, withoutIdentity), param: 'id_number' },
      {
        name: 'a birth date in the future',
        body: await signedBody(account, invoice.id, { ...withoutIdentity, birth_date: '2099-01-01', birth_place: 'Hong Kong' }),
        param: 'birth_date',
      },
      // Signed by the payer's own wallet, but for another invoice of the same clinic.
      { name: 'a signature for another invoice', body: await signedBody(account, other.id, DOCUMENT_FIELDS), param: 'signature' },
      {
        name: 'a signature by another wallet',
        body: { ...(await signedBody(privateKeyToAccount(generatePrivateKey()), invoice.id, DOCUMENT_FIELDS)), payer_address: account.address },
        param: 'signature',
      },
    ];
    for (const { name, body, param } of cases) {
      const response = await postDetails(invoice, body);
      expect(response.status, name).toBe(400);
      expect(await response.json(), name).toMatchObject({ code: 'invalid_request', param });
    }
    expect(await recordsOf(invoice.id)).toBe(0);
    expect(await recordsOf(other.id)).toBe(0);
    expect(await readInvoice(env, invoice.id)).toMatchObject({ travel_rule: 'pending', travel_rule_payer: null });
    expect(await readInvoice(env, other.id)).toMatchObject({ travel_rule: 'pending', travel_rule_payer: null });
  });

  it('says so next to the button when the wallet signs for another invoice, and writes nothing', async () => {
    const invoice = await issueInvoice();
    const other = await issueInvoice();
    const context = await newContext({ ...PHONE, locale: 'en-US' });
    const page = await context.newPage();
    // A wallet that signs the other invoice whatever the page asks.
    const wallet = await injectWallet(page, (typed) => ({ ...typed, message: { ...typed.message, invoice: other.id } }));
    await page.goto(pageUrl(invoice));
    await page.waitForSelector('main[data-travel-rule="pending"]');
    await fillForm(page, CHAN_TAI_MAN);
    await page.click('#tr-sign');
    await waitForText(page, '#tr-signature-error', CATALOGUES.en.tr_err_signature);
    expect(await page.evaluate<string>('document.activeElement.id')).toBe('tr-sign');
    expect(wallet.signed).toHaveLength(1);
    expect(await recordsOf(invoice.id)).toBe(0);
    expect(await readInvoice(env, invoice.id)).toMatchObject({ travel_rule: 'pending' });
    expectNothingOfWhereToPay(await page.content(), invoice, 'the page after a refused signature');
  });

  it('has no accessibility violations (axe-core) in three languages, and is screenshotted at phone width', async () => {
    const invoice = await issueInvoice();
    const context = await newContext({ ...PHONE, locale: 'en-US' });
    await installAxe(context);
    const page = await context.newPage();
    const problems = await watchProblems(page);
    for (const language of CHECKOUT_LANGUAGES) {
      await page.goto(pageUrl(invoice, `?lang=${language}`));
      await page.waitForSelector(`main[data-travel-rule="pending"][data-lang="${language}"]`);
      await page.locator('#tr-no-wallet').waitFor({ state: 'visible' });
      const findings = await runAxe(page);
      expect(findings, `${language}:\n${describeFindings(findings)}`).toEqual([]);
      if (language !== 'zh-CN') await page.screenshot({ path: path.join(RESULTS_DIR, `form-phone-${language}.png`), fullPage: true });
    }
    // The birth branch and a country typed as its code.
    await page.check('input[name="identity"][value="birth"]');
    await page.selectOption('#tr-address_country', 'other');
    const findings = await runAxe(page);
    expect(findings, describeFindings(findings)).toEqual([]);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'form-birth-other-phone-en.png'), fullPage: true });
    // The page fits a phone: nothing wider than the screen.
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await expectNoProblems(problems);
  });

  it('says clearly that a wallet is needed when the browser has none, in each language', async () => {
    const invoice = await issueInvoice();
    const context = await newContext({ ...PHONE, locale: 'en-US' });
    const page = await context.newPage();
    for (const language of CHECKOUT_LANGUAGES) {
      await page.goto(pageUrl(invoice, `?lang=${language}`));
      await page.waitForSelector(`main[data-travel-rule="pending"][data-lang="${language}"]`);
      await page.locator('#tr-no-wallet').waitFor({ state: 'visible' });
      expect(await text(page, '#tr-no-wallet')).toContain(CATALOGUES[language].tr_no_wallet);
    }
    // Filled in and pressed: the button says it again, and nothing is sent.
    await fillForm(page, CHAN_TAI_MAN);
    await page.click('#tr-sign');
    await waitForText(page, '#tr-status', CATALOGUES.en.tr_no_wallet);
    expect(await recordsOf(invoice.id)).toBe(0);
  });

  it('shows an invoice below the threshold as before: where to pay at once, no form', async () => {
    const invoice = await issueInvoice(SMALL);
    expect(invoice.row).toMatchObject({ travel_rule: 'not_required', travel_rule_payer: null });
    const context = await newContext({ ...PHONE, locale: 'en-US' });
    const page = await context.newPage();
    await page.goto(pageUrl(invoice));
    await page.waitForSelector('main[data-status="open"][data-travel-rule="not_required"]');
    expect(await text(page, '#status-title')).toBe(CATALOGUES.en.status_open);
    expect(await text(page, '#deposit-address')).toBe(getAddress(invoice.row.deposit_address));
    expect(await text(page, '#amount-to-send')).toBe(SMALL.tokenAmount);
    expect(await page.locator('.qr svg').isVisible()).toBe(true);
    expect(await page.locator('#travel-rule, #travel-rule-form').count()).toBe(0);
    // As before, the page names no internal id.
    expect(await page.content()).not.toContain(invoice.id);
    const status = (await (await fetch(pageUrl(invoice, '/status'))).json()) as { travel_rule: string; payment_uri: string | null };
    expect(status.travel_rule).toBe('not_required');
    expect(status.payment_uri).toMatch(/^ethereum:/);
    // No form to post to.
    const posted = await postDetails(invoice, await signedBody(privateKeyToAccount(generatePrivateKey()), invoice.id, DOCUMENT_FIELDS));
    expect(posted.status).toBe(400);
    expect(await recordsOf(invoice.id)).toBe(0);
  });

  it('turns the counter screen to waiting for the patient’s details, then to the QR once they are in', async () => {
    const invoice = await issueInvoice();
    const context = await newContext(TABLET);
    await installAxe(context);
    const page = await signInWithBrowser(stack, context, 'frontdesk', `/console/bills/${invoice.id}/counter`);
    await page.waitForSelector('main#counter[data-travel-rule="pending"]');
    expect(await text(page, '#counter-status-text')).toBe(consoleMessage('en', 'counter_travel_rule'));
    expect(await text(page, '#counter-amount')).toBe(LARGE.hkd);
    expect(await page.locator('#payment-qr').isVisible()).toBe(false);
    expect(await page.locator('#payment-qr svg').count()).toBe(0);
    expectNothingOfWhereToPay(await page.content(), invoice, 'the counter screen');
    const status = await page.evaluate<{ code: number; body: string }>(
      `fetch('/console/bills/${invoice.id}/status', { headers: { accept: 'application/json' } }).then(function (r) { return r.text().then(function (body) { return { code: r.status, body: body }; }); })`,
    );
    expect(status.code).toBe(200);
    expect(JSON.parse(status.body)).toMatchObject({ travel_rule: 'pending', payment_uri: null, text: consoleMessage('en', 'counter_travel_rule') });
    expectNothingOfWhereToPay(status.body, invoice, 'the counter status');
    const qr = await page.evaluate<number>(`fetch('/console/bills/${invoice.id}/payment-qr.svg').then(function (r) { return r.status; })`);
    expect(qr).toBe(404);
    const findings = await runAxe(page);
    expect(findings, describeFindings(findings)).toEqual([]);
    await page.screenshot({ path: path.join(RESULTS_DIR, 'counter-pending-tablet-en.png'), fullPage: true });

    // The patient gives their details on their phone: the counter follows without a reload.
    await page.evaluate('window.__sameDocument = 1');
    const posted = await postDetails(invoice, await signedBody(privateKeyToAccount(generatePrivateKey()), invoice.id, DOCUMENT_FIELDS));
    expect(posted.status).toBe(200);
    await waitForText(page, '#counter-status-text', consoleMessage('en', 'counter_waiting'));
    await page.waitForSelector('#payment-qr:not([hidden]) svg', { timeout: LIVE_MS });
    expect(await page.evaluate('window.__sameDocument')).toBe(1);

    // The bill's own page says the details are in, and nothing of what they are.
    await page.goto(`${stack.url}/console/bills/${invoice.id}?lang=en`);
    expect(await page.textContent('#bill-travel-rule')).toBe(consoleMessage('en', 'travel_rule_captured'));
    expect(await page.content()).not.toContain(DOCUMENT_FIELDS.full_name);

    // In the other languages, the same words.
    for (const language of ['zh-HK', 'zh-CN'] as const) {
      const pending = await issueInvoice();
      await page.goto(`${stack.url}/console/bills/${pending.id}/counter?lang=${language}`);
      await page.waitForSelector('main#counter[data-travel-rule="pending"]');
      expect(await text(page, '#counter-status-text')).toBe(consoleMessage(language, 'counter_travel_rule'));
    }
  });
});
