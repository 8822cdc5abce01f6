/**
 * Balance checkpoints against real Postgres: closing a day writes each moved account's balance
 * as of the day's end; balances at any instant from the latest checkpoint plus the postings since
 * equal the sum of every posting before it; the database refuses an entry dated inside a closed
 * day; two closers at once close each day once; and a checkpoint that disagrees with its postings
 * (a ledger rewritten behind the gateway's back) is named by the check and its API.
 */
import type { Express } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClinic } from '../src/billing/clinics.js';
import { hongKongDayStart } from '../src/domain/hongKongDate.js';
import { balancesAt, CLOSE_DELAY_MS, checkLedgerCheckpoints, closedThrough, closeLedgerDays } from '../src/ledger/checkpoints.js';
import { accountId } from '../src/ledger/ledger.js';
import type { Db } from '../src/platform/db.js';
import { newId } from '../src/platform/ids.js';
import { withTransaction } from '../src/platform/transaction.js';
import { bearer, buildTestApp, TEST_ACTOR, TEST_SECRETS, tokenFor } from './support/app.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

const ASSET = '31337:0x00000000000000000000000000000000000000aa';
const DAY = 86_400_000;

let testDb: TestDatabase;
let db: Db;
let app: Express;
let clinicId: string;
/** Midnight in Hong Kong, today. */
let today: Date;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = testDb.db;
  ({ app } = await buildTestApp({ db }));
  const clinic = await withTransaction(db, (trx) =>
    createClinic(trx, TEST_ACTOR, { name: 'Checkpoint Clinic', settlementAddress: `0x${'c2'.repeat(20)}`, webhookUrl: undefined, secrets: TEST_SECRETS }),
  );
  clinicId = clinic.id;
  for (const kind of ['deposits', 'settlement', 'patient_payments'] as const) {
    await db('ledger_accounts').insert({ id: accountId(clinicId, kind, ASSET), clinic_id: clinicId, kind, asset: ASSET });
  }
  today = hongKongDayStart(new Date());
  // Twelve days of history, some days with nothing: payments in, forwards out, at odd hours.
  for (let day = 12; day >= 1; day--) {
    if (day % 4 === 0) continue;
    for (let n = 0; n < 3; n++) {
      const at = new Date(today.getTime() - day * DAY + (n * 7 + day) * 3_600_000 + 1234);
      await entry(at, 'payment', 1_000_000n * BigInt(day) + BigInt(n));
      if (n === 1) await entry(new Date(at.getTime() + 60_000), 'forward', 500_000n * BigInt(day));
    }
  }
});
afterAll(async () => testDb?.close());

/** A balanced entry dated `at` (as an entry made at that moment would be). */
async function entry(at: Date, kind: 'payment' | 'forward', amount: bigint): Promise<void> {
  const [debit, credit] = kind === 'payment' ? (['deposits', 'patient_payments'] as const) : (['settlement', 'deposits'] as const);
  await withTransaction(db, async (trx) => {
    const id = newId('je');
    await trx('journal_entries').insert({ id, idempotency_key: `test:${id}`, kind, clinic_id: clinicId, created_at: at });
    await trx('postings').insert([
      { entry_id: id, account_id: accountId(clinicId, debit, ASSET), asset: ASSET, amount: amount.toString() },
      { entry_id: id, account_id: accountId(clinicId, credit, ASSET), asset: ASSET, amount: (-amount).toString() },
    ]);
  });
}

/** Balances the slow way: every posting before `at`, summed. */
async function summedFromTheStart(at: Date): Promise<Map<string, bigint>> {
  const rows = (await db('postings')
    .join('journal_entries as e', 'e.id', 'postings.entry_id')
    .join('ledger_accounts as a', 'a.id', 'postings.account_id')
    .where({ 'e.clinic_id': clinicId, 'postings.asset': ASSET })
    .where('e.created_at', '<', at)
    .groupBy('a.kind')
    .select('a.kind', db.raw('sum(postings.amount)::text AS total'))) as { kind: string; total: string }[];
  return new Map(rows.map((row) => [row.kind, BigInt(row.total)]));
}

