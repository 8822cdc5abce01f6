/**
 * A clinic statement as a PDF a person would file: the clinic, the period, the totals, a small
 * chart of inflows, every line, and the Merkle root with how to verify it. Every label is in
 * English and Traditional Chinese; `lang` chooses which comes first.
 *
 * Streamed: lines are drawn as they arrive and each finished page is written to the output at
 * once (waiting for it to drain), so memory stays flat however many lines there are. Totals and
 * the chart are on page 1, so the caller computes them first ({@link StatementSummary}).
 *
 * Money is formatted from exact values (decimal.js, bigint); the only floating-point numbers are
 * positions on the page.
 */

import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { Decimal } from 'decimal.js';
import { CURRENCIES, tokenUnitsToFiat } from '../domain/currency.js';
import { hongKongDate } from '../domain/hongKongDate.js';
import { writeStreamed } from '../platform/streaming.js';
import { A4, createPdfDocument, fitText, localize, PDF_COLORS, PDF_FONTS, type TextStyle, useTextStyle } from './pdfFonts.js';
import type { StatementHeader, StatementLine, StatementTrailer } from './statementDocument.js';

export type StatementPdfLanguage = 'en' | 'zh-HK';

/** A line type of a statement: `opening_balance`, `invoice`, `payment`, … */
export type StatementLineType = StatementLine['type'];

/** How many lines of one type a statement has, and the sum of their token amounts. */
export interface StatementTypeTotal {
  count: number;
  /** Sum of the lines' `token_amount` (base units, integer string). */
  token_amount: string;
}

/** What page 1 shows before the lines are streamed; the caller computes it (with SQL) first. */
export interface StatementSummary {
  /** Per line type; a type without lines may be left out (it shows as 0). */
  totals: Partial<Record<StatementLineType, StatementTypeTotal>>;
  /** Payments received per day, gross (non-negative base units), days without payments may be left out. */
  daily_inflows: { /** YYYY-MM-DD in Asia/Hong_Kong. */ date: string; token_amount: string }[];
}

export interface StatementPdfInput {
  header: StatementHeader;
  summary: StatementSummary;
  /** The statement's lines in order (line 1 first). */
  lines: AsyncIterable<StatementLine> | Iterable<StatementLine>;
  /** Called once, after the last line has been read. */
  trailer: () => StatementTrailer;
  lang: StatementPdfLanguage;
}

// ---------------------------------------------------------------------------------------------
// Message catalogue: every text on the page, in both languages.

type Bilingual = Readonly<Record<StatementPdfLanguage, string>>;

