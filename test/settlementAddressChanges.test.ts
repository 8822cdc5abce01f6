/**
 * A clinic's settlement address, changed with four eyes, from the outside: every request goes
 * through HTTP to the real app on the run's Postgres and anvil.
 *
 * - A proposal changes nothing; the clinic's webhook endpoint hears of it at once.
 * - Only someone other than the proposer approves (the database refuses it too); the address
 *   then applies to invoices created afterwards, and earlier ones keep the destination bound
 *   into their deposit addresses, as the factory contract itself computes them.
 * - One change waits per clinic; cancelled and lapsed changes cannot be approved.
 * - PATCH no longer changes the address; refusals change nothing; other clinics see nothing.
 *
 * The database is read directly for what the API never shows (a deposit's salt) and to count
 * rows, and written once to move a proposal's expiry into the past instead of waiting a week.
 */
import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import { type Address, getAddress, type Hex } from 'viem';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { depositFactoryAbi } from '../contracts/artifacts/DepositFactory.js';
import { bearer, buildTestApp, tokenFor } from './support/app.js';
import { fundedAccount, testChain } from './support/chain.js';
import { audited, createTestDatabase, type TestDatabase } from './support/database.js';

let database: TestDatabase;
let app: Express;
const chain = testChain();
const platformAdmin = tokenFor('platform_admin', undefined, 'admin-ada');
const otherPlatformAdmin = tokenFor('platform_admin', undefined, 'admin-ben');

beforeAll(async () => {
  database = await createTestDatabase();
  ({ app } = await buildTestApp({ db: database.db }));
});

afterAll(async () => {
  await database.close();
});

interface Change {
  object: 'settlement_address_change';
  id: string;
  clinic_id: string;
  status: 'pending' | 'approved' | 'cancelled' | 'expired';
  previous_address: Address;
  address: Address;
  reason: string;
  proposed_by: string;
  created_at: string;
  expires_at: string;
  decided_by: string | null;
  decided_at: string | null;
}

interface TestClinic {
  id: string;
  settlementAddress: Address;
  admin: string;
  staff: string;
}

function newKey(): string {
  return `test-${randomUUID()}`;
}

async function newAddress(): Promise<Address> {
  return getAddress((await fundedAccount(chain)).address);
}

async function onboardClinic(name: string): Promise<TestClinic> {
  const settlementAddress = await newAddress();
  const response = await request(app)
    .post('/v1/clinics')
    .set(bearer(platformAdmin))
    .set('Idempotency-Key', newKey())
    .send({ name, settlement_address: settlementAddress });
  expect(response.status, response.text).toBe(201);
  const id = response.body.id as string;
  return { id, settlementAddress, admin: tokenFor('clinic_admin', id, `admin-of-${id}`), staff: tokenFor('clinic_staff', id) };
}

function propose(token: string, clinicId: string, body: Record<string, unknown>, key = newKey()): request.Test {
  return request(app).post(`/v1/clinics/${clinicId}/settlement-address-changes`).set(bearer(token)).set('Idempotency-Key', key).send(body);
}

function decide(token: string, id: string, verb: 'approve' | 'cancel', key = newKey()): request.Test {
  return request(app).post(`/v1/settlement-address-changes/${id}/${verb}`).set(bearer(token)).set('Idempotency-Key', key);
}

async function proposed(token: string, clinicId: string, address: Address, reason = 'New bank-held custody wallet'): Promise<Change> {
  const response = await propose(token, clinicId, { address, reason });
  expect(response.status, response.text).toBe(201);
  return response.body as Change;
}

async function settlementAddressOf(clinicId: string): Promise<Address> {
  const response = await request(app).get(`/v1/clinics/${clinicId}`).set(bearer(platformAdmin));
  expect(response.status, response.text).toBe(200);
  return response.body.settlement_address as Address;
}

async function createInvoice(clinic: TestClinic): Promise<{ id: string; deposit_address: Address }> {
  const response = await request(app)
    .post('/v1/invoices')
    .set(bearer(clinic.staff))
    .set('Idempotency-Key', newKey())
    .send({ patient_ref: 'PAT-0001', currency: 'HKD', line_items: [{ description: 'Consultation', quantity: 1, unit_amount: '300.00' }] });
  expect(response.status, response.text).toBe(201);
  return response.body as { id: string; deposit_address: Address };
}

