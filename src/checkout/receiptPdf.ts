/**
 * The patient's receipt as a PDF, fit to hand to an insurer: who was paid (the clinic), for what
 * (invoice number, line items, total), how much in HKD and in the token, when (Hong Kong time),
 * and the proof (each final payment's transaction hash, linked to the block explorer when one is
 * configured). One language per receipt — the one the patient chose on the page.
 *
 * It shows only what the checkout page may show ({@link CheckoutView}): no internal ids, no
 * patient reference, no checkout token, no deposit or settlement address.
 *
 * Money is formatted from exact values (`formatMoney` on decimal strings, viem `formatUnits` on
 * bigint); the only floating-point numbers are positions on the page.
 */
import { finished } from 'node:stream/promises';
import { formatUnits } from 'viem';
import { A4, createPdfDocument, fitText, localize, type Message, PDF_COLORS, PDF_FONTS, type TextStyle, useTextStyle } from '../reports/pdfFonts.js';
import { type CheckoutView, paidSymbols } from './checkoutView.js';
import { type CheckoutLanguage, type MessageKey, message } from './messages.js';
import { formatMoney, formatTime } from './pages.js';

export interface ReceiptPdfInput {
  view: CheckoutView;
  language: CheckoutLanguage;
  /** Block-explorer transaction URL with `{tx}` where the hash goes; undefined: no links. */
  explorerTxUrl: string | undefined;
}

// ---------------------------------------------------------------------------------------------
// Texts the page catalogue (messages.ts) does not have; everything else comes from there.

export const RECEIPT_PDF_MESSAGES = {
  unit_price: { en: 'Unit price', 'zh-HK': '單價', 'zh-CN': '单价' },
  amount: { en: 'Amount', 'zh-HK': '金額', 'zh-CN': '金额' },
  paid_in_token: { en: 'Paid in {symbol}', 'zh-HK': '以 {symbol} 支付', 'zh-CN': '以 {symbol} 支付' },
  payment: { en: 'Payment', 'zh-HK': '付款資料', 'zh-CN': '付款信息' },
  token_contract: { en: 'Token contract', 'zh-HK': '代幣合約', 'zh-CN': '代币合约' },
  issued_by: {
    en: 'Issued by ClinicPay on behalf of {clinic}.',
    'zh-HK': '由 ClinicPay 代表{clinic}發出。',
    'zh-CN': '由 ClinicPay 代表{clinic}出具。',
  },
  continued: { en: '(continued)', 'zh-HK': '（續）', 'zh-CN': '（续）' },
  page: { en: 'Page {n}', 'zh-HK': '第 {n} 頁', 'zh-CN': '第 {n} 页' },
} as const satisfies Record<string, Message<CheckoutLanguage>>;

type ReceiptMessageKey = keyof typeof RECEIPT_PDF_MESSAGES;

// ---------------------------------------------------------------------------------------------
// Page geometry (points).

const { width: PAGE_WIDTH, height: PAGE_HEIGHT } = A4;
const LEFT = 48;
const RIGHT = PAGE_WIDTH - 48;
const WIDTH = RIGHT - LEFT;
const TOP = 48;
/** Content stops here; the footer sits below. */
const BOTTOM = PAGE_HEIGHT - 60;
const FOOTER_Y = PAGE_HEIGHT - 40;

const { ink: INK, muted: MUTED, rule: RULE, shade: SHADE } = PDF_COLORS;
const LINK = '#1d4ed8';
const PAID = '#047857';

/** Item table columns; widths add up to {@link WIDTH}. */
const COLUMNS = {
  item: { x: LEFT, width: WIDTH - 45 - 105 - 105 },
  quantity: { x: RIGHT - 255, width: 45 },
  unitPrice: { x: RIGHT - 210, width: 105 },
  amount: { x: RIGHT - 105, width: 105 },
} as const;
const CELL_PAD = 5;
const TABLE_SIZE = 9;
/** Summary rows: label column, then the value from here. */
const LABEL_WIDTH = 150;
const VALUE_X = LEFT + LABEL_WIDTH;

