/**
 * The FHIR builders against the R4 definitions (npm `fhir`, `errorOnUnexpected`), plus the
 * checks that validator skips: its primitive patterns are unanchored (an id with `_` passes)
 * and it has no `instant` check, so the R4 patterns are applied here too, anchored, as is the
 * rule that an extension has a value or nested extensions, not both.
 */

import { describe, expect, it } from 'vitest';
import { expectValidR4, r4Problems } from '../../test/support/fhirValidation.js';
import { hongKongDate } from '../domain/hongKongDate.js';
import type { InvoiceStatus } from '../domain/invoiceStatus.js';
import {
  FHIR_EXTENSION,
  FHIR_IDENTIFIER,
  type FhirInvoiceRow,
  type FhirObject,
  type FhirTransactionTransfer,
  type FhirValue,
  fhirBundleClosing,
  fhirBundleEntry,
  fhirBundleOpening,
  fhirDecimal,
  fhirInvoice,
  fhirJson,
  fhirMoney,
  fhirPaymentReconciliation,
  invoiceIdFromFhir,
  txHashFromFhir,
} from './fhir.js';
import type { EntryLine, StatementHeader, StatementLine, StatementTrailer, TransferFacts } from './statementDocument.js';

// ---------------------------------------------------------------------------------------------
// R4 validation
// ---------------------------------------------------------------------------------------------

