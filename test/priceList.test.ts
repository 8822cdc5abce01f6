/**
 * A clinic's price list from the outside: its admin adds and archives items; its front desk
 * reads them; another clinic sees none of them; bad items are refused and write nothing.
 */
import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, buildTestApp, onboardClinic, tokenFor } from './support/app.js';
import { audited, createTestDatabase, type TestDatabase } from './support/database.js';

let database: TestDatabase;
let app: Express;
const platformAdmin = tokenFor('platform_admin');
let clinicA: string;
let clinicB: string;

function addItem(token: string, body: Record<string, unknown>): request.Test {
  return request(app).post('/v1/price-list').set(bearer(token)).set('Idempotency-Key', randomUUID()).send(body);
}

beforeAll(async () => {
  database = await createTestDatabase();
  ({ app } = await buildTestApp({ db: database.db }));
  clinicA = await onboardClinic(app, 'Price Clinic A', `0x${'ef'.repeat(20)}`);
  clinicB = await onboardClinic(app, 'Price Clinic B', `0x${'ef'.repeat(20)}`);
});

afterAll(async () => {
  await database.close();
});

describe('the price list', () => {
  it('is kept by the clinic admin, read by the front desk, and invisible to another clinic', async () => {
    const admin = tokenFor('clinic_admin', clinicA);
    const created = await addItem(admin, { code: 'CONS-GP', name: 'GP consultation', unit_amount: '380' });
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({
      object: 'price_list_item',
      clinic_id: clinicA,
      code: 'CONS-GP',
      unit_amount: '380.00',
      currency: 'HKD',
      archived_at: null,
    });
    const audit = await (await audited(database.db))('audit_log').where({ action: 'price_list_item.created', target_id: created.body.id }).first();
    expect(audit).toMatchObject({ clinic_id: clinicA, after: { code: 'CONS-GP', unit_amount: '380.00' } });

    const seen = await request(app)
      .get('/v1/price-list')
      .set(bearer(tokenFor('clinic_staff', clinicA)));
    expect(seen.status).toBe(200);
    expect(seen.body.data.map((item: { code: string }) => item.code)).toEqual(['CONS-GP']);
    const other = await request(app)
      .get('/v1/price-list')
      .set(bearer(tokenFor('clinic_staff', clinicB)));
    expect(other.body.data).toEqual([]);
    expect(
      (
        await request(app)
          .get(`/v1/price-list?clinic_id=${clinicA}`)
          .set(bearer(tokenFor('clinic_staff', clinicB)))
      ).status,
    ).toBe(404);
    expect(
      (
        await request(app)
          .delete(`/v1/price-list/${created.body.id as string}`)
          .set(bearer(tokenFor('clinic_admin', clinicB)))
      ).status,
    ).toBe(404);

    const archived = await request(app)
      .delete(`/v1/price-list/${created.body.id as string}`)
      .set(bearer(admin));
    expect(archived.status).toBe(200);
    expect(archived.body.archived_at).not.toBeNull();
    expect((await request(app).get('/v1/price-list').set(bearer(admin))).body.data).toEqual([]);
    // The code is free again once its item is archived.
    expect((await addItem(admin, { code: 'CONS-GP', name: 'GP consultation', unit_amount: '400.00' })).status).toBe(201);
  });

  it('refuses the front desk adding items, a duplicate code, a third decimal place and a platform admin not naming the clinic, writing nothing', async () => {
    const admin = tokenFor('clinic_admin', clinicB);
    expect((await addItem(admin, { code: 'XRAY', name: 'Chest X-ray', unit_amount: '520.00' })).status).toBe(201);
    const before = await database.db('price_list_items').count({ n: '*' });
    const refusals: [request.Response, number, string | undefined][] = [
      [await addItem(tokenFor('clinic_staff', clinicB), { code: 'A1', name: 'x', unit_amount: '1.00' }), 403, undefined],
      [await addItem(admin, { code: 'XRAY', name: 'Again', unit_amount: '1.00' }), 400, 'code'],
      [await addItem(admin, { code: 'B1', name: 'x', unit_amount: '1.005' }), 400, 'unit_amount'],
      [await addItem(admin, { code: 'bad code', name: 'x', unit_amount: '1.00' }), 400, 'code'],
      [await addItem(platformAdmin, { code: 'C1', name: 'x', unit_amount: '1.00' }), 400, 'clinic_id'],
    ];
    for (const [response, status, param] of refusals) {
      expect(response.status, response.text).toBe(status);
      expect(response.headers['content-type']).toMatch(/application\/problem\+json/);
      if (param) expect(response.body.param).toBe(param);
    }
    expect(await database.db('price_list_items').count({ n: '*' })).toEqual(before);
  });
});
