/**
 * The FHIR R4 exports from the outside: real payments on a real anvil, confirmed by the real
 * watcher and forwarded by the real flusher (one `flushMany` for three invoices of two
 * clinics), then `GET /v1/fhir/Invoice/{id}` and `GET /v1/fhir/PaymentReconciliation/{tx}` over
 * HTTP, each validated against the R4 definitions (npm `fhir`, `errorOnUnexpected`, plus the
 * anchored R4 primitive patterns that validator leaves out). Tenant isolation, unknown ids and
 * unconfirmed payments are 404s.
 */
import { Decimal } from 'decimal.js';
import type { Express } from 'express';
import request from 'supertest';
import { getAddress } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClinic } from '../src/billing/clinics.js';
import { createInvoice, type InvoiceRow } from '../src/billing/invoices.js';
import { withTransaction } from '../src/platform/transaction.js';
import { FHIR_EXTENSION, FHIR_IDENTIFIER } from '../src/reports/fhir.js';
import { bearer, buildTestApp, TEST_ACTOR, TEST_SECRETS, tokenFor } from './support/app.js';
import { expectValidR4 } from './support/fhirValidation.js';
import {
  flush,
  type Payment,
  pay,
  type SettlementEnv,
  settle,
  startSettlementEnv,
  startWatcherHere,
  syncUntilCaughtUp,
  watcher,
} from './support/settlement.js';

// ---------------------------------------------------------------------------------------------
// R4 validation (the same checks as src/reports/fhir.test.ts)
// ---------------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

function extensionsOf(element: unknown, url: string): Json[] {
  return ((element as { extension?: Json[] }).extension ?? []).filter((one) => one.url === url);
}
function extensionValue(element: unknown, url: string): unknown {
  const [one] = extensionsOf(element, url);
  return one ? Object.entries(one).find(([key]) => key.startsWith('value'))?.[1] : undefined;
}

// ---------------------------------------------------------------------------------------------
// Set-up: two clinics, three invoices, the chain and the app
// ---------------------------------------------------------------------------------------------

let env: SettlementEnv;
let app: Express;
const LINE_ITEMS = [
  { description: 'Consultation', quantity: 1, unit_amount: '350.00' },
  { description: 'Blood test', quantity: 3, unit_amount: '116.70' },
];

async function newClinic(name: string): Promise<string> {
  const wallet = privateKeyToAccount(generatePrivateKey()).address;
  const row = await withTransaction(env.db, (trx) =>
    createClinic(trx, TEST_ACTOR, { name, settlementAddress: wallet, webhookUrl: undefined, secrets: TEST_SECRETS }),
  );
  return row.id;
}

async function newInvoice(
  clinicId: string,
  lineItems: { description: string; quantity: number; unit_amount: string }[],
  patientRef: string,
): Promise<InvoiceRow> {
  return withTransaction(env.db, (trx) =>
    createInvoice(trx, { clinicId, input: { patient_ref: patientRef, currency: 'HKD', line_items: lineItems }, network: env.network, actor: TEST_ACTOR }),
  );
}

function get(token: string, path: string): request.Test {
  return request(app).get(path).set(bearer(token));
}

/** A FHIR resource read over HTTP: 200, `application/fhir+json`, the parsed body and its text. */
async function getFhir(token: string, path: string): Promise<{ body: Json; text: string }> {
  const response = await get(token, path);
  expect(response.status, response.text).toBe(200);
  expect(response.headers['content-type']).toMatch(/^application\/fhir\+json\b/);
  return { body: JSON.parse(response.text) as Json, text: response.text };
}

async function expectNotFound(token: string, path: string): Promise<void> {
  const response = await get(token, path);
  expect(response.status, response.text).toBe(404);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json\b/);
  expect(response.body).toMatchObject({ status: 404, code: 'not_found' });
}

/** The HKD amount of a Money element is the exact amount, and its JSON text carries every digit. */
function expectMoney(money: unknown, text: string, amount: string): void {
  expect(money).toEqual({ value: Number(amount), currency: 'HKD' });
  expect(new Decimal(String((money as { value: number }).value)).eq(amount)).toBe(true);
  expect(text).toContain(`{"value":${amount},"currency":"HKD"}`);
}