/** Where the factory contract says the deposit of this invoice is, from the destination and salt the invoice holds. */
async function depositOnChain(invoiceId: string): Promise<{ destination: Address; deposit: Address }> {
  const row = (await database.db('invoices').where({ id: invoiceId }).first('deposit_salt', 'settlement_address')) as {
    deposit_salt: Hex;
    settlement_address: string;
  };
  const destination = getAddress(row.settlement_address);
  const deposit = await chain.publicClient.readContract({
    address: inject('factoryAddress'),
    abi: depositFactoryAbi,
    functionName: 'depositAddress',
    args: [destination, row.deposit_salt],
  });
  return { destination, deposit };
}

async function eventsOf(clinic: TestClinic, type: string): Promise<{ type: string; data: Change }[]> {
  const response = await request(app).get('/v1/webhooks/events').query({ type, limit: 100 }).set(bearer(clinic.admin));
  expect(response.status, response.text).toBe(200);
  return response.body.data as { type: string; data: Change }[];
}

async function auditActions(target: string): Promise<{ action: string; actor: string }[]> {
  return (await (await audited(database.db))('audit_log').where({ target_id: target }).orderBy('seq').select('action', 'actor')) as {
    action: string;
    actor: string;
  }[];
}

function expectProblem(response: request.Response, status: number, code: string, param?: string): void {
  expect(response.status, response.text).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(response.body).toMatchObject({ type: `/problems/${code}`, status, code });
  if (param !== undefined) expect(response.body.param).toBe(param);
}

/** Counts of what a refused request must not change. */
async function snapshot(clinicId: string): Promise<unknown> {
  const count = async (table: string, where: Record<string, unknown> = {}) =>
    Number(((await database.db(table).where(where).count({ n: '*' })) as { n: string }[])[0]!.n);
  return {
    address: (await database.db('clinics').where({ id: clinicId }).first('settlement_address')) as unknown,
    changes: await database.db('settlement_address_changes').where({ clinic_id: clinicId }).orderBy('id').select('id', 'status', 'decided_by'),
    events: await count('webhook_events', { clinic_id: clinicId }),
    // Audited events, on the chain or waiting for it.
    audit: (await count('audit_log')) + (await count('audit_inbox')),
  };
}

