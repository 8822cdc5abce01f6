/**
 * Bad input from outside answers a clear 4xx problem and changes nothing: text no database can
 * hold, a validly signed token for a clinic that does not exist, bodies of the wrong type or
 * where none belongs, and the scheme name of the Authorization header in any case. A settled
 * invoice's checkout status hands out no payment request.
 */
import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, buildTestApp, type CapturedLog, tokenFor } from './support/app.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

let database: TestDatabase;
let app: Express;
let log: CapturedLog;
let clinicId: string;

const ADMIN = tokenFor('platform_admin');
const LINE = { description: 'Consultation', quantity: 1, unit_amount: '350.00' };

beforeAll(async () => {
  database = await createTestDatabase();
  ({ app, log } = await buildTestApp({ db: database.db }));
  const clinic = await post(ADMIN, '/v1/clinics', { name: 'Sai Kung Clinic', settlement_address: `0x${'cd'.repeat(20)}` });
  expect(clinic.status).toBe(201);
  clinicId = clinic.body.id as string;
});
afterAll(async () => database?.close());

function post(token: string, path: string, body?: unknown): request.Test {
  const call = request(app).post(path).set(bearer(token)).set('Idempotency-Key', randomUUID());
  return body === undefined ? call : call.send(body as object);
}

/** Rows in the tables a rejected request must not touch. */
async function counts(): Promise<Record<string, number>> {
  const tables = ['clinics', 'invoices', 'journal_entries', 'audit_log', 'audit_inbox', 'idempotency_keys'];
  const rows = await Promise.all(tables.map(async (table) => Number(((await database.db(table).count('* as n').first()) as { n: string }).n)));
  return Object.fromEntries(tables.map((table, index) => [table, rows[index]!]));
}

function expectProblem(response: request.Response, status: number, code: string): void {
  expect(response.status, response.text).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(response.body.code).toBe(code);
}

describe('text no database can hold', () => {
  it('refuses a NUL character in a clinic name, and in a line-item description, with 400 and no change', async () => {
    const before = await counts();
    const clinic = await post(ADMIN, '/v1/clinics', { name: 'Evil\u0000Clinic', settlement_address: `0x${'ee'.repeat(20)}` });
    expectProblem(clinic, 400, 'invalid_request');
    expect(clinic.body.param).toBe('name');
    const invoice = await post(tokenFor('clinic_admin', clinicId), '/v1/invoices', {
      patient_ref: 'P-1',
      currency: 'HKD',
      line_items: [{ ...LINE, description: 'Consult\u0000ation' }],
    });
    expectProblem(invoice, 400, 'invalid_request');
    expect(invoice.body.param).toBe('line_items[0].description');
    expect(await counts()).toEqual(before);
  });

  it('refuses a lone surrogate in a description, and in a query parameter, with 400 and no change', async () => {
    const before = await counts();
    // JSON.stringify writes a lone surrogate as the escape "\ud800", which JSON.parse turns back into one.
    const invoice = await request(app)
      .post('/v1/invoices')
      .set(bearer(tokenFor('clinic_admin', clinicId)))
      .set('Idempotency-Key', randomUUID())
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ patient_ref: 'P-1', currency: 'HKD', line_items: [{ ...LINE, description: 'x\ud800y' }] }));
    expectProblem(invoice, 400, 'invalid_request');
    expect(invoice.body.param).toBe('line_items[0].description');
    const list = await request(app)
      .get('/v1/audit-log?action=%ED%A0%80')
      .set(bearer(tokenFor('auditor')));
    expect(list.status).toBe(400);
    expect(await counts()).toEqual(before);
  });
});

describe('a validly signed token for a clinic that does not exist', () => {
  it('is refused with 403 on every route, changes nothing, and is logged as a warning', async () => {
    const before = await counts();
    const ghost = tokenFor('clinic_admin', 'clin_0123456789abcdef01234567', 'ghost-admin');
    expectProblem(await post(ghost, '/v1/invoices', { patient_ref: 'P-1', currency: 'HKD', line_items: [LINE] }), 403, 'forbidden');
    expectProblem(await request(app).get('/v1/invoices').set(bearer(ghost)), 403, 'forbidden');
    expect(await counts()).toEqual(before);
    const warning = log.lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.msg === 'token for a clinic that does not exist');
    expect(warning).toMatchObject({ level: 'warn', sub: 'ghost-admin', role: 'clinic_admin' });
  });

  it('lets the same role in once its clinic exists', async () => {
    const response = await request(app)
      .get('/v1/invoices')
      .set(bearer(tokenFor('clinic_staff', clinicId)));
    expect(response.status).toBe(200);
  });
});