/** Text the standard (not embedded) fonts can draw: printable ASCII. */
const STANDARD_FONT_SAFE = /^[\x20-\x7e]*$/;

// ---------------------------------------------------------------------------------------------

/**
 * Renders the receipt of a paid (or overpaid) invoice as a PDF into `out`, ends `out`, and
 * resolves once `out` has finished.
 *
 * Throws before writing anything when the invoice is not paid: a receipt must never exist for
 * money that has not arrived. If `out` closes early it rejects, and on a failure while drawing
 * it leaves `out` open and unfinished, so the caller destroys it and a truncated PDF never looks
 * complete.
 *
 * @example
 * res.type('application/pdf');
 * await writeReceiptPdf(res, { view, language: 'zh-HK', explorerTxUrl: 'https://etherscan.io/tx/{tx}' });
 */
export async function writeReceiptPdf(out: NodeJS.WritableStream, input: ReceiptPdfInput): Promise<void> {
  if (input.view.status !== 'paid' && input.view.status !== 'overpaid') {
    throw new RangeError(`a receipt is only issued for a paid invoice; invoice ${input.view.invoiceNumber} is ${input.view.status}`);
  }
  const writer = new ReceiptPdfWriter(input);
  writer.doc.pipe(out);
  try {
    writer.draw();
  } catch (error) {
    writer.doc.unpipe(out);
    throw error;
  }
  const done = finished(out);
  writer.doc.end();
  await done;
}

class ReceiptPdfWriter {
  readonly doc: PDFKit.PDFDocument;
  private readonly view: CheckoutView;
  private readonly language: CheckoutLanguage;
  private page = 1;
  private y = TOP;

  constructor(private readonly input: ReceiptPdfInput) {
    this.view = input.view;
    this.language = input.language;
    this.doc = createPdfDocument({
      lang: input.language,
      info: {
        title: message(this.language, 'receipt_title', { clinic: this.view.clinicName }),
        subject: message(this.language, 'invoice_number', { number: this.view.invoiceNumber }),
        author: this.view.clinicName,
      },
      // Page breaks are ours: pdfkit never starts a page on its own.
      margins: { top: TOP, bottom: 0, left: LEFT, right: PAGE_WIDTH - RIGHT },
    });
  }

  draw(): void {
    this.drawFooter();
    this.drawHeader();
    this.drawItems();
    this.drawPayment();
  }

  // --- text -----------------------------------------------------------------------------------

  /** A text of the page catalogue (messages.ts). */
  private t(key: MessageKey, params: Record<string, string | number> = {}): string {
    return message(this.language, key, params);
  }

  /** A text of this file's catalogue. */
  private r(key: ReceiptMessageKey, params: Record<string, string | number> = {}): string {
    return localize(RECEIPT_PDF_MESSAGES[key], [this.language], params)[0]!;
  }

  private money(amount: string): string {
    return formatMoney(amount, this.view.currency, this.language);
  }

  /** Exact token units with the symbol: "1280.5 tHKD". */
  private tokenUnits(units: bigint): string {
    return `${formatUnits(units, this.view.tokenInfo.decimals)} ${this.view.tokenInfo.symbol}`;
  }

  /**
   * Figures go in the standard font (not embedded: no layout cache, several times faster) when
   * it can draw them; a formatted time or amount with CJK characters goes in the embedded one.
   */
  private figures(text: string, bold = false): TextStyle {
    if (STANDARD_FONT_SAFE.test(text)) return { font: bold ? PDF_FONTS.figuresBold : PDF_FONTS.figures, size: TABLE_SIZE };
    return { font: bold ? PDF_FONTS.bold : PDF_FONTS.text, size: TABLE_SIZE };
  }

