import { describe, expect, it } from 'vitest';
import { collector, readPdf } from '../../test/support/pdf.js';
import type { CheckoutView } from './checkoutView.js';
import { CHECKOUT_LANGUAGES, type CheckoutLanguage, message } from './messages.js';
import { formatMoney, formatTime } from './pages.js';
import { RECEIPT_PDF_MESSAGES, type ReceiptPdfInput, writeReceiptPdf } from './receiptPdf.js';

const CLINIC_NAME = 'Happy Valley Family Clinic 跑馬地家庭診所';
const TX_HASH = `0x${'ab12cd34'.repeat(8)}`;
const CHECKOUT_TOKEN = 'ct_Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4';
const DEPOSIT_ADDRESS = '0x2222222222222222222222222222222222222222';
const EXPLORER = 'https://explorer.example/tx/{tx}';
const PAID_AT = new Date('2026-04-01T02:05:00Z');
const ITEMS = [
  { description: 'General consultation 普通科診症', quantity: 1, unitAmount: '880.00', amount: '880.00' },
  { description: 'Medication, 7 days 藥物七天', quantity: 2, unitAmount: '200.25', amount: '400.50' },
];

function paidView(overrides: Partial<CheckoutView> = {}): CheckoutView {
  return {
    token: CHECKOUT_TOKEN,
    clinicName: CLINIC_NAME,
    invoiceNumber: 1042,
    status: 'paid',
    currency: 'HKD',
    amountDue: '1280.50',
    amountPaid: '1280.50',
    amountRemaining: '0.00',
    tokenInfo: { symbol: 'tHKD', decimals: 6, address: '0x5FbDB2315678afecb367f032d93F642f64180aa3', chainId: 31337 },
    tokenAmountDue: 1_280_500_000n,
    tokenAmountPaid: 1_280_500_000n,
    tokenAmountRemaining: 0n,
    tokenAmountToSend: '0',
    depositAddress: DEPOSIT_ADDRESS,
    paymentUri: `ethereum:0x5FbDB2315678afecb367f032d93F642f64180aa3@31337/transfer?address=${DEPOSIT_ADDRESS}&uint256=0`,
    lineItems: ITEMS,
    expiresAt: new Date('2026-04-01T03:00:00Z'),
    paidAt: PAID_AT,
    reference: null,
    confirming: null,
    payments: [{ txHash: TX_HASH, amount: '1280500000', symbol: 'tHKD', decimals: 6, confirmations: 12, final: true }],
    ...overrides,
  };
}

async function render(input: ReceiptPdfInput): Promise<Buffer> {
  const { sink, bytes } = collector();
  await writeReceiptPdf(sink, input);
  expect(sink.writableFinished).toBe(true);
  return bytes();
}

const HEADINGS: Record<CheckoutLanguage, string> = { 'zh-HK': '付款收據', 'zh-CN': '付款收据', en: 'Payment receipt' };