describe('the Authorization header', () => {
  it('takes the Bearer scheme in any case (RFC 9110)', async () => {
    const token = tokenFor('clinic_staff', clinicId);
    for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
      const response = await request(app).get('/v1/invoices').set('Authorization', `${scheme} ${token}`);
      expect(response.status, scheme).toBe(200);
    }
  });
});

describe('request bodies', () => {
  it('accepts only application/json where the contract takes JSON: other JSON-like types get 415 and change nothing', async () => {
    const before = await counts();
    for (const type of ['application/merge-patch+json', 'application/vnd.api+json', 'text/plain', 'application/x-www-form-urlencoded']) {
      const response = await request(app)
        .post('/v1/invoices')
        .set(bearer(tokenFor('clinic_admin', clinicId)))
        .set('Idempotency-Key', randomUUID())
        .set('Content-Type', type)
        .send(JSON.stringify({ patient_ref: 'P-1', currency: 'HKD', line_items: [LINE] }));
      expectProblem(response, 415, 'unsupported_media_type');
    }
    const patch = await request(app)
      .patch(`/v1/clinics/${clinicId}`)
      .set(bearer(ADMIN))
      .set('Content-Type', 'application/merge-patch+json')
      .send(JSON.stringify({ name: 'Renamed' }));
    expectProblem(patch, 415, 'unsupported_media_type');
    const optional = await request(app)
      .post('/v1/reconciliations')
      .set(bearer(tokenFor('finance')))
      .set('Idempotency-Key', randomUUID())
      .set('Content-Type', 'text/plain')
      .send('from_block=1');
    expectProblem(optional, 415, 'unsupported_media_type');
    expect(await counts()).toEqual(before);
  });

  it('refuses a body nested thousands of levels deep with 400 (found by the fuzz test: it overflowed the stack), and changes nothing', async () => {
    const before = await counts();
    for (const depth of [40, 5000, 50_000]) {
      const response = await request(app)
        .post('/v1/clinics')
        .set(bearer(ADMIN))
        .set('Idempotency-Key', randomUUID())
        .set('Content-Type', 'application/json')
        .send(`${'['.repeat(depth)}${']'.repeat(depth)}`);
      expectProblem(response, 400, 'invalid_request');
      expect(response.body.detail).toContain('nests deeper than 32 levels');
    }
    expect(await counts()).toEqual(before);
  });

  it('refuses a body on an operation that takes none, and changes nothing', async () => {
    const created = await post(tokenFor('clinic_admin', clinicId), '/v1/invoices', { patient_ref: 'P-9', currency: 'HKD', line_items: [LINE] });
    expect(created.status).toBe(201);
    const before = await counts();
    const voided = await post(tokenFor('clinic_admin', clinicId), `/v1/invoices/${created.body.id as string}/void`, { reason: 'patient left' });
    expectProblem(voided, 400, 'invalid_request');
    expect(
      (
        await request(app)
          .get(`/v1/invoices/${created.body.id as string}`)
          .set(bearer(tokenFor('clinic_admin', clinicId)))
      ).body.status,
    ).toBe('open');
    expect(await counts()).toEqual(before);
  });
});

describe('the checkout status of a settled invoice', () => {
  it('hands out no payment request once nothing is left to pay', async () => {
    const created = await post(tokenFor('clinic_admin', clinicId), '/v1/invoices', { patient_ref: 'P-7', currency: 'HKD', line_items: [LINE] });
    const path = new URL(created.body.checkout_url as string, 'http://gateway').pathname;
    const open = await request(app).get(`${path}/status`);
    expect(open.body.payment_uri).toMatch(/^ethereum:0x[0-9a-fA-F]{40}@\d+\/transfer\?address=0x[0-9a-fA-F]{40}&uint256=350000000$/);
    for (const [status, paid] of [
      ['paid', '350000000'],
      ['overpaid', '400000000'],
    ] as const) {
      await database.db('invoices').where({ id: created.body.id }).update({ status, token_amount_paid: paid, paid_at: new Date() });
      const settled = await request(app).get(`${path}/status`);
      expect(settled.status).toBe(200);
      expect(settled.body).toMatchObject({ status, payment_uri: null, amount_remaining: '0.00' });
      const page = await request(app).get(path);
      expect(page.text).not.toContain('ethereum:');
    }
  });
});
