/**
 * Clinics' webhook secrets at rest and in rotation, and the patient reference in webhooks:
 * the real app and dispatcher on the run's Postgres, deliveries to a node:http receiver on
 * loopback.
 *
 * - A secret is shown in the answer that creates (or rotates) it and nowhere else: the row
 *   holds it sealed (AES-256-GCM, key id and clinic bound in), stored idempotent answers and the
 *   audit log never hold it, and a replay says null.
 * - Plain secrets from before sealing, and secrets under a retired key, are sealed at start.
 * - A rotation's overlap signs every delivery with both secrets, then with the new one only.
 * - `patient_ref` reaches a clinic's webhooks only when the clinic opted in.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import * as webhookSecretsMigration from '../migrations/20261203_0008_webhook_secrets.js';
import { type ClinicRow, sealWebhookSecrets, webhookSigningSecrets } from '../src/billing/clinics.js';
import { createInvoice, presentInvoice } from '../src/billing/invoices.js';
import { createLogger } from '../src/platform/log.js';
import { SecretBox, SecretUnreadableError } from '../src/platform/secretBox.js';
import { withTransaction } from '../src/platform/transaction.js';
import { dispatchDueWebhooks } from '../src/webhooks/dispatcher.js';
import { enqueueWebhookEvent, webhookInvoice } from '../src/webhooks/outbox.js';
import { verifyWebhookSignature } from '../src/webhooks/signature.js';
import { bearer, buildTestApp, CapturedLog, TEST_ACTOR, TEST_SECRET_KEY, TEST_SECRETS, testNetwork, tokenFor } from './support/app.js';
import { audited, createTestDatabase, type TestDatabase } from './support/database.js';

let database: TestDatabase;
let app: Express;
const admin = tokenFor('platform_admin');
const HOUR = 3_600_000;
const dispatcherLog = new CapturedLog();

/** Every request that reaches the receiver. */
const received: { headers: http.IncomingHttpHeaders; rawBody: string }[] = [];
const receiver = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    received.push({ headers: req.headers, rawBody: Buffer.concat(chunks).toString('utf8') });
    res.writeHead(200).end();
  });
});
let receiverUrl: string;

beforeAll(async () => {
  database = await createTestDatabase();
  ({ app } = await buildTestApp({ db: database.db }));
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
});

afterAll(async () => {
  receiver.closeAllConnections();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
  await database.close();
});

beforeEach(async () => {
  received.length = 0;
  // Events an earlier test left are not this test's to send.
  await database.db('webhook_events').where({ status: 'pending' }).update({ status: 'skipped' });
});

function createClinic(body: Record<string, unknown> = {}, key = `clinic-${randomBytes(6).toString('hex')}`): request.Test {
  return request(app)
    .post('/v1/clinics')
    .set(bearer(admin))
    .set('Idempotency-Key', key)
    .send({ name: 'Harbour Clinic', settlement_address: `0x${randomBytes(20).toString('hex')}`, webhook_url: receiverUrl, ...body });
}

function clinicRow(id: string): Promise<ClinicRow> {
  return database.db('clinics').where({ id }).first() as Promise<ClinicRow>;
}

/** One dispatcher pass at `now`, sending to loopback. */
function dispatch(now = new Date(Date.now() + 60_000), secrets = TEST_SECRETS) {
  return dispatchDueWebhooks({ db: database.db, logger: createLogger('info', dispatcherLog), secrets, now: () => now, allowedNetworks: ['127.0.0.0/8'] });
}

function enqueuePing(clinicId: string): Promise<string> {
  return withTransaction(database.db, (trx) => enqueueWebhookEvent(trx, { clinicId, type: 'invoice.paid', data: { object: 'invoice' } }));
}

/** The `v1` values of a received signature header. */
function signaturesOf(header: string): string[] {
  return header
    .split(',')
    .filter((part) => part.startsWith('v1='))
    .map((part) => part.slice(3));
}

