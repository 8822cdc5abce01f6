/**
 * The audit log from the outside: API calls leave rows naming who did what, with request ids
 * and summaries free of patient descriptions; only auditors and platform admins read it; the
 * database refuses edits; concurrent writers never fork the chain; the chainer can die mid-batch
 * or run twice at once without a gap, a fork or a duplicate, and writers never wait for it; and a
 * row changed, removed or re-hashed behind the gateway's back is named by /verify.
 */
import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditRow, auditCanonical, auditRowHash, chainPendingAudit, GENESIS_HASH } from '../src/audit/auditLog.js';
import { createDb } from '../src/platform/db.js';
import { bearer, buildTestApp, tokenFor } from './support/app.js';
import { audited, createTestDatabase, type TestDatabase } from './support/database.js';

const ADMIN = tokenFor('platform_admin', undefined, 'admin-ada');
const AUDITOR = tokenFor('auditor', undefined, 'auditor-ann');
const SECRET_DESCRIPTION = 'Psychiatric consultation for Chan Tai Man';

let database: TestDatabase;
let app: Express;
let clinicId: string;

beforeAll(async () => {
  database = await createTestDatabase();
  ({ app } = await buildTestApp({ db: database.db }));
  const clinic = await post(ADMIN, '/v1/clinics', { name: 'Harbour Clinic', settlement_address: `0x${'ab'.repeat(20)}` });
  expect(clinic.status).toBe(201);
  clinicId = clinic.body.id as string;
});
afterAll(async () => database?.close());

function post(token: string, route: string, body?: object, requestId?: string): request.Test {
  const call = request(app).post(route).set(bearer(token)).set('Idempotency-Key', randomUUID());
  if (requestId) call.set('X-Request-Id', requestId);
  return body === undefined ? call : call.send(body);
}

function createInvoice(requestId?: string): request.Test {
  return post(
    tokenFor('clinic_admin', clinicId, 'dr-wong'),
    '/v1/invoices',
    {
      patient_ref: 'P-0042',
      currency: 'HKD',
      line_items: [{ description: SECRET_DESCRIPTION, quantity: 1, unit_amount: '880.00' }],
    },
    requestId,
  );
}

/** The chain, after whatever waits in the inbox has been put on it (as the gateway's readers do). */
async function auditRows(): Promise<AuditRow[]> {
  await chainPendingAudit(database.db);
  const rows = await database.db('audit_log').orderBy('seq');
  return rows.map((row: Record<string, unknown>) => ({ ...row, seq: String(row.seq), occurred_at: (row.occurred_at as Date).toISOString() }) as AuditRow);
}

async function verify(): Promise<Record<string, unknown>> {
  const response = await request(app).get('/v1/audit-log/verify').set(bearer(AUDITOR));
  expect(response.status).toBe(200);
  return response.body as Record<string, unknown>;
}

/**
 * Runs `work` with the append-only guard of audit_log lifted, as someone with the schema owner's
 * rights could (the gateway's own role cannot: it may not alter the table).
 */
async function behindTheGatewaysBack(work: (db: TestDatabase['db']) => Promise<unknown>): Promise<void> {
  await database.owner.raw('ALTER TABLE audit_log DISABLE TRIGGER USER');
  try {
    await work(database.owner);
  } finally {
    await database.owner.raw('ALTER TABLE audit_log ENABLE TRIGGER USER');
  }
}