  /**
   * One line of text on `baseline`, in a box of `width`, aligned left or right; returns the
   * drawn width. Labels are cut to fit; amounts (`cut: false`) never are.
   */
  private cell(text: string, x: number, baseline: number, width: number, style: TextStyle, align: 'left' | 'right' = 'left', cut = true): number {
    useTextStyle(this.doc, style);
    const fitted = cut ? fitText(this.doc, text, width) : text;
    const drawn = this.doc.widthOfString(fitted);
    const left = align === 'right' ? x + width - drawn : x;
    this.doc.text(fitted, left, baseline, { lineBreak: false, baseline: 'alphabetic' });
    return drawn;
  }

  /** Wrapped text in a box of `width` from `x`, top at `y`; returns its height. */
  private paragraph(text: string, x: number, y: number, width: number, style: TextStyle): number {
    useTextStyle(this.doc, style);
    const height = this.doc.heightOfString(text, { width });
    this.doc.text(text, x, y, { width });
    return height;
  }

  private paragraphHeight(text: string, width: number, style: TextStyle): number {
    useTextStyle(this.doc, style);
    return this.doc.heightOfString(text, { width });
  }

  private rule(y: number, color = RULE): void {
    this.doc.moveTo(LEFT, y).lineTo(RIGHT, y).lineWidth(0.5).strokeColor(color).stroke();
  }

  // --- pages ----------------------------------------------------------------------------------

  private ensureSpace(height: number): boolean {
    if (this.y + height <= BOTTOM) return false;
    this.doc.addPage();
    this.page += 1;
    this.y = TOP;
    this.drawFooter();
    // A running head, so a loose page still says whose receipt it is.
    const head = `${this.view.clinicName} · ${this.t('receipt_heading')} · ${this.t('invoice_number', { number: this.view.invoiceNumber })} ${this.r('continued')}`;
    this.cell(head, LEFT, this.y + 8, WIDTH, { font: PDF_FONTS.text, size: 8, color: MUTED });
    this.y += 20;
    return true;
  }

  private drawFooter(): void {
    this.rule(FOOTER_Y - 6);
    const style: TextStyle = { font: PDF_FONTS.text, size: 7.5, color: MUTED };
    const page = this.r('page', { n: this.page });
    useTextStyle(this.doc, style);
    const pageWidth = this.doc.widthOfString(page);
    this.cell(this.r('issued_by', { clinic: this.view.clinicName }), LEFT, FOOTER_Y + 6, WIDTH - pageWidth - 12, style);
    this.cell(page, RIGHT - pageWidth, FOOTER_Y + 6, pageWidth, style, 'left', false);
  }

  // --- header ---------------------------------------------------------------------------------

  private drawHeader(): void {
    const view = this.view;
    this.y += this.paragraph(view.clinicName, LEFT, this.y, WIDTH, { font: PDF_FONTS.bold, size: 15 }) + 10;

    const title = this.t('receipt_heading');
    this.cell(title, LEFT, this.y + 20, WIDTH * 0.6, { font: PDF_FONTS.bold, size: 22 });
    const status = this.t(view.status === 'overpaid' ? 'status_overpaid' : 'status_paid');
    this.cell(status, LEFT + WIDTH * 0.4, this.y + 20, WIDTH * 0.6, { font: PDF_FONTS.bold, size: 11, color: PAID }, 'right');
    this.y += 30;
    this.cell(this.t('invoice_number', { number: view.invoiceNumber }), LEFT, this.y + 11, WIDTH, { font: PDF_FONTS.text, size: 11, color: MUTED });
    this.y += 20;
    this.rule(this.y, INK);
    this.y += 14;
  }

  // --- line items -----------------------------------------------------------------------------