describe('a webhook secret at rest', () => {
  it('is shown once, kept only sealed, and a replay of the create answers null', async () => {
    const key = `seal-${randomBytes(6).toString('hex')}`;
    const body = { settlement_address: `0x${'5e'.repeat(20)}` };
    const created = await createClinic(body, key);
    expect(created.status).toBe(201);
    const secret = created.body.webhook_secret as string;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);

    const row = await clinicRow(created.body.id as string);
    expect(SecretBox.isSealed(row.webhook_secret)).toBe(true);
    expect(row.webhook_secret.startsWith('v1.test.')).toBe(true);
    const everywhere = JSON.stringify([
      await database.db('clinics').select(),
      await database.db('idempotency_keys').select(),
      await (await audited(database.db))('audit_log').select(),
    ]);
    expect(everywhere).not.toContain(secret);
    expect(everywhere).not.toContain(secret.slice(6, 30));

    const replay = await createClinic(body, key);
    expect(replay.status).toBe(201);
    expect(replay.body).toEqual({ ...created.body, webhook_secret: null });
    expect((await request(app).get(`/v1/clinics/${row.id}`).set(bearer(admin))).body).not.toHaveProperty('webhook_secret');
  });

  it("is bound to its clinic: copied into another clinic's row it does not open, and nothing is sent", async () => {
    const [first, second] = [(await createClinic()).body.id as string, (await createClinic()).body.id as string];
    const sealed = (await clinicRow(first)).webhook_secret;
    const secondRow = await clinicRow(second);
    expect(() => webhookSigningSecrets({ ...secondRow, webhook_secret: sealed }, TEST_SECRETS, new Date())).toThrow(SecretUnreadableError);

    await database.db('clinics').where({ id: second }).update({ webhook_secret: sealed });
    const eventId = await enqueuePing(second);
    const linesBefore = dispatcherLog.lines.length;
    expect(await dispatch()).toMatchObject({ delivered: 0, retried: 1 });
    expect(received).toHaveLength(0);
    const event = await database.db('webhook_events').where({ id: eventId }).first('status', 'last_error');
    expect(event).toEqual({ status: 'pending', last_error: "not sent: the gateway cannot open this clinic's webhook secret" });
    expect(dispatcherLog.lines.slice(linesBefore).join('\n')).toContain('no configured SECRETS_KEYS key opens');
    await database.db('clinics').where({ id: second }).update({ webhook_secret: secondRow.webhook_secret });
  });

  it('is sealed at start when stored in clear, and sealed again under a new key that heads SECRETS_KEYS', async () => {
    const id = 'clin_0000000000000000000000aa';
    await database.db('clinics').insert({ id, name: 'Old Clinic', settlement_address: `0x${'aa'.repeat(20)}`, webhook_secret: 'whsec_from_before' });
    expect(await sealWebhookSecrets(database.db, TEST_SECRETS)).toBe(1);
    const sealed = await clinicRow(id);
    expect(sealed.webhook_secret).toMatch(/^v1\.test\./);
    expect(webhookSigningSecrets(sealed, TEST_SECRETS, new Date())).toEqual(['whsec_from_before']);
    // Nothing left to seal: a second start changes nothing.
    expect(await sealWebhookSecrets(database.db, TEST_SECRETS)).toBe(0);

    // Key rotation: the new key first, the old one kept to open what it sealed.
    const newKey = { id: 'k2026', key: randomBytes(32) };
    const rotated = new SecretBox([newKey, TEST_SECRET_KEY]);
    const [{ count }] = (await database.db('clinics').count('* as count')) as [{ count: string }];
    expect(await sealWebhookSecrets(database.db, rotated)).toBe(Number(count));
    const resealed = await clinicRow(id);
    expect(resealed.webhook_secret).toMatch(/^v1\.k2026\./);
    // The old key can now go: the new one alone opens every secret.
    expect(webhookSigningSecrets(resealed, new SecretBox([newKey]), new Date())).toEqual(['whsec_from_before']);
    // Back under the test key, for the tests after this one.
    expect(await sealWebhookSecrets(database.db, new SecretBox([TEST_SECRET_KEY, newKey]))).toBe(Number(count));
  });

  it('a start without the key that sealed a secret stops with a message naming the clinic', async () => {
    const stranger = new SecretBox([{ id: 'other', key: randomBytes(32) }]);
    await expect(sealWebhookSecrets(database.db, stranger)).rejects.toThrow(/clinic clin_[0-9a-f]+'s webhook secret does not open with any SECRETS_KEYS key/);
  });

  it('the migration blanks secrets kept in stored answers of clinic creations', async () => {
    await database.db('idempotency_keys').insert({
      scope: 'user:platform',
      key: 'from-before-sealing',
      fingerprint: 'f',
      method: 'POST',
      path: '/v1/clinics',
      response_status: 201,
      response_content_type: 'application/json',
      response_body: JSON.stringify({ object: 'clinic', id: 'clin_x', webhook_secret: 'whsec_kept_in_a_replay' }),
    });
    await webhookSecretsMigration.down(database.owner);
    await webhookSecretsMigration.up(database.owner);
    const stored = await database.db('idempotency_keys').where({ key: 'from-before-sealing' }).first('response_body');
    expect(JSON.parse(stored.response_body as string)).toEqual({ object: 'clinic', id: 'clin_x', webhook_secret: null });
  });
});

