/**
 * API keys for clinics' own systems, from the outside: created by the clinic's admin, shown once,
 * used as a bearer token, listed with when they were last used, revoked and refused on the next
 * request by every gateway instance. The key is nowhere in the database in plain text.
 */
import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, buildTestApp, onboardClinic, tokenFor } from './support/app.js';
import { audited, createTestDatabase, type TestDatabase } from './support/database.js';

let database: TestDatabase;
let app: Express;
let otherInstance: Express;
const platformAdmin = tokenFor('platform_admin');
let clinicA: string;
let clinicB: string;

beforeAll(async () => {
  database = await createTestDatabase();
  ({ app } = await buildTestApp({ db: database.db }));
  ({ app: otherInstance } = await buildTestApp({ db: database.db }));
  clinicA = await onboardClinic(app, 'Key Clinic A');
  clinicB = await onboardClinic(app, 'Key Clinic B');
});

afterAll(async () => {
  await database.close();
});

function createKey(token: string, body: Record<string, unknown>, key = randomUUID()): request.Test {
  return request(app).post('/v1/api-keys').set(bearer(token)).set('Idempotency-Key', key).send(body);
}

function newInvoice(target: Express, token: string): request.Test {
  return request(target)
    .post('/v1/invoices')
    .set(bearer(token))
    .set('Idempotency-Key', randomUUID())
    .send({ patient_ref: 'PAT-KEY', currency: 'HKD', line_items: [{ description: 'Consultation', quantity: 1, unit_amount: '100.00' }] });
}

/** Every row of every table of ours, as text, that contains `needle`. */
async function rowsContaining(needle: string): Promise<string[]> {
  const tables = (await database.owner('pg_tables').where({ schemaname: 'public' }).pluck('tablename')) as string[];
  const found: string[] = [];
  for (const table of tables) {
    const result = (await database.owner.raw(`SELECT count(*)::int AS n FROM ?? AS t WHERE t::text LIKE ?`, [table, `%${needle}%`])) as {
      rows: { n: number }[];
    };
    if (result.rows[0]!.n > 0) found.push(table);
  }
  return found;
}