export const STATEMENT_PDF_MESSAGES = {
  title: { en: 'Clinic statement', 'zh-HK': '診所結單' },
  statementId: { en: 'Statement', 'zh-HK': '結單編號' },
  period: { en: 'Period', 'zh-HK': '結單期間' },
  periodNote: { en: 'Hong Kong time (UTC+8); the end is not included.', 'zh-HK': '香港時間（UTC+8），不包括結束時間。' },
  generated: { en: 'Generated', 'zh-HK': '產生時間' },
  clinicId: { en: 'Clinic ID', 'zh-HK': '診所編號' },
  settlementWallet: { en: 'Settlement wallet', 'zh-HK': '結算錢包' },
  token: { en: 'Token', 'zh-HK': '代幣' },
  tokenDetails: {
    en: '{symbol} on chain {chain_id}, {decimals} decimals; 1 {symbol} = 1 HKD (peg).',
    'zh-HK': '{symbol}，鏈 ID {chain_id}，{decimals} 位小數；1 {symbol} = 1 港元（掛鈎）。',
  },
  totals: { en: 'Totals', 'zh-HK': '總計' },
  count: { en: 'Lines', 'zh-HK': '筆數' },
  hkd: { en: 'HKD', 'zh-HK': '港元' },
  tokenAmount: { en: '{symbol}', 'zh-HK': '代幣' },
  openingBalance: { en: 'Opening balance', 'zh-HK': '期初結餘' },
  closingBalance: { en: 'Closing balance', 'zh-HK': '期末結餘' },
  totalInvoice: { en: 'Invoices issued', 'zh-HK': '已開立發票' },
  totalPayment: { en: 'Payments received', 'zh-HK': '已收款項' },
  totalForward: { en: 'Forwarded to the clinic wallet', 'zh-HK': '已轉至診所錢包' },
  totalRefund: { en: 'Refunds', 'zh-HK': '退款' },
  totalApplication: { en: 'Applied to other invoices', 'zh-HK': '轉撥至其他發票' },
  totalWriteOff: { en: 'Written off', 'zh-HK': '撇賬' },
  totalReversal: { en: 'Reversed (chain reorganisation)', 'zh-HK': '沖銷（區塊重組）' },
  totalOutflow: { en: 'Other outflows', 'zh-HK': '其他流出' },
  balanceNote: {
    en: 'Balances: what the clinic holds from patients, at deposit addresses plus forwarded to its wallet. Movements are shown as positive sizes; invoices move no money.',
    'zh-HK': '結餘：診所向病人收取並持有的款項，即收款地址結存加上已轉至診所錢包的款項。各項變動以正數列示；開立發票不涉及資金流動。',
  },
  inflowsDay: { en: 'Daily inflows', 'zh-HK': '每日流入' },
  inflowsWeek: { en: 'Weekly inflows', 'zh-HK': '每週流入' },
  inflowsMonth: { en: 'Monthly inflows', 'zh-HK': '每月流入' },
  inflowsYear: { en: 'Inflows by year', 'zh-HK': '每年流入' },
  chartNote: { en: 'Payments received in HKD, by Hong Kong date.', 'zh-HK': '已收款項（港元），按香港日期計。' },
  chartNoteWeek: { en: 'Payments received in HKD, by Hong Kong date; weeks start on Monday.', 'zh-HK': '已收款項（港元），按香港日期計；每週由星期一開始。' },
  noInflows: { en: 'No payments were received in this period.', 'zh-HK': '本期間沒有收到款項。' },
  lineTable: { en: 'Statement lines', 'zh-HK': '結單明細' },
  colLine: { en: 'No.', 'zh-HK': '序號' },
  colTime: { en: 'Time (HKT)', 'zh-HK': '時間（香港）' },
  colType: { en: 'Type', 'zh-HK': '類別' },
  colInvoice: { en: 'Invoice', 'zh-HK': '發票' },
  colTransaction: { en: 'Transaction', 'zh-HK': '交易' },
  colHkd: { en: 'HKD', 'zh-HK': '港元' },
  colToken: { en: '{symbol}', 'zh-HK': '代幣' },
  typeInvoice: { en: 'Invoice issued', 'zh-HK': '開立發票' },
  typePayment: { en: 'Payment', 'zh-HK': '收款' },
  typeForward: { en: 'Forward', 'zh-HK': '轉至診所' },
  typeOutflow: { en: 'Outflow', 'zh-HK': '流出' },
  typeReversal: { en: 'Reversal', 'zh-HK': '沖銷' },
  typeRefund: { en: 'Refund', 'zh-HK': '退款' },
  typeApplication: { en: 'Application', 'zh-HK': '轉撥' },
  typeWriteOff: { en: 'Write-off', 'zh-HK': '撇賬' },
  page: { en: 'Page {n}', 'zh-HK': '第 {n} 頁' },
  verification: { en: 'Verification', 'zh-HK': '驗證' },
  lineCount: { en: 'Number of lines', 'zh-HK': '行數' },
  merkleRoot: { en: 'Merkle root', 'zh-HK': '默克爾根' },
  merkleMethod: {
    en: '{tree} Merkle tree over all lines, {hash}; each leaf is the RFC 8785 (canonical) JSON of one line.',
    'zh-HK': '以 {tree} 默克爾樹涵蓋全部行，雜湊函數為 {hash}；每個葉節點為一行的 RFC 8785 規範化 JSON。',
  },
  anchor: { en: 'Anchor', 'zh-HK': '鏈上錨定' },
  anchorDetails: {
    en: 'The root was recorded on chain {chain_id} in block {block_number}, sent from {from_address}, in transaction:',
    'zh-HK': '此根已記錄於鏈 ID {chain_id} 第 {block_number} 區塊，由 {from_address} 發出，交易為：',
  },
  notAnchored: { en: 'The root has not been anchored on a chain.', 'zh-HK': '此根未有於鏈上錨定。' },
  auditHead: { en: 'Audit log head', 'zh-HK': '審計日誌鏈頭' },
  auditHeadDetails: { en: 'Row {seq} of the hash-chained audit log, whose hash is:', 'zh-HK': '雜湊鏈審計日誌第 {seq} 行，其雜湊值為：' },
  auditHeadNone: { en: 'The audit log was empty.', 'zh-HK': '審計日誌當時為空。' },
  howToVerify: { en: 'How to verify', 'zh-HK': '如何驗證' },
  verifyStep1: {
    en: '1. Download this statement as JSON (format=json) and save it as statement.json; its merkle_root must equal the root above.',
    'zh-HK': '1. 以 JSON 格式（format=json）下載本結單並儲存為 statement.json；其 merkle_root 須與上列的根相同。',
  },
  verifyStep2: {
    en: '2. Recompute the root and the balance arithmetic offline; with --rpc, every payment line is also checked against the chain:',
    'zh-HK': '2. 離線重新計算根及結餘；加上 --rpc 時，亦會在鏈上逐行核對付款：',
  },
  verifyStep3: {
    en: '3. Check a single line N with its inclusion proof, against the same root:',
    'zh-HK': '3. 以包含證明核對單一行 N，所得的根須與上列相同：',
  },
  endOfStatement: { en: 'End of statement', 'zh-HK': '結單完' },
} as const satisfies Record<string, Bilingual>;

type MessageKey = keyof typeof STATEMENT_PDF_MESSAGES;

/** Commands and paths printed as they are (no translation), in the fixed-pitch font. */
export const STATEMENT_PDF_COMMANDS = {
  verify: 'npx clinicpay verify statement.json [--rpc <url>]',
  proof: 'GET /v1/statements/{id}/proof?line=N',
} as const;

const TYPE_LABELS: Record<StatementLineType, MessageKey> = {
  opening_balance: 'openingBalance',
  closing_balance: 'closingBalance',
  invoice: 'typeInvoice',
  payment: 'typePayment',
  forward: 'typeForward',
  outflow: 'typeOutflow',
  reversal: 'typeReversal',
  refund: 'typeRefund',
  application: 'typeApplication',
  write_off: 'typeWriteOff',
};

