import { type TypedDataDefinition, verifyTypedData } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import { travelRuleTypedData } from '../compliance/travelRule.js';
import { counterText } from '../console/bills.js';
import { consoleMessage } from '../console/messages.js';
import { escapeHtml } from '../platform/html.js';
import { type CheckoutPageView, checkoutPageStatus, chooseTokenOption, type PayingView, travelRuleSigningRequest } from './checkoutView.js';
import { CHECKOUT_LANGUAGES, message } from './messages.js';
import { formatMoney, formatTime, renderCheckoutPage, statusTexts } from './pages.js';

describe('checkout formatting', () => {
  it('formats money from its exact decimal text in each language', () => {
    expect(formatMoney('880.00', 'HKD', 'en')).toBe('HK$880.00');
    expect(formatMoney('1234567.89', 'HKD', 'zh-HK')).toMatch(/^HK\$1,234,567\.89$/);
    // Past what a float holds exactly: every digit survives.
    expect(formatMoney('90071992547409.93', 'HKD', 'en')).toBe('HK$90,071,992,547,409.93');
    expect(formatMoney('810.74', 'CNY', 'zh-CN')).toBe('¥810.74');
  });

  it('shows times in Hong Kong time, whatever the server runs in', () => {
    const time = new Date('2026-11-27T16:30:00Z'); // 00:30 the next day in Hong Kong
    expect(formatTime(time, 'en')).toMatch(/^28 Nov 2026, 12:30\s?am HKT$/i);
    expect(formatTime(time, 'zh-HK')).toContain('2026年11月28日');
    expect(formatTime(time, 'zh-CN')).toContain('2026年11月28日');
  });

  it('escapes everything HTML treats specially', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe('&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
  });
});

describe('the token the patient chose', () => {
  const options = [{ address: '0x5FbDB2315678afecb367f032d93F642f64180aa3' }, { address: '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512' }];

  it('is the option of that address in any letter case, else the first (the pricing token)', () => {
    expect(chooseTokenOption(options, '0xe7f1725e7734ce288f8367e1bb143e90bb3f0512')).toBe(options[1]);
    expect(chooseTokenOption(options, '0xE7F1725E7734CE288F8367E1BB143E90BB3F0512')).toBe(options[1]);
    for (const requested of [undefined, '', 'bogus', '0x0000000000000000000000000000000000000001', ['0xe7f1725e7734ce288f8367e1bb143e90bb3f0512'], { a: 1 }])
      expect(chooseTokenOption(options, requested)).toBe(options[0]);
  });
});

