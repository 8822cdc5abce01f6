/**
 * The typed client (`client/`) against the real gateway: the real app on the run's Postgres and
 * anvil, served over real HTTP, with the client's requests going through a proxy the test
 * controls (test/support/httpFaultProxy.ts). The proxy records every request, so what the
 * client sent (its `Idempotency-Key`, how many attempts) is a fact, and it injects what a
 * network does to a client: a connection cut after the gateway did the work, a 429 or a 503
 * from something in front of the gateway, an answer slower than the client's timeout.
 *
 * Also: the generated types are current and every operation of the contract has a method (or
 * is a page for people's browsers, left out on purpose); webhook deliveries made by the real
 * dispatcher check out with `ClinicPay.webhooks.constructEvent`, through a secret rotation; and
 * the client compiles on its own and runs in plain node.
 *
 * The database is read directly only to count invoices, so "one invoice" is a fact.
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { Express } from 'express';
import { getAddress } from 'viem';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { GENERATED_FILE, generateApiTypes, OPENAPI_FILE } from '../client/generate.js';
import {
  AuthenticationError,
  ClinicPay,
  ClinicPayApiError,
  type ClinicPayOptions,
  ConflictError,
  ConnectionError,
  InvalidRequestError,
  type InvoiceCreate,
  NotFoundError,
  PermissionError,
  RateLimitError,
  ServerError,
  TimeoutError,
  WebhookSignatureError,
  type WebhookSignatureFailure,
} from '../client/src/index.js';
import { createLogger } from '../src/platform/log.js';
import { dispatchDueWebhooks } from '../src/webhooks/dispatcher.js';
import { buildTestApp, CapturedLog, onboardClinic, TEST_SECRETS, tokenFor } from './support/app.js';
import { type Served, serve } from './support/browser.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { WebhookReceiver } from './support/gatewayHarness.js';
import { HttpFaultProxy } from './support/httpFaultProxy.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const CLIENT_DIR = path.join(ROOT, 'client');

let database: TestDatabase;
let app: Express;
let served: Served;
let proxy: HttpFaultProxy;
let clinicA: string;
let clinicB: string;
/** The secret of a clinic_staff API key of clinic A: what a clinic's own system bills with. */
let staffKey: string;

beforeAll(async () => {
  database = await createTestDatabase();
  ({ app } = await buildTestApp({ db: database.db }));
  served = await serve(app);
  proxy = await HttpFaultProxy.start(served.url);
  clinicA = await onboardClinic(app, 'Client Clinic A');
  clinicB = await onboardClinic(app, 'Client Clinic B');
  staffKey = await newApiKey(clinicA, 'clinic_staff');
});

afterAll(async () => {
  await proxy?.close();
  await served?.close();
  await database?.close();
});

beforeEach(() => {
  proxy.reset();
});

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** A client that reaches the gateway through the proxy. */
function clinicPay(apiKey: string, options: Omit<ClinicPayOptions, 'apiKey' | 'baseUrl'> = {}): ClinicPay {
  return new ClinicPay({ apiKey, baseUrl: proxy.url, ...options });
}

/** A new API key of `clinicId`, made by its admin through the client; returns the key itself. */
async function newApiKey(clinicId: string, role: 'clinic_staff' | 'auditor'): Promise<string> {
  const created = await clinicPay(tokenFor('clinic_admin', clinicId)).apiKeys.create({ name: `${role} system`, role });
  expect(created.secret).toMatch(/^cpk_test_/);
  return created.secret!;
}

function invoiceBody(patientRef: string, extra: Partial<InvoiceCreate> = {}): InvoiceCreate {
  return {
    patient_ref: patientRef,
    currency: 'HKD',
    line_items: [{ description: 'Consultation: persistent cough', quantity: 1, unit_amount: '350.00' }],
    ...extra,
  };
}