/** Rows of the totals box, between the opening and the closing balance. */
const TOTAL_ROWS: readonly [StatementLineType, MessageKey][] = [
  ['invoice', 'totalInvoice'],
  ['payment', 'totalPayment'],
  ['forward', 'totalForward'],
  ['refund', 'totalRefund'],
  ['application', 'totalApplication'],
  ['write_off', 'totalWriteOff'],
  ['reversal', 'totalReversal'],
  ['outflow', 'totalOutflow'],
];

// ---------------------------------------------------------------------------------------------
// Amounts and dates.

/** Enough significant digits for any numeric(78,0) amount with up to 36 decimals: no rounding. */
const ExactDecimal = Decimal.clone({ precision: 120 });
const INTEGER = /^-?\d+$/;

function groupThousands(fixed: string): string {
  const match = /^(-?)(\d+)(\.\d+)?$/.exec(fixed);
  if (!match) throw new RangeError(`not a decimal amount: ${fixed}`);
  return `${match[1]}${match[2]!.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}${match[3] ?? ''}`;
}

/**
 * Token base units as a decimal with all the token's places and thousands separators, exact.
 *
 * @example formatTokenAmount('1234500000', 6) // '1,234.500000'
 */
export function formatTokenAmount(units: string, decimals: number): string {
  if (!INTEGER.test(units)) throw new RangeError(`token amount must be an integer string of base units: ${units}`);
  return groupThousands(new ExactDecimal(units).div(new ExactDecimal(10).pow(decimals)).toFixed(decimals));
}

/**
 * Token base units as HKD at the 1:1 peg, two places (rounded down, as the rest of the gateway does).
 *
 * @example tokenUnitsToHkd('1234567', 6) // '1.23'
 */
export function tokenUnitsToHkd(units: string, decimals: number): string {
  if (!INTEGER.test(units)) throw new RangeError(`token amount must be an integer string of base units: ${units}`);
  return groupThousands(tokenUnitsToFiat(BigInt(units), decimals, CURRENCIES.HKD!));
}

/** A decimal HKD string with two places and thousands separators: '1234.5' → '1,234.50'. */
export function formatHkdAmount(amount: string): string {
  return groupThousands(new ExactDecimal(amount).toFixed(2));
}

const HK_TIME = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'Asia/Hong_Kong',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
});

/** `iso` in Hong Kong time: 'YYYY-MM-DD HH:mm' (or with seconds). */
export function hongKongTime(iso: string | Date, withSeconds = false): string {
  const date = typeof iso === 'string' ? new Date(iso) : iso;
  if (Number.isNaN(date.getTime())) throw new RangeError(`not a timestamp: ${String(iso)}`);
  const part: Record<string, string> = {};
  for (const { type, value } of HK_TIME.formatToParts(date)) part[type] = value;
  const minutes = `${part.year}-${part.month}-${part.day} ${part.hour}:${part.minute}`;
  return withSeconds ? `${minutes}:${part.second}` : minutes;
}

// ---------------------------------------------------------------------------------------------
// The inflow chart's buckets: at most MAX_BARS bars, however long the period.

export const MAX_CHART_BARS = 60;

export type ChartGranularity = 'day' | 'week' | 'month' | 'year';

export interface ChartBucket {
  /** First day of the bucket, YYYY-MM-DD (Hong Kong). */
  start: string;
  /** 'YYYY-MM-DD', 'YYYY-MM', 'YYYY' or 'YYYY–YYYY'. */
  label: string;
  /** Sum of the bucket's inflows in base units. */
  token_amount: bigint;
}

const DAY_MS = 86_400_000;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Days since 1970-01-01 of a calendar date (calendar arithmetic only; no time zone involved). */
function dayNumber(date: string): number {
  const match = DATE.exec(date);
  if (!match) throw new RangeError(`daily inflow date must be YYYY-MM-DD: ${date}`);
  return Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) / DAY_MS;
}