describe('closing days', () => {
  it('writes checkpoints for every finished day (none for today), and balances from them equal the sum from the start', async () => {
    // The first entry is on the 11th day back (the 12th is one of the empty ones): ten days are
    // over, and yesterday only once it has been over for the delay.
    expect(await closeLedgerDays(db, new Date(today.getTime() + CLOSE_DELAY_MS - 1))).toBe(10);
    expect(await closedThrough(db)).toEqual(new Date(today.getTime() - DAY));
    expect(await closeLedgerDays(db, new Date(today.getTime() + CLOSE_DELAY_MS))).toBe(1);
    expect(await closedThrough(db)).toEqual(today);
    expect(await closeLedgerDays(db)).toBe(0);
    // Days with nothing posted are closed too, with no checkpoints.
    const days = (await db('ledger_days_closed').orderBy('as_of').select('as_of', 'accounts')) as { as_of: Date; accounts: number }[];
    expect(days).toHaveLength(11);
    // The 8th and 4th days back had nothing (the 12th is before the first entry).
    expect(days.filter((day) => day.accounts === 0).map((day) => day.as_of)).toEqual([
      new Date(today.getTime() - 7 * DAY),
      new Date(today.getTime() - 3 * DAY),
    ]);

    for (const at of [
      new Date(today.getTime() - 12 * DAY),
      new Date(today.getTime() - 9 * DAY + 5 * 3_600_000),
      new Date(today.getTime() - 4 * DAY),
      new Date(today.getTime() - 3 * DAY + 12 * 3_600_000 + 17),
      today,
      new Date(),
    ]) {
      expect(await balancesAt(db, clinicId, ASSET, at), at.toISOString()).toEqual(await summedFromTheStart(at));
    }
    expect(await checkLedgerCheckpoints(db)).toEqual({ ok: true, days_closed: 11, checkpoints_checked: expect.any(Number), first_mismatch: null });
  });

  it('the database refuses an entry dated inside a closed day, and accepts one today', async () => {
    const before = await summedFromTheStart(new Date(Date.now() + DAY));
    await expect(entry(new Date(today.getTime() - 2 * DAY + 3_600_000), 'payment', 5n)).rejects.toThrow(/inside a day whose balances are checkpointed/);
    expect(await summedFromTheStart(new Date(Date.now() + DAY))).toEqual(before);
    await entry(new Date(), 'payment', 7n);
    expect((await summedFromTheStart(new Date(Date.now() + DAY))).get('deposits')).toBe(before.get('deposits')! + 7n);
    expect(await balancesAt(db, clinicId, ASSET, new Date(Date.now() + 1000))).toEqual(await summedFromTheStart(new Date(Date.now() + 1000)));
  });

  it('two closers at once close each day once', async () => {
    const tomorrow = new Date(today.getTime() + DAY + CLOSE_DELAY_MS);
    const closed = await Promise.all([closeLedgerDays(db, tomorrow), closeLedgerDays(db, tomorrow)]);
    expect(closed[0] + closed[1]).toBe(1);
    expect(await db('ledger_days_closed').count('* as n').first()).toEqual({ n: '12' });
    expect((await checkLedgerCheckpoints(db)).ok).toBe(true);
  });
});

describe('a checkpoint that disagrees with its postings', () => {
  it('is named by the check and by GET /v1/ledger/checkpoints/verify, for unconfined finance and auditors only', async () => {
    const auditor = tokenFor('auditor', undefined, 'auditor-ann');
    const clean = await request(app).get('/v1/ledger/checkpoints/verify').set(bearer(auditor));
    expect(clean.status).toBe(200);
    expect(clean.body).toMatchObject({ object: 'ledger_checkpoint_verification', ok: true, days_closed: 12, first_mismatch: null });

    const target = (await db('balance_checkpoints')
      .where({ account_id: accountId(clinicId, 'deposits', ASSET) })
      .orderBy('as_of')
      .offset(2)
      .first()) as {
      as_of: Date;
      balance: string;
    };
    // Someone with the owner's rights lifts the guard and edits one checkpoint.
    await testDb.owner.raw('ALTER TABLE balance_checkpoints DISABLE TRIGGER USER');
    try {
      await testDb
        .owner('balance_checkpoints')
        .where({ account_id: accountId(clinicId, 'deposits', ASSET), as_of: target.as_of })
        .update({ balance: (BigInt(target.balance) + 1n).toString() });
      const answer = await request(app)
        .get('/v1/ledger/checkpoints/verify')
        .set(bearer(tokenFor('finance')));
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({
        ok: false,
        first_mismatch: {
          account_id: accountId(clinicId, 'deposits', ASSET),
          as_of: target.as_of.toISOString(),
          recorded: (BigInt(target.balance) + 1n).toString(),
          from_postings: target.balance,
        },
      });
    } finally {
      await testDb
        .owner('balance_checkpoints')
        .where({ account_id: accountId(clinicId, 'deposits', ASSET), as_of: target.as_of })
        .update({ balance: target.balance });
      await testDb.owner.raw('ALTER TABLE balance_checkpoints ENABLE TRIGGER USER');
    }
    expect((await checkLedgerCheckpoints(db)).ok).toBe(true);

    // The gateway's own role can neither change a checkpoint nor reopen a day.
    await expect(db('balance_checkpoints').update({ balance: '0' })).rejects.toThrow(/permission denied/);
    await expect(db('ledger_days_closed').del()).rejects.toThrow(/permission denied/);

    for (const token of [tokenFor('auditor', clinicId), tokenFor('clinic_admin', clinicId), tokenFor('clinic_staff', clinicId)]) {
      expect((await request(app).get('/v1/ledger/checkpoints/verify').set(bearer(token))).status).toBe(403);
    }
    expect((await request(app).get('/v1/ledger/checkpoints/verify')).status).toBe(401);
  });
});