describe('the payment page while the travel-rule information is pending', () => {
  const CHAIN_ID = 31337;
  const INVOICE_ID = 'inv_0123456789abcdef01234567';
  const DEPOSIT = '0x2222222222222222222222222222222222222222';
  const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';

  function view(travelRule: PayingView['travelRule']): CheckoutPageView {
    const option = {
      address: TOKEN,
      symbol: 'tHKD',
      decimals: 6,
      issuer: 'Test Issuer',
      licence: null,
      units: 9_000_000_000n,
      amountToSend: '9000',
      paymentUri: `ethereum:${TOKEN}@${CHAIN_ID}/transfer?address=${DEPOSIT}&uint256=9000000000`,
    };
    const pending = travelRule === 'pending';
    return {
      token: 'ct_token',
      invoiceId: INVOICE_ID,
      chainId: CHAIN_ID,
      travelRule,
      clinicName: 'Harbour Clinic',
      invoiceNumber: 7,
      status: 'open',
      currency: 'HKD',
      amountDue: '9000.00',
      amountPaid: '0.00',
      amountRemaining: '9000.00',
      tokenInfo: { symbol: 'tHKD', decimals: 6, address: TOKEN, chainId: CHAIN_ID },
      tokenAmountDue: 9_000_000_000n,
      tokenAmountPaid: 0n,
      tokenAmountRemaining: 9_000_000_000n,
      tokenAmountToSend: pending ? null : option.amountToSend,
      depositAddress: pending ? null : DEPOSIT,
      paymentUri: pending ? null : option.paymentUri,
      lineItems: [{ description: 'Day surgery', quantity: 1, unitAmount: '9000.00', amount: '9000.00' }],
      expiresAt: new Date('2026-12-04T00:00:00Z'),
      paidAt: null,
      reference: null,
      confirming: null,
      payments: [],
      tokenOptions: pending ? [] : [option],
      payIn: pending ? null : option,
    };
  }

  it('asks the wallet to sign exactly what the gateway checks (compliance/travelRule.ts)', async () => {
    const account = privateKeyToAccount(generatePrivateKey());
    const request = travelRuleSigningRequest(CHAIN_ID, INVOICE_ID);
    const expected = travelRuleTypedData(CHAIN_ID, INVOICE_ID, account.address);
    expect(request.domain).toEqual(expected.domain);
    expect(request.primaryType).toBe(expected.primaryType);
    expect(request.types.TravelRule).toEqual(expected.types.TravelRule);
    expect(request.types.EIP712Domain.map((entry) => entry.name)).toEqual(Object.keys(expected.domain));
    expect({ ...request.message, payer: account.address }).toEqual(expected.message);
    // Signed as a wallet signs what the page sends (its EIP712Domain included), verified as the gateway verifies.
    // (As JSON, the way the page sends it: viem's types would want the domain's chainId as a bigint.)
    const sent = JSON.parse(JSON.stringify({ ...request, message: { ...request.message, payer: account.address } })) as TypedDataDefinition;
    const signature = await account.signTypedData(sent);
    expect(await verifyTypedData({ address: account.address, ...expected, signature })).toBe(true);
  });

  for (const language of CHECKOUT_LANGUAGES) {
    it(`shows the form and nothing of where to pay, in ${language}`, () => {
      const html = renderCheckoutPage(view('pending'), language, '');
      expect(html.toLowerCase()).not.toContain(DEPOSIT.toLowerCase());
      expect(html).not.toContain('ethereum:');
      expect(html).not.toContain('data-token-units');
      expect(html).toContain('id="travel-rule-form"');
      expect(html).toContain(`"invoice":"${INVOICE_ID}"`);
      expect(html).toContain(escapeHtml(message(language, 'tr_why')));
      expect(html).toContain(escapeHtml(message(language, 'tr_private')));
      for (const name of ['full_name', 'id_type', 'id_number', 'id_country', 'birth_date', 'birth_place', 'address_line', 'address_town', 'address_country'])
        expect(html, name).toMatch(new RegExp(`<label for="tr-${name}">`));
      expect(statusTexts(view('pending'), language).title).toBe(message(language, 'status_travel_rule'));
    });
  }

  it('polls a status that says nothing of where to pay, then everything once captured', () => {
    const pending = JSON.stringify(checkoutPageStatus(view('pending')));
    expect(pending.toLowerCase()).not.toContain(DEPOSIT.toLowerCase());
    expect(JSON.parse(pending)).toMatchObject({ travel_rule: 'pending', payment_uri: null, token_amount_to_send: null, payment_options: [] });
    const captured = checkoutPageStatus(view('captured'));
    expect(captured).toMatchObject({ travel_rule: 'captured', token_amount_to_send: '9000' });
    expect(String(captured.payment_uri)).toContain(DEPOSIT);
    // A page without the form names no internal id.
    const html = renderCheckoutPage(view('captured'), 'en', '<svg></svg>');
    expect(html).not.toContain(INVOICE_ID);
    expect(html).not.toContain('travel-rule-form');
    expect(html).toContain(DEPOSIT);
  });

  it('tells the counter screen to wait for the patient’s details', () => {
    for (const language of CHECKOUT_LANGUAGES) {
      expect(counterText(language, view('pending'))).toBe(consoleMessage(language, 'counter_travel_rule'));
      expect(counterText(language, view('captured'))).toBe(consoleMessage(language, 'counter_waiting'));
    }
  });
});