  private drawTableHeader(): void {
    const height = 18;
    this.doc.rect(LEFT, this.y, WIDTH, height).fill(SHADE);
    const style: TextStyle = { font: PDF_FONTS.bold, size: 8.5, color: MUTED };
    const baseline = this.y + 12.5;
    const { item, quantity, unitPrice, amount } = COLUMNS;
    this.cell(this.t('item'), item.x + CELL_PAD, baseline, item.width - 2 * CELL_PAD, style);
    this.cell(this.t('quantity'), quantity.x + CELL_PAD, baseline, quantity.width - 2 * CELL_PAD, style, 'right');
    this.cell(this.r('unit_price'), unitPrice.x + CELL_PAD, baseline, unitPrice.width - 2 * CELL_PAD, style, 'right');
    this.cell(this.r('amount'), amount.x + CELL_PAD, baseline, amount.width - 2 * CELL_PAD, style, 'right');
    this.y += height + 4;
  }

  private drawItems(): void {
    const { item, quantity, unitPrice, amount } = COLUMNS;
    const descriptionStyle: TextStyle = { font: PDF_FONTS.text, size: TABLE_SIZE };
    const descriptionWidth = item.width - 2 * CELL_PAD;

    this.ensureSpace(60);
    this.cell(this.t('items'), LEFT, this.y + 11, WIDTH, { font: PDF_FONTS.bold, size: 11 });
    this.y += 18;
    this.drawTableHeader();
    for (const line of this.view.lineItems) {
      const height = Math.max(this.paragraphHeight(line.description, descriptionWidth, descriptionStyle), TABLE_SIZE * 1.4) + 5;
      if (this.ensureSpace(height)) this.drawTableHeader();
      const top = this.y;
      this.paragraph(line.description, item.x + CELL_PAD, top, descriptionWidth, descriptionStyle);
      // The first baseline of the description, so the figures line up with its first line.
      const baseline = top + TABLE_SIZE * 1.1;
      const figure = (text: string, column: { x: number; width: number }) =>
        this.cell(text, column.x + CELL_PAD, baseline, column.width - 2 * CELL_PAD, this.figures(text), 'right', false);
      figure(String(line.quantity), quantity);
      figure(this.money(line.unitAmount), unitPrice);
      figure(this.money(line.amount), amount);
      this.y = top + height;
      this.doc
        .moveTo(LEFT, this.y - 2.5)
        .lineTo(RIGHT, this.y - 2.5)
        .lineWidth(0.25)
        .strokeColor(RULE)
        .stroke();
    }

    this.ensureSpace(24);
    this.y += 4;
    const total = this.money(this.view.amountDue);
    const baseline = this.y + 11;
    this.cell(this.t('total'), item.x + CELL_PAD, baseline, WIDTH - amount.width - 2 * CELL_PAD, { font: PDF_FONTS.bold, size: 10.5 });
    this.cell(total, amount.x + CELL_PAD, baseline, amount.width - 2 * CELL_PAD, { ...this.figures(total, true), size: 10.5 }, 'right', false);
    this.y += 18;
    this.rule(this.y, INK);
    this.y += 18;
  }

  // --- payment --------------------------------------------------------------------------------

  /** A label and its value rows; kept together on one page. */
  private row(label: string, height: number, draw: (top: number) => void): void {
    this.ensureSpace(height);
    const top = this.y;
    this.cell(label, LEFT, top + 10, LABEL_WIDTH - 8, { font: PDF_FONTS.text, size: 9, color: MUTED });
    draw(top);
    this.y = top + height;
  }

  private valueStyle(text: string, bold = false, size = 10): TextStyle {
    return { ...this.figures(text, bold), size };
  }

