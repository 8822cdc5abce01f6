/**
 * Webhooks from the outbox to a real receiver: a node:http server on 127.0.0.1 that records
 * every request and can be told to fail, hang or redirect. Events are written with
 * enqueueWebhookEvent inside transactions on the run's real Postgres; dispatcher passes run
 * with a clock the test controls, so retry schedules are checked without waiting for them.
 *
 * The database is read directly to check what the dispatcher recorded (event state, delivery
 * log) and, in afterEach, events a test left pending are closed so the next test's clock jump
 * does not send them.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import request from 'supertest';
import { getAddress } from 'viem';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type CreatedClinic, createClinic } from '../src/billing/clinics.js';
import { createInvoice, presentInvoice } from '../src/billing/invoices.js';
import type { PaymentNetwork } from '../src/chain/paymentNetwork.js';
import { createDb, type Db } from '../src/platform/db.js';
import { createLogger } from '../src/platform/log.js';
import { withTransaction } from '../src/platform/transaction.js';
import { waitFor } from '../src/platform/waitFor.js';
import {
  type DispatchDueWebhooksParameters,
  type DispatchDueWebhooksReturnType,
  dispatchDueWebhooks,
  webhookRetryDelayMs,
} from '../src/webhooks/dispatcher.js';
import { enqueueWebhookEvent, type WebhookEventType, webhookInvoice } from '../src/webhooks/outbox.js';
import { verifyWebhookSignature } from '../src/webhooks/signature.js';
import { bearer, buildTestApp, CapturedLog, TEST_ACTOR, TEST_SECRETS, testNetwork, tokenFor } from './support/app.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

// ---------------------------------------------------------------------------------------------
// A webhook receiver
// ---------------------------------------------------------------------------------------------

interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  rawBody: string;
}

type ReceiverMode = 'ok' | 'fail' | 'hang' | 'redirect';

/** Records every request; answers 200, 500, a redirect, or nothing at all, as told. */
class TestReceiver {
  readonly requests: ReceivedRequest[] = [];
  mode: ReceiverMode = 'ok';
  private readonly hanging = new Set<http.ServerResponse>();
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      this.requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, rawBody: Buffer.concat(chunks).toString('utf8') });
      switch (this.mode) {
        case 'ok':
          res.writeHead(200, { 'content-type': 'text/plain' }).end('thanks');
          break;
        case 'fail':
          res.writeHead(500, { 'content-type': 'text/plain' }).end('receiver is down');
          break;
        case 'redirect':
          res.writeHead(307, { location: '/elsewhere' }).end();
          break;
        case 'hang':
          this.hanging.add(res);
          break;
      }
    });
  });

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/clinicpay`;
  }

  /** Back to answering 200 with nothing recorded; hung requests are cut off. */
  reset(): void {
    this.requests.length = 0;
    this.mode = 'ok';
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
  }

  /** Parsed bodies of what arrived. */
  events(): { id: string; type: string; created: number; data: Record<string, unknown> }[] {
    return this.requests.map((r) => JSON.parse(r.rawBody) as { id: string; type: string; created: number; data: Record<string, unknown> });
  }

  async stop(): Promise<void> {
    this.reset();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------------------------------------
// Setup and helpers
// ---------------------------------------------------------------------------------------------

let database: TestDatabase;
let network: PaymentNetwork;
/** The test receivers listen on loopback, which the dispatcher calls only when told it may. */
const LOOPBACK = ['127.0.0.0/8', '::1'];
const receiver = new TestReceiver();
const dispatcherLog = new CapturedLog();
const logger = createLogger('info', dispatcherLog);
const NOTHING: DispatchDueWebhooksReturnType = { delivered: 0, failed: 0, retried: 0, skipped: 0 };
const SECONDS = 1000;
/** The dispatcher's clock; each test moves it as it needs. */
let clock: Date;

beforeAll(async () => {
  database = await createTestDatabase();
  network = await testNetwork();
  await receiver.start();
});

afterAll(async () => {
  await receiver.stop();
  await database.close();
});

beforeEach(() => {
  receiver.reset();
  // A minute ahead of the database, so every event the test writes (due at its insert) is due at once.
  clock = new Date(Date.now() + 60 * SECONDS);
});

afterEach(async () => {
  await database.db('webhook_events').where({ status: 'pending' }).update({ status: 'skipped', last_error: 'closed by the test run' });
});

function at(offsetMs: number): Date {
  return new Date(clock.getTime() + offsetMs);
}

/** One dispatcher pass on the test clock. */
function dispatch(options: Partial<DispatchDueWebhooksParameters> = {}): Promise<DispatchDueWebhooksReturnType> {
  return dispatchDueWebhooks({ db: database.db, logger, now: () => clock, fetchTimeoutMs: 2000, allowedNetworks: LOOPBACK, secrets: TEST_SECRETS, ...options });
}

function randomAddress() {
  return getAddress(`0x${randomBytes(20).toString('hex')}`);
}

/** A clinic inserted through the clinics service, with the receiver as its endpoint unless told. */
function newClinic(webhookUrl: string | null = receiver.url): Promise<CreatedClinic> {
  return withTransaction(database.db, (trx) =>
    createClinic(trx, TEST_ACTOR, {
      name: `Clinic ${randomUUID().slice(0, 8)}`,
      settlementAddress: randomAddress(),
      webhookUrl: webhookUrl ?? undefined,
      secrets: TEST_SECRETS,
    }),
  );
}

/** Writes one event in its own transaction; returns its id. */
function enqueue(
  clinicId: string,
  type: WebhookEventType = 'invoice.paid',
  data: Record<string, unknown> = { object: 'invoice', id: `inv_${randomBytes(12).toString('hex')}` },
): Promise<string> {
  return withTransaction(database.db, (trx) => enqueueWebhookEvent(trx, { clinicId, type, data }));
}

interface EventState {
  status: string;
  attempts: number;
  next_attempt_at: Date;
  delivered_at: Date | null;
  last_error: string | null;
  created_at: Date;
  payload: unknown;
}

async function eventState(id: string): Promise<EventState> {
  return (await database.db('webhook_events').where({ id }).first()) as EventState;
}

interface DeliveryRow {
  attempt: number;
  url: string;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  attempted_at: Date;
}

async function deliveries(eventId: string): Promise<DeliveryRow[]> {
  return (await database.db('webhook_deliveries').where({ event_id: eventId }).orderBy('id')) as DeliveryRow[];
}

const LINE_ITEMS = [
  { description: 'Consultation: suspected dengue fever', quantity: 1, unit_amount: '480.00' },
  { description: 'Blood test (NS1 antigen)', quantity: 2, unit_amount: '350.50' },
];

// ---------------------------------------------------------------------------------------------
// Delivery
// ---------------------------------------------------------------------------------------------

describe('delivering an event', () => {
  it("POSTs {id, type, created, data} to the clinic's URL, signed with its secret, and records the delivery", async () => {
    const clinic = await newClinic();
    const other = await newClinic();
    const { eventId, expectedData } = await withTransaction(database.db, async (trx) => {
      const invoice = await createInvoice(trx, {
        clinicId: clinic.id,
        input: { patient_ref: 'MRN-7781', currency: 'HKD', line_items: LINE_ITEMS },
        network,
        actor: TEST_ACTOR,
      });
      const data = webhookInvoice(presentInvoice(invoice, new Date()));
      // The clinic has not opted in to patient references in its webhooks: the outbox leaves it out.
      const { patient_ref: _patientRef, ...expectedData } = data;
      return { eventId: await enqueueWebhookEvent(trx, { clinicId: clinic.id, type: 'invoice.paid', data }), expectedData };
    });

    expect(await dispatch()).toEqual({ ...NOTHING, delivered: 1 });

    expect(receiver.requests).toHaveLength(1);
    const [received] = receiver.requests;
    expect(received!.method).toBe('POST');
    expect(received!.path).toBe('/hooks/clinicpay');
    expect(received!.headers['content-type']).toBe('application/json');
    expect(received!.headers['user-agent']).toBe('ClinicPay-Webhooks/1');

    const state = await eventState(eventId);
    const body = JSON.parse(received!.rawBody) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['id', 'type', 'created', 'data']);
    expect(body).toEqual({
      id: eventId,
      type: 'invoice.paid',
      created: Math.floor(state.created_at.getTime() / 1000),
      data: JSON.parse(JSON.stringify(expectedData)),
    });

    // The signature: over the exact bytes, at the dispatcher's clock, with this clinic's secret only.
    const header = received!.headers['clinicpay-signature'] as string;
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(header.startsWith(`t=${Math.floor(clock.getTime() / 1000)},`)).toBe(true);
    expect(verifyWebhookSignature({ header, rawBody: received!.rawBody, secret: clinic.webhookSecretShownOnce, now: clock })).toEqual({
      valid: true,
      timestamp: Math.floor(clock.getTime() / 1000),
    });
    expect(verifyWebhookSignature({ header, rawBody: received!.rawBody, secret: other.webhookSecretShownOnce, now: clock }).valid).toBe(false);
    const tampered = received!.rawBody.replace('"invoice.paid"', '"invoice.voided"');
    expect(tampered).not.toBe(received!.rawBody);
    expect(verifyWebhookSignature({ header, rawBody: tampered, secret: clinic.webhookSecretShownOnce, now: clock }).valid).toBe(false);
    expect(verifyWebhookSignature({ header, rawBody: received!.rawBody, secret: clinic.webhookSecretShownOnce, now: at(301 * SECONDS) })).toEqual({
      valid: false,
      reason: 'timestamp_outside_tolerance',
    });

    expect(state).toMatchObject({ status: 'delivered', attempts: 1, delivered_at: clock, last_error: null });
    const [delivery, ...more] = await deliveries(eventId);
    expect(more).toEqual([]);
    expect(delivery).toMatchObject({ attempt: 1, url: receiver.url, status_code: 200, error: null, attempted_at: clock });
    expect(delivery!.duration_ms).toBeGreaterThanOrEqual(0);

    // Delivered once: a later pass sends nothing.
    expect(await dispatch({ now: () => at(24 * 3600 * SECONDS) })).toEqual(NOTHING);
    expect(receiver.requests).toHaveLength(1);
  });

  it('sends an invoice without its line-item descriptions, and logs neither the body nor the secret', async () => {
    const clinic = await newClinic();
    const eventId = await withTransaction(database.db, async (trx) => {
      const invoice = await createInvoice(trx, {
        clinicId: clinic.id,
        input: { patient_ref: 'MRN-SECRET-REF-42', currency: 'HKD', line_items: LINE_ITEMS },
        network,
        actor: TEST_ACTOR,
      });
      return enqueueWebhookEvent(trx, { clinicId: clinic.id, type: 'invoice.paid', data: webhookInvoice(presentInvoice(invoice, new Date())) });
    });
    const logLinesBefore = dispatcherLog.lines.length;

    expect(await dispatch()).toEqual({ ...NOTHING, delivered: 1 });

    const rawBody = receiver.requests[0]!.rawBody;
    expect(rawBody).not.toContain('description');
    expect(rawBody).not.toContain('dengue');
    expect(rawBody).not.toContain('NS1');
    const data = receiver.events()[0]!.data;
    expect(data.line_items).toEqual([
      { quantity: 1, unit_amount: '480.00' },
      { quantity: 2, unit_amount: '350.50' },
    ]);
    expect(data).toMatchObject({ object: 'invoice', clinic_id: clinic.id, amount_due: '1181.00' });
    // The clinic has not opted in to patient references: none in the body, none kept in the outbox.
    expect(rawBody).not.toContain('MRN-SECRET-REF-42');
    expect(JSON.stringify((await eventState(eventId)).payload)).not.toContain('MRN-SECRET-REF-42');

    const logged = dispatcherLog.lines.slice(logLinesBefore).join('\n');
    expect(logged).toContain(eventId);
    expect(logged).toContain('"event_type":"invoice.paid"');
    expect(logged).toContain('"status_code":200');
    expect(logged).not.toContain(clinic.webhookSecretShownOnce);
    expect(logged).not.toContain('MRN-SECRET-REF-42');
    expect(logged).not.toContain('dengue');
    expect(logged).not.toContain(rawBody);
  });

  it('gives every event its own id, and each arrives once, signed for its own clinic', async () => {
    const [first, second] = await Promise.all([newClinic(), newClinic()]);
    const ids = [
      await enqueue(first!.id, 'invoice.processing'),
      await enqueue(first!.id, 'invoice.paid'),
      await enqueue(second!.id, 'invoice.paid'),
      await enqueue(second!.id, 'settlement.forwarded'),
    ];
    expect(new Set(ids).size).toBe(4);
    for (const id of ids) expect(id).toMatch(/^evt_[0-9a-f]{24}$/);

    expect(await dispatch()).toEqual({ ...NOTHING, delivered: 4 });

    expect(
      receiver
        .events()
        .map((e) => e.id)
        .sort(),
    ).toEqual([...ids].sort());
    const secretOf = new Map([ids[0], ids[1]].map((id) => [id!, first!.webhookSecretShownOnce]));
    for (const id of [ids[2], ids[3]]) secretOf.set(id!, second!.webhookSecretShownOnce);
    for (const received of receiver.requests) {
      const id = (JSON.parse(received.rawBody) as { id: string }).id;
      const header = received.headers['clinicpay-signature'] as string;
      expect(verifyWebhookSignature({ header, rawBody: received.rawBody, secret: secretOf.get(id)!, now: clock }).valid, id).toBe(true);
    }
  });

  it('never sends an event whose transaction rolled back', async () => {
    const clinic = await newClinic();
    let eventId: string | undefined;
    await expect(
      withTransaction(database.db, async (trx) => {
        eventId = await enqueueWebhookEvent(trx, { clinicId: clinic.id, type: 'invoice.paid', data: { object: 'invoice' } });
        throw new Error('the state change failed after the event was written');
      }),
    ).rejects.toThrow(/state change failed/);

    expect(eventId).toMatch(/^evt_/);
    expect(await dispatch({ now: () => at(7 * 24 * 3600 * SECONDS) })).toEqual(NOTHING);
    expect(receiver.requests).toEqual([]);
    expect(await database.db('webhook_events').where({ id: eventId! }).first()).toBeUndefined();
  });

  it('skips a clinic without a webhook URL: nothing is sent, then or later', async () => {
    const clinic = await newClinic(null);
    const eventId = await enqueue(clinic.id);

    expect(await dispatch()).toEqual({ ...NOTHING, skipped: 1 });
    expect(await dispatch({ now: () => at(7 * 24 * 3600 * SECONDS) })).toEqual(NOTHING);

    expect(receiver.requests).toEqual([]);
    expect(await eventState(eventId)).toMatchObject({ status: 'skipped', attempts: 0, delivered_at: null });
    expect(await deliveries(eventId)).toEqual([]);
  });

  it('does not send an event before it is due', async () => {
    const clinic = await newClinic();
    await enqueue(clinic.id);
    // The event is due from its insert; a dispatcher whose clock reads earlier than that finds nothing due.
    expect(await dispatch({ now: () => at(-90 * SECONDS) })).toEqual(NOTHING);
    expect(receiver.requests).toEqual([]);
    expect(await dispatch()).toEqual({ ...NOTHING, delivered: 1 });
  });
});

// ---------------------------------------------------------------------------------------------
// Failures and retries
// ---------------------------------------------------------------------------------------------

describe('a receiver that fails', () => {
  it('answering 500 gets the event again after its backoff, not before, and it is delivered once the receiver recovers', async () => {
    const clinic = await newClinic();
    const eventId = await enqueue(clinic.id);
    receiver.mode = 'fail';

    expect(await dispatch()).toEqual({ ...NOTHING, retried: 1 });
    const afterFailure = await eventState(eventId);
    expect(afterFailure).toMatchObject({ status: 'pending', attempts: 1, last_error: 'HTTP 500', delivered_at: null });
    // 30 s after the first failure, plus at most 10 % jitter.
    const delay = afterFailure.next_attempt_at.getTime() - clock.getTime();
    expect(delay).toBeGreaterThanOrEqual(30 * SECONDS);
    expect(delay).toBeLessThanOrEqual(33 * SECONDS);

    receiver.mode = 'ok';
    expect(await dispatch({ now: () => at(30 * SECONDS - 1) })).toEqual(NOTHING);
    expect(receiver.requests).toHaveLength(1);

    clock = at(33 * SECONDS);
    expect(await dispatch()).toEqual({ ...NOTHING, delivered: 1 });
    expect(receiver.requests).toHaveLength(2);
    // The same event, so the receiver can tell it is a retry; a fresh signature timestamp.
    const [firstTry, secondTry] = receiver.events();
    expect(secondTry!.id).toBe(firstTry!.id);
    expect(receiver.requests[1]!.rawBody).toBe(receiver.requests[0]!.rawBody);
    expect(receiver.requests[1]!.headers['clinicpay-signature']).not.toBe(receiver.requests[0]!.headers['clinicpay-signature']);

    expect(await eventState(eventId)).toMatchObject({ status: 'delivered', attempts: 2, delivered_at: clock, last_error: null });
    const rows = await deliveries(eventId);
    expect(rows.map((row) => [row.attempt, row.status_code, row.error])).toEqual([
      [1, 500, 'HTTP 500'],
      [2, 200, null],
    ]);
  });

  it('backs off 30 s, 1 min, 2 min … and marks the event failed after maxAttempts', async () => {
    const clinic = await newClinic();
    const eventId = await enqueue(clinic.id);
    receiver.mode = 'fail';
    const noJitter = () => 0;

    const outcomes: DispatchDueWebhooksReturnType[] = [];
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 4; attempt += 1) {
      outcomes.push(await dispatch({ maxAttempts: 4, random: noJitter }));
      const state = await eventState(eventId);
      if (state.status === 'pending') {
        delays.push(state.next_attempt_at.getTime() - clock.getTime());
        clock = state.next_attempt_at;
      }
    }
    expect(outcomes).toEqual([
      { ...NOTHING, retried: 1 },
      { ...NOTHING, retried: 1 },
      { ...NOTHING, retried: 1 },
      { ...NOTHING, failed: 1 },
    ]);
    expect(delays).toEqual([30 * SECONDS, 60 * SECONDS, 120 * SECONDS]);
    expect(await eventState(eventId)).toMatchObject({ status: 'failed', attempts: 4, last_error: 'HTTP 500', delivered_at: null });
    expect((await deliveries(eventId)).map((row) => row.attempt)).toEqual([1, 2, 3, 4]);

    // Given up: nothing more is sent, however late.
    expect(await dispatch({ now: () => at(30 * 24 * 3600 * SECONDS) })).toEqual(NOTHING);
    expect(receiver.requests).toHaveLength(4);
  });

  it('that hangs is cut off at the timeout, recorded as an error without a status code, and retried', async () => {
    const clinic = await newClinic();
    const eventId = await enqueue(clinic.id);
    receiver.mode = 'hang';

    expect(await dispatch({ fetchTimeoutMs: 300 })).toEqual({ ...NOTHING, retried: 1 });

    await waitFor(() => receiver.requests.length === 1, { what: 'the hung request to be recorded', timeoutMs: 2000 });
    const [row] = await deliveries(eventId);
    expect(row).toMatchObject({ attempt: 1, status_code: null, error: 'timeout: no response within 300 ms' });
    expect(row!.duration_ms).toBeGreaterThanOrEqual(250);
    expect(row!.duration_ms).toBeLessThan(5000);
    expect(await eventState(eventId)).toMatchObject({ status: 'pending', attempts: 1, last_error: 'timeout: no response within 300 ms' });
  });

  it('that redirects is not followed: the redirect counts as a failed attempt', async () => {
    const clinic = await newClinic();
    const eventId = await enqueue(clinic.id);
    receiver.mode = 'redirect';

    expect(await dispatch()).toEqual({ ...NOTHING, retried: 1 });

    expect(receiver.requests.map((r) => r.path)).toEqual(['/hooks/clinicpay']);
    expect((await deliveries(eventId)).map((row) => [row.status_code, row.error])).toEqual([[307, 'HTTP 307']]);
  });

  it('that does not listen is recorded as a network error', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const clinic = await newClinic(`http://127.0.0.1:${port}/gone`);
    const eventId = await enqueue(clinic.id);

    expect(await dispatch()).toEqual({ ...NOTHING, retried: 1 });
    expect(await deliveries(eventId)).toMatchObject([{ status_code: null, error: 'network error: ECONNREFUSED' }]);
  });
});