describe('writeReceiptPdf', () => {
  for (const language of CHECKOUT_LANGUAGES) {
    it(`renders a paid invoice's receipt in ${language}`, async () => {
      const pdf = await render({ view: paidView(), language, explorerTxUrl: EXPLORER });
      expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
      const { text, pages, links, title, language: pdfLanguage } = await readPdf(pdf);
      const flat = text.replace(/\s+/g, '');

      expect(pages).toHaveLength(1);
      expect(pdfLanguage).toBe(language);
      expect(title).toBe(message(language, 'receipt_title', { clinic: CLINIC_NAME }));
      expect(text).toContain(HEADINGS[language]);
      expect(text).toContain(CLINIC_NAME);
      expect(text).toContain(message(language, 'invoice_number', { number: 1042 }));
      for (const item of ITEMS) expect(text).toContain(item.description);
      // Quantities and amounts of the lines, the total, and what was paid in HKD and in the token.
      expect(text).toContain(formatMoney('880.00', 'HKD', language));
      expect(text).toContain(formatMoney('200.25', 'HKD', language));
      expect(text).toContain(formatMoney('400.50', 'HKD', language));
      expect(formatMoney('1280.50', 'HKD', language)).toBe('HK$1,280.50');
      expect(text).toContain('HK$1,280.50');
      expect(text).toContain('1280.5 tHKD');
      expect(text).toContain(TX_HASH);
      expect(flat).toContain(formatTime(PAID_AT, language).replace(/\s+/g, ''));
      expect(flat).toContain(message(language, 'chain_id', { chain: 31337 }).replace(/\s+/g, ''));
      expect(flat).toContain(message(language, 'receipt_note', { symbol: 'tHKD', chain: 31337 }).replace(/\s+/g, ''));
      expect(flat).toContain(RECEIPT_PDF_MESSAGES.issued_by[language].replace('{clinic}', CLINIC_NAME).replace(/\s+/g, ''));
      expect(text).toContain(message(language, 'view_on_explorer'));

      // Both the hash and the "view on explorer" text link to the transaction.
      expect(links.length).toBeGreaterThanOrEqual(1);
      expect(new Set(links)).toEqual(new Set([`https://explorer.example/tx/${TX_HASH}`]));

      // Nothing internal: no ids, no checkout token, no deposit address; and no missing glyph.
      for (const secret of ['inv_', 'clin_', CHECKOUT_TOKEN, DEPOSIT_ADDRESS, DEPOSIT_ADDRESS.slice(2, 12)]) expect(text).not.toContain(secret);
      expect(pdf.toString('latin1')).not.toContain('inv_');
      expect(text).not.toContain('\u0000');
    });
  }

  it('writes Simplified Chinese for zh-CN and Traditional for zh-HK', async () => {
    const [hk, cn] = await Promise.all(
      (['zh-HK', 'zh-CN'] as const).map(async (language) => (await readPdf(await render({ view: paidView(), language, explorerTxUrl: undefined }))).text),
    );
    expect(hk).toContain('已付金額');
    expect(hk).not.toContain('付款收据');
    expect(cn).toContain('已付金额');
    expect(cn).toContain('由 ClinicPay 代表');
    expect(cn).not.toContain('付款收據');
    expect(cn).not.toContain('已付金額');
  });

  it('has no link without an explorer URL, and lists only final payments', async () => {
    const pending = `0x${'ef'.repeat(32)}`;
    const second = `0x${'cd'.repeat(32)}`;
    const view = paidView({
      payments: [
        { txHash: TX_HASH, amount: '1000000000', symbol: 'tHKD', decimals: 6, confirmations: 30, final: true },
        { txHash: second, amount: '280500000', symbol: 'tHKD', decimals: 6, confirmations: 12, final: true },
        { txHash: pending, amount: '5000000', symbol: 'tHKD', decimals: 6, confirmations: 1, final: false },
      ],
    });
    const { text, links } = await readPdf(await render({ view, language: 'en', explorerTxUrl: undefined }));
    expect(links).toEqual([]);
    expect(text).not.toContain('View on block explorer');
    expect(text).toContain(TX_HASH);
    expect(text).toContain(second);
    expect(text).not.toContain(pending);
    // With several payments, each one's amount is shown next to its hash.
    expect(text).toContain('1000 tHKD');
    expect(text).toContain('280.5 tHKD');

    const linked = await readPdf(await render({ view, language: 'en', explorerTxUrl: EXPLORER }));
    expect(new Set(linked.links)).toEqual(new Set([`https://explorer.example/tx/${TX_HASH}`, `https://explorer.example/tx/${second}`]));
  });

  it('says an overpaid invoice is paid, with both amounts', async () => {
    const view = paidView({
      status: 'overpaid',
      amountPaid: '1300.00',
      tokenAmountPaid: 1_300_000_000n,
      payments: [{ txHash: TX_HASH, amount: '1300000000', symbol: 'tHKD', decimals: 6, confirmations: 12, final: true }],
    });
    const { text } = await readPdf(await render({ view, language: 'zh-HK', explorerTxUrl: undefined }));
    expect(text).toContain(message('zh-HK', 'status_overpaid'));
    expect(text).toContain('HK$1,300.00');
    expect(text).toContain('HK$1,280.50');
    expect(text).toContain('1300 tHKD');
  });

  it('keeps exact token units beyond float precision', async () => {
    // 2^53 + 1 base units with 18 decimals: a float would lose the last digit.
    const units = 9_007_199_254_740_993n;
    const view = paidView({
      tokenInfo: { symbol: 'HKDR', decimals: 18, address: '0x5FbDB2315678afecb367f032d93F642f64180aa3', chainId: 1 },
      tokenAmountPaid: units,
    });
    const { text } = await readPdf(await render({ view, language: 'en', explorerTxUrl: undefined }));
    expect(text).toContain('0.009007199254740993 HKDR');
  });

  it('breaks a long invoice over pages, with the table header and a running head on each', async () => {
    const lineItems = Array.from({ length: 100 }, (_, index) => ({
      description: `Item ${index + 1}: ${'physiotherapy session 物理治療 '.repeat(index % 7 === 0 ? 8 : 1).trim()}`,
      quantity: 1,
      unitAmount: '10.00',
      amount: '10.00',
    }));
    const { pages, text } = await readPdf(await render({ view: paidView({ lineItems, amountDue: '1000.00' }), language: 'en', explorerTxUrl: EXPLORER }));
    expect(pages.length).toBeGreaterThan(1);
    for (let index = 1; index <= 100; index++) expect(text).toContain(`Item ${index}:`);
    pages.forEach((page, index) => {
      expect(page).toContain(`Page ${index + 1}`);
      expect(page).toContain('Issued by ClinicPay on behalf of');
      if (index > 0) expect(page).toContain('Payment receipt · Invoice 1042 (continued)');
    });
    expect(text).toContain(TX_HASH);
  });

  it('refuses an invoice that is not paid, writing nothing', async () => {
    for (const status of ['open', 'processing', 'underpaid', 'expired', 'void'] as const) {
      const { sink, bytes } = collector();
      await expect(writeReceiptPdf(sink, { view: paidView({ status }), language: 'en', explorerTxUrl: undefined })).rejects.toThrow(
        /only issued for a paid invoice/,
      );
      expect(sink.writableEnded).toBe(false);
      expect(bytes().length).toBe(0);
    }
  });
});