describe('API keys', () => {
  it('are created by the clinic admin, shown once, used as a bearer token, listed with their last use, and revoked for every instance', async () => {
    const admin = tokenFor('clinic_admin', clinicA, 'admin-a');
    const idempotencyKey = randomUUID();
    const created = await createKey(admin, { name: 'front-desk PMS', role: 'clinic_staff' }, idempotencyKey);
    expect(created.status, created.text).toBe(201);
    const secret = created.body.secret as string;
    expect(secret).toMatch(/^cpk_test_[A-Za-z0-9_-]{43}$/);
    expect(created.body).toMatchObject({
      object: 'api_key',
      clinic_id: clinicA,
      name: 'front-desk PMS',
      role: 'clinic_staff',
      created_by: 'admin-a',
      last_used_at: null,
      revoked_at: null,
    });
    expect(created.body.hint).toBe(`cpk_test_…${secret.slice(-4)}`);
    // Shown once: a replay of the request says null.
    const replay = await createKey(admin, { name: 'front-desk PMS', role: 'clinic_staff' }, idempotencyKey);
    expect(replay.status).toBe(201);
    expect(replay.body).toMatchObject({ id: created.body.id, secret: null });

    // The clinic's system bills with it.
    const invoice = await newInvoice(app, secret);
    expect(invoice.status, invoice.text).toBe(201);
    expect(invoice.body.clinic_id).toBe(clinicA);
    const audit = (await (await audited(database.db))('audit_log').where({ target_id: invoice.body.id, action: 'invoice.created' }).first('actor', 'role')) as {
      actor: string;
      role: string;
    };
    expect(audit).toEqual({ actor: `api_key:${created.body.id}`, role: 'clinic_staff' });

    const listed = await request(app).get('/v1/api-keys').set(bearer(admin));
    expect(listed.status).toBe(200);
    const shown = (listed.body.data as Record<string, unknown>[]).find((key) => key.id === created.body.id)!;
    expect(typeof shown.last_used_at).toBe('string');
    expect(JSON.stringify(listed.body)).not.toContain(secret);
    expect(await rowsContaining(secret)).toEqual([]);
    expect(await rowsContaining(secret.slice(9, 30))).toEqual([]);

    const revoked = await request(app).delete(`/v1/api-keys/${created.body.id}`).set(bearer(admin));
    expect(revoked.status, revoked.text).toBe(200);
    expect(typeof revoked.body.revoked_at).toBe('string');
    for (const instance of [app, otherInstance]) {
      const refused = await newInvoice(instance, secret);
      expect(refused.status).toBe(401);
      expect(refused.body).toMatchObject({ code: 'invalid_token', detail: 'The API key is unknown, revoked or expired.' });
    }
    expect((await (await audited(database.db))('audit_log').where({ target_id: created.body.id }).orderBy('seq').pluck('action')) as string[]).toEqual([
      'api_key.created',
      'api_key.revoked',
    ]);
  });

  it('act within their clinic and role only; expired and malformed keys get the same 401', async () => {
    const admin = tokenFor('clinic_admin', clinicA);
    const reader = (await createKey(admin, { name: 'auditor export', role: 'auditor' })).body.secret as string;
    const staff = (await createKey(admin, { name: 'billing', role: 'clinic_staff' })).body.secret as string;
    const theirs = await newInvoice(app, tokenFor('clinic_admin', clinicB));
    expect(theirs.status).toBe(201);

    expect((await request(app).get(`/v1/invoices/${theirs.body.id}`).set(bearer(staff))).status).toBe(404);
    expect((await newInvoice(app, reader)).status).toBe(403);
    expect((await request(app).get('/v1/invoices').set(bearer(reader))).status).toBe(200);
    expect((await request(app).get('/v1/api-keys').set(bearer(staff))).status).toBe(403);
    expect((await createKey(staff, { name: 'escalate', role: 'clinic_staff' })).status).toBe(403);

    // Another clinic's admin cannot see or revoke the key, nor make one for this clinic.
    const keyId = ((await request(app).get('/v1/api-keys').set(bearer(admin))).body.data as { id: string; name: string }[]).find(
      (key) => key.name === 'billing',
    )!.id;
    const otherAdmin = tokenFor('clinic_admin', clinicB);
    expect((await request(app).delete(`/v1/api-keys/${keyId}`).set(bearer(otherAdmin))).status).toBe(404);
    expect(((await request(app).get('/v1/api-keys').set(bearer(otherAdmin))).body.data as unknown[]).length).toBe(0);
    expect((await createKey(otherAdmin, { name: 'x', role: 'clinic_staff', clinic_id: clinicA })).status).toBe(404);
    expect((await newInvoice(app, staff)).status).toBe(201);

    // Past its expiry (moved back here rather than waited for), a key is refused like any other bad one.
    await database
      .db('api_keys')
      .where({ id: keyId })
      .update({ expires_at: new Date(Date.now() - 1000) });
    const expired = await newInvoice(app, staff);
    expect(expired.status).toBe(401);
    expect(expired.body.detail).toBe('The API key is unknown, revoked or expired.');
    for (const bad of [`cpk_test_${'A'.repeat(43)}`, 'cpk_live_short', `${staff}x`]) {
      const response = await newInvoice(app, bad);
      expect(response.status, bad).toBe(401);
      expect(response.body.detail).toBe('The API key is unknown, revoked or expired.');
    }
  });

  it('refuse bad requests with a clear problem and create nothing', async () => {
    const admin = tokenFor('clinic_admin', clinicA);
    const before = await database.db('api_keys').count({ n: '*' });
    for (const [body, param] of [
      [{ name: 'x', role: 'clinic_admin' }, 'role'],
      [{ name: '', role: 'clinic_staff' }, 'name'],
      [{ role: 'clinic_staff' }, 'name'],
      [{ name: 'x', role: 'clinic_staff', expires_at: new Date(Date.now() - 60_000).toISOString() }, 'expires_at'],
    ] as const) {
      const response = await createKey(admin, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.param).toBe(param);
    }
    const unnamed = await createKey(platformAdmin, { name: 'x', role: 'clinic_staff' });
    expect(unnamed.status).toBe(400);
    expect(unnamed.body.param).toBe('clinic_id');
    expect(await database.db('api_keys').count({ n: '*' })).toEqual(before);
  });
});