describe('the retry schedule', () => {
  it('is 30 s × 2^(n−1), capped at 6 h, with at most 10 % jitter', () => {
    const minutes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 20].map((n) => webhookRetryDelayMs(n, () => 0) / 60_000);
    expect(minutes).toEqual([0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 360, 360]);
    expect(webhookRetryDelayMs(1, () => 0.5)).toBe(31_500);
    expect(webhookRetryDelayMs(30, () => 0.5)).toBe(6 * 3600_000 * 1.05);
    expect(webhookRetryDelayMs(1, () => 0.999999)).toBeLessThanOrEqual(33_000);
  });
});

// ---------------------------------------------------------------------------------------------
// Two dispatchers
// ---------------------------------------------------------------------------------------------

describe('two dispatchers on one database', () => {
  let secondPool: Db;

  beforeAll(() => {
    secondPool = createDb({ connectionString: database.url, poolMax: 5, applicationName: 'clinicpay-second-dispatcher' });
  });

  afterAll(async () => {
    await secondPool.destroy();
  });

  /** Passes until one finds nothing to do; returns the sum of what its passes did. */
  async function drain(db: Db): Promise<number> {
    let delivered = 0;
    for (let pass = 0; pass < 100; pass += 1) {
      const outcome = await dispatchDueWebhooks({ db, logger, now: () => clock, batchSize: 3, secrets: TEST_SECRETS, allowedNetworks: LOOPBACK });
      expect(outcome.failed + outcome.retried + outcome.skipped).toBe(0);
      if (outcome.delivered === 0) return delivered;
      delivered += outcome.delivered;
    }
    throw new Error('still draining after 100 passes');
  }

  it('deliver each event exactly once when they run at the same time', async () => {
    const clinics = await Promise.all([newClinic(), newClinic(), newClinic()]);
    const ids: string[] = [];
    for (let i = 0; i < 30; i += 1) ids.push(await enqueue(clinics[i % 3]!.id));

    const [byFirst, bySecond] = await Promise.all([drain(database.db), drain(secondPool)]);

    expect(byFirst + bySecond).toBe(30);
    const received = receiver.events().map((e) => e.id);
    expect(received).toHaveLength(30);
    expect([...received].sort()).toEqual([...ids].sort());
    const perEvent = (await database.db('webhook_deliveries').whereIn('event_id', ids).groupBy('event_id').select('event_id').count({ n: '*' })) as {
      n: string;
    }[];
    expect(perEvent).toHaveLength(30);
    expect(perEvent.every((row) => Number(row.n) === 1)).toBe(true);
    const states = (await database.db('webhook_events').whereIn('id', ids).distinct('status', 'attempts')) as { status: string; attempts: number }[];
    expect(states).toEqual([{ status: 'delivered', attempts: 1 }]);
  });

  it('do not both claim a batch when each pass runs alone at the same instant', async () => {
    const clinic = await newClinic();
    for (let i = 0; i < 10; i += 1) await enqueue(clinic.id);

    const [first, second] = await Promise.all([
      dispatchDueWebhooks({ db: database.db, logger, now: () => clock, batchSize: 10, secrets: TEST_SECRETS, allowedNetworks: LOOPBACK }),
      dispatchDueWebhooks({ db: secondPool, logger, now: () => clock, batchSize: 10, secrets: TEST_SECRETS, allowedNetworks: LOOPBACK }),
    ]);

    expect(first.delivered + second.delivered).toBe(10);
    expect(new Set(receiver.events().map((e) => e.id)).size).toBe(10);
    expect(receiver.requests).toHaveLength(10);
  });
});

