import { Writable } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { collector, readPdf } from '../../test/support/pdf.js';
import { createPdfDocument, localize, PDF_FONTS } from './pdfFonts.js';
import type { EntryLine, EntryLineType, StatementHeader, StatementLine, StatementTrailer } from './statementDocument.js';
import {
  formatHkdAmount,
  formatTokenAmount,
  inflowChartBuckets,
  STATEMENT_PDF_COMMANDS,
  STATEMENT_PDF_MESSAGES,
  type StatementPdfInput,
  type StatementSummary,
  tokenUnitsToHkd,
  writeStatementPdf,
} from './statementPdf.js';

const ROOT = 'c0ffee'.padEnd(64, '0123456789abcdef').slice(0, 64);
const ANCHOR_TX = `0x${'ab'.repeat(32)}`;
const AUDIT_HASH = 'd4'.repeat(32);
const CLINIC_NAME = 'Happy Valley Family Clinic 跑馬地家庭診所';
const ZERO_BALANCES = { deposits: '0', settlement: '0', patient_payments: '0', written_off: '0', unexpected_outflows: '0' };

function header(overrides: Partial<StatementHeader> = {}): StatementHeader {
  return {
    object: 'statement',
    id: 'stmt_01JTESTSTATEMENT',
    version: 1,
    clinic: { id: 'clin_01JTESTCLINIC', name: CLINIC_NAME, settlement_address: '0x1111111111111111111111111111111111111111' },
    period: { from: '2026-03-31T16:00:00.000Z', to: '2026-04-30T16:00:00.000Z' },
    generated_at: '2026-05-01T01:02:03.000Z',
    currency: 'HKD',
    asset: '31337:0x5fbdb2315678afecb367f032d93f642f64180aa3',
    chain_id: 31337,
    token: { address: '0x5FbDB2315678afecb367f032d93F642f64180aa3', symbol: 'tHKD', decimals: 6 },
    opening_balance: {
      token_amount: '5000000000',
      hkd_amount: '5000.00',
      accounts: { ...ZERO_BALANCES, deposits: '5000000000', patient_payments: '-5000000000' },
    },
    closing_balance: {
      token_amount: '6163240000',
      hkd_amount: '6163.24',
      accounts: { ...ZERO_BALANCES, settlement: '6163240000', patient_payments: '-6163240000' },
    },
    audit_log_head: { seq: '4242', row_hash: AUDIT_HASH },
    ...overrides,
  };
}

