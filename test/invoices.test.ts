/**
 * The invoice API from the outside: every request goes through HTTP to the real app, on the
 * run's real Postgres and anvil. Creating, reading, listing, voiding and paying invoices;
 * tenant isolation; roles and bearer tokens; bad input; idempotent retries.
 *
 * The database is read directly only to count what exists (so "nothing was created" is a
 * fact, not an inference from the API) and to fetch a deposit salt, which the API never shows,
 * to ask the factory contract where that deposit really is.
 */
import { randomUUID } from 'node:crypto';
import { parse as parseEthereumUri } from 'eth-url-parser';
import type { Express } from 'express';
import jwt from 'jsonwebtoken';
import QRCode from 'qrcode';
import request from 'supertest';
import { type Address, getAddress, type Hex } from 'viem';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { depositFactoryAbi } from '../contracts/artifacts/DepositFactory.js';
import { testHKDAbi } from '../contracts/artifacts/TestHKD.js';
import { createChainClient } from '../src/chain/client.js';
import type { PaymentNetwork } from '../src/chain/paymentNetwork.js';
import { loadPaymentNetwork } from '../src/chain/paymentNetwork.js';
import { bearer, buildTestApp, TEST_JWT, testNetwork, tokenFor } from './support/app.js';
import { deployTestToken, fundedAccount, mint, testChain } from './support/chain.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

let database: TestDatabase;
let app: Express;
let network: PaymentNetwork;
const chain = testChain();
const platformAdmin = tokenFor('platform_admin');

beforeAll(async () => {
  database = await createTestDatabase();
  ({ app } = await buildTestApp({ db: database.db }));
  network = await testNetwork();
});

afterAll(async () => {
  await database.close();
});

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** An invoice as the API returns it. */
interface Invoice {
  object: 'invoice';
  id: string;
  clinic_id: string;
  number: number;
  status: string;
  currency: string;
  amount_due: string;
  amount_paid: string;
  token: { chain_id: number; address: Address; symbol: string; decimals: number };
  token_amount_due: string;
  token_amount_paid: string;
  deposit_address: Address;
  payment_uri: string;
  payment_qr_url: string;
  patient_ref: string;
  line_items: { description: string; quantity: number; unit_amount: string }[];
  metadata: Record<string, string>;
  expires_at: string;
  created_at: string;
  paid_at: string | null;
  voided_at: string | null;
}

interface InvoiceList {
  object: 'list';
  url: string;
  data: Invoice[];
  has_more: boolean;
}

/** A clinic onboarded through the API, with tokens for its two clinic roles. */
interface TestClinic {
  id: string;
  settlementAddress: Address;
  admin: string;
  staff: string;
}

const LINE_ITEMS = [
  { description: 'General consultation', quantity: 2, unit_amount: '120.50' },
  { description: 'Prescription handling', quantity: 1, unit_amount: '0.05' },
];
/** 2 × 120.50 + 1 × 0.05, and the same in 6-decimal base units. */
const LINE_ITEMS_TOTAL = '241.05';
const LINE_ITEMS_TOKEN_UNITS = '241050000';
const UNKNOWN_INVOICE_ID = `inv_${'0'.repeat(24)}`;

/** An invoice as read back after its creation: the checkout link is shown once, in the create's answer. */
function asRead<T extends object>(invoice: T): T {
  return { ...invoice, checkout_url: null };
}

/** A create's answer as a replay of it gives it: byte for byte, but for the checkout link (shown once). */
function replayOf(text: string): string {
  return text.replace(/"checkout_url":"[^"]*"/, '"checkout_url":null');
}

function newKey(): string {
  return `test-${randomUUID()}`;
}

function invoiceBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { patient_ref: 'PAT-0001', currency: 'HKD', line_items: LINE_ITEMS, metadata: { visit: 'V-77' }, ...overrides };
}

interface PostOptions {
  key?: string | undefined;
  /** The app to call; the file's shared app unless told. */
  target?: Express;
}

/** `POST /v1/invoices` with a fresh Idempotency-Key unless one is given. */
function postInvoice(token: string, body: unknown = invoiceBody(), { key = newKey(), target = app }: PostOptions = {}): request.Test {
  return request(target)
    .post('/v1/invoices')
    .set(bearer(token))
    .set('Idempotency-Key', key)
    .send(body as object);
}

/** Creates an invoice and insists it worked. */
async function createInvoice(token: string, overrides: Record<string, unknown> = {}, options: PostOptions = {}): Promise<Invoice> {
  const response = await postInvoice(token, invoiceBody(overrides), options);
  expect(response.status, response.text).toBe(201);
  return response.body as Invoice;
}

function getInvoice(token: string, id: string): request.Test {
  return request(app).get(`/v1/invoices/${id}`).set(bearer(token));
}

function voidInvoice(token: string, id: string, key = newKey()): request.Test {
  return request(app).post(`/v1/invoices/${id}/void`).set(bearer(token)).set('Idempotency-Key', key);
}

function listInvoices(token: string, query: Record<string, string | number> = {}): request.Test {
  return request(app).get('/v1/invoices').query(query).set(bearer(token));
}

/** Lists and insists it worked. */
async function listOk(token: string, query: Record<string, string | number> = {}): Promise<InvoiceList> {
  const response = await listInvoices(token, query);
  expect(response.status, response.text).toBe(200);
  return response.body as InvoiceList;
}

async function onboardClinic(name: string, settlementAddress?: Address): Promise<TestClinic> {
  const settlement = settlementAddress ?? (await fundedAccount(chain)).address;
  const response = await request(app)
    .post('/v1/clinics')
    .set(bearer(platformAdmin))
    .set('Idempotency-Key', newKey())
    .send({ name, settlement_address: settlement });
  expect(response.status, response.text).toBe(201);
  const id = response.body.id as string;
  return { id, settlementAddress: settlement, admin: tokenFor('clinic_admin', id), staff: tokenFor('clinic_staff', id) };
}

/** How many invoices exist in the whole database. */
async function invoiceCount(): Promise<number> {
  const [row] = (await database.db('invoices').count({ n: '*' })) as { n: string }[];
  return Number(row!.n);
}

/** Runs `act` and asserts that no invoice came into existence meanwhile. */
async function expectNothingCreated<T>(act: () => Promise<T>): Promise<T> {
  const before = await invoiceCount();
  const result = await act();
  expect(await invoiceCount()).toBe(before);
  return result;
}