// ---------------------------------------------------------------------------------------------
// The API: reading events, redelivering
// ---------------------------------------------------------------------------------------------

describe('/v1/webhooks/events', () => {
  let app: Express;
  const platformAdmin = tokenFor('platform_admin');

  interface ApiClinic {
    id: string;
    webhookSecret: string;
    admin: string;
    staff: string;
  }

  /** A clinic onboarded through the API, whose webhooks go to the receiver. */
  async function onboard(): Promise<ApiClinic> {
    const response = await request(app)
      .post('/v1/clinics')
      .set(bearer(platformAdmin))
      .set('Idempotency-Key', randomUUID())
      .send({ name: `API Clinic ${randomUUID().slice(0, 8)}`, settlement_address: randomAddress(), webhook_url: receiver.url });
    expect(response.status, response.text).toBe(201);
    const id = response.body.id as string;
    return { id, webhookSecret: response.body.webhook_secret as string, admin: tokenFor('clinic_admin', id), staff: tokenFor('clinic_staff', id) };
  }

  function redeliver(token: string, id: string, key: string = randomUUID()): request.Test {
    return request(app).post(`/v1/webhooks/events/${id}/redeliver`).set(bearer(token)).set('Idempotency-Key', key);
  }

  function getEvent(token: string, id: string): request.Test {
    return request(app).get(`/v1/webhooks/events/${id}`).set(bearer(token));
  }

  beforeAll(async () => {
    ({ app } = await buildTestApp({ db: database.db, network }));
  });

  it('redeliver makes a delivered event be sent again on the next pass, with the same id', async () => {
    const clinic = await onboard();
    const eventId = await enqueue(clinic.id, 'invoice.paid');
    expect(await dispatch()).toEqual({ ...NOTHING, delivered: 1 });

    const key = randomUUID();
    const response = await redeliver(clinic.admin, eventId, key);
    expect(response.status, response.text).toBe(202);
    expect(response.body).toMatchObject({
      object: 'webhook_event',
      id: eventId,
      clinic_id: clinic.id,
      type: 'invoice.paid',
      status: 'pending',
      attempts: 0,
      delivered_at: null,
    });
    expect(Date.parse(response.body.next_attempt_at as string)).toBeLessThanOrEqual(Date.now());

    // Due now: the next pass sends it again.
    expect(await dispatch()).toEqual({ ...NOTHING, delivered: 1 });
    expect(receiver.events().map((e) => e.id)).toEqual([eventId, eventId]);
    for (const received of receiver.requests) {
      expect(
        verifyWebhookSignature({
          header: received.headers['clinicpay-signature'] as string,
          rawBody: received.rawBody,
          secret: clinic.webhookSecret,
          now: clock,
        }).valid,
      ).toBe(true);
    }

    // A retried request with the same key replays the first answer; it does not queue the event a third time.
    const replay = await redeliver(clinic.admin, eventId, key);
    expect(replay.status).toBe(202);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.text).toBe(response.text);
    expect(await dispatch({ now: () => at(3600 * SECONDS) })).toEqual(NOTHING);

    const shown = await getEvent(clinic.admin, eventId);
    expect(shown.status, shown.text).toBe(200);
    expect(shown.body).toMatchObject({ id: eventId, status: 'delivered', attempts: 1, next_attempt_at: null });
    expect(shown.body.deliveries).toHaveLength(2);
    expect(shown.body.deliveries.map((d: { status_code: number; attempt: number }) => [d.attempt, d.status_code])).toEqual([
      [1, 200],
      [1, 200],
    ]);
    expect(Date.parse(shown.body.deliveries[0].attempted_at)).toBeGreaterThanOrEqual(Date.parse(shown.body.deliveries[1].attempted_at));
  });

  it('redeliver gives a failed event a fresh set of attempts', async () => {
    const clinic = await onboard();
    const eventId = await enqueue(clinic.id);
    receiver.mode = 'fail';
    expect(await dispatch({ maxAttempts: 1 })).toEqual({ ...NOTHING, failed: 1 });

    expect((await redeliver(platformAdmin, eventId)).status).toBe(202);
    receiver.mode = 'ok';
    expect(await dispatch({ maxAttempts: 1 })).toEqual({ ...NOTHING, delivered: 1 });
    expect(await eventState(eventId)).toMatchObject({ status: 'delivered', attempts: 1 });
  });

  it('redeliver during an attempt wins: the attempt is logged, but the event stays queued for the next pass', async () => {
    const clinic = await onboard();
    const eventId = await enqueue(clinic.id);
    receiver.mode = 'hang';

    const pass = dispatch({ fetchTimeoutMs: 1000 });
    await waitFor(() => receiver.requests.length === 1, { what: 'the first attempt to reach the receiver', timeoutMs: 5000 });
    expect((await redeliver(clinic.admin, eventId)).status).toBe(202);
    // The attempt itself still counts as what it was; its outcome is not written over the redelivery.
    expect(await pass).toEqual({ ...NOTHING, retried: 1 });

    expect(await eventState(eventId)).toMatchObject({ status: 'pending', attempts: 0, last_error: null });
    expect(await deliveries(eventId)).toMatchObject([{ attempt: 1, status_code: null, error: 'timeout: no response within 1000 ms' }]);
    receiver.mode = 'ok';
    expect(await dispatch()).toEqual({ ...NOTHING, delivered: 1 });
    expect(await eventState(eventId)).toMatchObject({ status: 'delivered', attempts: 1 });
  });

  it("answers another clinic's admin 404, exactly as for an unknown event, and changes nothing", async () => {
    const [owner, stranger] = await Promise.all([onboard(), onboard()]);
    const eventId = await enqueue(owner.id);
    expect(await dispatch()).toEqual({ ...NOTHING, delivered: 1 });

    const foreign = await redeliver(stranger.admin, eventId);
    const unknown = await redeliver(stranger.admin, `evt_${'0'.repeat(24)}`);
    expect(foreign.status, foreign.text).toBe(404);
    expect(foreign.body.code).toBe('not_found');
    expect(foreign.body.detail).toBe(unknown.body.detail);
    expect((await getEvent(stranger.admin, eventId)).status).toBe(404);
    expect((await getEvent(stranger.staff, eventId)).status).toBe(404);
    expect(await eventState(eventId)).toMatchObject({ status: 'delivered' });
    expect(await dispatch({ now: () => at(3600 * SECONDS) })).toEqual(NOTHING);
  });

  it('lets only clinic admins and platform admins redeliver; staff, finance and auditors get 403', async () => {
    const clinic = await onboard();
    const eventId = await enqueue(clinic.id);
    for (const token of [clinic.staff, tokenFor('finance'), tokenFor('finance', clinic.id), tokenFor('auditor')]) {
      const response = await redeliver(token, eventId);
      expect(response.status, response.text).toBe(403);
      expect(response.body.code).toBe('forbidden');
    }
    expect((await redeliver(clinic.admin, `evt_nothex`)).status).toBe(400);
    expect((await request(app).post(`/v1/webhooks/events/${eventId}/redeliver`).set(bearer(clinic.admin))).status).toBe(400);
  });

  it('lets everyone who may see the clinic read its events, newest first, filtered and paged', async () => {
    const [clinic, other] = await Promise.all([onboard(), onboard()]);
    const ids: string[] = [];
    for (const type of ['invoice.processing', 'invoice.paid', 'settlement.forwarded'] as const) ids.push(await enqueue(clinic.id, type));
    const otherId = await enqueue(other.id, 'invoice.paid');
    receiver.mode = 'fail';
    expect(await dispatch({ maxAttempts: 1 })).toEqual({ ...NOTHING, failed: 4 });

    for (const token of [clinic.admin, clinic.staff, tokenFor('finance', clinic.id), tokenFor('auditor', clinic.id)]) {
      const list = await request(app).get('/v1/webhooks/events').set(bearer(token));
      expect(list.status, list.text).toBe(200);
      expect(list.body).toMatchObject({ object: 'list', url: '/v1/webhooks/events', has_more: false });
      expect(list.body.data.map((e: { id: string }) => e.id)).toEqual([...ids].reverse());
      expect((await getEvent(token, ids[0]!)).status).toBe(200);
      expect((await getEvent(token, otherId)).status).toBe(404);
    }

    const paid = await request(app).get('/v1/webhooks/events').query({ type: 'invoice.paid' }).set(bearer(clinic.staff));
    expect(paid.body.data.map((e: { id: string }) => e.id)).toEqual([ids[1]]);
    const failed = await request(app)
      .get('/v1/webhooks/events')
      .query({ status: 'failed', clinic_id: other.id })
      .set(bearer(tokenFor('auditor')));
    expect(failed.body.data.map((e: { id: string }) => e.id)).toEqual([otherId]);
    expect((await request(app).get('/v1/webhooks/events').query({ status: 'failed', clinic_id: other.id }).set(bearer(clinic.staff))).body.data).toEqual([]);

    const firstPage = await request(app).get('/v1/webhooks/events').query({ limit: 2 }).set(bearer(clinic.admin));
    expect(firstPage.body.has_more).toBe(true);
    const secondPage = await request(app).get('/v1/webhooks/events').query({ limit: 2, starting_after: firstPage.body.data[1].id }).set(bearer(clinic.admin));
    expect([...firstPage.body.data, ...secondPage.body.data].map((e: { id: string }) => e.id)).toEqual([...ids].reverse());
    expect(secondPage.body.has_more).toBe(false);
    expect((await request(app).get('/v1/webhooks/events').query({ starting_after: otherId }).set(bearer(clinic.admin))).status).toBe(400);
    expect((await request(app).get('/v1/webhooks/events').query({ type: 'invoice.nope' }).set(bearer(clinic.admin))).status).toBe(400);

    const one = await getEvent(clinic.staff, ids[1]!);
    expect(one.body).toMatchObject({
      object: 'webhook_event',
      id: ids[1],
      type: 'invoice.paid',
      status: 'failed',
      attempts: 1,
      next_attempt_at: null,
      last_error: 'HTTP 500',
      delivered_at: null,
      deliveries: [{ object: 'webhook_delivery', attempt: 1, url: receiver.url, status_code: 500, error: 'HTTP 500' }],
    });
    expect(one.body.data).toEqual({ object: 'invoice', id: expect.stringMatching(/^inv_/) });
    expect(one.text).not.toContain(clinic.webhookSecret);
  });
});