describe('rotating a webhook secret', () => {
  it("signs with both secrets during the overlap, then with the new one only; the clinic's admin may rotate", async () => {
    const created = await createClinic();
    const id = created.body.id as string;
    const oldSecret = created.body.webhook_secret as string;
    const key = `rotate-${randomBytes(6).toString('hex')}`;
    const rotate = () =>
      request(app)
        .post(`/v1/clinics/${id}/webhook-secret`)
        .set(bearer(tokenFor('clinic_admin', id)))
        .set('Idempotency-Key', key)
        .send({ overlap_hours: 24 });
    const rotated = await rotate();
    expect(rotated.status).toBe(201);
    const newSecret = rotated.body.webhook_secret as string;
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(oldSecret);
    const until = new Date(rotated.body.previous_valid_until as string);
    expect(Math.abs(until.getTime() - (Date.now() + 24 * HOUR))).toBeLessThan(60_000);
    expect((await request(app).get(`/v1/clinics/${id}`).set(bearer(admin))).body.webhook_secret_previous_valid_until).toBe(until.toISOString());
    // A replay does not hand the secret out again, nor rotate again.
    const replay = await rotate();
    expect(replay.body).toEqual({ ...rotated.body, webhook_secret: null });
    expect(webhookSigningSecrets(await clinicRow(id), TEST_SECRETS, new Date())).toEqual([newSecret, oldSecret]);
    expect(JSON.stringify(await (await audited(database.db))('audit_log').where({ action: 'clinic.webhook_secret_rotated' }))).not.toContain(
      newSecret.slice(6),
    );

    // During the overlap: two v1, one per secret; a receiver with either accepts.
    await enqueuePing(id);
    const during = new Date(Date.now() + HOUR);
    expect(await dispatch(during)).toMatchObject({ delivered: 1 });
    const header = received[0]!.headers['clinicpay-signature'] as string;
    expect(signaturesOf(header)).toHaveLength(2);
    for (const secret of [newSecret, oldSecret]) {
      expect(verifyWebhookSignature({ header, rawBody: received[0]!.rawBody, secret, now: during }).valid).toBe(true);
    }

    // After it: the new secret alone.
    await enqueuePing(id);
    const after = new Date(until.getTime() + 1000);
    expect(await dispatch(after)).toMatchObject({ delivered: 1 });
    const later = received[1]!.headers['clinicpay-signature'] as string;
    expect(signaturesOf(later)).toHaveLength(1);
    expect(verifyWebhookSignature({ header: later, rawBody: received[1]!.rawBody, secret: newSecret, now: after }).valid).toBe(true);
    expect(verifyWebhookSignature({ header: later, rawBody: received[1]!.rawBody, secret: oldSecret, now: after }).valid).toBe(false);
  });

  it('with no overlap retires the old secret at once (a secret that leaked)', async () => {
    const created = await createClinic();
    const id = created.body.id as string;
    const rotated = await request(app)
      .post(`/v1/clinics/${id}/webhook-secret`)
      .set(bearer(admin))
      .set('Idempotency-Key', 'leaked-1')
      .send({ overlap_hours: 0 });
    expect(rotated.status).toBe(201);
    expect(rotated.body.previous_valid_until).toBeNull();
    expect(webhookSigningSecrets(await clinicRow(id), TEST_SECRETS, new Date())).toEqual([rotated.body.webhook_secret]);
  });

  it('is refused to clinic staff, to other clinics, and for an overlap past a week, changing nothing', async () => {
    const id = (await createClinic()).body.id as string;
    const other = (await createClinic()).body.id as string;
    const before = await clinicRow(id);
    const attempts = [
      { token: tokenFor('clinic_staff', id), body: {}, status: 403 },
      { token: tokenFor('clinic_admin', other), body: {}, status: 404 },
      { token: tokenFor('finance'), body: {}, status: 403 },
      { token: admin, body: { overlap_hours: 169 }, status: 400 },
      { token: admin, body: { overlap_hours: -1 }, status: 400 },
      { token: admin, body: { overlap_hours: 1.5 }, status: 400 },
      { token: admin, body: { secret: 'whsec_mine' }, status: 400 },
    ];
    for (const [index, attempt] of attempts.entries()) {
      const response = await request(app)
        .post(`/v1/clinics/${id}/webhook-secret`)
        .set(bearer(attempt.token))
        .set('Idempotency-Key', `refused-${index}`)
        .send(attempt.body);
      expect(response.status, JSON.stringify(attempt.body)).toBe(attempt.status);
      expect(response.type).toBe('application/problem+json');
    }
    expect(await clinicRow(id)).toEqual(before);
  });
});