function expectProblem(response: request.Response, status: number, code: string, param?: string): void {
  expect(response.status, response.text).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(response.body).toMatchObject({ type: `/problems/${code}`, status, code });
  expect(typeof response.body.title).toBe('string');
  if (param !== undefined) expect(response.body.param).toBe(param);
}

/** A problem body without its per-request id, to compare two problems for equality. */
function problemShape(response: request.Response): Record<string, unknown> {
  const { request_id: _requestId, ...rest } = response.body as Record<string, unknown>;
  return rest;
}

/** What the API never shows: the salt and destination bound into an invoice's deposit address. */
async function depositBinding(invoiceId: string): Promise<{ salt: Hex; destination: Address }> {
  const row = (await database.db('invoices').where({ id: invoiceId }).first('deposit_salt', 'settlement_address')) as {
    deposit_salt: Hex;
    settlement_address: string;
  };
  return { salt: row.deposit_salt, destination: getAddress(row.settlement_address) };
}

/** Where the factory contract itself says the deposit of (destination, salt) is. */
function factoryDepositAddress(factory: Address, destination: Address, salt: Hex): Promise<Address> {
  return chain.publicClient.readContract({ address: factory, abi: depositFactoryAbi, functionName: 'depositAddress', args: [destination, salt] });
}

function balanceOf(token: Address, owner: Address): Promise<bigint> {
  return chain.publicClient.readContract({ address: token, abi: testHKDAbi, functionName: 'balanceOf', args: [owner] });
}

/** The SVG text of a response, however supertest chose to buffer an image type. */
function svgText(response: request.Response): string {
  return Buffer.isBuffer(response.body) ? response.body.toString('utf8') : response.text;
}

// ---------------------------------------------------------------------------------------------
// Creating
// ---------------------------------------------------------------------------------------------