function dateOfDay(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/** The Monday of the ISO week holding `day` (1970-01-01 was a Thursday). */
function mondayOf(day: number): number {
  return day - ((((day + 3) % 7) + 7) % 7);
}

function monthIndex(day: number): number {
  const date = new Date(day * DAY_MS);
  return date.getUTCFullYear() * 12 + date.getUTCMonth();
}

/**
 * Groups daily inflows into at most {@link MAX_CHART_BARS} bars covering the whole period (and
 * any inflow outside it, so that none is dropped): days, else weeks (from Monday), else months,
 * else spans of whole years. Sums are exact (bigint).
 */
export function inflowChartBuckets(
  period: { from: string; to: string },
  daily: StatementSummary['daily_inflows'],
  maxBars = MAX_CHART_BARS,
): { granularity: ChartGranularity; buckets: ChartBucket[] } {
  const fromMs = new Date(period.from).getTime();
  const toMs = new Date(period.to).getTime();
  if (Number.isNaN(fromMs) || Number.isNaN(toMs)) throw new RangeError('statement period must be two timestamps');
  let first = dayNumber(hongKongDate(new Date(fromMs)));
  let last = Math.max(first, dayNumber(hongKongDate(new Date(toMs - 1))));
  const amounts = daily.map(({ date, token_amount }) => {
    if (!/^\d+$/.test(token_amount)) throw new RangeError(`daily inflow must be a non-negative integer string of base units: ${token_amount}`);
    const day = dayNumber(date);
    first = Math.min(first, day);
    last = Math.max(last, day);
    return { day, amount: BigInt(token_amount) };
  });

  const firstMonday = mondayOf(first);
  const firstMonth = monthIndex(first);
  const firstYear = new Date(first * DAY_MS).getUTCFullYear();
  const years = new Date(last * DAY_MS).getUTCFullYear() - firstYear + 1;
  const yearSpan = Math.ceil(years / maxBars);

  let granularity: ChartGranularity;
  let count: number;
  let indexOf: (day: number) => number;
  let bucketStart: (index: number) => { start: string; label: string };
  if (last - first + 1 <= maxBars) {
    granularity = 'day';
    count = last - first + 1;
    indexOf = (day) => day - first;
    bucketStart = (index) => ({ start: dateOfDay(first + index), label: dateOfDay(first + index) });
  } else if ((mondayOf(last) - firstMonday) / 7 + 1 <= maxBars) {
    granularity = 'week';
    count = (mondayOf(last) - firstMonday) / 7 + 1;
    indexOf = (day) => (mondayOf(day) - firstMonday) / 7;
    bucketStart = (index) => ({ start: dateOfDay(firstMonday + 7 * index), label: dateOfDay(firstMonday + 7 * index) });
  } else if (monthIndex(last) - firstMonth + 1 <= maxBars) {
    granularity = 'month';
    count = monthIndex(last) - firstMonth + 1;
    indexOf = (day) => monthIndex(day) - firstMonth;
    bucketStart = (index) => {
      const month = firstMonth + index;
      const label = `${String(Math.floor(month / 12)).padStart(4, '0')}-${String((month % 12) + 1).padStart(2, '0')}`;
      return { start: `${label}-01`, label };
    };
  } else {
    granularity = 'year';
    count = Math.ceil(years / yearSpan);
    indexOf = (day) => Math.floor((new Date(day * DAY_MS).getUTCFullYear() - firstYear) / yearSpan);
    bucketStart = (index) => {
      const year = firstYear + index * yearSpan;
      const end = year + yearSpan - 1;
      return { start: `${String(year).padStart(4, '0')}-01-01`, label: yearSpan === 1 ? String(year) : `${year}–${end}` };
    };
  }

  const buckets: ChartBucket[] = Array.from({ length: count }, (_, index) => ({ ...bucketStart(index), token_amount: 0n }));
  for (const { day, amount } of amounts) buckets[indexOf(day)]!.token_amount += amount;
  return { granularity, buckets };
}

// ---------------------------------------------------------------------------------------------
// Page geometry (points).

const { width: PAGE_WIDTH, height: PAGE_HEIGHT } = A4;
const LEFT = 40;
const RIGHT = PAGE_WIDTH - 40;
const WIDTH = RIGHT - LEFT;
const TOP = 40;
/** Content stops here; the footer sits below. */
const BOTTOM = PAGE_HEIGHT - 50;
const FOOTER_Y = PAGE_HEIGHT - 32;

const { muted: MUTED, rule: RULE, shade: SHADE } = PDF_COLORS;
const BAR = '#2563eb';

/** Line table columns; widths add up to {@link WIDTH}. */
const COLUMNS = [
  { key: 'colLine', width: 30, align: 'right' },
  { key: 'colTime', width: 70, align: 'left' },
  { key: 'colType', width: 98, align: 'left' },
  { key: 'colInvoice', width: 42, align: 'right' },
  { key: 'colTransaction', width: 84, align: 'left' },
  { key: 'colHkd', width: 79, align: 'right' },
  { key: 'colToken', width: 112.28, align: 'right' },
] as const satisfies readonly { key: MessageKey; width: number; align: 'left' | 'right' }[];

const CELL_PAD = 4;
const ROW_HEIGHT = 11;
const TABLE_FONT_SIZE = 7;
const TABLE_HEADER_HEIGHT = 22;
/** Write to the output once this much PDF is waiting (a page is 5–15 kB compressed). */
const FLUSH_BYTES = 64 * 1024;

/** `0x1234abcd…9f8e7d` */
function shortHash(hash: string): string {
  return hash.length > 18 ? `${hash.slice(0, 10)}…${hash.slice(-6)}` : hash;
}

// ---------------------------------------------------------------------------------------------

/**
 * Renders a statement as PDF into `out`, page by page, and ends `out`. Resolves when `out` has
 * finished. Lines are read one at a time, so a statement of any length takes the same memory;
 * the output's back-pressure is respected (reading lines pauses while `out` drains).
 *
 * On failure (a line iterator that throws, a line out of order, `out` closing early) it rejects
 * and leaves `out` open and unfinished: the caller destroys it, so a truncated PDF never looks
 * complete.
 *
 * @example
 * res.type('application/pdf');
 * await writeStatementPdf(res, { header, summary, lines: streamLines(), trailer: () => tree.trailer(), lang: 'zh-HK' });
 */
export async function writeStatementPdf(out: Writable, input: StatementPdfInput): Promise<void> {
  const writer = new StatementPdfWriter(out, input);
  await writer.write();
}

class StatementPdfWriter {
  private readonly doc: PDFKit.PDFDocument;
  private readonly order: readonly StatementPdfLanguage[];
  private readonly header: StatementHeader;
  private readonly decimals: number;
  /** The type column's label per line type, made once (it is drawn on every row). */
  private readonly typeLabels: Record<StatementLineType, string>;
  private page = 1;
  private y = TOP;
  private lineCount = 0;

  constructor(
    private readonly out: Writable,
    private readonly input: StatementPdfInput,
  ) {
    this.header = input.header;
    this.decimals = input.header.token.decimals;
    this.order = input.lang === 'en' ? ['en', 'zh-HK'] : ['zh-HK', 'en'];
    this.typeLabels = Object.fromEntries(Object.entries(TYPE_LABELS).map(([type, key]) => [type, this.label(key)])) as Record<StatementLineType, string>;
    const [title] = this.texts('title');
    this.doc = createPdfDocument({
      lang: input.lang,
      info: {
        title: `${title} — ${this.header.clinic.name} — ${hongKongDate(new Date(this.header.period.from))}`,
        subject: this.header.id,
        creationDate: new Date(this.header.generated_at),
      },
      // Page breaks are ours: pdfkit never starts a page on its own.
      margins: { top: TOP, bottom: 0, left: LEFT, right: PAGE_WIDTH - RIGHT },
    });
  }

  async write(): Promise<void> {
    this.drawFooter();
    this.drawHeader();
    this.drawTotals();
    this.drawChart();
    await this.drawLines();
    this.drawVerification();
    this.doc.end();
    for await (const chunk of this.doc) await this.send(chunk as Buffer);
    this.out.end();
    await finished(this.out);
  }

  // --- text -----------------------------------------------------------------------------------

  /** A message in both languages, the chosen one first. */
  private texts(key: MessageKey, params: Record<string, string | number> = {}): string[] {
    return localize(STATEMENT_PDF_MESSAGES[key], this.order, params);
  }

  /** A short label in both languages on one line: "Opening balance 期初結餘". */
  private label(key: MessageKey, params: Record<string, string | number> = {}): string {
    return this.texts(key, params).join(' ');
  }

  /**
   * One line of text on `baseline`, in a box of `width` (cut to fit), aligned left or right.
   * Placing by baseline lines up the embedded and the standard fonts, whose ascenders differ.
   */
  private cell(text: string, x: number, baseline: number, width: number, style: TextStyle, align: 'left' | 'right' = 'left'): void {
    useTextStyle(this.doc, style);
    const fitted = fitText(this.doc, text, width);
    const left = align === 'right' ? x + width - this.doc.widthOfString(fitted) : x;
    this.doc.text(fitted, left, baseline, { lineBreak: false, baseline: 'alphabetic' });
  }

  /** Wrapped text from `x` to the right margin; returns its height. */
  private paragraph(text: string, x: number, y: number, style: TextStyle): number {
    useTextStyle(this.doc, style);
    const width = RIGHT - x;
    const height = this.doc.heightOfString(text, { width });
    this.doc.text(text, x, y, { width });
    return height;
  }

  private paragraphHeight(text: string, x: number, style: TextStyle): number {
    useTextStyle(this.doc, style);
    return this.doc.heightOfString(text, { width: RIGHT - x });
  }

  /**
   * Space-separated words ending at `rightEdge`: numbers in the figures font, words in the text
   * font, so that a page number never becomes one more entry in the embedded font's layout cache.
   */
  private wordsRightAligned(text: string, rightEdge: number, baseline: number, size: number): void {
    const gap = size * 0.3;
    const words = text
      .split(' ')
      .filter((word) => word !== '')
      .map((word) => ({ word, font: /^\d+$/.test(word) ? PDF_FONTS.figures : PDF_FONTS.text }));
    const widths = words.map(({ word, font }) => this.doc.font(font).fontSize(size).widthOfString(word));
    let x = rightEdge - widths.reduce((sum, width) => sum + width, 0) - gap * (words.length - 1);
    words.forEach(({ word, font }, index) => {
      useTextStyle(this.doc, { font, size, color: MUTED });
      this.doc.text(word, x, baseline, { lineBreak: false, baseline: 'alphabetic' });
      x += widths[index]! + gap;
    });
  }

  // --- pages ----------------------------------------------------------------------------------

  private newPage(): void {
    this.doc.addPage();
    this.page += 1;
    this.y = TOP;
    this.drawFooter();
    // A running head, so a loose page still says whose statement it is.
    this.cell(`${this.label('title')} · ${this.header.clinic.name}`, LEFT, this.y + 8, WIDTH * 0.6, { font: PDF_FONTS.text, size: 7.5, color: MUTED });
    this.cell(
      `${hongKongTime(this.header.period.from)} – ${hongKongTime(this.header.period.to)}`,
      LEFT + WIDTH * 0.6,
      this.y + 8,
      WIDTH * 0.4,
      { font: PDF_FONTS.figures, size: 7.5, color: MUTED },
      'right',
    );
    this.y += 18;
  }

  private ensureSpace(height: number): void {
    if (this.y + height > BOTTOM) this.newPage();
  }

  private drawFooter(): void {
    const doc = this.doc;
    doc
      .moveTo(LEFT, FOOTER_Y - 5)
      .lineTo(RIGHT, FOOTER_Y - 5)
      .lineWidth(0.5)
      .strokeColor(RULE)
      .stroke();
    this.cell(this.header.id, LEFT, FOOTER_Y + 7, WIDTH / 2, { font: PDF_FONTS.mono, size: 7, color: MUTED });
    this.wordsRightAligned(this.texts('page', { n: this.page }).join('   '), RIGHT, FOOTER_Y + 7, 7);
  }

  // --- page 1 ---------------------------------------------------------------------------------

  private drawHeader(): void {
    const header = this.header;
    const [first, second] = this.texts('title');
    this.cell(first!, LEFT, this.y + 18, WIDTH, { font: PDF_FONTS.bold, size: 18 });
    const firstWidth = this.doc.widthOfString(first!);
    this.cell(second!, LEFT + firstWidth + 8, this.y + 18, WIDTH - firstWidth - 8, { font: PDF_FONTS.text, size: 12, color: MUTED });
    this.y += 30;
    this.cell(header.clinic.name, LEFT, this.y + 14, WIDTH, { font: PDF_FONTS.bold, size: 14 });
    this.y += 26;

    const labelWidth = 130;
    const valueX = LEFT + labelWidth;
    const row = (key: MessageKey, draw: () => number) => {
      this.cell(this.label(key), LEFT, this.y + 9, labelWidth - 6, { font: PDF_FONTS.text, size: 8, color: MUTED });
      this.y += draw() + 4;
    };
    const noteStyle: TextStyle = { font: PDF_FONTS.text, size: 7.5, color: MUTED };
    const notes = (key: MessageKey, params: Record<string, string | number> = {}): number => {
      let height = 0;
      for (const text of this.texts(key, params)) height += this.paragraph(text, valueX, this.y + 12 + height, noteStyle);
      return 12 + height;
    };

    row('period', () => {
      this.cell(`${hongKongTime(header.period.from)} – ${hongKongTime(header.period.to)}`, valueX, this.y + 9, WIDTH - labelWidth, {
        font: PDF_FONTS.figures,
        size: 9,
      });
      return notes('periodNote');
    });
    row('statementId', () => {
      this.cell(header.id, valueX, this.y + 9, WIDTH - labelWidth, { font: PDF_FONTS.mono, size: 9 });
      return 12;
    });
    row('generated', () => {
      this.cell(hongKongTime(header.generated_at, true), valueX, this.y + 9, WIDTH - labelWidth, { font: PDF_FONTS.figures, size: 9 });
      return 12;
    });
    row('clinicId', () => {
      this.cell(header.clinic.id, valueX, this.y + 9, WIDTH - labelWidth, { font: PDF_FONTS.mono, size: 9 });
      return 12;
    });
    row('settlementWallet', () => {
      this.cell(header.clinic.settlement_address, valueX, this.y + 9, WIDTH - labelWidth, { font: PDF_FONTS.mono, size: 9 });
      return 12;
    });
    row('token', () => {
      this.cell(header.token.address, valueX, this.y + 9, WIDTH - labelWidth, { font: PDF_FONTS.mono, size: 9 });
      return notes('tokenDetails', { symbol: header.token.symbol, chain_id: header.chain_id, decimals: header.token.decimals });
    });
    this.y += 10;
  }

  private heading(key: MessageKey, params: Record<string, string | number> = {}): void {
    this.cell(this.label(key, params), LEFT, this.y + 11, WIDTH, { font: PDF_FONTS.bold, size: 11 });
    this.y += 18;
  }

  private drawTotals(): void {
    const { header, input } = this;
    const symbol = header.token.symbol;
    this.ensureSpace(220);
    this.heading('totals');
    const columns = { label: LEFT + 4, count: LEFT + 270, hkd: LEFT + 340, token: LEFT + 425 };
    const widths = { label: 260, count: 60, hkd: 80, token: WIDTH - 425 - 4 };
    const head: TextStyle = { font: PDF_FONTS.text, size: 7.5, color: MUTED };
    this.cell(this.label('count'), columns.count, this.y + 8, widths.count, head, 'right');
    this.cell(this.label('colHkd'), columns.hkd, this.y + 8, widths.hkd, head, 'right');
    this.cell(this.label('colToken', { symbol }), columns.token, this.y + 8, widths.token, head, 'right');
    this.y += 12;
    this.doc.moveTo(LEFT, this.y).lineTo(RIGHT, this.y).lineWidth(0.5).strokeColor(RULE).stroke();
    this.y += 4;

    const row = (key: MessageKey, count: number | null, hkd: string, units: string, bold: boolean) => {
      this.cell(this.label(key), columns.label, this.y + 9, widths.label, { font: bold ? PDF_FONTS.bold : PDF_FONTS.text, size: 8.5 });
      const figures: TextStyle = { font: bold ? PDF_FONTS.figuresBold : PDF_FONTS.figures, size: 8.5 };
      this.cell(count === null ? '' : String(count), columns.count, this.y + 9, widths.count, figures, 'right');
      this.cell(hkd, columns.hkd, this.y + 9, widths.hkd, figures, 'right');
      this.cell(formatTokenAmount(units, this.decimals), columns.token, this.y + 9, widths.token, figures, 'right');
      this.y += 14;
    };
    row('openingBalance', null, formatHkdAmount(header.opening_balance.hkd_amount), header.opening_balance.token_amount, true);
    for (const [type, key] of TOTAL_ROWS) {
      const total = input.summary.totals[type] ?? { count: 0, token_amount: '0' };
      row(key, total.count, tokenUnitsToHkd(total.token_amount, this.decimals), total.token_amount, false);
    }
    this.doc.moveTo(LEFT, this.y).lineTo(RIGHT, this.y).lineWidth(0.5).strokeColor(RULE).stroke();
    this.y += 4;
    row('closingBalance', null, formatHkdAmount(header.closing_balance.hkd_amount), header.closing_balance.token_amount, true);
    this.y += 2;
    for (const text of this.texts('balanceNote')) this.y += this.paragraph(text, LEFT, this.y, { font: PDF_FONTS.text, size: 7, color: MUTED });
    this.y += 12;
  }

  private drawChart(): void {
    const { granularity, buckets } = inflowChartBuckets(this.header.period, this.input.summary.daily_inflows);
    const titleKey = ({ day: 'inflowsDay', week: 'inflowsWeek', month: 'inflowsMonth', year: 'inflowsYear' } as const)[granularity];
    const chartHeight = 90;
    this.ensureSpace(chartHeight + 70);
    this.heading(titleKey);
    this.cell(this.texts(granularity === 'week' ? 'chartNoteWeek' : 'chartNote').join(' '), LEFT, this.y + 3, WIDTH, {
      font: PDF_FONTS.text,
      size: 7,
      color: MUTED,
    });
    this.y += 10;

    const axisX = LEFT + 58;
    const top = this.y + 4;
    const base = top + chartHeight;
    const doc = this.doc;
    const max = buckets.reduce((m, b) => (b.token_amount > m ? b.token_amount : m), 0n);
    doc.lineWidth(0.5).strokeColor(RULE);
    doc.moveTo(axisX, base).lineTo(RIGHT, base).stroke();
    doc.moveTo(axisX, top).lineTo(axisX, base).stroke();
    const axisStyle: TextStyle = { font: PDF_FONTS.figures, size: 6.5, color: MUTED };
    this.cell('0.00', LEFT, base + 2, 54, axisStyle, 'right');
    if (max === 0n) {
      this.cell(this.label('noInflows'), axisX + 10, top + chartHeight / 2, RIGHT - axisX - 20, { font: PDF_FONTS.text, size: 8, color: MUTED });
    } else {
      this.cell(tokenUnitsToHkd(max.toString(), this.decimals), LEFT, top + 2, 54, axisStyle, 'right');
      doc.moveTo(axisX, top).lineTo(RIGHT, top).dash(2, { space: 2 }).stroke().undash();
      const slot = (RIGHT - axisX - 4) / buckets.length;
      const barWidth = Math.max(1, slot * 0.7);
      doc.fillColor(BAR);
      buckets.forEach((bucket, index) => {
        if (bucket.token_amount === 0n) return;
        // Number only for the height on the page: the ratio is computed exactly in bigint (to a
        // millionth, far finer than a point), nothing drawn as text comes from it, and money
        // never passes through a float.
        const ratio = Number((bucket.token_amount * 1_000_000n) / max) / 1_000_000;
        const height = Math.max(0.5, ratio * chartHeight);
        doc.rect(axisX + 2 + index * slot + (slot - barWidth) / 2, base - height, barWidth, height).fill();
      });
    }
    // Labels under the first, middle and last bars.
    const slot = (RIGHT - axisX - 4) / buckets.length;
    const labelled = [...new Set([0, Math.floor((buckets.length - 1) / 2), buckets.length - 1])];
    for (const index of labelled) {
      const centre = axisX + 2 + index * slot + slot / 2;
      const x = Math.min(Math.max(centre - 30, axisX), RIGHT - 60);
      useTextStyle(this.doc, axisStyle);
      const label = buckets[index]!.label;
      this.cell(label, x + (60 - this.doc.widthOfString(label)) / 2, base + 9, 60, axisStyle);
    }
    this.y = base + 22;
  }

  // --- line table -----------------------------------------------------------------------------

  private drawTableHeader(): void {
    let x = LEFT;
    const symbol = this.header.token.symbol;
    this.doc.rect(LEFT, this.y, WIDTH, TABLE_HEADER_HEIGHT).fill(SHADE);
    for (const column of COLUMNS) {
      const [first, second] = this.texts(column.key, { symbol });
      this.cell(first!, x + CELL_PAD, this.y + 9, column.width - 2 * CELL_PAD, { font: PDF_FONTS.bold, size: 7 }, column.align);
      this.cell(second!, x + CELL_PAD, this.y + 18, column.width - 2 * CELL_PAD, { font: PDF_FONTS.text, size: 6.5, color: MUTED }, column.align);
      x += column.width;
    }
    this.y += TABLE_HEADER_HEIGHT + 2;
  }

  private drawRow(line: StatementLine): void {
    if (line.line % 2 === 0) this.doc.rect(LEFT, this.y - 1.5, WIDTH, ROW_HEIGHT).fill(SHADE);
    const figures: TextStyle = { font: PDF_FONTS.figures, size: TABLE_FONT_SIZE };
    const invoice = 'invoice_number' in line && line.invoice_number !== null ? String(line.invoice_number) : '—';
    const txHash = 'transfer' in line ? (line.transfer?.tx_hash ?? line.refund_transfer?.tx_hash) : undefined;
    const transfer = txHash ? shortHash(txHash) : '—';
    const values: [string, TextStyle][] = [
      [String(line.line), figures],
      [hongKongTime(line.occurred_at), figures],
      [this.typeLabels[line.type], { font: PDF_FONTS.text, size: TABLE_FONT_SIZE }],
      [invoice, figures],
      [transfer, { font: PDF_FONTS.mono, size: TABLE_FONT_SIZE }],
      [formatHkdAmount(line.hkd_amount), figures],
      [formatTokenAmount(line.token_amount, this.decimals), figures],
    ];
    let x = LEFT;
    COLUMNS.forEach((column, index) => {
      const [text, style] = values[index]!;
      this.cell(text, x + CELL_PAD, this.y + 6.5, column.width - 2 * CELL_PAD, style, column.align);
      x += column.width;
    });
    this.y += ROW_HEIGHT;
  }

  private async drawLines(): Promise<void> {
    this.ensureSpace(60);
    this.heading('lineTable');
    this.drawTableHeader();
    let expected = 1;
    for await (const line of this.input.lines) {
      if (line.line !== expected) throw new Error(`statement line ${expected} expected, got line ${line.line}: lines must come in order`);
      if (this.y + ROW_HEIGHT > BOTTOM) {
        this.newPage();
        this.drawTableHeader();
      }
      this.drawRow(line);
      expected += 1;
      if (this.doc.readableLength >= FLUSH_BYTES) await this.flush();
    }
    this.lineCount = expected - 1;
    this.y += 12;
  }

  // --- verification ---------------------------------------------------------------------------

  private drawVerification(): void {
    const trailer = this.input.trailer();
    if (trailer.line_count !== this.lineCount) throw new Error(`statement trailer counts ${trailer.line_count} lines, ${this.lineCount} were rendered`);
    if (!/^[0-9a-f]{64}$/.test(trailer.merkle_root)) throw new Error('statement merkle_root must be 64 lower-case hex characters');
    this.ensureSpace(80);
    this.heading('verification');
    const labelWidth = 120;
    const valueX = LEFT + labelWidth;
    const note: TextStyle = { font: PDF_FONTS.text, size: 8 };
    const mono: TextStyle = { font: PDF_FONTS.mono, size: 8.5 };

    const block = (key: MessageKey | null, parts: ({ text: string; style: TextStyle } | { texts: string[] })[]) => {
      // Keep a block on one page: measure it first.
      let height = 0;
      for (const part of parts) {
        if ('text' in part) height += 12;
        else for (const text of part.texts) height += this.paragraphHeight(text, valueX, note) + 1;
      }
      this.ensureSpace(height + 6);
      if (key) this.cell(this.label(key), LEFT, this.y + 9, labelWidth - 6, { font: PDF_FONTS.text, size: 8, color: MUTED });
      for (const part of parts) {
        if ('text' in part) {
          this.cell(part.text, valueX, this.y + 9, RIGHT - valueX, part.style);
          this.y += 12;
        } else {
          for (const text of part.texts) this.y += this.paragraph(text, valueX, this.y, note) + 1;
        }
      }
      this.y += 6;
    };

    block('lineCount', [{ text: String(trailer.line_count), style: { font: PDF_FONTS.figures, size: 9 } }]);
    block('merkleRoot', [
      { text: trailer.merkle_root, style: { font: PDF_FONTS.mono, size: 9 } },
      { texts: this.texts('merkleMethod', { tree: trailer.merkle.tree, hash: trailer.merkle.hash }) },
    ]);
    const anchor = trailer.anchor;
    block(
      'anchor',
      anchor
        ? [
            { texts: this.texts('anchorDetails', { chain_id: anchor.chain_id, block_number: anchor.block_number, from_address: anchor.from_address }) },
            { text: anchor.tx_hash, style: mono },
          ]
        : [{ texts: this.texts('notAnchored') }],
    );
    const head = this.header.audit_log_head;
    block(
      'auditHead',
      head ? [{ texts: this.texts('auditHeadDetails', { seq: head.seq }) }, { text: head.row_hash, style: mono }] : [{ texts: this.texts('auditHeadNone') }],
    );
    block('howToVerify', [{ texts: this.texts('verifyStep1') }]);
    block(null, [{ texts: this.texts('verifyStep2') }, { text: STATEMENT_PDF_COMMANDS.verify, style: mono }]);
    block(null, [{ texts: this.texts('verifyStep3') }, { text: STATEMENT_PDF_COMMANDS.proof.replace('{id}', this.header.id), style: mono }]);

    this.ensureSpace(20);
    this.y += 6;
    useTextStyle(this.doc, { font: PDF_FONTS.text, size: 8, color: MUTED });
    const end = `— ${this.label('endOfStatement')} —`;
    this.cell(end, LEFT + (WIDTH - this.doc.widthOfString(end)) / 2, this.y + 8, WIDTH, { font: PDF_FONTS.text, size: 8, color: MUTED });
  }

  // --- output ---------------------------------------------------------------------------------

  /** Moves what pdfkit has produced so far into `out`, waiting whenever `out` is full. */
  private async flush(): Promise<void> {
    for (let chunk: Buffer | null = this.doc.read(); chunk !== null; chunk = this.doc.read()) await this.send(chunk);
  }

  private async send(chunk: Buffer): Promise<void> {
    await writeStreamed(this.out, chunk);
  }
}