describe('a settlement address change', () => {
  it('changes nothing until a second person approves; then new invoices settle to the new address and earlier ones keep theirs', async () => {
    const clinic = await onboardClinic('Moving Clinic');
    const before = await createInvoice(clinic);
    const next = await newAddress();

    const change = await proposed(platformAdmin, clinic.id, next);
    expect(change).toMatchObject({
      object: 'settlement_address_change',
      clinic_id: clinic.id,
      status: 'pending',
      previous_address: clinic.settlementAddress,
      address: next,
      proposed_by: 'admin-ada',
      decided_by: null,
      decided_at: null,
    });
    expect(Date.parse(change.expires_at) - Date.parse(change.created_at)).toBe(7 * 24 * 3_600_000);
    // Proposed only: the clinic still settles where it did, and its endpoint has been told.
    expect(await settlementAddressOf(clinic.id)).toBe(clinic.settlementAddress);
    const meanwhile = await createInvoice(clinic);
    expect((await depositOnChain(meanwhile.id)).destination).toBe(clinic.settlementAddress);
    const requested = await eventsOf(clinic, 'clinic.settlement_address_change_requested');
    expect(requested.map((event) => event.data)).toEqual([change]);

    const approval = await decide(clinic.admin, change.id, 'approve');
    expect(approval.status, approval.text).toBe(200);
    expect(approval.body).toMatchObject({ id: change.id, status: 'approved', decided_by: `admin-of-${clinic.id}`, address: next });
    expect(await settlementAddressOf(clinic.id)).toBe(next);
    expect((await eventsOf(clinic, 'clinic.settlement_address_changed')).map((event) => event.data)).toEqual([approval.body]);

    const after = await createInvoice(clinic);
    for (const [invoice, destination] of [
      [before, clinic.settlementAddress],
      [meanwhile, clinic.settlementAddress],
      [after, next],
    ] as const) {
      const onChain = await depositOnChain(invoice.id);
      expect(onChain.destination).toBe(destination);
      expect(onChain.deposit).toBe(invoice.deposit_address);
    }

    expect(await auditActions(change.id)).toEqual([
      { action: 'settlement_address_change.proposed', actor: 'admin-ada' },
      { action: 'settlement_address_change.approved', actor: `admin-of-${clinic.id}` },
    ]);
    const clinicAudit = (await (
      await audited(database.db)
    )('audit_log')
      .where({ target_id: clinic.id, action: 'clinic.settlement_address_changed' })
      .select('before', 'after')) as {
      before: Record<string, unknown>;
      after: Record<string, unknown>;
    }[];
    expect(clinicAudit).toEqual([
      {
        before: { settlement_address: clinic.settlementAddress.toLowerCase() },
        after: { settlement_address: next.toLowerCase(), change_id: change.id },
      },
    ]);
  });

  it('cannot be approved by its proposer, through the API or in the database; another platform admin may', async () => {
    const clinic = await onboardClinic('Four Eyes Clinic');
    const change = await proposed(clinic.admin, clinic.id, await newAddress());

    const unchanged = await snapshot(clinic.id);
    expectProblem(await decide(clinic.admin, change.id, 'approve'), 403, 'forbidden');
    expect(await snapshot(clinic.id)).toEqual(unchanged);

    // Even a write that skips the API cannot record the proposer as the approver.
    await expect(
      database.db('settlement_address_changes').where({ id: change.id }).update({ status: 'approved', decided_by: change.proposed_by, decided_at: new Date() }),
    ).rejects.toThrow(/settlement_address_changes_four_eyes/);

    const approval = await decide(otherPlatformAdmin, change.id, 'approve');
    expect(approval.status, approval.text).toBe(200);
    expect(approval.body).toMatchObject({ status: 'approved', decided_by: 'admin-ben' });
    expect(await settlementAddressOf(clinic.id)).toBe(change.address);
  });

  it('waits one at a time per clinic; a cancelled or lapsed change cannot be approved', async () => {
    const clinic = await onboardClinic('One At A Time Clinic');
    const first = await proposed(platformAdmin, clinic.id, await newAddress());

    const unchanged = await snapshot(clinic.id);
    const second = await propose(platformAdmin, clinic.id, { address: await newAddress(), reason: 'Another' });
    expectProblem(second, 409, 'settlement_address_change_pending');
    expect(second.body.pending_change_id).toBe(first.id);
    expect(await snapshot(clinic.id)).toEqual(unchanged);

    // The clinic did not ask for it: its admin cancels, and the address stays.
    const cancelled = await decide(clinic.admin, first.id, 'cancel');
    expect(cancelled.status, cancelled.text).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled', decided_by: `admin-of-${clinic.id}` });
    expect((await eventsOf(clinic, 'clinic.settlement_address_change_cancelled')).map((event) => event.data.id)).toEqual([first.id]);
    const afterCancel = await snapshot(clinic.id);
    expectProblem(await decide(otherPlatformAdmin, first.id, 'approve'), 409, 'settlement_address_change_not_pending');
    expectProblem(await decide(otherPlatformAdmin, first.id, 'cancel'), 409, 'settlement_address_change_not_pending');
    expect(await snapshot(clinic.id)).toEqual(afterCancel);
    expect(await settlementAddressOf(clinic.id)).toBe(clinic.settlementAddress);

    // A proposal nobody approved within the week lapses.
    const stale = await proposed(platformAdmin, clinic.id, await newAddress());
    await database
      .db('settlement_address_changes')
      .where({ id: stale.id })
      .update({ expires_at: new Date(Date.now() - 1000) });
    const lapsed = await snapshot(clinic.id);
    const late = await decide(otherPlatformAdmin, stale.id, 'approve');
    expectProblem(late, 409, 'settlement_address_change_not_pending');
    expect(late.body.detail).toMatch(/expired/);
    expect(await snapshot(clinic.id)).toEqual(lapsed);
    const read = await request(app).get(`/v1/settlement-address-changes/${stale.id}`).set(bearer(clinic.admin));
    expect(read.body.status).toBe('expired');

    // …and no longer blocks a new proposal, which marks it expired for good.
    const fresh = await proposed(platformAdmin, clinic.id, await newAddress());
    const listed = await request(app).get('/v1/settlement-address-changes').query({ clinic_id: clinic.id }).set(bearer(platformAdmin));
    expect(listed.body.data.map((row: Change) => [row.id, row.status])).toEqual([
      [fresh.id, 'pending'],
      [stale.id, 'expired'],
      [first.id, 'cancelled'],
    ]);
    const expiredOnly = await request(app).get('/v1/settlement-address-changes').query({ clinic_id: clinic.id, status: 'expired' }).set(bearer(platformAdmin));
    expect(expiredOnly.body.data.map((row: Change) => row.id)).toEqual([stale.id]);
    expect(((await database.db('settlement_address_changes').where({ id: stale.id }).first('status')) as { status: string }).status).toBe('expired');
  });

  it('answers a retried approval with the same change, once', async () => {
    const clinic = await onboardClinic('Retry Clinic');
    const change = await proposed(platformAdmin, clinic.id, await newAddress());
    const key = newKey();
    const first = await decide(otherPlatformAdmin, change.id, 'approve', key);
    const again = await decide(otherPlatformAdmin, change.id, 'approve', key);
    expect(first.status, first.text).toBe(200);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(await eventsOf(clinic, 'clinic.settlement_address_changed')).toHaveLength(1);
    expect((await auditActions(change.id)).map((row) => row.action)).toEqual(['settlement_address_change.proposed', 'settlement_address_change.approved']);
  });
});