describe('POST /v1/invoices', () => {
  let clinicA: TestClinic;
  let clinicB: TestClinic;

  beforeAll(async () => {
    [clinicA, clinicB] = await Promise.all([onboardClinic('Central Family Clinic'), onboardClinic('Kowloon Dental')]);
  });

  it('creates an open invoice with exact amounts, the token, a checksummed deposit address and a 60-minute expiry', async () => {
    const body = invoiceBody({ patient_ref: 'MRN:2024/0042#a', metadata: { visit: 'V-1', desk: 'front' } });
    const before = Date.now();
    const response = await postInvoice(clinicA.admin, body);
    const after = Date.now();

    expect(response.status, response.text).toBe(201);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.headers['idempotent-replayed']).toBeUndefined();
    const invoice = response.body as Invoice;
    expect(invoice).toMatchObject({
      object: 'invoice',
      clinic_id: clinicA.id,
      number: 1,
      status: 'open',
      currency: 'HKD',
      amount_due: LINE_ITEMS_TOTAL,
      amount_paid: '0.00',
      token_amount_due: LINE_ITEMS_TOKEN_UNITS,
      token_amount_paid: '0',
      patient_ref: 'MRN:2024/0042#a',
      paid_at: null,
      voided_at: null,
    });
    expect(invoice.id).toMatch(/^inv_[0-9a-f]{24}$/);
    expect(invoice.token).toEqual({ chain_id: network.chainId, address: network.token.address, symbol: network.token.symbol, decimals: 6 });
    expect(invoice.token.address).toBe(getAddress(invoice.token.address));
    expect(invoice.deposit_address).toMatch(/^0x[0-9a-fA-F]{40}$/);
    expect(invoice.deposit_address).toBe(getAddress(invoice.deposit_address));
    expect(invoice.deposit_address).not.toBe(invoice.deposit_address.toLowerCase());
    expect(invoice.payment_uri).toBe(
      `ethereum:${network.token.address}@${network.chainId}/transfer?address=${invoice.deposit_address}&uint256=${LINE_ITEMS_TOKEN_UNITS}`,
    );
    expect(invoice.payment_qr_url).toBe(`/v1/invoices/${invoice.id}/payment-qr.svg`);
    expect(invoice.line_items).toEqual(LINE_ITEMS);
    expect(invoice.metadata).toEqual({ visit: 'V-1', desk: 'front' });

    const createdAt = Date.parse(invoice.created_at);
    expect(createdAt).toBeGreaterThanOrEqual(before - 5000);
    expect(createdAt).toBeLessThanOrEqual(after + 5000);
    expect(Date.parse(invoice.expires_at) - createdAt).toBe(60 * 60_000);
  });

  it('numbers invoices 1, 2, 3… per clinic, and another clinic starts again at 1', async () => {
    const second = await createInvoice(clinicA.admin);
    const third = await createInvoice(clinicA.staff);
    const firstOfB = await createInvoice(clinicB.admin);
    expect([second.number, third.number]).toEqual([2, 3]);
    expect(firstOfB.number).toBe(1);
    expect(firstOfB.clinic_id).toBe(clinicB.id);
  });

  it('numbers concurrent invoices without gaps or duplicates', async () => {
    const clinic = await onboardClinic('Busy Clinic');
    const responses = await Promise.all(Array.from({ length: 10 }, () => postInvoice(clinic.staff)));
    for (const response of responses) expect(response.status, response.text).toBe(201);
    const numbers = responses.map((response) => (response.body as Invoice).number).sort((a, b) => a - b);
    expect(numbers).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('takes expires_in_minutes', async () => {
    const invoice = await createInvoice(clinicA.admin, { expires_in_minutes: 15 });
    expect(Date.parse(invoice.expires_at) - Date.parse(invoice.created_at)).toBe(15 * 60_000);
    const longest = await createInvoice(clinicA.admin, { expires_in_minutes: 10_080 });
    expect(Date.parse(longest.expires_at) - Date.parse(longest.created_at)).toBe(7 * 24 * 60 * 60_000);
  });

  it('computes amounts exactly at the edges: a cent, and the largest invoice total', async () => {
    const cent = await createInvoice(clinicA.admin, { line_items: [{ description: 'Photocopy', quantity: 1, unit_amount: '0.01' }], metadata: {} });
    expect(cent).toMatchObject({ amount_due: '0.01', token_amount_due: '10000', metadata: {} });

    const largest = await createInvoice(clinicA.admin, { line_items: [{ description: 'Surgery', quantity: 10, unit_amount: '99999999.99' }] });
    expect(largest).toMatchObject({ amount_due: '999999999.90', token_amount_due: '999999999900000' });

    const whole = await createInvoice(clinicA.admin, { line_items: [{ description: 'Visit', quantity: 3, unit_amount: '7' }] });
    expect(whole).toMatchObject({ amount_due: '21.00', token_amount_due: '21000000' });
    expect(whole.line_items).toEqual([{ description: 'Visit', quantity: 3, unit_amount: '7' }]);
  });

  it('gives every invoice its own deposit address, the one the factory contract reports, with nothing deployed there yet', async () => {
    const [one, two] = [await createInvoice(clinicA.admin), await createInvoice(clinicA.admin)];
    expect(one.deposit_address).not.toBe(two.deposit_address);
    for (const invoice of [one, two]) {
      const { salt, destination } = await depositBinding(invoice.id);
      expect(destination).toBe(getAddress(clinicA.settlementAddress));
      expect(await factoryDepositAddress(inject('factoryAddress'), destination, salt)).toBe(invoice.deposit_address);
      expect(await chain.publicClient.getCode({ address: invoice.deposit_address })).toBeUndefined();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Paying
// ---------------------------------------------------------------------------------------------

describe('paying an invoice from its EIP-681 payment URI', () => {
  it('a third-party parser reads back token, chain, recipient and amount, and that exact transfer lands at the deposit address', async () => {
    const [owner, payer, relayer] = await Promise.all([fundedAccount(chain), fundedAccount(chain), fundedAccount(chain)]);
    // Our own token (we hold its owner key, so we can mint) with the run's shared factory.
    const token = await deployTestToken(chain, owner);
    const ownNetwork = await loadPaymentNetwork({
      chain: createChainClient({ rpcUrl: inject('rpcUrl'), timeoutMs: 5000 }),
      tokens: token,
      factory: inject('factoryAddress'),
      timeoutMs: 10_000,
    });
    const { app: payApp } = await buildTestApp({ db: database.db, network: ownNetwork });
    const clinic = await onboardClinic('Harbour Clinic');
    const invoice = await createInvoice(clinic.admin, {}, { target: payApp });
    expect(invoice.token).toEqual({ chain_id: await chain.publicClient.getChainId(), address: getAddress(token), symbol: 'tHKD', decimals: 6 });

    const parsed = parseEthereumUri(invoice.payment_uri);
    expect(parsed.scheme).toBe('ethereum');
    expect(getAddress(parsed.target_address)).toBe(getAddress(token));
    expect(Number(parsed.chain_id)).toBe(await chain.publicClient.getChainId());
    expect(parsed.function_name).toBe('transfer');
    expect(parsed.parameters?.address).toBe(invoice.deposit_address);
    expect(parsed.parameters?.uint256).toBe(invoice.token_amount_due);

    // Pay exactly what the URI asks for, as a wallet would.
    const amount = BigInt(parsed.parameters!.uint256!);
    await mint(chain, owner, token, payer.address, amount);
    const hash = await payer.wallet.writeContract({
      address: getAddress(parsed.target_address),
      abi: testHKDAbi,
      functionName: 'transfer',
      args: [getAddress(parsed.parameters!.address!), amount],
    });
    expect((await chain.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 })).status).toBe('success');
    expect(await balanceOf(token, invoice.deposit_address)).toBe(BigInt(invoice.token_amount_due));
    expect(await balanceOf(token, payer.address)).toBe(0n);

    // The deposit is bound to the clinic: flushing it pays the clinic's settlement address, all of it.
    const { salt, destination } = await depositBinding(invoice.id);
    const flush = await relayer.wallet.writeContract({
      address: inject('factoryAddress'),
      abi: depositFactoryAbi,
      functionName: 'flush',
      args: [token, destination, salt],
    });
    expect((await chain.publicClient.waitForTransactionReceipt({ hash: flush, pollingInterval: 50 })).status).toBe('success');
    expect(await balanceOf(token, clinic.settlementAddress)).toBe(BigInt(invoice.token_amount_due));
    expect(await balanceOf(token, invoice.deposit_address)).toBe(0n);
  });
});

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

describe('GET /v1/invoices/:id and its payment QR code', () => {
  let clinic: TestClinic;
  let invoice: Invoice;

  beforeAll(async () => {
    clinic = await onboardClinic('Wan Chai Clinic');
    invoice = await createInvoice(clinic.admin);
  });

  it('returns the invoice exactly as it was created', async () => {
    const response = await getInvoice(clinic.staff, invoice.id);
    expect(response.status, response.text).toBe(200);
    expect(response.body).toEqual(asRead(invoice));
  });

  it("lets finance, auditors and platform admins read any clinic's invoice", async () => {
    for (const token of [tokenFor('finance'), tokenFor('auditor'), platformAdmin, tokenFor('finance', clinic.id)]) {
      const response = await getInvoice(token, invoice.id);
      expect(response.status, response.text).toBe(200);
      expect(response.body.id).toBe(invoice.id);
    }
  });

  it('serves the payment URI as an SVG QR code', async () => {
    const response = await request(app).get(invoice.payment_qr_url).set(bearer(clinic.admin));
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^image\/svg\+xml/);
    const svg = svgText(response);
    expect(svg).toMatch(/^(<svg|<\?xml)/);
    // The code of this invoice's URI (rendered with the settings the gateway uses), not any other.
    expect(svg).toBe(await QRCode.toString(invoice.payment_uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 }));
  });

  it('answers 404 for an unknown id and 400 for a malformed one', async () => {
    expectProblem(await getInvoice(clinic.admin, UNKNOWN_INVOICE_ID), 404, 'not_found');
    expectProblem(await request(app).get(`/v1/invoices/${UNKNOWN_INVOICE_ID}/payment-qr.svg`).set(bearer(clinic.admin)), 404, 'not_found');
    expectProblem(await getInvoice(clinic.admin, 'inv_123'), 400, 'invalid_request', 'id');
    expectProblem(await getInvoice(clinic.admin, "inv_0' OR '1'='1"), 400, 'invalid_request', 'id');
  });
});

// ---------------------------------------------------------------------------------------------
// Listing
// ---------------------------------------------------------------------------------------------

describe('GET /v1/invoices', () => {
  let clinicA: TestClinic;
  let clinicB: TestClinic;
  /** Clinic A's invoices, newest first. */
  let listA: Invoice[];
  let listB: Invoice[];
  const ids = (invoices: readonly Invoice[]) => invoices.map((invoice) => invoice.id);

  beforeAll(async () => {
    [clinicA, clinicB] = await Promise.all([onboardClinic('List Clinic A'), onboardClinic('List Clinic B')]);
    const created: Invoice[] = [];
    for (let i = 0; i < 7; i++) created.push(await createInvoice(clinicA.staff, { patient_ref: i % 3 === 0 ? 'PAT-LIST-X' : `PAT-LIST-${i}` }));
    listA = created.reverse();
    listB = [];
    for (let i = 0; i < 2; i++) listB.unshift(await createInvoice(clinicB.staff, { patient_ref: 'PAT-LIST-X' }));
  });

  it("is a list object of the clinic's invoices, newest first", async () => {
    const list = await listOk(clinicA.admin, { limit: 100 });
    expect(list.object).toBe('list');
    expect(list.url).toBe('/v1/invoices');
    expect(list.has_more).toBe(false);
    expect(ids(list.data)).toEqual(ids(listA));
    expect(list.data[0]).toEqual(asRead(listA[0]!));
  });

  it('limits pages to 1–100 items', async () => {
    const one = await listOk(clinicA.admin, { limit: 1 });
    expect(ids(one.data)).toEqual([listA[0]!.id]);
    expect(one.has_more).toBe(true);
    expect((await listOk(clinicA.admin, { limit: 7 })).has_more).toBe(false);
    expect((await listOk(clinicA.admin, { limit: 6 })).has_more).toBe(true);
    for (const limit of [0, 101, -1]) expectProblem(await listInvoices(clinicA.admin, { limit }), 400, 'invalid_request', 'limit');
    expectProblem(await listInvoices(clinicA.admin, { limit: 'ten' }), 400, 'invalid_request', 'limit');
    expectProblem(await listInvoices(clinicA.admin, { limit: 2.5 }), 400, 'invalid_request', 'limit');
  });

  it('walks forwards with starting_after through every invoice once, without gaps', async () => {
    const seen: Invoice[] = [];
    const pageSizes: number[] = [];
    let query: Record<string, string | number> = { limit: 2 };
    for (;;) {
      const page = await listOk(clinicA.admin, query);
      seen.push(...page.data);
      pageSizes.push(page.data.length);
      if (!page.has_more) break;
      query = { limit: 2, starting_after: page.data.at(-1)!.id };
    }
    expect(pageSizes).toEqual([2, 2, 2, 1]);
    expect(ids(seen)).toEqual(ids(listA));
  });

  it('walks backwards with ending_before from the oldest page through every invoice once, without gaps', async () => {
    const oldestPage = await listOk(clinicA.admin, { limit: 2, starting_after: listA[4]!.id });
    expect(ids(oldestPage.data)).toEqual(ids(listA.slice(5)));
    expect(oldestPage.has_more).toBe(false);

    const seen: Invoice[] = [...oldestPage.data];
    let first = oldestPage.data[0]!.id;
    for (let guard = 0; guard < 10; guard++) {
      const page = await listOk(clinicA.admin, { limit: 2, ending_before: first });
      seen.unshift(...page.data);
      if (!page.has_more || page.data.length === 0) break;
      first = page.data[0]!.id;
    }
    expect(ids(seen)).toEqual(ids(listA));
  });

  it('refuses cursors in both directions, and unknown or foreign cursors alike', async () => {
    expectProblem(await listInvoices(clinicA.admin, { starting_after: listA[1]!.id, ending_before: listA[3]!.id }), 400, 'invalid_request');
    const unknown = await listInvoices(clinicA.admin, { starting_after: UNKNOWN_INVOICE_ID });
    const foreign = await listInvoices(clinicA.admin, { starting_after: listB[0]!.id });
    expectProblem(unknown, 400, 'invalid_request', 'starting_after');
    expectProblem(foreign, 400, 'invalid_request', 'starting_after');
    expect(foreign.body.detail).toBe(String(unknown.body.detail).replace(UNKNOWN_INVOICE_ID, listB[0]!.id));
    expectProblem(await listInvoices(clinicA.admin, { starting_after: 'inv_nope' }), 400, 'invalid_request', 'starting_after');
    expectProblem(await listInvoices(clinicA.admin, { sort: 'asc' }), 400, 'invalid_request', 'sort');
  });

  it('filters by patient_ref', async () => {
    const list = await listOk(clinicA.admin, { patient_ref: 'PAT-LIST-X', limit: 100 });
    expect(ids(list.data)).toEqual(ids(listA.filter((invoice) => invoice.patient_ref === 'PAT-LIST-X')));
    expect(list.data).toHaveLength(3);
    expect((await listOk(clinicA.admin, { patient_ref: 'PAT-NOBODY' })).data).toEqual([]);
    expectProblem(await listInvoices(clinicA.admin, { patient_ref: 'has space' }), 400, 'invalid_request', 'patient_ref');
  });

  it("filters by a created_gte / created_lte range strictly inside the invoices' timestamps", async () => {
    // Midpoints between neighbours: the range [listA[5]..listA[2]] (oldest-first: 2nd to 5th).
    const midpoint = (a: Invoice, b: Invoice) => new Date((Date.parse(a.created_at) + Date.parse(b.created_at)) / 2).toISOString();
    const gte = midpoint(listA[6]!, listA[5]!);
    const lte = midpoint(listA[2]!, listA[1]!);
    // Sequential HTTP round trips are milliseconds apart, so each midpoint falls strictly between.
    expect(Date.parse(listA[5]!.created_at) - Date.parse(listA[6]!.created_at)).toBeGreaterThanOrEqual(2);
    expect(Date.parse(listA[1]!.created_at) - Date.parse(listA[2]!.created_at)).toBeGreaterThanOrEqual(2);
    const list = await listOk(clinicA.admin, { created_gte: gte, created_lte: lte, limit: 100 });
    expect(ids(list.data)).toEqual(ids(listA.slice(2, 6)));
    expectProblem(await listInvoices(clinicA.admin, { created_gte: 'yesterday' }), 400, 'invalid_request', 'created_gte');
  });

  it('treats created_gte and created_lte as inclusive of the created_at the API reported', async () => {
    const target = listA[3]!;
    const list = await listOk(clinicA.admin, { created_gte: target.created_at, created_lte: target.created_at });
    expect(ids(list.data)).toEqual([target.id]);
  });

  it('filters by status', async () => {
    const voided = listA[2]!;
    expect((await voidInvoice(clinicA.admin, voided.id)).status).toBe(200);
    expect(ids((await listOk(clinicA.admin, { status: 'void', limit: 100 })).data)).toEqual([voided.id]);
    expect(ids((await listOk(clinicA.admin, { status: 'open', limit: 100 })).data)).toEqual(ids(listA.filter((invoice) => invoice.id !== voided.id)));
    expect((await listOk(clinicA.admin, { status: 'paid' })).data).toEqual([]);
    expectProblem(await listInvoices(clinicA.admin, { status: 'cancelled' }), 400, 'invalid_request', 'status');
  });

  it("never shows a clinic another clinic's invoices, even when asked by clinic_id", async () => {
    const own = await listOk(clinicA.admin, { limit: 100 });
    expect(own.data.every((invoice) => invoice.clinic_id === clinicA.id)).toBe(true);
    const other = await listOk(clinicA.admin, { clinic_id: clinicB.id, limit: 100 });
    expect(other.data).toEqual([]);
    const shared = await listOk(clinicB.staff, { patient_ref: 'PAT-LIST-X', limit: 100 });
    expect(ids(shared.data)).toEqual(ids(listB));
  });

  it('shows finance without a clinic every clinic, filterable by clinic_id', async () => {
    for (const token of [tokenFor('finance'), tokenFor('auditor')]) {
      const all = ids((await listOk(token, { limit: 100 })).data);
      for (const id of [...ids(listA), ...ids(listB)]) expect(all).toContain(id);
      expect(ids((await listOk(token, { clinic_id: clinicA.id, limit: 100 })).data)).toEqual(ids(listA));
      expect(ids((await listOk(token, { clinic_id: clinicB.id, limit: 100 })).data)).toEqual(ids(listB));
    }
    expectProblem(await listInvoices(tokenFor('finance'), { clinic_id: 'clin_nope' }), 400, 'invalid_request', 'clinic_id');
  });

  it('confines a finance token that carries a clinic_id to that clinic', async () => {
    const financeOfB = tokenFor('finance', clinicB.id);
    expect(ids((await listOk(financeOfB, { limit: 100 })).data)).toEqual(ids(listB));
    expect((await listOk(financeOfB, { clinic_id: clinicA.id, limit: 100 })).data).toEqual([]);
    expectProblem(await getInvoice(financeOfB, listA[0]!.id), 404, 'not_found');
  });
});

// ---------------------------------------------------------------------------------------------
// Voiding
// ---------------------------------------------------------------------------------------------

describe('POST /v1/invoices/:id/void', () => {
  let clinicA: TestClinic;
  let clinicB: TestClinic;

  beforeAll(async () => {
    [clinicA, clinicB] = await Promise.all([onboardClinic('Void Clinic A'), onboardClinic('Void Clinic B')]);
  });

  it('voids an open invoice, recording when, and changes nothing else', async () => {
    const invoice = await createInvoice(clinicA.staff);
    const before = Date.now();
    const response = await voidInvoice(clinicA.staff, invoice.id);
    expect(response.status, response.text).toBe(200);
    const voided = response.body as Invoice;
    expect(voided.status).toBe('void');
    expect(voided.voided_at).not.toBeNull();
    expect(Math.abs(Date.parse(voided.voided_at!) - before)).toBeLessThan(5000);
    const { status: _s, voided_at: _v, ...unchanged } = asRead(invoice);
    expect(voided).toMatchObject(unchanged);
    expect((await getInvoice(clinicA.admin, invoice.id)).body).toEqual(voided);
    // The clinic's systems are told, with the invoice as webhooks carry it (no descriptions, no checkout link).
    const events = (await database.db('webhook_events').where({ clinic_id: clinicA.id, type: 'invoice.voided' }).select('payload')) as {
      payload: { object: Record<string, unknown> };
    }[];
    expect(events.map(({ payload }) => payload.object.id)).toEqual([invoice.id]);
    expect(events[0]!.payload.object).toMatchObject({ status: 'void', voided_at: voided.voided_at });
    expect(events[0]!.payload.object.line_items).toEqual(
      (voided as unknown as { line_items: { quantity: number; unit_amount: string }[] }).line_items.map(({ quantity, unit_amount }) => ({
        quantity,
        unit_amount,
      })),
    );
    expect(events[0]!.payload.object).not.toHaveProperty('checkout_url');
  });

  it('refuses to void twice with 409 invoice_not_voidable', async () => {
    const invoice = await createInvoice(clinicA.admin);
    expect((await voidInvoice(clinicA.admin, invoice.id)).status).toBe(200);
    expectProblem(await voidInvoice(clinicA.admin, invoice.id), 409, 'invoice_not_voidable');
    expect((await getInvoice(clinicA.admin, invoice.id)).body.status).toBe('void');
  });

  it('replays a retried void with the same key instead of failing it', async () => {
    const invoice = await createInvoice(clinicA.admin);
    const key = newKey();
    const first = await voidInvoice(clinicA.admin, invoice.id, key);
    const retry = await voidInvoice(clinicA.admin, invoice.id, key);
    expect(first.status).toBe(200);
    expect(retry.status).toBe(200);
    expect(retry.text).toBe(first.text);
    expect(retry.headers['idempotent-replayed']).toBe('true');
  });

  it('answers another clinic 404 and leaves the invoice open', async () => {
    const invoice = await createInvoice(clinicA.admin);
    const foreign = await voidInvoice(clinicB.admin, invoice.id);
    const unknown = await voidInvoice(clinicB.admin, UNKNOWN_INVOICE_ID);
    expectProblem(foreign, 404, 'not_found');
    expect(problemShape(foreign)).toEqual(problemShape(unknown));
    const after = await getInvoice(clinicA.admin, invoice.id);
    expect(after.body).toMatchObject({ status: 'open', voided_at: null });
  });

  it('is for clinic roles only: finance, auditors and platform admins get 403', async () => {
    const invoice = await createInvoice(clinicA.admin);
    for (const token of [tokenFor('finance'), tokenFor('finance', clinicA.id), tokenFor('auditor'), platformAdmin]) {
      expectProblem(await voidInvoice(token, invoice.id), 403, 'forbidden');
    }
    expect((await getInvoice(clinicA.admin, invoice.id)).body.status).toBe('open');
  });
});

// ---------------------------------------------------------------------------------------------
// Tenant isolation
// ---------------------------------------------------------------------------------------------

describe('tenant isolation', () => {
  let clinicA: TestClinic;
  let clinicB: TestClinic;
  let invoiceOfA: Invoice;

  beforeAll(async () => {
    [clinicA, clinicB] = await Promise.all([onboardClinic('Isolated A'), onboardClinic('Isolated B')]);
    invoiceOfA = await createInvoice(clinicA.admin);
  });

  it("answers another clinic's invoice exactly like one that does not exist", async () => {
    for (const token of [clinicB.admin, clinicB.staff]) {
      const foreign = await getInvoice(token, invoiceOfA.id);
      const unknown = await getInvoice(token, UNKNOWN_INVOICE_ID);
      expectProblem(foreign, 404, 'not_found');
      expect(problemShape(foreign)).toEqual(problemShape(unknown));
      expect(foreign.text).not.toContain(invoiceOfA.id);
      expect(foreign.text).not.toContain(clinicA.id);
    }
  });

  it("does not serve another clinic's payment QR code", async () => {
    const foreign = await request(app).get(invoiceOfA.payment_qr_url).set(bearer(clinicB.admin));
    const unknown = await request(app).get(`/v1/invoices/${UNKNOWN_INVOICE_ID}/payment-qr.svg`).set(bearer(clinicB.admin));
    expectProblem(foreign, 404, 'not_found');
    expect(problemShape(foreign)).toEqual(problemShape(unknown));
  });

  it('does not let another clinic void the invoice', async () => {
    expectProblem(await voidInvoice(clinicB.staff, invoiceOfA.id), 404, 'not_found');
    expect((await getInvoice(clinicA.admin, invoiceOfA.id)).body).toEqual(asRead(invoiceOfA));
  });

  it("does not show another clinic's clinic record either", async () => {
    const foreign = await request(app).get(`/v1/clinics/${clinicA.id}`).set(bearer(clinicB.admin));
    expectProblem(foreign, 404, 'not_found');
    expect((await request(app).get(`/v1/clinics/${clinicA.id}`).set(bearer(clinicA.staff))).status).toBe(200);
  });
});

// ---------------------------------------------------------------------------------------------
// Roles and bearer tokens
// ---------------------------------------------------------------------------------------------

describe('roles and bearer tokens', () => {
  let clinic: TestClinic;

  beforeAll(async () => {
    clinic = await onboardClinic('Auth Clinic');
  });

  it.each([
    ['finance', () => tokenFor('finance')],
    ['finance of the clinic', () => tokenFor('finance', clinic.id)],
    ['auditor', () => tokenFor('auditor')],
    ['platform_admin', () => platformAdmin],
  ])('refuses %s creating an invoice with 403 forbidden', async (_role, token) => {
    await expectNothingCreated(async () => expectProblem(await postInvoice(token()), 403, 'forbidden'));
  });

  /** Claims of a valid clinic_admin token of the clinic, for building broken ones. */
  function claims(): Record<string, unknown> {
    return { role: 'clinic_admin', clinic_id: clinic.id, sub: 'user-broken', iss: TEST_JWT.issuer, aud: TEST_JWT.audience };
  }
  const nowSeconds = () => Math.floor(Date.now() / 1000);
  const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const sign = (payload: Record<string, unknown>, secret: string = TEST_JWT.secret, algorithm: jwt.Algorithm = 'HS256') =>
    jwt.sign(payload, secret, { algorithm });

  const badTokens: [string, () => string, string][] = [
    ['an expired token', () => sign({ ...claims(), iat: nowSeconds() - 3600, exp: nowSeconds() - 60 }), 'token_expired'],
    ['a token signed with another secret', () => sign({ ...claims(), exp: nowSeconds() + 600 }, 'another-secret-0123456789abcdef0123456789'), 'invalid_token'],
    ['an alg: none token', () => `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ ...claims(), exp: nowSeconds() + 600 })}.`, 'invalid_token'],
    ['an HS512 token (algorithm not pinned)', () => sign({ ...claims(), exp: nowSeconds() + 600 }, TEST_JWT.secret, 'HS512'), 'invalid_token'],
    ['a token from another issuer', () => sign({ ...claims(), iss: 'someone-else', exp: nowSeconds() + 600 }), 'invalid_token'],
    ['a token for another audience', () => sign({ ...claims(), aud: 'another-api', exp: nowSeconds() + 600 }), 'invalid_token'],
    ['a token without exp', () => sign(claims()), 'invalid_token'],
    ['a clinic token without clinic_id', () => sign({ ...claims(), clinic_id: undefined, exp: nowSeconds() + 600 }), 'invalid_token'],
    ['a token with an unknown role', () => sign({ ...claims(), role: 'superuser', exp: nowSeconds() + 600 }), 'invalid_token'],
    [
      'a tampered payload',
      () => {
        const [header, , signature] = sign({ ...claims(), exp: nowSeconds() + 600 }).split('.');
        return `${header}.${base64url({ ...claims(), role: 'platform_admin', clinic_id: undefined, exp: nowSeconds() + 600 })}.${signature}`;
      },
      'invalid_token',
    ],
  ];

  it.each(badTokens)('refuses %s with 401 and creates nothing', async (_name, token, code) => {
    await expectNothingCreated(async () => {
      const response = await postInvoice(token());
      expectProblem(response, 401, code);
      expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
    });
    expectProblem(await listInvoices(token()), 401, code);
  });

  it('refuses a request without a token with 401 missing_token', async () => {
    await expectNothingCreated(async () => {
      const response = await request(app).post('/v1/invoices').set('Idempotency-Key', newKey()).send(invoiceBody());
      expectProblem(response, 401, 'missing_token');
      expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
    });
    expectProblem(await request(app).get('/v1/invoices'), 401, 'missing_token');
  });

  it('refuses an Authorization header that is not a bearer token', async () => {
    await expectNothingCreated(async () => {
      const response = await request(app)
        .post('/v1/invoices')
        .set('Authorization', `Basic ${Buffer.from('a:b').toString('base64')}`)
        .set('Idempotency-Key', newKey())
        .send(invoiceBody());
      expectProblem(response, 401, 'invalid_token');
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------

describe('bad input creates nothing', () => {
  let clinic: TestClinic;

  beforeAll(async () => {
    clinic = await onboardClinic('Strict Clinic');
  });

  const line = (overrides: Record<string, unknown>) => [{ ...LINE_ITEMS[0], ...overrides }];
  const without = (field: string) => {
    const body = invoiceBody();
    delete body[field];
    return body;
  };
  const manyLines = (count: number) => Array.from({ length: count }, (_, i) => ({ description: `Item ${i}`, quantity: 1, unit_amount: '1.00' }));
  const manyKeys = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`key${i}`, 'value']));
  const unitAmount = 'line_items[0].unit_amount';
  const quantity = 'line_items[0].quantity';

  const cases: [string, Record<string, unknown>, string][] = [
    ['missing patient_ref', without('patient_ref'), 'patient_ref'],
    ['missing currency', without('currency'), 'currency'],
    ['missing line_items', without('line_items'), 'line_items'],
    ['an unknown top-level field', invoiceBody({ discount: '10.00' }), 'discount'],
    ['an unknown line-item field', invoiceBody({ line_items: line({ tax_rate: '0.05' }) }), 'line_items[0].tax_rate'],
    ['a line item without unit_amount', invoiceBody({ line_items: [{ description: 'x', quantity: 1 }] }), unitAmount],
    ['unit_amount as a JSON number', invoiceBody({ line_items: line({ unit_amount: 120.5 }) }), unitAmount],
    ['unit_amount with 3 decimals', invoiceBody({ line_items: line({ unit_amount: '120.505' }) }), unitAmount],
    ['unit_amount "0"', invoiceBody({ line_items: line({ unit_amount: '0' }) }), unitAmount],
    ['unit_amount "0.00"', invoiceBody({ line_items: line({ unit_amount: '0.00' }) }), unitAmount],
    ['a negative unit_amount', invoiceBody({ line_items: line({ unit_amount: '-5' }) }), unitAmount],
    ['unit_amount in exponent notation', invoiceBody({ line_items: line({ unit_amount: '1e3' }) }), unitAmount],
    ['unit_amount with a leading space', invoiceBody({ line_items: line({ unit_amount: ' 12' }) }), unitAmount],
    ['an absurdly large unit_amount', invoiceBody({ line_items: line({ unit_amount: '99999999999' }) }), unitAmount],
    [
      'an absurdly large total',
      invoiceBody({ line_items: Array.from({ length: 2 }, () => ({ description: 'x', quantity: 10_000, unit_amount: '99999999.99' })) }),
      'line_items',
    ],
    ['quantity 0', invoiceBody({ line_items: line({ quantity: 0 }) }), quantity],
    ['quantity -1', invoiceBody({ line_items: line({ quantity: -1 }) }), quantity],
    ['quantity 1.5', invoiceBody({ line_items: line({ quantity: 1.5 }) }), quantity],
    ['quantity as the string "2"', invoiceBody({ line_items: line({ quantity: '2' }) }), quantity],
    ['quantity over 10000', invoiceBody({ line_items: line({ quantity: 10_001 }) }), quantity],
    ['no line items', invoiceBody({ line_items: [] }), 'line_items'],
    ['101 line items', invoiceBody({ line_items: manyLines(101) }), 'line_items'],
    ['an empty description', invoiceBody({ line_items: line({ description: '' }) }), 'line_items[0].description'],
    ['21 metadata keys', invoiceBody({ metadata: manyKeys(21) }), 'metadata'],
    ['a metadata value that is not a string', invoiceBody({ metadata: { visit: 5 } }), 'metadata.visit'],
    ['currency USD', invoiceBody({ currency: 'USD' }), 'currency'],
    ['currency in lower case', invoiceBody({ currency: 'hkd' }), 'currency'],
    ['expires_in_minutes 0', invoiceBody({ expires_in_minutes: 0 }), 'expires_in_minutes'],
    ['expires_in_minutes 100000', invoiceBody({ expires_in_minutes: 100_000 }), 'expires_in_minutes'],
    ['patient_ref with spaces', invoiceBody({ patient_ref: 'Chan Tai Man' }), 'patient_ref'],
    ['patient_ref over 64 characters', invoiceBody({ patient_ref: 'P'.repeat(65) }), 'patient_ref'],
  ];

  it.each(cases)('refuses %s with 400 naming the field', async (_name, body, param) => {
    await expectNothingCreated(async () => expectProblem(await postInvoice(clinic.admin, body), 400, 'invalid_request', param));
  });

  it('accepts the boundaries just inside the limits', async () => {
    const invoice = await createInvoice(clinic.admin, {
      patient_ref: 'P'.repeat(64),
      line_items: manyLines(100),
      metadata: manyKeys(20),
      expires_in_minutes: 5,
    });
    expect(invoice).toMatchObject({ amount_due: '100.00', token_amount_due: '100000000' });
    expect(invoice.line_items).toHaveLength(100);
    expect(Object.keys(invoice.metadata)).toHaveLength(20);
  });

  it('refuses malformed JSON with 400 malformed_json', async () => {
    await expectNothingCreated(async () => {
      const response = await request(app)
        .post('/v1/invoices')
        .set(bearer(clinic.admin))
        .set('Idempotency-Key', newKey())
        .set('content-type', 'application/json')
        .send('{"patient_ref": "PAT-1", "currency": "HKD",');
      expectProblem(response, 400, 'malformed_json');
    });
  });

  it('refuses a body over 100 KB with 413', async () => {
    await expectNothingCreated(async () => {
      const response = await postInvoice(clinic.admin, invoiceBody({ metadata: { note: 'x'.repeat(101 * 1024) } }));
      expectProblem(response, 413, 'body_too_large');
    });
  });

  it('refuses a body that is not JSON with 415', async () => {
    await expectNothingCreated(async () => {
      const response = await request(app)
        .post('/v1/invoices')
        .set(bearer(clinic.admin))
        .set('Idempotency-Key', newKey())
        .set('content-type', 'text/plain')
        .send('patient_ref=PAT-1');
      expectProblem(response, 415, 'unsupported_media_type');
    });
  });

  it('numbers the next good invoice as if the refused ones never happened', async () => {
    const before = (await listOk(clinic.admin, { limit: 100 })).data.length;
    const invoice = await createInvoice(clinic.admin);
    expect(invoice.number).toBe(before + 1);
  });
});

// ---------------------------------------------------------------------------------------------
// Strings
// ---------------------------------------------------------------------------------------------

describe('SQL and script text in strings', () => {
  const nasty = [
    { description: "'; DROP TABLE invoices; --", quantity: 1, unit_amount: '10.00' },
    { description: '<script>alert(1)</script>', quantity: 1, unit_amount: '20.00' },
    { description: 'Ünïcödé 診症 & "quotes" \\ \u2028', quantity: 1, unit_amount: '30.00' },
  ];

  it('are stored and returned verbatim, and never appear as raw markup in the response text', async () => {
    const clinic = await onboardClinic('<b>Clinic</b> & Sons');
    const metadata = { note: '<img src=x onerror=alert(1)>', sql: "1' OR '1'='1" };
    const response = await postInvoice(clinic.admin, invoiceBody({ line_items: nasty, metadata }));
    expect(response.status, response.text).toBe(201);
    expect(response.body.line_items).toEqual(nasty);
    expect(response.body.metadata).toEqual(metadata);
    expect(response.body.amount_due).toBe('60.00');
    for (const text of [response.text, (await getInvoice(clinic.admin, response.body.id as string)).text]) {
      expect(text).not.toContain('<script>');
      expect(text).not.toContain('<img');
      expect(text).toContain('\\u003cscript\\u003e');
    }
    const got = await getInvoice(clinic.admin, response.body.id as string);
    expect(got.body.line_items).toEqual(nasty);
    const stored = (await database
      .db('invoices')
      .where({ id: response.body.id as string })
      .first('line_items')) as { line_items: unknown };
    expect(stored.line_items).toEqual(nasty);
    // The table is still there and still counts.
    expect(await invoiceCount()).toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Idempotency
// ---------------------------------------------------------------------------------------------

describe('idempotent creation through HTTP', () => {
  let clinicA: TestClinic;
  let clinicB: TestClinic;

  beforeAll(async () => {
    [clinicA, clinicB] = await Promise.all([onboardClinic('Retry Clinic A'), onboardClinic('Retry Clinic B')]);
  });

  it('replays the first response byte for byte for the same key and body, creating one invoice', async () => {
    const key = newKey();
    const before = await invoiceCount();
    const first = await postInvoice(clinicA.admin, invoiceBody(), { key });
    const retry = await postInvoice(clinicA.admin, invoiceBody(), { key });
    expect(first.status).toBe(201);
    expect(retry.status).toBe(201);
    expect(retry.text).toBe(replayOf(first.text));
    expect(retry.headers['content-type']).toBe(first.headers['content-type']);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(await invoiceCount()).toBe(before + 1);
  });

  it('treats the same body with its keys in another order as the same request', async () => {
    const key = newKey();
    const body = invoiceBody();
    const reordered = Object.fromEntries(Object.entries(body).reverse());
    const first = await postInvoice(clinicA.admin, body, { key });
    const retry = await expectNothingCreated(() => postInvoice(clinicA.admin, reordered, { key }));
    expect(retry.status).toBe(201);
    expect(retry.text).toBe(replayOf(first.text));
  });

  it('refuses the same key with another body with 422 idempotency_key_reused', async () => {
    const key = newKey();
    const first = await postInvoice(clinicA.admin, invoiceBody(), { key });
    expect(first.status).toBe(201);
    const other = await expectNothingCreated(() => postInvoice(clinicA.admin, invoiceBody({ patient_ref: 'PAT-OTHER' }), { key }));
    expectProblem(other, 422, 'idempotency_key_reused', 'Idempotency-Key');
  });

  it("scopes keys per caller: another clinic's user with the same key gets its own invoice", async () => {
    const key = newKey();
    const ofA = await postInvoice(clinicA.admin, invoiceBody(), { key });
    const ofB = await postInvoice(clinicB.admin, invoiceBody(), { key });
    expect(ofA.status).toBe(201);
    expect(ofB.status).toBe(201);
    expect(ofB.headers['idempotent-replayed']).toBeUndefined();
    expect(ofB.body.id).not.toBe(ofA.body.id);
    expect(ofB.body.clinic_id).toBe(clinicB.id);
    expect(ofA.body.clinic_id).toBe(clinicA.id);
  });

  it('lets only one of 10 concurrent identical requests create, and gives all 10 the same answer', async () => {
    const key = newKey();
    const before = await invoiceCount();
    const responses = await Promise.all(Array.from({ length: 10 }, () => postInvoice(clinicA.staff, invoiceBody({ patient_ref: 'PAT-RACE' }), { key })));
    expect(await invoiceCount()).toBe(before + 1);
    // One answer creates and shows the checkout link; the nine replays show the same but the link (shown once).
    const creator = responses.find((response) => response.headers['idempotent-replayed'] === undefined)!;
    for (const response of responses) {
      expect(response.status, response.text).toBe(201);
      expect(response.text).toBe(response === creator ? creator.text : replayOf(creator.text));
    }
    expect(responses.filter((response) => response.headers['idempotent-replayed'] === 'true')).toHaveLength(9);
    expect((await listOk(clinicA.admin, { patient_ref: 'PAT-RACE' })).data).toHaveLength(1);
  });

  it('replays a refused request too', async () => {
    const key = newKey();
    const first = await expectNothingCreated(() => postInvoice(clinicA.admin, invoiceBody({ currency: 'USD' }), { key }));
    const retry = await expectNothingCreated(() => postInvoice(clinicA.admin, invoiceBody({ currency: 'USD' }), { key }));
    expectProblem(first, 400, 'invalid_request', 'currency');
    expect(retry.status).toBe(400);
    expect(retry.text).toBe(first.text);
    expect(retry.headers['idempotent-replayed']).toBe('true');
  });

  it('refuses a POST without an Idempotency-Key', async () => {
    await expectNothingCreated(async () => {
      const response = await request(app).post('/v1/invoices').set(bearer(clinicA.admin)).send(invoiceBody());
      expectProblem(response, 400, 'invalid_request', 'Idempotency-Key');
    });
  });

  it('accepts a 255-character key and refuses a 256-character one', async () => {
    await expectNothingCreated(async () =>
      expectProblem(await postInvoice(clinicA.admin, invoiceBody(), { key: 'k'.repeat(256) }), 400, 'invalid_request', 'Idempotency-Key'),
    );
    expect((await postInvoice(clinicA.admin, invoiceBody(), { key: 'k'.repeat(255) })).status).toBe(201);
  });
});