/** Ids of the invoices of `clinicId` (with `patientRef`, when given), from the database. */
async function invoiceIds(clinicId: string, patientRef?: string): Promise<string[]> {
  const query = database.db('invoices').where({ clinic_id: clinicId });
  if (patientRef !== undefined) query.where({ patient_ref: patientRef });
  return (
    await query.orderBy([
      { column: 'created_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
  ).map((row: { id: string }) => row.id);
}

/** The error `promise` rejects with, checked to be a `type`; fails when it resolves (with what it resolved to) or throws something else. */
async function rejection<E extends Error>(promise: Promise<unknown>, type: abstract new (...args: never[]) => E): Promise<E> {
  let value: unknown;
  try {
    value = await promise;
  } catch (error) {
    if (error instanceof type) return error;
    throw error;
  }
  throw new Error(`expected ${type.name}, but it returned ${JSON.stringify(value)}`);
}

/** What the gateway answers a request made with plain fetch, straight to it (no client, no proxy). */
async function plainAnswer(apiKey: string, method: string, route: string, body?: unknown) {
  const response = await fetch(`${served.url}${route}`, {
    method,
    headers: {
      Authorization: `Bearer ${apiKey}`,
      ...(method === 'POST' ? { 'Idempotency-Key': randomUUID() } : {}),
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, requestId: response.headers.get('x-request-id'), body: (await response.json()) as Record<string, unknown> };
}

function withoutRequestId(problem: Record<string, unknown>): Record<string, unknown> {
  const { request_id: _requestId, ...rest } = problem;
  return rest;
}

/** A problem+json body like the gateway's, for the proxy to answer with. */
function injectedProblem(status: number, code: string, title: string): Record<string, unknown> {
  return { type: `/problems/${code}`, title, status, code, detail: 'Answered by the test proxy, not the gateway.' };
}

/** The POSTs that created invoices (not those to an invoice's own routes, such as a reissued checkout link). */
function invoiceCreates() {
  return proxy.requestsTo('POST', '/v1/invoices').filter((one) => new URL(one.url, proxy.url).pathname === '/v1/invoices');
}

const REQUEST_ID = /^req_[0-9a-f]{32}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

// ---------------------------------------------------------------------------------------------
// The client follows the contract
// ---------------------------------------------------------------------------------------------

/**
 * Operations for people's browsers (pages, sign-in, the console), which a clinic's system has no
 * use for: the client leaves them out on purpose. Every other operation must have a method.
 */
const BROWSER_ONLY = [
  'getDocs',
  'getDocsInit',
  'getSignInPage',
  'startSignIn',
  'finishSignIn',
  'signOut',
  'getSignedOutPage',
  'getSession',
  'passkeyRegistrationOptions',
  'registerPasskey',
  'stepUpOptions',
  'stepUp',
  'getConsole',
  'getConsoleFinanceDashboard',
  'getConsoleExceptions',
  'getConsoleException',
  'getConsoleReconciliation',
  'getConsoleStatements',
  'getConsoleAuditLog',
  'getConsoleBills',
  'getConsoleNewBill',
  'getConsoleBill',
  'getConsoleCounter',
  'getConsoleCounterStatus',
  'getConsolePaymentQr',
  'getConsoleCheckoutQr',
  'getConsoleClinics',
  'getConsoleClinic',
  'getCheckoutPage',
  'getCheckoutReceipt',
];

describe('the client and the contract', () => {
  it('has generated types that are current with openapi.yaml', () => {
    const expected = generateApiTypes(fs.readFileSync(OPENAPI_FILE, 'utf8'));
    const actual = fs.readFileSync(GENERATED_FILE, 'utf8');
    // A plain equality, not toEqual: a diff of 1,800 lines helps nobody; the message says what to do.
    expect(actual === expected, 'client/src/api.ts is stale: run `npm run client:generate` and commit the result').toBe(true);
  });

  it('has a method for every operation except the pages for browsers, which it leaves out on purpose', () => {
    type PathItem = Record<string, { operationId?: string; responses?: Record<string, { content?: Record<string, unknown> }> }>;
    const contract = YAML.parse(fs.readFileSync(OPENAPI_FILE, 'utf8')) as { paths: Record<string, PathItem> };
    const operations = new Map<string, { route: string; htmlAnswer: boolean }>();
    for (const [route, item] of Object.entries(contract.paths)) {
      for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
        const operation = item[method];
        if (!operation?.operationId) continue;
        expect(operations.has(operation.operationId), `operationId ${operation.operationId} is used twice`).toBe(false);
        operations.set(operation.operationId, { route, htmlAnswer: 'text/html' in (operation.responses?.['200']?.content ?? {}) });
      }
    }

    const resources = fs.readFileSync(path.join(CLIENT_DIR, 'src', 'resources.ts'), 'utf8');
    const covered = new Set([...resources.matchAll(/\b(?:call|download|paginate)\(\s*'(\w+)'/g)].map((match) => match[1]!));
    const leftOut = new Set(BROWSER_ONLY);

    expect(
      [...covered].filter((id) => !operations.has(id)),
      'operations resources.ts calls that are not in openapi.yaml',
    ).toEqual([]);
    expect(
      [...leftOut].filter((id) => !operations.has(id)),
      'left-out operations that are not in openapi.yaml',
    ).toEqual([]);
    expect(
      [...covered].filter((id) => leftOut.has(id)),
      'operations both covered and left out',
    ).toEqual([]);
    expect(
      [...operations.keys()].filter((id) => !covered.has(id) && !leftOut.has(id)),
      'operations of openapi.yaml with no method in client/src/resources.ts',
    ).toEqual([]);
    // What is left out is a page for people: sign-in, the console, the docs, the checkout's HTML pages.
    for (const id of leftOut) {
      const { route, htmlAnswer } = operations.get(id)!;
      expect(/^\/(auth|console|docs)(\/|$)/.test(route) || (route.startsWith('/checkout/') && htmlAnswer), `${id} (${route}) is not a page for browsers`).toBe(
        true,
      );
    }
    console.log(`client: ${operations.size} operations in openapi.yaml; ${covered.size} with a method, ${leftOut.size} left out (pages for browsers)`);
  });
});

// ---------------------------------------------------------------------------------------------
// Invoices through an API key
// ---------------------------------------------------------------------------------------------

describe('invoices through an API key', () => {
  it('are created with a generated Idempotency-Key, read, voided and listed page by page', async () => {
    const staff = clinicPay(staffKey);
    const created = await staff.invoices.create(invoiceBody('P-CLIENT-1'));
    expect(created).toMatchObject({ object: 'invoice', clinic_id: clinicA, status: 'open', amount_due: '350.00', patient_ref: 'P-CLIENT-1' });
    expect(created.checkout_url).toMatch(/\/checkout\/[A-Za-z0-9_-]{43}$/);

    // What went over the wire: the key as a bearer token, and an Idempotency-Key the client made up.
    const [post] = proxy.requestsTo('POST', '/v1/invoices');
    expect(post!.headers.authorization).toBe(`Bearer ${staffKey}`);
    expect(post!.idempotencyKey).toMatch(UUID);
    expect(JSON.parse(post!.body)).toEqual(invoiceBody('P-CLIENT-1'));

    const retrieved = await staff.invoices.retrieve(created.id);
    expect(retrieved).toMatchObject({ id: created.id, number: created.number, status: 'open', deposit_address: created.deposit_address });

    const voided = await staff.invoices.void(created.id);
    expect(voided).toMatchObject({ id: created.id, status: 'void' });
    expect(typeof voided.voided_at).toBe('string');
    expect(proxy.requestsTo('POST', `/v1/invoices/${created.id}/void`)[0]!.idempotencyKey).toMatch(UUID);
    expect((await staff.invoices.retrieve(created.id)).status).toBe('void');
  });

  it('list: awaited, the first page; iterated, every invoice of the clinic once, newest first, and none of another clinic', async () => {
    // A clinic of this test's own, so "every invoice" is exactly what the test made.
    const clinic = await onboardClinic(app, 'Listing Clinic');
    const staff = clinicPay(await newApiKey(clinic, 'clinic_staff'));
    const made: string[] = [];
    for (let i = 1; i <= 7; i++) made.push((await staff.invoices.create(invoiceBody(`P-LIST-${i}`))).id);
    const theirs = await clinicPay(tokenFor('clinic_admin', clinicB)).invoices.create(invoiceBody('P-LIST-OTHER'));

    const first = await staff.invoices.list({ limit: 3 });
    expect(first.object).toBe('list');
    expect(first.data).toHaveLength(3);
    expect(first.has_more).toBe(true);

    proxy.reset();
    const walked: string[] = [];
    for await (const invoice of staff.invoices.list({ limit: 3 })) walked.push(invoice.id);
    // Newest first, as the gateway orders them: (created_at, id) descending.
    expect(walked).toEqual(await invoiceIds(clinic));
    expect([...walked].sort()).toEqual([...made].sort());
    expect(walked).not.toContain(theirs.id);
    expect(walked.slice(0, 3)).toEqual(first.data.map((invoice) => invoice.id));
    // Three pages of 3, 3 and 1, each asked for once, from where the last one ended.
    const pages = proxy.requestsTo('GET', '/v1/invoices').map((one) => new URL(one.url, proxy.url).searchParams);
    expect(pages.map((query) => query.get('starting_after'))).toEqual([null, walked[2], walked[5]]);

    // Towards newer invoices from the oldest: every other invoice, once each.
    const newer: string[] = [];
    for await (const invoice of staff.invoices.list({ limit: 3, ending_before: walked[6]! })) newer.push(invoice.id);
    expect([...newer].sort()).toEqual(walked.slice(0, 6).sort());
  });
});

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

describe('errors', () => {
  it("carry the gateway's problem unchanged: a bad amount is an InvalidRequestError, and creates nothing", async () => {
    const body = invoiceBody('P-BAD-AMOUNT', { line_items: [{ description: 'Consultation', quantity: 1, unit_amount: '1.005' }] });
    const before = await invoiceIds(clinicA);
    const error = await rejection(clinicPay(staffKey).invoices.create(body), InvalidRequestError);
    const plain = await plainAnswer(staffKey, 'POST', '/v1/invoices', body);

    expect(error).toBeInstanceOf(ClinicPayApiError);
    expect(error.status).toBe(400);
    expect(plain.status).toBe(400);
    expect(withoutRequestId(error.problem)).toEqual(withoutRequestId(plain.body));
    expect(error.code).toBe('invalid_request');
    expect(error.param).toBe('line_items[0].unit_amount');
    expect(error.param).toBe(plain.body.param);
    expect(error.title).toBe(plain.body.title);
    expect(error.detail).toBe(plain.body.detail);
    expect(error.message).toContain(error.detail!);
    // The request id is the gateway's (what its logs are searched by), in the gateway's format.
    expect(error.requestId).toMatch(REQUEST_ID);
    expect(error.requestId).toBe(error.headers.get('x-request-id'));
    expect(plain.requestId).toMatch(REQUEST_ID);
    expect(await invoiceIds(clinicA)).toEqual(before);
  });

  it('name what went wrong: NotFoundError, AuthenticationError, ConflictError, PermissionError', async () => {
    const staff = clinicPay(staffKey);
    // Another clinic's invoice is not found, exactly like one that does not exist.
    const theirs = await clinicPay(tokenFor('clinic_admin', clinicB)).invoices.create(invoiceBody('P-THEIRS'));
    const notFound = await rejection(staff.invoices.retrieve(theirs.id), NotFoundError);
    expect(notFound).toMatchObject({ status: 404, code: 'not_found' });
    const unknown = await rejection(staff.invoices.retrieve(`inv_${'0'.repeat(24)}`), NotFoundError);
    expect(notFound.detail).toBe(unknown.detail);

    // A revoked key.
    const admin = clinicPay(tokenFor('clinic_admin', clinicA));
    const revokedKey = await admin.apiKeys.create({ name: 'retired PMS', role: 'clinic_staff' });
    const keyed = clinicPay(revokedKey.secret!);
    expect((await keyed.invoices.list({ limit: 1 })).object).toBe('list');
    expect((await admin.apiKeys.revoke(revokedKey.id)).revoked_at).not.toBeNull();
    const refused = await rejection(keyed.invoices.list(), AuthenticationError);
    expect(refused).toMatchObject({ status: 401, code: 'invalid_token', detail: 'The API key is unknown, revoked or expired.' });

    // Voiding twice: the gateway answers 409 invoice_not_voidable.
    const invoice = await staff.invoices.create(invoiceBody('P-VOID-TWICE'));
    await staff.invoices.void(invoice.id);
    const conflict = await rejection(staff.invoices.void(invoice.id), ConflictError);
    expect(conflict).toMatchObject({ status: 409, code: 'invoice_not_voidable' });
    expect(conflict.detail).toBe('An invoice that is void cannot be voided.');

    // An auditor's key reads but does not bill.
    const auditor = clinicPay(await newApiKey(clinicA, 'auditor'));
    const before = await invoiceIds(clinicA);
    const forbidden = await rejection(auditor.invoices.create(invoiceBody('P-AUDITOR')), PermissionError);
    expect(forbidden).toMatchObject({ status: 403, code: 'forbidden' });
    expect(await invoiceIds(clinicA)).toEqual(before);
    expect((await auditor.invoices.list({ limit: 1 })).data).toHaveLength(1);

    for (const error of [notFound, refused, conflict, forbidden]) {
      expect(error).toBeInstanceOf(ClinicPayApiError);
      expect(error.requestId).toMatch(REQUEST_ID);
    }
  });

  /** Sends what InvoiceCreate does not allow; the test expects the gateway to refuse it too. */
  function createWithoutLineItems(client: ClinicPay) {
    // @ts-expect-error line_items is required: the compiler refuses what the gateway would.
    return client.invoices.create({ patient_ref: 'P-NO-LINES', currency: 'HKD' });
  }

  function createWithTextQuantity(client: ClinicPay) {
    return client.invoices.create({
      patient_ref: 'P-TEXT-QTY',
      currency: 'HKD',
      // @ts-expect-error quantity is an integer, not a string.
      line_items: [{ description: 'Consultation', quantity: '1', unit_amount: '1.00' }],
    });
  }

  it('TypeScript refuses a request the contract would reject; sent anyway, the gateway refuses it with the same problem', async () => {
    const before = await invoiceIds(clinicA);
    const missing = await rejection(createWithoutLineItems(clinicPay(staffKey)), InvalidRequestError);
    expect(missing).toMatchObject({ status: 400, code: 'invalid_request', param: 'line_items' });
    const plain = await plainAnswer(staffKey, 'POST', '/v1/invoices', { patient_ref: 'P-NO-LINES', currency: 'HKD' });
    expect(withoutRequestId(missing.problem)).toEqual(withoutRequestId(plain.body));

    const textQuantity = await rejection(createWithTextQuantity(clinicPay(staffKey)), InvalidRequestError);
    expect(textQuantity).toMatchObject({ status: 400, code: 'invalid_request' });
    expect(textQuantity.param).toBe('line_items[0].quantity');
    expect(await invoiceIds(clinicA)).toEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------------------------

describe('retries', () => {
  it('a connection cut after the gateway created the invoice: retried with the same key, one invoice', async () => {
    proxy.inject({ kind: 'drop_response', method: 'POST', path: '/v1/invoices' });
    const invoice = await clinicPay(staffKey, { maxRetries: 2 }).invoices.create(invoiceBody('P-DROPPED-1'));

    const posts = invoiceCreates();
    expect(posts.map((one) => one.fault)).toEqual(['drop_response', undefined]);
    expect(posts[0]!.idempotencyKey).toMatch(UUID);
    expect(posts[1]!.idempotencyKey).toBe(posts[0]!.idempotencyKey);
    expect(posts[1]!.body).toBe(posts[0]!.body);
    expect(await invoiceIds(clinicA, 'P-DROPPED-1')).toEqual([invoice.id]);

    // The answer that came is the gateway's replay of the first, and the gateway keeps only the
    // checkout token's hash: it says checkout_url null (as openapi.yaml says). The client made the
    // key, so nobody saw the first link: it issued a new one, and that link opens the page.
    expect(invoice).toMatchObject({ status: 'open', patient_ref: 'P-DROPPED-1' });
    const reissues = proxy.requestsTo('POST', `/v1/invoices/${invoice.id}/checkout-link`);
    expect(reissues).toHaveLength(1);
    expect(invoice.checkout_url).toMatch(/\/checkout\/[A-Za-z0-9_-]{43}$/);
    const page = await fetch(new URL(invoice.checkout_url!, served.url));
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('350.00');
  });

  it('without retries the cut is a ConnectionError; the caller retrying with the same key gets the same invoice', async () => {
    proxy.inject({ kind: 'drop_response', method: 'POST', path: '/v1/invoices' });
    const client = clinicPay(staffKey, { maxRetries: 0 });
    const idempotencyKey = randomUUID();
    const error = await rejection(client.invoices.create(invoiceBody('P-DROPPED-2'), { idempotencyKey }), ConnectionError);
    expect(error).not.toBeInstanceOf(ClinicPayApiError);
    expect(error).not.toBeInstanceOf(TimeoutError);
    // The gateway did the work; the caller cannot know it from the cut.
    const made = await invoiceIds(clinicA, 'P-DROPPED-2');
    expect(made).toHaveLength(1);

    const retried = await client.invoices.create(invoiceBody('P-DROPPED-2'), { idempotencyKey });
    expect(retried.id).toBe(made[0]);
    // With the caller's own key, an earlier call of theirs may have shown the link: the client leaves it be.
    expect(retried.checkout_url).toBeNull();
    expect(await invoiceIds(clinicA, 'P-DROPPED-2')).toEqual(made);
    expect(invoiceCreates().map((one) => one.idempotencyKey)).toEqual([idempotencyKey, idempotencyKey]);
  });

  it('a 429 with Retry-After: 1 is waited out and retried; one of 120 s throws RateLimitError at once', async () => {
    const rateLimited = injectedProblem(429, 'rate_limited', 'Too many requests');
    proxy.inject({ kind: 'status', method: 'POST', path: '/v1/invoices', status: 429, headers: { 'Retry-After': '1' }, problem: rateLimited });
    const started = performance.now();
    const invoice = await clinicPay(staffKey).invoices.create(invoiceBody('P-RATE-1'));
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(990);
    expect(waited).toBeLessThan(5000);
    const posts = invoiceCreates();
    expect(posts.map((one) => one.fault)).toEqual(['status', undefined]);
    expect(posts[1]!.idempotencyKey).toBe(posts[0]!.idempotencyKey);
    expect(await invoiceIds(clinicA, 'P-RATE-1')).toEqual([invoice.id]);

    proxy.reset();
    proxy.inject({ kind: 'status', method: 'POST', path: '/v1/invoices', status: 429, headers: { 'Retry-After': '120' }, problem: rateLimited });
    const at = performance.now();
    const error = await rejection(clinicPay(staffKey).invoices.create(invoiceBody('P-RATE-2')), RateLimitError);
    expect(performance.now() - at).toBeLessThan(500);
    expect(error.retryAfterSeconds).toBe(120);
    expect(error).toMatchObject({ status: 429, code: 'rate_limited', problem: rateLimited });
    expect(invoiceCreates()).toHaveLength(1);
    expect(await invoiceIds(clinicA, 'P-RATE-2')).toEqual([]);
  });

  it('a GET answered 503 twice succeeds on the third attempt; with maxRetries 1 it throws ServerError', async () => {
    const staff = clinicPay(staffKey);
    const invoice = await staff.invoices.create(invoiceBody('P-503'));
    const unavailable = injectedProblem(503, 'not_ready', 'Service unavailable');
    const route = `/v1/invoices/${invoice.id}`;

    proxy.reset();
    proxy.inject({ kind: 'status', method: 'GET', path: route, status: 503, problem: unavailable }, 2);
    expect((await staff.invoices.retrieve(invoice.id)).id).toBe(invoice.id);
    expect(proxy.requestsTo('GET', route).map((one) => one.fault)).toEqual(['status', 'status', undefined]);

    proxy.reset();
    proxy.inject({ kind: 'status', method: 'GET', path: route, status: 503, problem: unavailable }, 2);
    const error = await rejection(clinicPay(staffKey, { maxRetries: 1 }).invoices.retrieve(invoice.id), ServerError);
    expect(error).toMatchObject({ status: 503, code: 'not_ready', problem: unavailable });
    expect(proxy.requestsTo('GET', route)).toHaveLength(2);
    expect(proxy.pendingFaults).toBe(0);
  });

  it('an answer slower than timeoutMs: a GET throws TimeoutError after every attempt; a POST retried makes one invoice', async () => {
    const staff = clinicPay(staffKey);
    const invoice = await staff.invoices.create(invoiceBody('P-SLOW-1'));
    const route = `/v1/invoices/${invoice.id}`;

    proxy.reset();
    proxy.inject({ kind: 'hold', method: 'GET', path: route, ms: 'forever' }, 2);
    const started = performance.now();
    const error = await rejection(clinicPay(staffKey, { timeoutMs: 300, maxRetries: 1 }).invoices.retrieve(invoice.id), TimeoutError);
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toMatch(/300 ms \(2 attempts\)/);
    expect(performance.now() - started).toBeGreaterThanOrEqual(590);
    expect(proxy.requestsTo('GET', route)).toHaveLength(2);

    // The gateway creates the invoice at once; its answer comes after the client gave up waiting.
    proxy.reset();
    proxy.inject({ kind: 'hold', method: 'POST', path: '/v1/invoices', ms: 1500 });
    const slow = await clinicPay(staffKey, { timeoutMs: 300, maxRetries: 2 }).invoices.create(invoiceBody('P-SLOW-2'));
    const posts = invoiceCreates();
    expect(posts.map((one) => one.fault)).toEqual(['hold', undefined]);
    expect(posts[1]!.idempotencyKey).toBe(posts[0]!.idempotencyKey);
    expect(await invoiceIds(clinicA, 'P-SLOW-2')).toEqual([slow.id]);
  });

  it('a POST that takes no Idempotency-Key is never retried: submitTravelRule is tried once', async () => {
    const invoice = await clinicPay(staffKey).invoices.create(invoiceBody('P-TRAVEL'));
    const token = invoice.checkout_url!.split('/').pop()!;
    const unavailable = injectedProblem(503, 'not_ready', 'Service unavailable');

    // The same fault on a GET of the same checkout is retried: the POST's single attempt is the client's choice.
    proxy.reset();
    proxy.inject({ kind: 'status', method: 'GET', path: `/checkout/${token}/status`, status: 503, problem: unavailable });
    await clinicPay(staffKey).checkout.status(token);
    expect(proxy.requestsTo('GET', '/checkout/')).toHaveLength(2);

    proxy.inject({ kind: 'status', method: 'POST', path: `/checkout/${token}/travel-rule`, status: 503, problem: unavailable });
    const error = await rejection(
      clinicPay(staffKey, { maxRetries: 2 }).checkout.submitTravelRule(token, {
        full_name: 'Chan Tai Man',
        address_line: '1 Queen’s Road Central',
        address_town: 'Hong Kong',
        address_country: 'HK',
        payer_address: getAddress(`0x${'ab'.repeat(20)}`),
        signature: `0x${'00'.repeat(65)}`,
      }),
      ServerError,
    );
    expect(error.status).toBe(503);
    const posts = proxy.requestsTo('POST', '/checkout/');
    expect(posts).toHaveLength(1);
    expect(posts[0]!.idempotencyKey).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------------------

describe('ClinicPay.webhooks.constructEvent, with deliveries of the real dispatcher', () => {
  const receiver = new WebhookReceiver();
  const dispatcherLog = new CapturedLog();

  beforeAll(async () => {
    await receiver.start();
  });

  afterAll(async () => {
    await receiver.stop();
  });

  /** One dispatcher pass, a minute ahead of now (so what was just written is due), sending to loopback. */
  function dispatch() {
    return dispatchDueWebhooks({
      db: database.db,
      logger: createLogger('info', dispatcherLog),
      secrets: TEST_SECRETS,
      now: () => new Date(Date.now() + 60_000),
      fetchTimeoutMs: 2000,
      allowedNetworks: ['127.0.0.0/8'],
    });
  }

  /** The reason `promise` is refused with; fails the test if it returns an event. */
  async function refusal(promise: Promise<unknown>): Promise<WebhookSignatureFailure> {
    return (await rejection(promise, WebhookSignatureError)).reason;
  }

  function timestampOf(header: string): number {
    return Number(/(?:^|,)t=(\d+)/.exec(header)![1]);
  }

  it('accepts a real delivery and refuses every altered one; during a rotation either secret (or both) accepts', async () => {
    const platform = clinicPay(tokenFor('platform_admin'));
    const clinic = await platform.clinics.create({
      name: 'Webhook Clinic',
      settlement_address: getAddress(`0x${randomBytes(20).toString('hex')}`),
      webhook_url: receiver.url,
    });
    const secret = clinic.webhook_secret!;
    expect(secret).toMatch(/^whsec_/);
    const admin = clinicPay(tokenFor('clinic_admin', clinic.id));

    // The clinic voids a bill through the client; the real dispatcher tells the clinic's receiver.
    const invoice = await admin.invoices.create(
      invoiceBody('P-HOOK', { line_items: [{ description: 'Dengue NS1 antigen test', quantity: 2, unit_amount: '175.50' }] }),
    );
    await admin.invoices.void(invoice.id);
    expect(await dispatch()).toMatchObject({ delivered: 1, failed: 0 });
    const [delivery] = receiver.ofType('invoice.voided');
    expect(receiver.received).toHaveLength(1);
    const { rawBody } = delivery!;
    const header = delivery!.headers['clinicpay-signature'] as string;
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);

    const event = await ClinicPay.webhooks.constructEvent(rawBody, header, secret);
    const [listed] = (await admin.events.list({ type: 'invoice.voided' })).data;
    expect(event.id).toBe(listed!.id);
    expect(event.type).toBe('invoice.voided');
    if (event.type !== 'invoice.voided') throw new Error('narrowing');
    expect(event.data.id).toBe(invoice.id);
    expect(event.data.status).toBe('void');
    // Health data stays in the gateway: no descriptions, no checkout link, no patient reference.
    expect(event.data.line_items).toEqual([{ quantity: 2, unit_amount: '175.50' }]);
    for (const item of event.data.line_items) expect(item).not.toHaveProperty('description');
    expect(rawBody).not.toContain('Dengue');
    expect(event.data).not.toHaveProperty('checkout_url');
    // The clinic did not opt in to patient references in its webhooks.
    expect(event.data).not.toHaveProperty('patient_ref');
    // The same check works with the body as bytes, as express.raw() gives it.
    expect((await ClinicPay.webhooks.constructEvent(Buffer.from(rawBody), header, secret)).id).toBe(event.id);

    // Refused, each for its reason, and no event handed out.
    const t = timestampOf(header);
    const at = rawBody.indexOf(invoice.id) + invoice.id.length - 1;
    const tampered = `${rawBody.slice(0, at)}${rawBody[at] === '0' ? '1' : '0'}${rawBody.slice(at + 1)}`;
    expect(tampered).toHaveLength(rawBody.length);
    expect(await refusal(ClinicPay.webhooks.constructEvent(tampered, header, secret))).toBe('no_matching_signature');
    expect(await refusal(ClinicPay.webhooks.constructEvent(rawBody, header, `whsec_${randomBytes(32).toString('base64url')}`))).toBe('no_matching_signature');
    expect(await refusal(ClinicPay.webhooks.constructEvent(rawBody, header, secret, { now: t + 301 }))).toBe('timestamp_outside_tolerance');
    expect(await refusal(ClinicPay.webhooks.constructEvent(rawBody, header, secret, { now: t - 301 }))).toBe('timestamp_outside_tolerance');
    expect((await ClinicPay.webhooks.constructEvent(rawBody, header, secret, { now: t + 299 })).id).toBe(event.id);
    const hex = header.split('v1=')[1]!;
    expect(await refusal(ClinicPay.webhooks.constructEvent(rawBody, 't=abc,v1=zz', secret))).toBe('malformed_header');
    expect(await refusal(ClinicPay.webhooks.constructEvent(rawBody, `v1=${hex}`, secret))).toBe('malformed_header');
    expect(await refusal(ClinicPay.webhooks.constructEvent(rawBody, '', secret))).toBe('missing_header');
    expect(await refusal(ClinicPay.webhooks.constructEvent(rawBody, undefined, secret))).toBe('missing_header');
    const parsed = JSON.parse(rawBody) as Record<string, unknown>;
    // @ts-expect-error a parsed body cannot be checked: the signature is over the bytes.
    await expect(ClinicPay.webhooks.constructEvent(parsed, header, secret)).rejects.toThrow(TypeError);

    // A rotation with an overlap: deliveries carry one v1 per secret, and a receiver holding
    // either (or both, while it switches) accepts them.
    const rotated = await admin.clinics.rotateWebhookSecret(clinic.id, { overlap_hours: 24 });
    const newSecret = rotated.webhook_secret!;
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(secret);
    expect(Math.abs(Date.parse(rotated.previous_valid_until!) - (Date.now() + 24 * 3_600_000))).toBeLessThan(60_000);
    const change = await admin.settlementAddressChanges.create(clinic.id, {
      address: getAddress(`0x${randomBytes(20).toString('hex')}`),
      reason: 'New bank custody wallet',
    });
    expect(await dispatch()).toMatchObject({ delivered: 1, failed: 0 });
    const [later] = receiver.ofType('clinic.settlement_address_change_requested');
    const laterHeader = later!.headers['clinicpay-signature'] as string;
    expect(laterHeader.match(/v1=/g)).toHaveLength(2);
    for (const secrets of [secret, newSecret, [secret, newSecret]]) {
      const checked = await ClinicPay.webhooks.constructEvent(later!.rawBody, laterHeader, secrets);
      expect(checked.type).toBe('clinic.settlement_address_change_requested');
      expect(checked.data.id).toBe(change.id);
    }
    expect(await refusal(ClinicPay.webhooks.constructEvent(later!.rawBody, laterHeader, `whsec_${randomBytes(32).toString('base64url')}`))).toBe(
      'no_matching_signature',
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The client on its own
// ---------------------------------------------------------------------------------------------

describe('the client package', () => {
  it('imports nothing but its own files (the platform gives it fetch and Web Crypto)', () => {
    const sources = fs.readdirSync(path.join(CLIENT_DIR, 'src')).filter((name) => name.endsWith('.ts'));
    expect(sources.length).toBeGreaterThan(4);
    const outside: string[] = [];
    let seen = 0;
    for (const name of sources) {
      // Comments aside: the doc comments show how an application imports the client.
      const code = fs
        .readFileSync(path.join(CLIENT_DIR, 'src', name), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/^\s*\/\/.*$/gm, '');
      for (const match of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g)) {
        seen += 1;
        if (!match[1]!.startsWith('./')) outside.push(`${name}: ${match[1]}`);
      }
    }
    // The scan saw the client's own imports (index.ts alone has a dozen).
    expect(seen).toBeGreaterThan(10);
    expect(outside).toEqual([]);
  });

  it('compiles with its own tsconfig and runs in plain node: signs, verifies and calls the gateway', { timeout: 60_000 }, async () => {
    const packageDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clinicpay-client-'));
    try {
      // As it is published: its package.json (type: module) and the compiled dist/.
      fs.copyFileSync(path.join(CLIENT_DIR, 'package.json'), path.join(packageDir, 'package.json'));
      const compiled = spawnSync('npx', ['tsc', '-p', path.join(CLIENT_DIR, 'tsconfig.json'), '--outDir', path.join(packageDir, 'dist')], {
        cwd: ROOT,
        encoding: 'utf8',
      });
      expect(compiled.status, `${compiled.stdout}\n${compiled.stderr}`).toBe(0);
      expect(fs.existsSync(path.join(packageDir, 'dist', 'index.d.ts'))).toBe(true);
      // The gateway's package exports the same build as `clinicpay/client` (npm install runs build:client).
      const gatewayPackage = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
        exports: Record<string, { types: string; default: string }>;
        scripts: Record<string, string>;
      };
      expect(gatewayPackage.exports['./client']).toEqual({ types: './client/dist/index.d.ts', default: './client/dist/index.js' });
      expect(gatewayPackage.scripts.prepare).toBe('npm run build:client');
      expect(gatewayPackage.scripts['build:client']).toBe('tsc -p client/tsconfig.json');

      // Asynchronous: the gateway it calls answers from this process.
      const script = `
        const { ClinicPay, constructEvent, signPayload, WebhookSignatureError } = await import(process.argv[1]);
        const body = JSON.stringify({ id: 'evt_${'0'.repeat(24)}', type: 'invoice.paid', created: 1767225600, data: { object: 'invoice', id: 'inv_${'1'.repeat(24)}' } });
        const header = await signPayload(body, 'whsec_standalone');
        const event = await ClinicPay.webhooks.constructEvent(body, header, 'whsec_standalone');
        const refused = await constructEvent(body.replace('paid', 'void'), header, 'whsec_standalone').then(() => 'accepted', (e) => e instanceof WebhookSignatureError ? e.reason : String(e));
        const health = await new ClinicPay({ apiKey: 'unused', baseUrl: process.argv[2] }).gateway.health();
        console.log(JSON.stringify({ header, event, refused, health }));
      `;
      const run = await promisify(execFile)(
        process.execPath,
        ['--input-type=module', '-e', script, pathToFileURL(path.join(packageDir, 'dist', 'index.js')).href, proxy.url],
        { cwd: packageDir, timeout: 20_000 },
      );
      const printed = JSON.parse(run.stdout) as { header: string; event: { id: string; type: string }; refused: string; health: { status: string } };
      expect(printed.header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      expect(printed.event).toMatchObject({ id: `evt_${'0'.repeat(24)}`, type: 'invoice.paid' });
      expect(printed.refused).toBe('no_matching_signature');
      expect(printed.health).toMatchObject({ status: 'ok' });
      expect(proxy.requestsTo('GET', '/health')[0]!.headers['user-agent']).toMatch(/^clinicpay-client\//);
    } finally {
      fs.rmSync(packageDir, { recursive: true, force: true });
    }
  });
});