describe('refusals', () => {
  it('PATCH no longer changes the settlement address: 400 naming the field, nothing changed', async () => {
    const clinic = await onboardClinic('Patched Clinic');
    const unchanged = await snapshot(clinic.id);
    const response = await request(app)
      .patch(`/v1/clinics/${clinic.id}`)
      .set(bearer(platformAdmin))
      .send({ name: 'Renamed', settlement_address: await newAddress() });
    expectProblem(response, 400, 'invalid_request', 'settlement_address');
    expect(response.body.detail).toMatch(/settlement-address-changes/);
    expect(await snapshot(clinic.id)).toEqual(unchanged);
    expect(await settlementAddressOf(clinic.id)).toBe(clinic.settlementAddress);
  });

  it('refuses bad proposals with a clear problem and records nothing', async () => {
    const clinic = await onboardClinic('Careful Clinic');
    const unchanged = await snapshot(clinic.id);
    const good = await newAddress();
    const letter = good.slice(2).search(/[a-fA-F]/) + 2;
    const flipped = good[letter] === good[letter]!.toLowerCase() ? good[letter]!.toUpperCase() : good[letter]!.toLowerCase();
    const badChecksum = `${good.slice(0, letter)}${flipped}${good.slice(letter + 1)}`;

    expectProblem(await propose(platformAdmin, clinic.id, { address: badChecksum, reason: 'x' }), 400, 'invalid_request', 'address');
    expectProblem(await propose(platformAdmin, clinic.id, { address: `0x${'0'.repeat(40)}`, reason: 'x' }), 400, 'invalid_request', 'address');
    expectProblem(await propose(platformAdmin, clinic.id, { address: clinic.settlementAddress, reason: 'x' }), 400, 'invalid_request', 'address');
    expectProblem(await propose(platformAdmin, clinic.id, { address: good }), 400, 'invalid_request', 'reason');
    expectProblem(await propose(platformAdmin, clinic.id, { address: good, reason: '' }), 400, 'invalid_request', 'reason');
    expect(await snapshot(clinic.id)).toEqual(unchanged);
  });

  it("keeps each clinic's changes to itself and to the roles that may make them", async () => {
    const clinic = await onboardClinic('Guarded Clinic');
    const other = await onboardClinic('Neighbour Clinic');
    const change = await proposed(platformAdmin, clinic.id, await newAddress());
    const unchanged = await snapshot(clinic.id);

    // Another clinic's admin: not found, as for an unknown id, for every way in.
    expectProblem(await propose(other.admin, clinic.id, { address: await newAddress(), reason: 'x' }), 404, 'not_found');
    expectProblem(await decide(other.admin, change.id, 'approve'), 404, 'not_found');
    expectProblem(await decide(other.admin, change.id, 'cancel'), 404, 'not_found');
    expectProblem(await request(app).get(`/v1/settlement-address-changes/${change.id}`).set(bearer(other.admin)), 404, 'not_found');
    const theirs = await request(app).get('/v1/settlement-address-changes').set(bearer(other.admin));
    expect(theirs.body.data).toEqual([]);
    const asked = await request(app).get('/v1/settlement-address-changes').query({ clinic_id: clinic.id }).set(bearer(other.admin));
    expect(asked.body.data).toEqual([]);

    // Roles that move no settlement money: forbidden, whatever the clinic.
    for (const token of [clinic.staff, tokenFor('finance'), tokenFor('auditor'), tokenFor('finance', clinic.id)]) {
      expectProblem(await decide(token, change.id, 'approve'), 403, 'forbidden');
      expectProblem(await propose(token, clinic.id, { address: await newAddress(), reason: 'x' }), 403, 'forbidden');
    }
    expect(await snapshot(clinic.id)).toEqual(unchanged);

    // They may read it: the clinic's own users, and finance and auditors without a clinic.
    for (const token of [clinic.staff, tokenFor('auditor')]) {
      const read = await request(app).get(`/v1/settlement-address-changes/${change.id}`).set(bearer(token));
      expect(read.status, read.text).toBe(200);
      expect(read.body.id).toBe(change.id);
    }
  });
});
