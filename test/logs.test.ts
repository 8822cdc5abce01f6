/**
 * What failures write to the log: the route pattern, the error's kind and code, never a
 * checkout token, text a caller sent, or an RPC URL (whose path may hold an API key).
 */
import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChainClient } from '../src/chain/client.js';
import { createDb, type Db } from '../src/platform/db.js';
import { bearer, buildTestApp, type CapturedLog, tokenFor } from './support/app.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

let database: TestDatabase;
let app: Express;
let clinicId: string;
const pools: Db[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  ({ app } = await buildTestApp({ db: database.db }));
  clinicId = (
    await request(app)
      .post('/v1/clinics')
      .set(bearer(tokenFor('platform_admin')))
      .set('Idempotency-Key', randomUUID())
      .send({ name: 'Aberdeen Clinic', settlement_address: `0x${'fa'.repeat(20)}` })
  ).body.id as string;
});
afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.destroy()));
  await database?.close();
});

function errorLines(log: CapturedLog): Record<string, unknown>[] {
  return log.lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.level === 'error');
}

describe('a failure log line', () => {
  it('names the route pattern of a failing checkout status, never the token in its path', async () => {
    const created = await request(app)
      .post('/v1/invoices')
      .set(bearer(tokenFor('clinic_admin', clinicId)))
      .set('Idempotency-Key', randomUUID())
      .send({ patient_ref: 'P-1', currency: 'HKD', line_items: [{ description: 'Consultation', quantity: 1, unit_amount: '100.00' }] });
    const path = new URL(created.body.checkout_url as string, 'http://gateway').pathname;
    const token = path.split('/').at(-1)!;
    // A pool whose every query is cancelled at once: the page's lookup fails.
    const failing = createDb({ connectionString: database.url, poolMax: 1, statementTimeoutMs: 1 });
    pools.push(failing);
    const { app: broken, log } = await buildTestApp({ db: failing });
    const response = await request(broken).get(`${path}/status`);
    expect(response.status).toBe(500);
    const [line] = errorLines(log);
    expect(line).toMatchObject({ msg: 'unhandled error', route: '/checkout/:token/status', err: { code: '57014', message: 'database error 57014' } });
    expect(log.text).not.toContain(token);
  });

  it('names a database error by its code and names, never the values it quotes from the request', async () => {
    const { app: gateway, log } = await buildTestApp({ db: database.db });
    // A database that refuses the row and quotes what it was given, as Postgres's own errors do.
    await database.owner.raw(`
      CREATE FUNCTION refuse_invoice() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'refused % for %', NEW.patient_ref, NEW.line_items::text USING ERRCODE = 'P0001'; END $$;
      CREATE TRIGGER refuse_invoice BEFORE INSERT ON invoices FOR EACH ROW EXECUTE FUNCTION refuse_invoice();
    `);
    try {
      const response = await request(gateway)
        .post('/v1/invoices')
        .set(bearer(tokenFor('clinic_admin', clinicId)))
        .set('Idempotency-Key', randomUUID())
        .send({
          patient_ref: 'P-LEAK-7731',
          currency: 'HKD',
          line_items: [{ description: 'Fertility consultation, second cycle', quantity: 1, unit_amount: '900.00' }],
        });
      expect(response.status).toBe(500);
      expect(response.text).not.toContain('P-LEAK-7731');
      const [line] = errorLines(log);
      expect(line).toMatchObject({ msg: 'unhandled error', route: '/v1/invoices', err: { code: 'P0001', message: 'database error P0001' } });
      expect(log.text).not.toContain('P-LEAK-7731');
      expect(log.text).not.toContain('Fertility');
    } finally {
      await database.owner.raw('DROP TRIGGER refuse_invoice ON invoices; DROP FUNCTION refuse_invoice()');
    }
  });

  it('never carries an RPC URL, whose path may hold the provider API key', async () => {
    const secretUrl = 'http://127.0.0.1:9/v3/key-0123456789abcdef0123456789abcdef';
    const { app: gateway, log } = await buildTestApp({ db: database.db, overrides: { chain: createChainClient({ rpcUrl: secretUrl, timeoutMs: 500 }) } });
    const response = await request(gateway)
      .post('/v1/reconciliations')
      .set(bearer(tokenFor('finance')))
      .set('Idempotency-Key', randomUUID())
      .send({});
    expect(response.status).toBe(500);
    const ready = await request(gateway).get('/ready');
    expect(ready.status).toBe(503);
    expect(errorLines(log).length).toBeGreaterThan(0);
    expect(log.text).not.toContain('key-0123456789abcdef');
    expect(ready.text).not.toContain('key-0123456789abcdef');
  });
});
