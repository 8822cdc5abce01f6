/**
 * Callers confined to one clinic stay inside it, also where the data spans every clinic: the
 * audit log (its listing, its cursors, its chain check) and reconciliation runs.
 */
import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, buildTestApp, tokenFor } from './support/app.js';
import { audited, createTestDatabase, type TestDatabase } from './support/database.js';

let database: TestDatabase;
let app: Express;
let clinicA: string;
let clinicB: string;

function post(token: string, path: string, body?: unknown): request.Test {
  const call = request(app).post(path).set(bearer(token)).set('Idempotency-Key', randomUUID());
  return body === undefined ? call : call.send(body as object);
}

function get(token: string, path: string): request.Test {
  return request(app).get(path).set(bearer(token));
}

beforeAll(async () => {
  database = await createTestDatabase();
  ({ app } = await buildTestApp({ db: database.db }));
  const admin = tokenFor('platform_admin');
  clinicA = (await post(admin, '/v1/clinics', { name: 'Clinic A', settlement_address: `0x${'a1'.repeat(20)}` })).body.id as string;
  clinicB = (await post(admin, '/v1/clinics', { name: 'Clinic B', settlement_address: `0x${'b2'.repeat(20)}` })).body.id as string;
  for (const clinic of [clinicA, clinicB]) {
    const created = await post(tokenFor('clinic_admin', clinic), '/v1/invoices', {
      patient_ref: 'P-1',
      currency: 'HKD',
      line_items: [{ description: 'Consultation', quantity: 1, unit_amount: '100.00' }],
    });
    expect(created.status).toBe(201);
  }
});
afterAll(async () => database?.close());

describe('the audit log', () => {
  it("lists only the confined auditor's own clinic, however it asks", async () => {
    const auditorA = tokenFor('auditor', clinicA, 'auditor-of-a');
    const mine = await get(auditorA, '/v1/audit-log?limit=100');
    expect(mine.status).toBe(200);
    const rows = mine.body.data as { clinic_id: string | null; action: string }[];
    expect(rows.map((row) => row.action).sort()).toEqual(['clinic.created', 'invoice.created']);
    expect(rows.every((row) => row.clinic_id === clinicA)).toBe(true);
    const asked = await get(auditorA, `/v1/audit-log?clinic_id=${clinicB}`);
    expect(asked.status).toBe(200);
    expect(asked.body.data).toEqual([]);
  });

  it("refuses a cursor on another clinic's row as it refuses an unknown one", async () => {
    const all = (await get(tokenFor('auditor'), `/v1/audit-log?clinic_id=${clinicB}`)).body.data as { id: string }[];
    expect(all.length).toBe(2);
    const auditorA = tokenFor('auditor', clinicA, 'auditor-of-a');
    const foreign = await get(auditorA, `/v1/audit-log?starting_after=${all[0]!.id}`);
    const unknown = await get(auditorA, '/v1/audit-log?starting_after=aud_000000000000000000000000');
    expect(foreign.status).toBe(400);
    expect(foreign.body.code).toBe(unknown.body.code);
    expect(foreign.body.detail).toBe(unknown.body.detail.replace('aud_000000000000000000000000', all[0]!.id));
  });

  it('lets only unconfined auditors and platform admins verify the whole chain', async () => {
    const confined = await get(tokenFor('auditor', clinicA), '/v1/audit-log/verify');
    expect(confined.status).toBe(403);
    expect(confined.body.code).toBe('forbidden');
    for (const token of [tokenFor('auditor'), tokenFor('platform_admin')]) {
      const check = await get(token, '/v1/audit-log/verify');
      expect(check.status).toBe(200);
      expect(check.body.ok).toBe(true);
    }
  });
});

describe('reconciliation runs', () => {
  it('cannot be started by a finance user confined to one clinic, and nothing is recorded', async () => {
    const refused = await post(tokenFor('finance', clinicA), '/v1/reconciliations', {});
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('forbidden');
    expect(await database.db('reconciliation_runs').count('* as n').first()).toEqual({ n: '0' });
    expect(await (await audited(database.db))('audit_log').where({ action: 'reconciliation.requested' }).count('* as n').first()).toEqual({ n: '0' });
  });

  it('cannot be read, counts and all, by a confined finance user; unconfined finance can', async () => {
    const [run] = await database
      .db('reconciliation_runs')
      .insert({
        id: 'rec_0123456789abcdef01234567',
        chain_id: 31337,
        status: 'completed',
        from_block: '1',
        to_block: '2',
        requested_by: 'finance-x',
        counts: JSON.stringify({ matched: 9 }),
      })
      .returning('id');
    const confined = await get(tokenFor('finance', clinicA), `/v1/reconciliations/${run.id as string}`);
    expect(confined.status).toBe(403);
    expect(confined.text).not.toContain('matched');
    const unconfined = await get(tokenFor('finance'), `/v1/reconciliations/${run.id as string}`);
    expect(unconfined.status).toBe(200);
    expect(unconfined.body.counts).toEqual({ matched: 9 });
  });
});
