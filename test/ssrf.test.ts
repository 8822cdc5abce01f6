/**
 * Webhooks cannot be pointed inward: the API refuses URLs without a host, with credentials, with
 * a port out of range, or at a non-public address; and the dispatcher, which checks every
 * address a host resolves to when it connects, refuses what slipped past (a name that resolves
 * to loopback), without sending anything and without saying more than that.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealWebhookSecrets } from '../src/billing/clinics.js';
import { createLogger } from '../src/platform/log.js';
import { dispatchDueWebhooks } from '../src/webhooks/dispatcher.js';
import { bearer, buildTestApp, TEST_SECRETS, tokenFor } from './support/app.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

let database: TestDatabase;
let app: Express;
let receiver: http.Server;
let hits = 0;
const ADMIN = tokenFor('platform_admin');

beforeAll(async () => {
  database = await createTestDatabase();
  ({ app } = await buildTestApp({ db: database.db, overrides: { webhookUrls: { requireHttps: false, allowedNetworks: [] } } }));
  receiver = http.createServer((_req, res) => {
    hits += 1;
    res.writeHead(200).end();
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  await new Promise((resolve) => receiver.close(resolve));
  await database?.close();
});

function createClinic(webhookUrl: string): request.Test {
  return request(app)
    .post('/v1/clinics')
    .set(bearer(ADMIN))
    .set('Idempotency-Key', randomUUID())
    .send({ name: 'Tai Po Clinic', settlement_address: `0x${'dd'.repeat(20)}`, webhook_url: webhookUrl });
}

describe('the API', () => {
  it('refuses webhook URLs that point inward or make no sense, and creates nothing', async () => {
    for (const url of [
      'http://169.254.169.254/latest/meta-data/',
      'http://user:pw@127.0.0.1:5432/',
      'http://',
      'http://example.com:99999/',
      'http://localhost:3000/hook',
      'http://10.0.0.7/hook',
      'http://[::1]/hook',
      'http://[fd00::1]/hook',
      'http://100.64.0.1/hook',
    ]) {
      const response = await createClinic(url);
      expect(response.status, url).toBe(400);
      expect(response.body.param, url).toBe('webhook_url');
    }
    expect(Number(((await database.db('clinics').count('* as n').first()) as { n: string }).n)).toBe(0);
  });

  it('accepts a public https URL, and refuses plain http where https is required', async () => {
    expect((await createClinic('https://clinic.example.hk/webhooks')).status).toBe(201);
    const { app: strict } = await buildTestApp({ db: database.db, overrides: { webhookUrls: { requireHttps: true, allowedNetworks: [] } } });
    const refused = await request(strict)
      .post('/v1/clinics')
      .set(bearer(ADMIN))
      .set('Idempotency-Key', randomUUID())
      .send({ name: 'X', settlement_address: `0x${'dd'.repeat(20)}`, webhook_url: 'http://clinic.example.hk/webhooks' });
    expect(refused.status).toBe(400);
    expect(refused.body.detail).toContain('https');
  });
});

describe('the dispatcher', () => {
  it('refuses at connect time a host that resolves to loopback, sends nothing, and says only that', async () => {
    const { port } = receiver.address() as AddressInfo;
    // Written straight to the database, as a URL checked before its name moved inward would be.
    const [clinic] = await database
      .db('clinics')
      .insert({
        id: 'clin_000000000000000000005555',
        name: 'Inward',
        settlement_address: `0x${'dd'.repeat(20)}`,
        webhook_url: `http://localhost:${port}/hook`,
        webhook_secret: 'whsec_test',
      })
      .returning('id');
    // Sealed as the gateway's start would seal a plain secret.
    await sealWebhookSecrets(database.db, TEST_SECRETS);
    await database
      .db('webhook_events')
      .insert({ id: 'evt_000000000000000000005555', clinic_id: clinic.id, type: 'invoice.paid', payload: JSON.stringify({ object: {} }) });
    const logger = createLogger('silent');
    const refused = await dispatchDueWebhooks({ db: database.db, logger, secrets: TEST_SECRETS, allowedNetworks: [] });
    expect(refused).toMatchObject({ retried: 1, delivered: 0 });
    expect(hits).toBe(0);
    const event = await database.db('webhook_events').where({ id: 'evt_000000000000000000005555' }).first('last_error');
    expect(event.last_error).toMatch(/^refused: the webhook host resolves to an address the gateway does not call/);
    expect(event.last_error).not.toContain('127.0.0.1');
    // Allowed explicitly (a development receiver), the same event goes through.
    await database
      .db('webhook_events')
      .where({ id: 'evt_000000000000000000005555' })
      .update({ next_attempt_at: new Date(0) });
    const allowed = await dispatchDueWebhooks({ db: database.db, logger, secrets: TEST_SECRETS, allowedNetworks: ['127.0.0.0/8', '::1'] });
    expect(allowed).toMatchObject({ delivered: 1 });
    expect(hits).toBe(1);
  });
});