describe('FHIR R4 exports of real payments', () => {
  let clinicA: string;
  let clinicB: string;
  let consultation: InvoiceRow;
  let dime: InvoiceRow;
  let large: InvoiceRow;
  let payments: Map<string, Payment>;
  let forwardTx: string;
  const admin = tokenFor('platform_admin');
  const finance = tokenFor('finance');
  let adminA: string;
  let staffA: string;
  let adminB: string;
  let startedAt: string;

  beforeAll(async () => {
    startedAt = new Date(Date.now() - 1000).toISOString();
    env = await startSettlementEnv();
    await startWatcherHere(env);
    ({ app } = await buildTestApp({ db: env.db, rpcUrl: env.rpcUrl, network: env.network }));
    clinicA = await newClinic('Harbour <Clinic> & Co');
    clinicB = await newClinic('Kowloon Clinic');
    adminA = tokenFor('clinic_admin', clinicA);
    staffA = tokenFor('clinic_staff', clinicA);
    adminB = tokenFor('clinic_admin', clinicB);
    consultation = await newInvoice(clinicA, LINE_ITEMS, 'MRN-7781');
    dime = await newInvoice(clinicA, [{ description: 'Photocopy', quantity: 1, unit_amount: '0.10' }], 'MRN-7782');
    large = await newInvoice(
      clinicB,
      [
        { description: 'Surgery', quantity: 1, unit_amount: '99999999.99' },
        ...Array.from({ length: 2 }, () => ({ description: 'Ward', quantity: 1, unit_amount: '12345678.00' })),
      ],
      'K-1',
    );
    expect([consultation.amount_due, dime.amount_due, large.amount_due]).toEqual(['700.10', '0.10', '124691355.99']);
    payments = new Map();
    for (const invoice of [consultation, dime, large]) payments.set(invoice.id, await pay(env, invoice.deposit_address, BigInt(invoice.token_amount_due)));
  });

  afterAll(async () => {
    await env?.close();
  });

  it('exports nothing of a payment until it is confirmed', async () => {
    // The last payment is in the head block: seen, one confirmation of three.
    await syncUntilCaughtUp(watcher(env));
    expect(((await env.db('transfers').where({ invoice_id: large.id }).first()) as { status: string }).status).toBe('pending');
    await expectNotFound(adminB, `/v1/fhir/PaymentReconciliation/${payments.get(large.id)!.txHash}`);
    await expectNotFound(admin, `/v1/fhir/PaymentReconciliation/${payments.get(large.id)!.txHash}`);
    const { body } = await getFhir(adminB, `/v1/fhir/Invoice/${large.id}`);
    expectValidR4(body);
    expect(body.status).toBe('issued');
    expect(extensionValue(body, FHIR_EXTENSION.invoiceStatus)).toBe('processing');
    expect(extensionsOf(body, FHIR_EXTENSION.chainTransfer)).toEqual([]);
  });

  it('a confirmed payment is a PaymentReconciliation with one allocation in exact HKD', async () => {
    await settle(env);
    const payment = payments.get(consultation.id)!;
    const { body, text } = await getFhir(adminA, `/v1/fhir/PaymentReconciliation/${payment.txHash}`);
    expectValidR4(body);
    expect(body).toMatchObject({ resourceType: 'PaymentReconciliation', id: payment.txHash.slice(2).toLowerCase(), status: 'active', outcome: 'complete' });
    expectMoney(body.paymentAmount, text, '700.10');
    expect(extensionValue(body, FHIR_EXTENSION.txHash)).toBe(payment.txHash.toLowerCase());
    expect(extensionValue(body, FHIR_EXTENSION.blockNumber)).toBe(payment.blockNumber.toString());
    expect(extensionValue(body, FHIR_EXTENSION.chainId)).toBe(String(env.network.chainId));
    expect(extensionValue(body, FHIR_EXTENSION.tokenAddress)).toBe(getAddress(env.token));
    expect(extensionValue(body, FHIR_EXTENSION.tokenAmount)).toBe('700100000');
    const block = await env.chain.publicClient.getBlock({ blockNumber: payment.blockNumber });
    expect(extensionValue(body, FHIR_EXTENSION.blockHash)).toBe(block.hash);
    expect(extensionValue(body, FHIR_EXTENSION.blockTime)).toBe(new Date(Number(block.timestamp) * 1000).toISOString());
    const [detail, ...others] = body.detail as Json[];
    expect(others).toEqual([]);
    expect(detail).toMatchObject({
      request: { reference: `Invoice/inv-${consultation.id.slice(4)}`, identifier: { system: FHIR_IDENTIFIER.invoice, value: consultation.id } },
      payee: { display: 'Harbour <Clinic> & Co' },
    });
    expect(extensionValue(detail, FHIR_EXTENSION.transferKind)).toBe('payment');
    expect(extensionValue(detail, FHIR_EXTENSION.depositAddress)).toBe(getAddress(consultation.deposit_address));
    // The payer's wallet is not in the export (the patient's), and markup is escaped.
    expect(text.toLowerCase()).not.toContain(env.payer.address.slice(2).toLowerCase());
    expect(text).not.toContain('<Clinic>');

    // Without 0x, the same resource.
    const bare = await getFhir(adminA, `/v1/fhir/PaymentReconciliation/${payment.txHash.slice(2).toLowerCase()}`);
    expect(bare.text).toBe(text);
  });

  it('one flush of three invoices is one PaymentReconciliation with an allocation per invoice the caller may see', async () => {
    expect(await flush(env)).toEqual({ flushed: 3, retried: 0, failed: 0 });
    await settle(env);
    const requests = (await env.db('flush_requests').whereIn('invoice_id', [consultation.id, dime.id, large.id]).select('tx_hash')) as { tx_hash: string }[];
    const hashes = new Set(requests.map((row) => row.tx_hash));
    expect(hashes.size, 'the three deposits were forwarded in one transaction').toBe(1);
    forwardTx = [...hashes][0]!;

    const path = `/v1/fhir/PaymentReconciliation/${forwardTx}`;
    const ofA = await getFhir(adminA, path);
    expectValidR4(ofA.body);
    const allocations = (resource: Json) =>
      (resource.detail as Json[]).map((detail) => [
        ((detail.request as Json).identifier as Json).value,
        (detail.amount as Json).value,
        extensionValue(detail, FHIR_EXTENSION.tokenAmount),
        extensionValue(detail, FHIR_EXTENSION.transferKind),
      ]);
    expect(allocations(ofA.body).sort()).toEqual(
      [
        [consultation.id, 700.1, '700100000', 'forward'],
        [dime.id, 0.1, '100000', 'forward'],
      ].sort(),
    );
    expectMoney(ofA.body.paymentAmount, ofA.text, '700.20');
    expect(ofA.text).toContain('{"value":0.10,"currency":"HKD"}');
    expect(extensionValue(ofA.body, FHIR_EXTENSION.txHash)).toBe(forwardTx);
    expect(extensionValue(ofA.body, FHIR_EXTENSION.tokenAmount)).toBe('700200000');
    expect(ofA.text).not.toContain(large.id);
    for (const detail of ofA.body.detail as Json[])
      expect(extensionValue(detail, FHIR_EXTENSION.settlementAddress)).toBe(getAddress(consultation.settlement_address));

    const ofB = await getFhir(adminB, path);
    expectValidR4(ofB.body);
    expect(allocations(ofB.body)).toEqual([[large.id, 124691355.99, '124691355990000', 'forward']]);
    expectMoney(ofB.body.paymentAmount, ofB.text, '124691355.99');
    expect(ofB.text).not.toContain(clinicA);

    for (const token of [admin, finance]) {
      const all = await getFhir(token, path);
      expectValidR4(all.body);
      expect((all.body.detail as Json[]).map((detail) => ((detail.request as Json).identifier as Json).value).sort()).toEqual(
        [consultation.id, dime.id, large.id].sort(),
      );
      expectMoney(all.body.paymentAmount, all.text, '124692056.19');
      expect(all.body.disposition).toBe("Forwarding of 3 invoices to the clinic's settlement wallet");
    }
  });

  it('an invoice is a FHIR Invoice with exact HKD totals, its line items, and its payment and forwarding on chain', async () => {
    const fhirId = `inv-${consultation.id.slice(4)}`;
    const { body, text } = await getFhir(staffA, `/v1/fhir/Invoice/${fhirId}`);
    expectValidR4(body);
    expect((await getFhir(adminA, `/v1/fhir/Invoice/${consultation.id}`)).text).toBe(text);
    const api = (await get(adminA, `/v1/invoices/${consultation.id}`).expect(200)).body as { amount_due: string; amount_paid: string; number: number };
    expect(body).toMatchObject({
      resourceType: 'Invoice',
      id: fhirId,
      status: 'balanced',
      identifier: [
        { system: FHIR_IDENTIFIER.invoice, value: consultation.id },
        { system: FHIR_IDENTIFIER.invoiceNumber(clinicA), value: String(api.number) },
      ],
      subject: { type: 'Patient', identifier: { system: FHIR_IDENTIFIER.patientRef(clinicA), value: 'MRN-7781' } },
      issuer: { identifier: { value: clinicA }, display: 'Harbour <Clinic> & Co' },
    });
    expectMoney(body.totalGross, text, api.amount_due);
    expectMoney(body.totalNet, text, api.amount_due);
    expectMoney(extensionValue(body, FHIR_EXTENSION.amountPaid), text, api.amount_paid);
    expect(
      (body.lineItem as Json[]).map((item) => [(item.chargeItemCodeableConcept as Json).text, ((item.priceComponent as Json[])[0]!.amount as Json).value]),
    ).toEqual([
      ['Consultation', 350],
      ['Blood test', 350.1],
    ]);
    expect(text).toContain('{"value":350.00,"currency":"HKD"}');
    expect(extensionValue(body, FHIR_EXTENSION.invoiceStatus)).toBe('paid');
    expect(extensionValue(body, FHIR_EXTENSION.tokenAmountDue)).toBe('700100000');
    expect(extensionValue(body, FHIR_EXTENSION.chainId)).toBe(String(env.network.chainId));
    expect(extensionValue(body, FHIR_EXTENSION.tokenAddress)).toBe(getAddress(env.token));
    const transfers = extensionsOf(body, FHIR_EXTENSION.chainTransfer).map((one) => [
      extensionValue(one, FHIR_EXTENSION.transferKind),
      extensionValue(one, FHIR_EXTENSION.txHash),
      extensionValue(one, FHIR_EXTENSION.tokenAmount),
    ]);
    expect(transfers).toEqual([
      ['payment', payments.get(consultation.id)!.txHash.toLowerCase(), '700100000'],
      ['forward', forwardTx, '700100000'],
    ]);
    // Nothing of the patient but the clinic's reference (subject and recipient).
    expect(text.match(/MRN-7781/g)).toHaveLength(2);
    expect(text).not.toContain('MRN-7782');

    const big = await getFhir(adminB, `/v1/fhir/Invoice/${large.id}`);
    expectValidR4(big.body);
    expectMoney(big.body.totalGross, big.text, '124691355.99');
    expect(big.text).toContain('{"value":99999999.99,"currency":"HKD"}');
    expect(big.text).toContain('{"value":12345678.00,"currency":"HKD"}');
  });

  it('a statement of the period streams as a valid R4 Bundle: one entry per line, named by its Merkle root', async () => {
    const auditor = tokenFor('auditor');
    const period = { from: startedAt, to: new Date().toISOString() };
    const created = await get(auditor, '/v1/statements').query({ clinic_id: clinicA, ...period, format: 'json' });
    expect(created.status, created.text).toBe(200);
    const statement = JSON.parse(created.text) as {
      id: string;
      merkle_root: string;
      line_count: number;
      lines: { type: string; hkd_amount: string; transfer?: { tx_hash: string } | null }[];
    };
    expect(statement.lines.map((line) => line.type)).toEqual([
      'opening_balance',
      'invoice',
      'invoice',
      'payment',
      'payment',
      'forward',
      'forward',
      'closing_balance',
    ]);

    const { body, text } = await getFhir(auditor, `/v1/statements/${statement.id}?format=fhir`);
    expectValidR4(body);
    expect(body).toMatchObject({
      resourceType: 'Bundle',
      id: `stmt-${statement.id.slice(5)}`,
      type: 'collection',
      identifier: { system: FHIR_IDENTIFIER.statementMerkleRoot, value: statement.merkle_root },
    });
    expect(extensionValue(body.identifier, FHIR_EXTENSION.merkleLeafCount)).toBe(statement.line_count);
    expect(extensionValue(body.meta, FHIR_EXTENSION.statementId)).toBe(statement.id);
    const entries = body.entry as { fullUrl: string; resource: Json }[];
    expect(entries).toHaveLength(statement.line_count);
    entries.forEach((entry, index) => {
      const line = statement.lines[index]!;
      expect([extensionValue(entry.resource, FHIR_EXTENSION.statementLine), extensionValue(entry.resource, FHIR_EXTENSION.statementLineType)]).toEqual([
        index + 1,
        line.type,
      ]);
      if (line.transfer) expect(extensionValue(entry.resource, FHIR_EXTENSION.txHash)).toBe(line.transfer.tx_hash);
      const money = (entry.resource.paymentAmount ?? entry.resource.totalGross ?? extensionValue(entry.resource, FHIR_EXTENSION.amount)) as {
        value: number;
        currency: string;
      };
      expect(money.currency).toBe('HKD');
      expect(new Decimal(String(money.value)).eq(line.hkd_amount), `line ${index + 1}: ${money.value} is ${line.hkd_amount}`).toBe(true);
    });
    expect(new Set(entries.map((entry) => entry.fullUrl)).size).toBe(entries.length);
    expect(extensionValue(entries[5]!.resource, FHIR_EXTENSION.txHash)).toBe(forwardTx);
    expect(text.toLowerCase()).not.toContain(env.payer.address.slice(2).toLowerCase());
    expect(text).not.toContain('MRN-');
  });

  it("another clinic gets 404 for a clinic's invoice and transactions, never 403", async () => {
    await expectNotFound(adminB, `/v1/fhir/Invoice/${consultation.id}`);
    await expectNotFound(adminB, `/v1/fhir/Invoice/inv-${dime.id.slice(4)}`);
    await expectNotFound(adminB, `/v1/fhir/PaymentReconciliation/${payments.get(consultation.id)!.txHash}`);
    await expectNotFound(adminA, `/v1/fhir/PaymentReconciliation/${payments.get(large.id)!.txHash}`);
    await expectNotFound(adminA, `/v1/fhir/Invoice/${large.id}`);
    // A clinic-confined finance or auditor token sees only its clinic too.
    await expectNotFound(tokenFor('auditor', clinicB), `/v1/fhir/Invoice/${consultation.id}`);
    expect((await get(tokenFor('auditor', clinicA), `/v1/fhir/Invoice/${consultation.id}`)).status).toBe(200);
  });

  it('unknown ids are 404, malformed ones 400, and no token 401', async () => {
    await expectNotFound(admin, `/v1/fhir/Invoice/inv_${'0'.repeat(24)}`);
    await expectNotFound(admin, `/v1/fhir/Invoice/inv-${'0'.repeat(24)}`);
    await expectNotFound(admin, `/v1/fhir/PaymentReconciliation/0x${'0'.repeat(64)}`);
    await expectNotFound(admin, `/v1/fhir/PaymentReconciliation/${'1'.repeat(64)}`);
    expect((await get(admin, '/v1/fhir/Invoice/inv_123')).status).toBe(400);
    expect((await get(admin, `/v1/fhir/PaymentReconciliation/0x${'0'.repeat(63)}`)).status).toBe(400);
    expect((await request(app).get(`/v1/fhir/Invoice/${consultation.id}`)).status).toBe(401);
  });
});