describe('what the log records', () => {
  it('an invoice created and voided through the API: actor, role, request id, before and after — and no patient description', async () => {
    const created = await createInvoice('req-audit-create-0001');
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const voided = await post(tokenFor('clinic_admin', clinicId, 'dr-wong'), `/v1/invoices/${id}/void`, undefined, 'req-audit-void-0001');
    expect(voided.status).toBe(200);

    const response = await request(app).get('/v1/audit-log').query({ target_id: id }).set(bearer(AUDITOR));
    expect(response.status).toBe(200);
    const [voidRow, createRow] = response.body.data as Record<string, unknown>[];
    expect(createRow).toMatchObject({
      object: 'audit_row',
      actor: 'dr-wong',
      role: 'clinic_admin',
      action: 'invoice.created',
      target_type: 'invoice',
      target_id: id,
      clinic_id: clinicId,
      request_id: 'req-audit-create-0001',
      before: null,
      after: { status: 'open', currency: 'HKD', amount_due: '880.00', number: created.body.number },
    });
    expect(voidRow).toMatchObject({ action: 'invoice.voided', request_id: 'req-audit-void-0001', before: { status: 'open' }, after: { status: 'void' } });

    const everything = JSON.stringify(await auditRows());
    expect(everything).not.toContain(SECRET_DESCRIPTION);
    expect(everything).not.toContain('P-0042');
  });

  it('a replayed request (same Idempotency-Key) is not recorded twice', async () => {
    const key = randomUUID();
    const send = () =>
      request(app)
        .post('/v1/invoices')
        .set(bearer(tokenFor('clinic_admin', clinicId)))
        .set('Idempotency-Key', key)
        .send({ patient_ref: 'P-7', currency: 'HKD', line_items: [{ description: 'x', quantity: 1, unit_amount: '1.00' }] });
    const first = await send();
    const replay = await send();
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(
      await (await audited(database.db))('audit_log')
        .where({ target_id: first.body.id as string })
        .count<{ count: string }[]>('* as count'),
    ).toEqual([{ count: '1' }]);
  });

  it('clinic changes keep before and after, never the webhook secret', async () => {
    const created = await post(ADMIN, '/v1/clinics', {
      name: 'Old Name Clinic',
      settlement_address: `0x${'cd'.repeat(20)}`,
      webhook_url: 'https://example.com/hook',
    });
    const patched = await request(app)
      .patch(`/v1/clinics/${created.body.id as string}`)
      .set(bearer(ADMIN))
      .send({ name: 'New Name Clinic' });
    expect(patched.status).toBe(200);
    const [row] = (await (await audited(database.db))('audit_log').where({ target_id: created.body.id as string, action: 'clinic.updated' })) as AuditRow[];
    expect(row).toMatchObject({ actor: 'admin-ada', role: 'platform_admin', before: { name: 'Old Name Clinic' }, after: { name: 'New Name Clinic' } });
    expect(JSON.stringify(await auditRows())).not.toContain(created.body.webhook_secret as string);
  });

  it('is for auditors and platform admins only', async () => {
    for (const token of [tokenFor('finance'), tokenFor('clinic_admin', clinicId), tokenFor('clinic_staff', clinicId)]) {
      expect((await request(app).get('/v1/audit-log').set(bearer(token))).status).toBe(403);
      expect((await request(app).get('/v1/audit-log/verify').set(bearer(token))).status).toBe(403);
    }
    expect((await request(app).get('/v1/audit-log').set(bearer(ADMIN))).status).toBe(200);
    expect((await request(app).get('/v1/audit-log')).status).toBe(401);
  });

  it('pages newest first with cursors, and filters by clinic and action', async () => {
    const first = await request(app).get('/v1/audit-log').query({ limit: 2 }).set(bearer(AUDITOR));
    expect(first.body.has_more).toBe(true);
    const [a, b] = first.body.data as AuditRow[];
    expect(BigInt(a!.seq)).toBeGreaterThan(BigInt(b!.seq));
    const next = await request(app).get('/v1/audit-log').query({ limit: 2, starting_after: b!.id }).set(bearer(AUDITOR));
    expect(BigInt((next.body.data as AuditRow[])[0]!.seq)).toBeLessThan(BigInt(b!.seq));
    const created = await request(app).get('/v1/audit-log').query({ clinic_id: clinicId, action: 'invoice.created' }).set(bearer(AUDITOR));
    expect((created.body.data as AuditRow[]).every((row) => row.clinic_id === clinicId && row.action === 'invoice.created')).toBe(true);
    expect((await request(app).get('/v1/audit-log').query({ starting_after: 'aud_000000000000000000000000' }).set(bearer(AUDITOR))).status).toBe(400);
  });
});