function extensionsOf(element: FhirValue, url: string): FhirObject[] {
  return ((element as FhirObject).extension as FhirObject[] | undefined)?.filter((one) => one.url === url) ?? [];
}
function extensionValue(element: FhirValue, url: string): FhirValue | undefined {
  const [one] = extensionsOf(element, url);
  return one ? Object.entries(one).find(([key]) => key.startsWith('value'))?.[1] : undefined;
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

const CLINIC = { id: 'clin_0123456789abcdef01234567', name: 'Harbour <Clinic> & Co' };
const OTHER_CLINIC = { id: 'clin_fedcba9876543210fedcba98', name: 'Kowloon Clinic' };
const TOKEN = '0x5fbdb2315678afecb367f032d93f642f64180aa3';
const DEPOSIT = '0x1111111111111111111111111111111111111111';
const SETTLEMENT = '0x2222222222222222222222222222222222222222';
const PAYER = '0x9999999999999999999999999999999999999999';
const TX = `0x${'ab'.repeat(32)}`;
const BLOCK_HASH = `0x${'cd'.repeat(32)}`;

function invoiceRow(overrides: Partial<FhirInvoiceRow> = {}): FhirInvoiceRow {
  return {
    id: 'inv_00112233445566778899aabb',
    clinic_id: CLINIC.id,
    number: 42,
    status: 'paid',
    currency: 'HKD',
    amount_due: '700.10',
    token_chain_id: 31337,
    token_address: TOKEN,
    token_symbol: 'tHKD',
    token_decimals: 6,
    token_amount_due: '700100000',
    token_amount_paid: '700100000',
    deposit_address: DEPOSIT,
    settlement_address: SETTLEMENT,
    patient_ref: 'MRN-7781',
    line_items: [
      { description: 'Consultation', quantity: 1, unit_amount: '350.00' },
      { description: 'Blood test', quantity: 3, unit_amount: '116.70' },
    ],
    expires_at: new Date('2026-03-01T10:00:00.000Z'),
    created_at: new Date('2026-03-01T09:00:00.000Z'),
    paid_at: new Date('2026-03-01T09:05:00.000Z'),
    voided_at: null,
    ...overrides,
  };
}

const NOW = new Date('2026-03-01T09:30:00.000Z');

function transactionTransfer(
  overrides: Partial<FhirTransactionTransfer> & { invoiceId: string; number: number; clinic?: { id: string; name: string } },
): FhirTransactionTransfer {
  const { invoiceId, number, clinic = CLINIC, ...rest } = overrides;
  return {
    id: `pay_${invoiceId.slice(4)}`,
    kind: 'forward',
    tx_hash: TX,
    log_index: 0,
    chain_id: 31337,
    block_number: '1234',
    block_hash: BLOCK_HASH,
    block_time: new Date('2026-03-01T20:00:00.000Z'),
    token_address: TOKEN,
    amount: '12340000',
    flag: null,
    invoice: { id: invoiceId, number, currency: 'HKD', token_symbol: 'tHKD', token_decimals: 6, deposit_address: DEPOSIT, settlement_address: SETTLEMENT },
    clinic,
    ...rest,
  };
}

// ---------------------------------------------------------------------------------------------
// Money and ids
// ---------------------------------------------------------------------------------------------

describe('FHIR decimals', () => {
  it('are JSON numbers with exactly the amount, written with the currency minor units', () => {
    for (const [text, written] of [
      ['0.10', '0.10'],
      ['0.01', '0.01'],
      ['350.00', '350.00'],
      ['123456789.99', '123456789.99'],
      ['999999999.99', '999999999.99'],
      ['1000000.5', '1000000.50'],
    ] as const) {
      const money = fhirMoney(text, 'HKD');
      expect(typeof money.value).toBe('number');
      expect(String(money.value)).toBe(text.replace(/\.?0+$/, ''));
      const json = fhirJson(money);
      expect(json).toBe(`{"value":${written},"currency":"HKD"}`);
      expect(JSON.parse(json)).toEqual({ value: Number(text), currency: 'HKD' });
    }
  });

  it('refuse a value no JSON number holds exactly, and a currency FHIR cannot name', () => {
    expect(() => fhirDecimal('0.12345678901234567891')).toThrow(RangeError);
    expect(() => fhirDecimal('12345678901234567.89')).toThrow(RangeError);
    expect(() => fhirMoney('1.00', 'XYZ')).toThrow(RangeError);
    // More places than the currency has are never rounded away.
    expect(() => fhirJson({ value: 0.125, currency: 'HKD' })).toThrow(RangeError);
  });

  it('escape markup in text the way the API does, and read back unchanged', () => {
    const text = fhirJson({ display: CLINIC.name });
    expect(text).not.toMatch(/[<>&]/);
    expect(JSON.parse(text)).toEqual({ display: CLINIC.name });
  });
});

describe('ids', () => {
  it('accept both invoice id forms and tx hashes with or without 0x', () => {
    expect(invoiceIdFromFhir('inv-00112233445566778899aabb')).toBe('inv_00112233445566778899aabb');
    expect(invoiceIdFromFhir('inv_00112233445566778899aabb')).toBe('inv_00112233445566778899aabb');
    expect(invoiceIdFromFhir('inv_0011')).toBeUndefined();
    expect(txHashFromFhir('AB'.repeat(32))).toBe(TX);
    expect(txHashFromFhir(TX)).toBe(TX);
    expect(txHashFromFhir(`0x${'ab'.repeat(31)}`)).toBeUndefined();
  });

  it('put dates in Hong Kong time', () => {
    expect(hongKongDate(new Date('2026-03-01T15:59:59.999Z'))).toBe('2026-03-01');
    expect(hongKongDate(new Date('2026-03-01T16:00:00.000Z'))).toBe('2026-03-02');
  });
});

// ---------------------------------------------------------------------------------------------
// Invoice
// ---------------------------------------------------------------------------------------------

describe('fhirInvoice', () => {
  const payment = {
    kind: 'payment' as const,
    tx_hash: TX,
    log_index: 0,
    block_number: '1234',
    block_time: new Date('2026-03-01T09:04:00.000Z'),
    amount: '700100000',
  };
  const forward = { ...payment, kind: 'forward' as const, tx_hash: `0x${'ef'.repeat(32)}`, log_index: 3, block_number: '1240' };

  it('is a valid R4 Invoice with HKD totals, the patient only as an opaque reference, and the chain in extensions', () => {
    const resource = fhirInvoice({ invoice: invoiceRow(), clinic: CLINIC, transfers: [payment, forward], now: NOW });
    expectValidR4(resource);
    expect(resource).toMatchObject({
      resourceType: 'Invoice',
      id: 'inv-00112233445566778899aabb',
      identifier: [
        { system: FHIR_IDENTIFIER.invoice, value: 'inv_00112233445566778899aabb' },
        { system: FHIR_IDENTIFIER.invoiceNumber(CLINIC.id), value: '42' },
      ],
      status: 'balanced',
      subject: { type: 'Patient', identifier: { system: FHIR_IDENTIFIER.patientRef(CLINIC.id), value: 'MRN-7781' } },
      issuer: { type: 'Organization', identifier: { system: FHIR_IDENTIFIER.clinic, value: CLINIC.id }, display: CLINIC.name },
      date: '2026-03-01T09:00:00.000Z',
      totalNet: { value: 700.1, currency: 'HKD' },
      totalGross: { value: 700.1, currency: 'HKD' },
      lineItem: [
        {
          sequence: 1,
          chargeItemCodeableConcept: { text: 'Consultation' },
          priceComponent: [{ type: 'base', factor: 1, amount: { value: 350, currency: 'HKD' } }],
        },
        {
          sequence: 2,
          chargeItemCodeableConcept: { text: 'Blood test' },
          priceComponent: [{ type: 'base', factor: 3, amount: { value: 350.1, currency: 'HKD' } }],
        },
      ],
    });
    expect(resource).not.toHaveProperty('cancelledReason');
    const text = fhirJson(resource);
    expect(text).toContain('"totalGross":{"value":700.10,"currency":"HKD"}');
    expect(text).toContain('"amount":{"value":350.10,"currency":"HKD"}');
    expect(extensionValue(resource, FHIR_EXTENSION.chainId)).toBe('31337');
    expect(extensionValue(resource, FHIR_EXTENSION.tokenAddress)).toBe('0x5FbDB2315678afecb367f032d93F642f64180aa3');
    expect(extensionValue(resource, FHIR_EXTENSION.tokenAmountDue)).toBe('700100000');
    expect(extensionValue(resource, FHIR_EXTENSION.amountPaid)).toEqual({ value: 700.1, currency: 'HKD' });
    expect(extensionValue(resource, FHIR_EXTENSION.invoiceStatus)).toBe('paid');
    const transfers = extensionsOf(resource, FHIR_EXTENSION.chainTransfer);
    expect(
      transfers.map((one) => [
        extensionValue(one, FHIR_EXTENSION.transferKind),
        extensionValue(one, FHIR_EXTENSION.txHash),
        extensionValue(one, FHIR_EXTENSION.logIndex),
      ]),
    ).toEqual([
      ['payment', TX, 0],
      ['forward', forward.tx_hash, 3],
    ]);
  });

  it.each<[InvoiceStatus, string, Date, string | undefined]>([
    ['open', 'issued', NOW, undefined],
    ['processing', 'issued', NOW, undefined],
    ['underpaid', 'issued', NOW, undefined],
    ['paid', 'balanced', NOW, undefined],
    ['overpaid', 'balanced', NOW, undefined],
    ['expired', 'cancelled', NOW, 'Expired at 2026-03-01T10:00:00.000Z; 100.00 HKD of 700.10 HKD received.'],
    ['void', 'cancelled', NOW, 'Voided by the clinic at 2026-03-01T09:10:00.000Z; 100.00 HKD of 700.10 HKD received.'],
    // Open past its expiry, before a worker has marked it: shown expired.
    ['open', 'cancelled', new Date('2026-03-01T10:00:00.000Z'), 'Expired at 2026-03-01T10:00:00.000Z; 100.00 HKD of 700.10 HKD received.'],
  ])('maps %s to %s', (status, fhirStatus, now, reason) => {
    const invoice = invoiceRow({
      status,
      token_amount_paid: '100000000',
      paid_at: null,
      voided_at: status === 'void' ? new Date('2026-03-01T09:10:00.000Z') : null,
    });
    const resource = fhirInvoice({ invoice, clinic: CLINIC, transfers: [], now });
    expectValidR4(resource);
    expect(resource.status).toBe(fhirStatus);
    expect(resource.cancelledReason).toBe(reason);
    expect(extensionValue(resource, FHIR_EXTENSION.amountPaid)).toEqual({ value: 100, currency: 'HKD' });
  });

  it('carries nothing of the patient but the reference', () => {
    const resource = fhirInvoice({ invoice: invoiceRow(), clinic: CLINIC, transfers: [payment], now: NOW });
    const patientKeys = JSON.stringify(resource).match(/MRN-7781/g);
    // subject and recipient, nowhere else (no extension, no narrative)
    expect(patientKeys).toHaveLength(2);
    expect(resource).not.toHaveProperty('text');
  });
});

// ---------------------------------------------------------------------------------------------
// PaymentReconciliation
// ---------------------------------------------------------------------------------------------

describe('fhirPaymentReconciliation', () => {
  it('is a valid R4 PaymentReconciliation with one allocation per invoice and the transaction in extensions', () => {
    const transfers = [
      transactionTransfer({ invoiceId: 'inv_aaaaaaaaaaaaaaaaaaaaaaaa', number: 1, log_index: 2, amount: '12340000' }),
      transactionTransfer({ invoiceId: 'inv_bbbbbbbbbbbbbbbbbbbbbbbb', number: 2, log_index: 0, amount: '100000' }),
      transactionTransfer({ invoiceId: 'inv_cccccccccccccccccccccccc', number: 7, log_index: 5, amount: '123456789990000', clinic: OTHER_CLINIC }),
    ];
    const resource = fhirPaymentReconciliation({ txHash: TX, transfers });
    expectValidR4(resource);
    expect(resource).toMatchObject({
      resourceType: 'PaymentReconciliation',
      id: 'ab'.repeat(32),
      status: 'active',
      outcome: 'complete',
      created: '2026-03-01T20:00:00.000Z',
      // 20:00 UTC is the next morning in Hong Kong.
      paymentDate: '2026-03-02',
      paymentIdentifier: { system: FHIR_IDENTIFIER.txHash, value: TX },
      paymentAmount: { value: 123456802.43, currency: 'HKD' },
    });
    const details = resource.detail as FhirObject[];
    expect(details.map((detail) => [(detail.request as FhirObject).reference, detail.amount, (detail.payee as FhirObject).display])).toEqual([
      ['Invoice/inv-bbbbbbbbbbbbbbbbbbbbbbbb', { value: 0.1, currency: 'HKD' }, CLINIC.name],
      ['Invoice/inv-aaaaaaaaaaaaaaaaaaaaaaaa', { value: 12.34, currency: 'HKD' }, CLINIC.name],
      ['Invoice/inv-cccccccccccccccccccccccc', { value: 123456789.99, currency: 'HKD' }, OTHER_CLINIC.name],
    ]);
    expect(details.map((detail) => (detail.type as { coding: FhirObject[] }).coding[0]!.code)).toEqual(['payment', 'payment', 'payment']);
    const text = fhirJson(resource);
    expect(text).toContain('"paymentAmount":{"value":123456802.43,"currency":"HKD"}');
    expect(text).toContain('"amount":{"value":0.10,"currency":"HKD"}');
    expect(extensionValue(resource, FHIR_EXTENSION.txHash)).toBe(TX);
    expect(extensionValue(resource, FHIR_EXTENSION.chainId)).toBe('31337');
    expect(extensionValue(resource, FHIR_EXTENSION.blockNumber)).toBe('1234');
    expect(extensionValue(resource, FHIR_EXTENSION.tokenAmount)).toBe('123456802430000');
    expect(extensionValue(details[0]!, FHIR_EXTENSION.transferKind)).toBe('forward');
    expect(extensionValue(details[0]!, FHIR_EXTENSION.settlementAddress)).toBe('0x2222222222222222222222222222222222222222');
  });

  it('sums several transfers to one invoice into one allocation and keeps each transfer', () => {
    const transfers = [
      transactionTransfer({ invoiceId: 'inv_aaaaaaaaaaaaaaaaaaaaaaaa', number: 1, kind: 'payment', log_index: 0, amount: '1000000', flag: null }),
      transactionTransfer({
        invoiceId: 'inv_aaaaaaaaaaaaaaaaaaaaaaaa',
        number: 1,
        kind: 'payment',
        id: 'pay_000000000000000000000002',
        log_index: 1,
        amount: '2500000',
        flag: 'after_settled',
      }),
    ];
    const resource = fhirPaymentReconciliation({ txHash: TX, transfers });
    expectValidR4(resource);
    const [detail, ...others] = resource.detail as FhirObject[];
    expect(others).toEqual([]);
    expect(detail!.amount).toEqual({ value: 3.5, currency: 'HKD' });
    expect(extensionValue(detail!, FHIR_EXTENSION.tokenAmount)).toBe('3500000');
    expect(extensionValue(detail!, FHIR_EXTENSION.paymentFlag)).toBe('after_settled');
    expect(extensionsOf(detail!, FHIR_EXTENSION.chainTransfer)).toHaveLength(2);
    expect(resource.disposition).toBe('Patient payment of 1 invoice');
  });

  it('refuses transfers of another transaction, and none at all', () => {
    expect(() => fhirPaymentReconciliation({ txHash: TX, transfers: [] })).toThrow(RangeError);
    const stray = transactionTransfer({ invoiceId: 'inv_aaaaaaaaaaaaaaaaaaaaaaaa', number: 1, tx_hash: `0x${'00'.repeat(32)}` });
    expect(() => fhirPaymentReconciliation({ txHash: TX, transfers: [stray] })).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------------------------
// Statement Bundle
// ---------------------------------------------------------------------------------------------

const ROOT = 'e3'.repeat(32);
const BALANCES = { deposits: '0', settlement: '0', patient_payments: '0', written_off: '0', unexpected_outflows: '0' };
const CLOSING_BALANCES = { deposits: '0', settlement: '6000000', patient_payments: '-6000000', written_off: '0', unexpected_outflows: '0' };

function statementHeader(overrides: Partial<StatementHeader> = {}): StatementHeader {
  return {
    object: 'statement',
    id: 'stmt_0123456789abcdef01234567',
    version: 1,
    clinic: { id: CLINIC.id, name: CLINIC.name, settlement_address: SETTLEMENT },
    period: { from: '2026-03-01T00:00:00.000Z', to: '2026-04-01T00:00:00.000Z' },
    generated_at: '2026-04-02T08:00:00.000Z',
    currency: 'HKD',
    asset: `31337:${TOKEN}`,
    chain_id: 31337,
    token: { address: TOKEN, symbol: 'tHKD', decimals: 6 },
    opening_balance: { token_amount: '0', hkd_amount: '0.00', accounts: BALANCES },
    closing_balance: { token_amount: '6000000', hkd_amount: '6.00', accounts: CLOSING_BALANCES },
    audit_log_head: { seq: '17', row_hash: 'f0'.repeat(32) },
    ...overrides,
  };
}

function transferFacts(overrides: Partial<TransferFacts> = {}): TransferFacts {
  return {
    transfer_id: 'pay_aaaaaaaaaaaaaaaaaaaaaaaa',
    chain_id: 31337,
    tx_hash: TX,
    log_index: 1,
    block_number: '1234',
    block_hash: BLOCK_HASH,
    block_time: '2026-03-05T01:00:00.000Z',
    token_address: TOKEN,
    from_address: PAYER,
    to_address: DEPOSIT,
    amount: '10000000',
    confirmations: 3,
    ...overrides,
  };
}

function entryLine(line: number, type: EntryLine['type'], overrides: Partial<EntryLine> = {}): EntryLine {
  return {
    line,
    type,
    occurred_at: `2026-03-05T${String(line).padStart(2, '0')}:00:00.000Z`,
    entry_id: `je_${String(line).padStart(24, '0')}`,
    invoice_id: 'inv_aaaaaaaaaaaaaaaaaaaaaaaa',
    invoice_number: 1,
    asset: `31337:${TOKEN}`,
    postings: { deposits: '10000000', patient_payments: '-10000000' },
    token_amount: '10000000',
    hkd_amount: '10.00',
    reverses_entry_id: null,
    resolution_id: null,
    transfer: null,
    refund_transfer: null,
    evidence: null,
    ...overrides,
  };
}

/** Every kind of line a statement has. */
function statementLines(): StatementLine[] {
  return [
    {
      line: 1,
      type: 'opening_balance',
      occurred_at: '2026-03-01T00:00:00.000Z',
      clinic_id: CLINIC.id,
      asset: `31337:${TOKEN}`,
      balances: BALANCES,
      token_amount: '0',
      hkd_amount: '0.00',
    },
    {
      line: 2,
      type: 'invoice',
      occurred_at: '2026-03-05T00:30:00.000Z',
      invoice_id: 'inv_aaaaaaaaaaaaaaaaaaaaaaaa',
      invoice_number: 1,
      currency: 'HKD',
      hkd_amount: '10.00',
      token_amount: '10000000',
      asset: `31337:${TOKEN}`,
      expires_at: '2026-03-05T01:30:00.000Z',
    },
    entryLine(3, 'payment', { transfer: transferFacts() }),
    // A reorg orphaned the payment of line 3: its entry is reversed, the transfer named.
    entryLine(4, 'reversal', {
      postings: { deposits: '-10000000', patient_payments: '10000000' },
      reverses_entry_id: 'je_000000000000000000000003',
      transfer: transferFacts(),
    }),
    entryLine(5, 'payment', {
      transfer: transferFacts({ transfer_id: 'pay_bbbbbbbbbbbbbbbbbbbbbbbb', block_hash: `0x${'ce'.repeat(32)}`, block_number: '1236' }),
    }),
    entryLine(6, 'forward', {
      postings: { settlement: '10000000', deposits: '-10000000' },
      transfer: transferFacts({
        transfer_id: 'pay_cccccccccccccccccccccccc',
        tx_hash: `0x${'ef'.repeat(32)}`,
        from_address: DEPOSIT,
        to_address: SETTLEMENT,
        confirmations: null,
      }),
    }),
    entryLine(7, 'refund', {
      postings: { patient_payments: '4000000', settlement: '-4000000' },
      token_amount: '4000000',
      hkd_amount: '4.00',
      resolution_id: 'res_aaaaaaaaaaaaaaaaaaaaaaaa',
      refund_transfer: { tx_hash: `0x${'fa'.repeat(32)}`, log_index: 0 },
    }),
    entryLine(8, 'write_off', {
      invoice_id: null,
      invoice_number: null,
      postings: { patient_payments: '1', written_off: '-1' },
      token_amount: '1',
      hkd_amount: '0.00',
      resolution_id: 'res_bbbbbbbbbbbbbbbbbbbbbbbb',
    }),
    entryLine(9, 'application', { postings: {}, resolution_id: 'res_cccccccccccccccccccccccc' }),
    entryLine(10, 'outflow', {
      postings: { unexpected_outflows: '1000', deposits: '-1000' },
      token_amount: '1000',
      hkd_amount: '0.00',
      transfer: transferFacts({ transfer_id: 'pay_eeeeeeeeeeeeeeeeeeeeeeee', from_address: DEPOSIT, to_address: PAYER }),
    }),
    {
      line: 11,
      type: 'closing_balance',
      occurred_at: '2026-04-01T00:00:00.000Z',
      clinic_id: CLINIC.id,
      asset: `31337:${TOKEN}`,
      balances: CLOSING_BALANCES,
      token_amount: '6000000',
      hkd_amount: '6.00',
      audit_log_head: { seq: '17', row_hash: 'f0'.repeat(32) },
    },
  ];
}

function trailer(overrides: Partial<StatementTrailer> = {}): StatementTrailer {
  return {
    line_count: 11,
    merkle_root: ROOT,
    merkle: { tree: 'RFC 6962', hash: 'SHA-256', leaf: 'RFC 8785 JSON of the line' },
    anchor: { chain_id: 31337, tx_hash: `0x${'12'.repeat(32)}`, block_number: '2000', from_address: SETTLEMENT },
    ...overrides,
  };
}

/** The Bundle text as a caller streams it: opening, entries joined by commas, closing. */
function bundleText(header: StatementHeader, lines: StatementLine[], end: StatementTrailer): string {
  return fhirBundleOpening(header) + lines.map((line) => fhirJson(fhirBundleEntry(header, line))).join(',') + fhirBundleClosing(header, end);
}

describe('the statement Bundle', () => {
  it('streams as valid JSON and a valid R4 collection Bundle, one entry per line', () => {
    const header = statementHeader();
    const text = bundleText(header, statementLines(), trailer());
    const bundle = JSON.parse(text) as FhirObject;
    expectValidR4(bundle);
    expect(bundle).toMatchObject({
      resourceType: 'Bundle',
      id: 'stmt-0123456789abcdef01234567',
      type: 'collection',
      timestamp: '2026-04-02T08:00:00.000Z',
      identifier: { system: FHIR_IDENTIFIER.statementMerkleRoot, value: ROOT },
    });
    expect(bundle).not.toHaveProperty('total');
    const meta = bundle.meta as FhirObject;
    expect(extensionValue(meta, FHIR_EXTENSION.statementId)).toBe(header.id);
    expect(extensionValue(meta, FHIR_EXTENSION.statementPeriod)).toEqual({ start: header.period.from, end: header.period.to });
    expect(extensionValue(meta, FHIR_EXTENSION.chainId)).toBe('31337');
    expect(extensionValue(bundle.identifier!, FHIR_EXTENSION.merkleLeafCount)).toBe(11);
    const [anchor] = extensionsOf(bundle.identifier!, FHIR_EXTENSION.statementAnchor);
    expect(extensionValue(anchor!, FHIR_EXTENSION.txHash)).toBe(`0x${'12'.repeat(32)}`);

    const entries = bundle.entry as { fullUrl: string; resource: FhirObject }[];
    expect(
      entries.map((entry) => [
        entry.resource.resourceType,
        extensionValue(entry.resource, FHIR_EXTENSION.statementLine),
        extensionValue(entry.resource, FHIR_EXTENSION.statementLineType),
      ]),
    ).toEqual([
      ['Basic', 1, 'opening_balance'],
      ['Invoice', 2, 'invoice'],
      ['PaymentReconciliation', 3, 'payment'],
      ['PaymentReconciliation', 4, 'reversal'],
      ['PaymentReconciliation', 5, 'payment'],
      ['PaymentReconciliation', 6, 'forward'],
      ['PaymentReconciliation', 7, 'refund'],
      ['PaymentReconciliation', 8, 'write_off'],
      ['PaymentReconciliation', 9, 'application'],
      ['PaymentReconciliation', 10, 'outflow'],
      ['Basic', 11, 'closing_balance'],
    ]);
    // fullUrls: unique UUIDs (bdl-7), the same every time the statement is exported.
    expect(new Set(entries.map((entry) => entry.fullUrl)).size).toBe(entries.length);
    for (const entry of entries) expect(entry.fullUrl).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(bundleText(header, statementLines(), trailer())).toBe(text);
    // RFC 4122 v5 of the line's URL: Python's uuid.uuid5(uuid.NAMESPACE_URL, '…/statement/stmt_…/line/1') agrees.
    expect(entries[0]!.fullUrl).toBe('urn:uuid:65807690-cb9f-52ea-aa15-03d45451d422');

    // Exact HKD text, and the chain facts of the payment line.
    expect(text).toContain('"paymentAmount":{"value":10.00,"currency":"HKD"}');
    expect(text).toContain('"totalGross":{"value":10.00,"currency":"HKD"}');
    const payment = entries[2]!.resource;
    expect(extensionValue(payment, FHIR_EXTENSION.txHash)).toBe(TX);
    expect(extensionValue(payment, FHIR_EXTENSION.blockNumber)).toBe('1234');
    expect(extensionValue(payment, FHIR_EXTENSION.tokenAmount)).toBe('10000000');
    expect(payment.paymentIdentifier).toEqual({ system: FHIR_IDENTIFIER.txHash, value: TX });
    // The block's date in Hong Kong (01:00 UTC), not the posting's.
    expect(payment.paymentDate).toBe('2026-03-05');
    const reversal = entries[3]!.resource;
    expect((reversal.detail as FhirObject[])[0]).toMatchObject({
      predecessor: { system: FHIR_IDENTIFIER.journalEntry, value: 'je_000000000000000000000003' },
      type: { coding: [{ code: 'adjustment' }] },
    });
    expect(reversal.paymentIdentifier).toEqual({ system: FHIR_IDENTIFIER.journalEntry, value: 'je_000000000000000000000004' });
    expect(extensionValue(reversal, FHIR_EXTENSION.txHash)).toBe(TX);
    const refund = entries[6]!.resource;
    expect(refund.paymentIdentifier).toEqual({ system: FHIR_IDENTIFIER.txHash, value: `0x${'fa'.repeat(32)}` });
    expect(extensionValue(extensionsOf(refund, FHIR_EXTENSION.refundTransfer)[0]!, FHIR_EXTENSION.txHash)).toBe(`0x${'fa'.repeat(32)}`);
    expect(
      extensionsOf(entries[2]!.resource, FHIR_EXTENSION.posting).map((posting) => [
        extensionValue(posting, FHIR_EXTENSION.account),
        extensionValue(posting, FHIR_EXTENSION.tokenAmount),
      ]),
    ).toEqual([
      ['deposits', '10000000'],
      ['patient_payments', '-10000000'],
    ]);
    const opening = entries[0]!.resource;
    expect(extensionsOf(opening, FHIR_EXTENSION.accountAmount)).toHaveLength(5);
    // The payer's wallet (payment sender, outflow recipient) is not exported.
    expect(text.toLowerCase()).not.toContain(PAYER.slice(2));
  });

  it('is valid without an anchor or an audit-log head, and with the fewest lines a statement has', () => {
    const header = statementHeader({ audit_log_head: null });
    const lines = statementLines().filter((line) => line.type === 'opening_balance' || line.type === 'closing_balance');
    const bundle = JSON.parse(bundleText(header, lines, trailer({ anchor: null, line_count: 2 }))) as FhirObject;
    expectValidR4(bundle);
    expect(extensionsOf(bundle.identifier!, FHIR_EXTENSION.statementAnchor)).toEqual([]);
    expect(extensionsOf(bundle.meta!, FHIR_EXTENSION.auditLogHead)).toEqual([]);
    expect((bundle.entry as unknown[]).length).toBe(2);
  });

  it('refuses a line whose time is not a FHIR instant', () => {
    const [opening] = statementLines();
    expect(() => fhirBundleEntry(statementHeader(), { ...opening!, occurred_at: '2026-03-01 00:00:00+00' } as StatementLine)).toThrow(RangeError);
  });
});

describe('the strict R4 checks', () => {
  it('catch what the package validator lets through', () => {
    const resource = fhirInvoice({ invoice: invoiceRow(), clinic: CLINIC, transfers: [], now: NOW });
    expect(r4Problems({ ...resource, id: 'inv_00112233445566778899aabb' })).toEqual([expect.objectContaining({ message: expect.stringContaining('id') })]);
    expect(
      r4Problems({ ...resource, extension: [{ url: FHIR_EXTENSION.chainId, valueString: '1', extension: [{ url: 'x', valueString: 'y' }] }] }),
    ).not.toEqual([]);
    expect(r4Problems({ ...resource, totalGross: { value: '700.10', currency: 'HKD' } })).not.toEqual([]);
    expect(r4Problems({ ...resource, unknown: true })).not.toEqual([]);
  });
});