  private drawPayment(): void {
    const view = this.view;
    const valueWidth = RIGHT - VALUE_X;
    const value = (text: string, top: number, bold = false) => this.cell(text, VALUE_X, top + 10, valueWidth, this.valueStyle(text, bold), 'left', false);

    this.ensureSpace(120);
    this.cell(this.r('payment'), LEFT, this.y + 11, WIDTH, { font: PDF_FONTS.bold, size: 11 });
    this.y += 22;

    const paid = this.money(view.amountPaid);
    this.row(this.t('paid_amount'), 17, (top) => value(paid, top, true));
    const tokenPaid = this.tokenUnits(view.tokenAmountPaid);
    this.row(this.r('paid_in_token', { symbol: view.tokenInfo.symbol }), 17, (top) => value(tokenPaid, top));
    const due = this.money(view.amountDue);
    this.row(this.t('amount_due'), 17, (top) => value(due, top));
    if (view.paidAt) {
      const paidAt = formatTime(view.paidAt, this.language);
      this.row(this.t('paid_at'), 17, (top) => value(paidAt, top));
    }
    this.row(this.t('network'), 17, (top) =>
      this.cell(this.t('chain_id', { chain: view.tokenInfo.chainId }), VALUE_X, top + 10, valueWidth, { font: PDF_FONTS.text, size: 10 }),
    );
    this.row(this.r('token_contract'), 17, (top) => {
      const symbolWidth = this.cell(view.tokenInfo.symbol, VALUE_X, top + 10, valueWidth, this.valueStyle(view.tokenInfo.symbol));
      this.cell(view.tokenInfo.address, VALUE_X + symbolWidth + 8, top + 10, valueWidth - symbolWidth - 8, { font: PDF_FONTS.mono, size: 8.5 });
    });
    this.drawTransactions();

    this.y += 8;
    const note = this.t('receipt_note', { symbol: paidSymbols(view), chain: view.tokenInfo.chainId });
    const noteStyle: TextStyle = { font: PDF_FONTS.text, size: 9, color: MUTED };
    this.ensureSpace(this.paragraphHeight(note, WIDTH, noteStyle) + 4);
    this.y += this.paragraph(note, LEFT, this.y, WIDTH, noteStyle) + 4;
  }

  /** Each final payment: its hash in full and, with an explorer configured, a link to it. */
  private drawTransactions(): void {
    const explorer = this.input.explorerTxUrl;
    const payments = this.view.payments.filter((payment) => payment.final);
    const several = payments.length > 1;
    const perPayment = (explorer ? 28 : 15) + (several ? 13 : 0);
    const hashStyle: TextStyle = { font: PDF_FONTS.mono, size: 8.5 };
    const valueWidth = RIGHT - VALUE_X;
    if (payments.length === 0) {
      this.row(this.t('transaction'), 17, (top) => this.cell('—', VALUE_X, top + 10, valueWidth, { font: PDF_FONTS.figures, size: 10 }));
      return;
    }
    payments.forEach((payment, index) => {
      this.row(index === 0 ? this.t('transaction') : '', perPayment + 2, (top) => {
        let baseline = top + 10;
        const url = explorer?.replaceAll('{tx}', payment.txHash);
        const hashWidth = this.cell(payment.txHash, VALUE_X, baseline, valueWidth, hashStyle, 'left', false);
        if (url) this.doc.link(VALUE_X, baseline - hashStyle.size, hashWidth, hashStyle.size * 1.3, url);
        if (several) {
          baseline += 13;
          // In the token the payment was made in: any accepted token counts at par.
          const amount = `${formatUnits(BigInt(payment.amount), payment.decimals)} ${payment.symbol}`;
          this.cell(amount, VALUE_X, baseline, valueWidth, this.valueStyle(amount, false, 9), 'left', false);
        }
        if (url) {
          baseline += 13;
          const linkStyle: TextStyle = { font: PDF_FONTS.text, size: 9, color: LINK };
          const label = this.t('view_on_explorer');
          const labelWidth = this.cell(label, VALUE_X, baseline, valueWidth, linkStyle);
          this.doc
            .moveTo(VALUE_X, baseline + 1.5)
            .lineTo(VALUE_X + labelWidth, baseline + 1.5)
            .lineWidth(0.5)
            .strokeColor(LINK)
            .stroke();
          this.doc.link(VALUE_X, baseline - linkStyle.size, labelWidth, linkStyle.size * 1.4, url);
        }
      });
    });
  }
}