describe('the chain', () => {
  it('every row hashes its canonical text onto the previous row, from 64 zeros; /verify agrees', async () => {
    const rows = await auditRows();
    expect(rows.length).toBeGreaterThan(3);
    let prev = GENESIS_HASH;
    rows.forEach((row, index) => {
      expect(row.seq).toBe(String(index + 1));
      expect(row.prev_hash).toBe(prev);
      const { seq: _seq, canonical, prev_hash: _prev, row_hash, ...values } = row;
      expect(auditCanonical(values)).toBe(canonical);
      expect(auditRowHash(prev, canonical)).toBe(row_hash);
      prev = row_hash;
    });
    expect(await verify()).toEqual({
      object: 'audit_log_verification',
      ok: true,
      rows_checked: rows.length,
      head: { seq: String(rows.length), row_hash: prev },
      first_broken: null,
    });
  });

  it('twenty concurrent writers queue on the head: no fork, no gap', async () => {
    const before = (await auditRows()).length;
    const responses = await Promise.all(Array.from({ length: 20 }, () => createInvoice()));
    expect(responses.map((response) => response.status)).toEqual(Array(20).fill(201));
    const rows = await auditRows();
    expect(rows.length).toBe(before + 20);
    expect(new Set(rows.map((row) => row.prev_hash)).size).toBe(rows.length);
    expect((await verify()).ok).toBe(true);
  });

  it('writers never wait for the chain: with its head held, twenty invoices are created and their events wait in the inbox', async () => {
    const before = (await auditRows()).length;
    // A chainer stuck mid-batch holds the head's row lock for as long as it likes.
    const held = await database.owner.transaction();
    try {
      await held.raw('SELECT 1 FROM audit_head FOR UPDATE');
      const responses = await Promise.all(Array.from({ length: 20 }, () => createInvoice()));
      expect(responses.map((response) => response.status)).toEqual(Array(20).fill(201));
      expect(await database.db('audit_inbox').count('* as n').first()).toEqual({ n: '20' });
      expect(await database.db('audit_log').count('* as n').first()).toEqual({ n: String(before) });
    } finally {
      await held.rollback();
    }
    const rows = await auditRows();
    expect(rows.length).toBe(before + 20);
    expect(await database.db('audit_inbox').count('* as n').first()).toEqual({ n: '0' });
    expect((await verify()).ok).toBe(true);
  });

  it('a chainer killed mid-batch moves nothing; two chainers at once leave no gap, fork or duplicate', async () => {
    const before = (await auditRows()).length;
    await Promise.all(Array.from({ length: 30 }, () => createInvoice()));
    // A chainer's process dies (its connection cut) after moving a batch and before committing it.
    const doomed = new pg.Client({ connectionString: database.url });
    doomed.on('error', () => undefined);
    await doomed.connect();
    await doomed.query('BEGIN');
    expect((await doomed.query('SELECT audit_chain_pending(10) AS moved')).rows[0].moved).toBe(10);
    (doomed as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    // Postgres rolls the batch back and lets go of the head: the next chainer gets it.
    const probe = await database.owner.transaction();
    try {
      await probe.raw(`SET LOCAL lock_timeout = '10s'`);
      await probe.raw('SELECT 1 FROM audit_head FOR SHARE');
    } finally {
      await probe.rollback();
    }
    expect(await database.db('audit_inbox').count('* as n').first()).toEqual({ n: '30' });
    expect(await database.db('audit_log').count('* as n').first()).toEqual({ n: String(before) });

    // Two chainers (on their own pools) in small batches while writers keep writing.
    const other = createDb({ connectionString: database.url, poolMax: 2 });
    try {
      const writing = Promise.all(Array.from({ length: 20 }, () => createInvoice()));
      const moved = await Promise.all([chainPendingAudit(database.db, { batch: 3 }), chainPendingAudit(other, { batch: 3 })]);
      await writing;
      await chainPendingAudit(database.db);
      expect(moved[0] + moved[1]).toBeGreaterThanOrEqual(30);
    } finally {
      await other.destroy();
    }
    const rows = await auditRows();
    expect(rows.length).toBe(before + 50);
    expect(new Set(rows.map((row) => row.id)).size).toBe(rows.length);
    expect(new Set(rows.map((row) => row.prev_hash)).size).toBe(rows.length);
    expect(rows.map((row) => row.seq)).toEqual(rows.map((_, index) => String(index + 1)));
    expect((await verify()).ok).toBe(true);
  });

  it('the database refuses UPDATE, DELETE and TRUNCATE, and a second row on the same predecessor', async () => {
    const [row] = await auditRows();
    // The gateway's role is refused by its grants, and cannot lift the guard either…
    await expect(database.db('audit_log').where({ seq: row!.seq }).update({ actor: 'mallory' })).rejects.toThrow(/permission denied for table audit_log/);
    await expect(database.db('audit_log').where({ seq: row!.seq }).del()).rejects.toThrow(/permission denied for table audit_log/);
    await expect(database.db.raw('TRUNCATE audit_log')).rejects.toThrow(/permission denied for table audit_log/);
    await expect(database.db.raw('ALTER TABLE audit_log DISABLE TRIGGER USER')).rejects.toThrow(/must be owner of table audit_log/);
    await expect(database.db('audit_head').update({ seq: 0 })).rejects.toThrow(/permission denied for table audit_head/);
    // It may not append to the chain itself (only the owner's chaining function does), nor take an
    // event back out of the inbox before it is chained.
    await expect(database.db('audit_log').insert({ ...row, seq: 0, id: 'aud_eeeeeeeeeeeeeeeeeeeeeeee', before: null, after: null })).rejects.toThrow(
      /permission denied for table audit_log/,
    );
    await createInvoice();
    await expect(database.db('audit_inbox').del()).rejects.toThrow(/permission denied for table audit_inbox/);
    await expect(database.db('audit_inbox').update({ actor: 'mallory' })).rejects.toThrow(/permission denied for table audit_inbox/);
    await expect(database.owner('audit_inbox').update({ actor: 'mallory' })).rejects.toThrow(/append-only/);
    // …and the owner, who holds those rights, meets the triggers.
    await expect(database.owner('audit_log').where({ seq: row!.seq }).update({ actor: 'mallory' })).rejects.toThrow(/append-only/);
    await expect(database.owner('audit_log').where({ seq: row!.seq }).del()).rejects.toThrow(/append-only/);
    await expect(database.owner.raw('TRUNCATE audit_log')).rejects.toThrow(/append-only/);
    // Even around the chaining trigger, a row cannot claim a predecessor another row has.
    await expect(
      database.owner.transaction(async (trx) => {
        await trx.raw('ALTER TABLE audit_log DISABLE TRIGGER audit_log_chain');
        await trx('audit_log').insert({ ...row, seq: 999_999, id: 'aud_ffffffffffffffffffffffff', before: null, after: null });
      }),
    ).rejects.toThrow(/unique/);
    expect((await verify()).ok).toBe(true);
  });
});

describe('tampering behind the gateway', () => {
  // Each case breaks a copy of the log's state and puts it back, so the cases stand alone.
  async function withTampering(tamper: (db: TestDatabase['db'], rows: AuditRow[]) => Promise<unknown>): Promise<Record<string, unknown>> {
    const rows = await auditRows();
    await database.owner.raw('CREATE TABLE audit_saved AS SELECT * FROM audit_log');
    const head = await database.owner('audit_head').first();
    try {
      await behindTheGatewaysBack((db) => tamper(db, rows));
      return await verify();
    } finally {
      await behindTheGatewaysBack(async (db) => {
        await db.raw('DELETE FROM audit_log');
        await db.raw('INSERT INTO audit_log SELECT * FROM audit_saved');
      });
      await database.owner.raw('DROP TABLE audit_saved');
      await database.owner('audit_head').update({ seq: head.seq, row_hash: head.row_hash });
      expect((await verify()).ok).toBe(true);
    }
  }

  it('a row whose summary was changed is named', async () => {
    const result = await withTampering(async (db, rows) => {
      const target = rows.find((row) => row.action === 'invoice.created')!;
      await db('audit_log')
        .where({ seq: target.seq })
        .update({ after: JSON.stringify({ ...target.after, amount_due: '1.00' }) });
      return target;
    });
    const target = (await auditRows()).find((row) => row.action === 'invoice.created')!;
    expect(result).toMatchObject({ ok: false, first_broken: { seq: target.seq, id: target.id, reason: expect.stringMatching(/fields differ/) } });
  });

  it('a row re-hashed after its change breaks the link to the next row', async () => {
    const rows = await auditRows();
    const target = rows[2]!;
    const result = await withTampering(async (db) => {
      const values = { ...target, actor: 'mallory' };
      const { seq: _seq, canonical: _c, prev_hash, row_hash: _h, ...fields } = values;
      const canonical = auditCanonical(fields);
      await db('audit_log')
        .where({ seq: target.seq })
        .update({ actor: 'mallory', canonical, row_hash: auditRowHash(prev_hash, canonical) });
    });
    expect(result).toMatchObject({ ok: false, first_broken: { seq: rows[3]!.seq, reason: expect.stringMatching(/prev_hash/) } });
  });

  it('a removed row and a removed tail are found', async () => {
    const rows = await auditRows();
    const middle = await withTampering((db) => db('audit_log').where({ seq: rows[4]!.seq }).del());
    expect(middle).toMatchObject({ ok: false, first_broken: { seq: rows[4]!.seq, reason: expect.stringMatching(/missing/) } });
    const tail = await withTampering((db) =>
      db('audit_log')
        .where({ seq: rows.at(-1)!.seq })
        .del(),
    );
    expect(tail).toMatchObject({ ok: false, first_broken: { seq: rows.at(-1)!.seq, reason: expect.stringMatching(/recorded head/) } });
  });
});