function txHash(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}${'e'.repeat(48)}${n.toString(16).padStart(8, '0')}`;
}

function entry(line: number, type: EntryLineType, invoiceNumber: number | null, hkd: string, units: string, withTransfer: boolean): EntryLine {
  return {
    line,
    occurred_at: new Date(Date.UTC(2026, 3, 1 + (line % 29), 2 + (line % 20), line % 60)).toISOString(),
    type,
    entry_id: `je_${line}`,
    invoice_id: invoiceNumber === null ? null : `inv_${invoiceNumber}`,
    invoice_number: invoiceNumber,
    asset: '31337:0x5fbdb2315678afecb367f032d93f642f64180aa3',
    postings: { deposits: units, patient_payments: `-${units}` },
    token_amount: units,
    hkd_amount: hkd,
    reverses_entry_id: type === 'reversal' ? 'je_3' : null,
    resolution_id: null,
    refund_transfer: type === 'refund' && withTransfer ? { tx_hash: txHash(line), log_index: 1 } : null,
    evidence: type === 'payment' && withTransfer ? `/v1/payments/pay_${line}/evidence` : null,
    transfer:
      withTransfer && type !== 'refund'
        ? {
            transfer_id: `tr_${line}`,
            chain_id: 31337,
            tx_hash: txHash(line),
            log_index: 0,
            block_number: String(100 + line),
            block_hash: `0x${'bb'.repeat(32)}`,
            block_time: '2026-04-02T02:00:00.000Z',
            token_address: '0x5fbdb2315678afecb367f032d93f642f64180aa3',
            from_address: '0x2222222222222222222222222222222222222222',
            to_address: '0x3333333333333333333333333333333333333333',
            amount: units,
            confirmations: 12,
          }
        : null,
  };
}

/** A small statement with every line type; amounts chosen so that each is distinct. */
function smallLines(): StatementLine[] {
  const invoice = (line: number, number: number, hkd: string, units: string): StatementLine => ({
    line,
    occurred_at: '2026-04-02T01:00:00.000Z',
    type: 'invoice',
    invoice_id: `inv_${number}`,
    invoice_number: number,
    currency: 'HKD',
    hkd_amount: hkd,
    token_amount: units,
    asset: '31337:0x5fbdb2315678afecb367f032d93f642f64180aa3',
    expires_at: '2026-04-03T01:00:00.000Z',
  });
  return [
    {
      line: 1,
      occurred_at: '2026-03-31T16:00:00.000Z',
      type: 'opening_balance',
      clinic_id: 'clin_01JTESTCLINIC',
      asset: 'a',
      balances: ZERO_BALANCES,
      token_amount: '5000000000',
      hkd_amount: '5000.00',
    },
    invoice(2, 1001, '350.00', '350000000'),
    entry(3, 'payment', 1001, '350.00', '350000000', true),
    invoice(4, 1002, '1280.50', '1280500000'),
    entry(5, 'payment', 1002, '1280.50', '1280500000', true),
    entry(6, 'forward', 1001, '350.00', '350000000', true),
    entry(7, 'refund', 1002, '80.50', '80500000', true),
    entry(8, 'application', 1003, '20.75', '20750000', false),
    entry(9, 'write_off', 1004, '5.25', '5250000', false),
    entry(10, 'reversal', 1005, '99.99', '99990000', false),
    entry(11, 'outflow', 1006, '12.34', '12340000', true),
    {
      line: 12,
      occurred_at: '2026-04-30T16:00:00.000Z',
      type: 'closing_balance',
      clinic_id: 'clin_01JTESTCLINIC',
      asset: 'a',
      balances: ZERO_BALANCES,
      token_amount: '6163240000',
      hkd_amount: '6163.24',
      audit_log_head: { seq: '4242', row_hash: AUDIT_HASH },
    },
  ];
}

function trailer(lineCount: number, anchored = true): StatementTrailer {
  return {
    line_count: lineCount,
    merkle_root: ROOT,
    merkle: { tree: 'RFC 6962', hash: 'SHA-256', leaf: 'RFC 8785 JSON of the line' },
    anchor: anchored ? { chain_id: 31337, tx_hash: ANCHOR_TX, block_number: '777', from_address: '0x4444444444444444444444444444444444444444' } : null,
  };
}

const SMALL_SUMMARY: StatementSummary = {
  totals: {
    invoice: { count: 2, token_amount: '1630500000' },
    payment: { count: 2, token_amount: '1630500000' },
    forward: { count: 1, token_amount: '350000000' },
    refund: { count: 1, token_amount: '80500000' },
    application: { count: 1, token_amount: '20750000' },
    write_off: { count: 1, token_amount: '5250000' },
    reversal: { count: 1, token_amount: '99990000' },
    outflow: { count: 1, token_amount: '12340000' },
  },
  daily_inflows: [
    { date: '2026-04-04', token_amount: '350000000' },
    { date: '2026-04-06', token_amount: '1280500000' },
  ],
};

async function* streamOf<T>(items: Iterable<T>): AsyncGenerator<T> {
  for (const item of items) yield item;
}

async function render(input: StatementPdfInput): Promise<Buffer> {
  const { sink, bytes } = collector();
  await writeStatementPdf(sink, input);
  return bytes();
}

/** `global.gc` without starting node with --expose-gc. */
function exposeGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

describe('pdfFonts', () => {
  it('embeds one font that draws Latin, Traditional and Simplified Chinese', async () => {
    const doc = createPdfDocument({ lang: 'zh-HK', info: { title: 'fonts' } });
    const { sink, bytes } = collector();
    doc.pipe(sink);
    const samples = ['Medical receipt 醫療收據', '医疗收据 (zh-CN)', '期初結餘 期末结余 港元 診所'];
    for (const [index, sample] of samples.entries())
      doc
        .font(index === 1 ? PDF_FONTS.bold : PDF_FONTS.text)
        .fontSize(14)
        .text(sample, 40, 40 + index * 30);
    doc.end();
    await new Promise((resolve) => sink.on('finish', resolve));
    const pdf = bytes();
    const { text } = await readPdf(pdf);
    // A glyph the font lacks would come back as U+0000 (pdfkit maps .notdef to it), not as the character.
    for (const sample of samples) expect(text).toContain(sample);
    expect(text).not.toContain('\u0000');
    expect(pdf.toString('latin1')).toMatch(/\/BaseFont \/[A-Z]{6}\+NotoSansSC-Regular/);
    expect(pdf.toString('latin1')).toMatch(/\/BaseFont \/[A-Z]{6}\+NotoSansSC-Bold/);
    // Subset: a few glyphs, not the 10 MB font.
    expect(pdf.length).toBeLessThan(100_000);
  });

  it('localize fills placeholders in each language, in the order asked', () => {
    expect(localize({ en: 'Page {n}', 'zh-HK': '第 {n} 頁', 'zh-CN': '第 {n} 页' }, ['zh-CN', 'en'], { n: 3 })).toEqual(['第 3 页', 'Page 3']);
    expect(localize({ en: 'Hello {missing}' }, ['en'])).toEqual(['Hello {missing}']);
  });

  it('draws every text of the statement catalogue in both languages (no missing glyph)', async () => {
    const doc = createPdfDocument({ lang: 'en', info: { title: 'catalogue' } });
    const { sink, bytes } = collector();
    doc.pipe(sink);
    const texts = Object.values(STATEMENT_PDF_MESSAGES).flatMap((message) => [message.en, message['zh-HK']]);
    doc.font(PDF_FONTS.text).fontSize(6);
    for (const text of texts) doc.text(text, { width: 515 });
    doc.end();
    await new Promise((resolve) => sink.on('finish', resolve));
    const { text } = await readPdf(bytes());
    const flat = text.replace(/\s+/g, '');
    for (const expected of texts) expect(flat).toContain(expected.replace(/\s+/g, ''));
    expect(text).not.toContain('\u0000');
  });
});

describe('statement amounts', () => {
  it('formats base units exactly, with separators, never through a float', () => {
    expect(formatTokenAmount('1234500000', 6)).toBe('1,234.500000');
    expect(formatTokenAmount('0', 6)).toBe('0.000000');
    expect(formatTokenAmount('-5', 2)).toBe('-0.05');
    // 30 significant digits: a float (or decimal.js at its default precision of 20) would round this.
    expect(formatTokenAmount('123456789012345678901234567891', 6)).toBe('123,456,789,012,345,678,901,234.567891');
    expect(tokenUnitsToHkd('1234567', 6)).toBe('1.23');
    expect(tokenUnitsToHkd('99999999999999999999999999', 6)).toBe('99,999,999,999,999,999,999.99');
    expect(formatHkdAmount('1280.5')).toBe('1,280.50');
    expect(() => formatTokenAmount('1.5', 6)).toThrow(RangeError);
  });
});

describe('inflowChartBuckets', () => {
  const april = { from: '2026-03-31T16:00:00.000Z', to: '2026-04-30T16:00:00.000Z' };

  it('uses one bar per Hong Kong day for a month and keeps every amount', () => {
    const { granularity, buckets } = inflowChartBuckets(april, [
      { date: '2026-04-01', token_amount: '5' },
      { date: '2026-04-30', token_amount: '7' },
      { date: '2026-04-30', token_amount: '1' },
    ]);
    expect(granularity).toBe('day');
    expect(buckets).toHaveLength(30);
    expect(buckets[0]).toEqual({ start: '2026-04-01', label: '2026-04-01', token_amount: 5n });
    expect(buckets[29]).toEqual({ start: '2026-04-30', label: '2026-04-30', token_amount: 8n });
  });

  it('groups by week (from Monday), then month, then spans of years, never over 60 bars', () => {
    const quarter = inflowChartBuckets({ from: '2026-01-01T00:00:00+08:00', to: '2026-04-01T00:00:00+08:00' }, [
      { date: '2026-01-01', token_amount: '1' }, // a Thursday: week of Monday 2025-12-29
      { date: '2026-01-04', token_amount: '2' }, // Sunday, same week
      { date: '2026-01-05', token_amount: '4' }, // next Monday
    ]);
    expect(quarter.granularity).toBe('week');
    expect(quarter.buckets[0]).toEqual({ start: '2025-12-29', label: '2025-12-29', token_amount: 3n });
    expect(quarter.buckets[1]!.token_amount).toBe(4n);
    expect(quarter.buckets.length).toBeLessThanOrEqual(60);

    const threeYears = inflowChartBuckets({ from: '2024-01-01T00:00:00+08:00', to: '2027-01-01T00:00:00+08:00' }, [{ date: '2026-12-31', token_amount: '9' }]);
    expect(threeYears.granularity).toBe('month');
    expect(threeYears.buckets).toHaveLength(36);
    expect(threeYears.buckets[35]).toEqual({ start: '2026-12-01', label: '2026-12', token_amount: 9n });

    const century = inflowChartBuckets({ from: '1950-01-01T00:00:00+08:00', to: '2050-01-01T00:00:00+08:00' }, [
      { date: '1950-06-01', token_amount: '1' },
      { date: '2049-12-31', token_amount: '2' },
    ]);
    expect(century.granularity).toBe('year');
    expect(century.buckets.length).toBeLessThanOrEqual(60);
    expect(century.buckets[0]!.label).toBe('1950–1951');
    expect(century.buckets.reduce((sum, bucket) => sum + bucket.token_amount, 0n)).toBe(3n);
  });

  it('widens the chart to an inflow outside the period instead of dropping it', () => {
    const { buckets } = inflowChartBuckets(april, [{ date: '2026-05-02', token_amount: '3' }]);
    expect(buckets.at(-1)).toEqual({ start: '2026-05-02', label: '2026-05-02', token_amount: 3n });
  });

  it('refuses amounts that are not non-negative base units', () => {
    expect(() => inflowChartBuckets(april, [{ date: '2026-04-02', token_amount: '-1' }])).toThrow(RangeError);
    expect(() => inflowChartBuckets(april, [{ date: '2026-04-02', token_amount: '1.5' }])).toThrow(RangeError);
  });
});

describe('writeStatementPdf', () => {
  it('shows the clinic, totals, every line and the Merkle root with how to verify it', async () => {
    const lines = smallLines();
    let linesDone = false;
    async function* generate() {
      yield* streamOf(lines);
      linesDone = true;
    }
    const pdf = await render({
      header: header(),
      summary: SMALL_SUMMARY,
      lines: generate(),
      trailer: () => {
        // The trailer is asked for only once every line has been read.
        expect(linesDone).toBe(true);
        return trailer(lines.length);
      },
      lang: 'en',
    });
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    const { text } = await readPdf(pdf);

    expect(text).toContain(CLINIC_NAME);
    expect(text).toContain('Clinic statement 診所結單');
    expect(text).toContain('stmt_01JTESTSTATEMENT');
    // Period and generation time in Hong Kong time.
    expect(text).toContain('2026-04-01 00:00 – 2026-05-01 00:00');
    expect(text).toContain('2026-05-01 09:02:03');
    // Bilingual labels, English first.
    for (const label of [
      'Opening balance 期初結餘',
      'Closing balance 期末結餘',
      'Payments received 已收款項',
      'Refunds 退款',
      'Daily inflows 每日流入',
      'Merkle root 默克爾根',
      'How to verify 如何驗證',
    ]) {
      expect(text).toContain(label);
    }
    // Totals: opening, a movement, closing (HKD and token).
    expect(text).toContain('5,000.00');
    expect(text).toContain('5,000.000000');
    expect(text).toContain('1,630.50');
    expect(text).toContain('1,630.500000');
    expect(text).toContain('6,163.24');
    expect(text).toContain('6,163.240000');
    // Every line: its invoice, amounts and shortened transaction hash.
    for (const line of lines) {
      if ('invoice_number' in line && line.invoice_number !== null) expect(text).toContain(String(line.invoice_number));
      expect(text).toContain(formatHkdAmount(line.hkd_amount));
      expect(text).toContain(formatTokenAmount(line.token_amount, 6));
      const hash = 'transfer' in line ? (line.transfer?.tx_hash ?? line.refund_transfer?.tx_hash) : undefined;
      if (hash) expect(text).toContain(`${hash.slice(0, 10)}…${hash.slice(-6)}`);
    }
    expect(text).toContain('Write-off 撇賬');
    expect(text).toContain('Reversal 沖銷');
    // The root in full, the anchor, the audit-log head and the verification commands.
    expect(text).toContain(ROOT);
    expect(text).toContain(ANCHOR_TX);
    expect(text).toContain(AUDIT_HASH);
    expect(text).toContain(STATEMENT_PDF_COMMANDS.verify);
    expect(text).toContain('GET /v1/statements/stmt_01JTESTSTATEMENT/proof?line=N');
    expect(text).toContain('Page 1');
  });

  it("puts the Chinese label first for lang 'zh-HK'", async () => {
    const lines = smallLines();
    const pdf = await render({ header: header(), summary: SMALL_SUMMARY, lines, trailer: () => trailer(lines.length, false), lang: 'zh-HK' });
    const { text } = await readPdf(pdf);
    expect(text).toContain('期初結餘 Opening balance');
    expect(text).toContain('診所結單 Clinic statement');
    expect(text).toContain('默克爾根 Merkle root');
    expect(text).not.toContain('Opening balance 期初結餘');
    expect(text.indexOf('此根未有於鏈上錨定。')).toBeLessThan(text.indexOf('The root has not been anchored on a chain.'));
    expect(text.indexOf('此根未有於鏈上錨定。')).toBeGreaterThan(-1);
    expect(text).toContain(ROOT);
  });

  it('renders 20,000 lines on hundreds of pages with flat memory', async () => {
    const gc = exposeGc();
    const total = 20_000;
    const samples = new Map<number, number>();
    const heapAfterGc = (): number => {
      gc();
      return process.memoryUsage().heapUsed;
    };
    function* generate(): Generator<StatementLine> {
      const [opening] = smallLines();
      yield opening!;
      for (let line = 2; line < total; line++) {
        if (line % 2_000 === 0) samples.set(line, heapAfterGc());
        yield entry(
          line,
          'payment',
          10_000 + line,
          `${line}.${String(line % 100).padStart(2, '0')}`,
          `${line}${String(line % 100).padStart(2, '0')}0000`,
          true,
        );
      }
      yield { ...smallLines().at(-1)!, line: total };
    }
    const pdf = await render({ header: header(), summary: SMALL_SUMMARY, lines: generate(), trailer: () => trailer(total), lang: 'en' });

    // Heap after the first 2,000 lines against every later sample: what is drawn is let go.
    // (Keeping the lines, or letting the embedded font cache every amount, costs 30–190 MB here.)
    const baseline = samples.get(2_000)!;
    const peakGrowth = Math.max(...samples.values()) - baseline;
    expect(samples.size).toBe(9);
    expect(peakGrowth).toBeLessThan(8 * 1024 * 1024);

    const lastPages = await readPdf(pdf, [1]);
    expect(lastPages.numPages).toBeGreaterThan(300);
    const { text } = await readPdf(pdf, [lastPages.numPages - 1, lastPages.numPages]);
    expect(text).toContain(ROOT);
    expect(text).toContain(`Page ${lastPages.numPages}`);
    expect(text).toContain('19,999.99');
  }, 60_000);

  it('stops reading lines while the output is full, and finishes once it drains', async () => {
    const pending: (() => void)[] = [];
    let open = false;
    const chunks: Buffer[] = [];
    const sink = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk);
        if (open) callback();
        else pending.push(callback);
      },
    });
    const total = 3_000;
    let read = 0;
    function* generate(): Generator<StatementLine> {
      const [opening] = smallLines();
      read += 1;
      yield opening!;
      for (let line = 2; line < total; line++) {
        read += 1;
        yield entry(line, 'payment', line, '1.00', '1000000', true);
      }
      read += 1;
      yield { ...smallLines().at(-1)!, line: total };
    }
    const writing = writeStatementPdf(sink, { header: header(), summary: SMALL_SUMMARY, lines: generate(), trailer: () => trailer(total), lang: 'en' });
    // Let every queued task run: with the output blocked, the writer must be waiting, not reading.
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(pending.length).toBeGreaterThan(0);
    expect(read).toBeGreaterThan(0);
    expect(read).toBeLessThan(total);
    const readWhileBlocked = read;
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(read).toBe(readWhileBlocked);

    open = true;
    for (const callback of pending.splice(0)) callback();
    await writing;
    expect(read).toBe(total);
    const { numPages } = await readPdf(Buffer.concat(chunks), [1]);
    expect(numPages).toBeGreaterThan(40);
  });

  it('rejects, and leaves the output unfinished, when a line is out of order or the count is wrong', async () => {
    const outOfOrder = smallLines();
    [outOfOrder[3], outOfOrder[4]] = [outOfOrder[4]!, outOfOrder[3]!];
    const first = collector();
    await expect(
      writeStatementPdf(first.sink, { header: header(), summary: SMALL_SUMMARY, lines: outOfOrder, trailer: () => trailer(12), lang: 'en' }),
    ).rejects.toThrow(/line 4 expected, got line 5/);
    expect(first.sink.writableEnded).toBe(false);

    const second = collector();
    await expect(
      writeStatementPdf(second.sink, { header: header(), summary: SMALL_SUMMARY, lines: smallLines(), trailer: () => trailer(13), lang: 'en' }),
    ).rejects.toThrow(/counts 13 lines, 12 were rendered/);
    expect(second.sink.writableEnded).toBe(false);
  });

  it('passes on the error of a failing line source', async () => {
    async function* failing(): AsyncGenerator<StatementLine> {
      yield smallLines()[0]!;
      throw new Error('database went away');
    }
    const { sink } = collector();
    await expect(
      writeStatementPdf(sink, { header: header(), summary: SMALL_SUMMARY, lines: failing(), trailer: () => trailer(1), lang: 'en' }),
    ).rejects.toThrow('database went away');
    expect(sink.writableEnded).toBe(false);
  });

  it('says so when no payment came in, and shows zero totals', async () => {
    const lines = [smallLines()[0]!, { ...smallLines().at(-1)!, line: 2, token_amount: '5000000000', hkd_amount: '5000.00' }];
    const pdf = await render({
      header: header({ closing_balance: header().opening_balance }),
      summary: { totals: {}, daily_inflows: [] },
      lines,
      trailer: () => trailer(2, false),
      lang: 'en',
    });
    const { text } = await readPdf(pdf);
    expect(text).toContain('No payments were received in this period. 本期間沒有收到款項。');
    expect(text).toContain('The root has not been anchored on a chain.');
    expect(text).toMatch(/Payments received 已收款項 0 0\.00 0\.000000/);
  });
});