describe("the patient reference in a clinic's webhooks", () => {
  it('is left out unless the clinic opts in, and the choice is audited', async () => {
    const network = await testNetwork();
    const id = (await createClinic()).body.id as string;
    expect((await request(app).get(`/v1/clinics/${id}`).set(bearer(admin))).body.webhook_include_patient_ref).toBe(false);
    const invoiceEvent = () =>
      withTransaction(database.db, async (trx) => {
        const invoice = await createInvoice(trx, {
          clinicId: id,
          input: { patient_ref: 'MRN-OPT-IN-7', currency: 'HKD', line_items: [{ description: 'Consultation', quantity: 1, unit_amount: '300.00' }] },
          network,
          actor: TEST_ACTOR,
        });
        return enqueueWebhookEvent(trx, { clinicId: id, type: 'invoice.paid', data: webhookInvoice(presentInvoice(invoice, new Date())) });
      });

    await invoiceEvent();
    await dispatch();
    expect(received[0]!.rawBody).not.toContain('MRN-OPT-IN-7');
    expect(JSON.parse(received[0]!.rawBody).data).not.toHaveProperty('patient_ref');

    const optedIn = await request(app).patch(`/v1/clinics/${id}`).set(bearer(admin)).send({ webhook_include_patient_ref: true });
    expect(optedIn.status).toBe(200);
    expect(optedIn.body.webhook_include_patient_ref).toBe(true);
    const audit = await (await audited(database.db))('audit_log').where({ action: 'clinic.updated', clinic_id: id }).first('before', 'after');
    expect(audit).toMatchObject({ before: { webhook_include_patient_ref: false }, after: { webhook_include_patient_ref: true } });

    await invoiceEvent();
    await dispatch();
    expect(JSON.parse(received[1]!.rawBody).data.patient_ref).toBe('MRN-OPT-IN-7');
  });

  it('can be chosen when the clinic is created, and only as a boolean', async () => {
    const created = await createClinic({ webhook_include_patient_ref: true });
    expect(created.status).toBe(201);
    expect(created.body.webhook_include_patient_ref).toBe(true);
    const refused = await createClinic({ webhook_include_patient_ref: 'yes' });
    expect(refused.status).toBe(400);
    expect(refused.type).toBe('application/problem+json');
  });
});
