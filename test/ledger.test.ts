/**
 * The ledger against real Postgres: the database itself refuses entries that do not balance
 * per asset (checked at COMMIT) and any change to posted rows; postEntry and reverseEntry are
 * idempotent by key; balances are the sums of postings.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClinic } from '../src/billing/clinics.js';
import { type AccountKind, accountBalances, accountId, type PostEntryParameters, postEntry, reverseEntry, UnbalancedEntryError } from '../src/ledger/ledger.js';
import type { Db, Trx } from '../src/platform/db.js';
import { newId } from '../src/platform/ids.js';
import { withTransaction } from '../src/platform/transaction.js';
import { TEST_ACTOR, TEST_SECRETS } from './support/app.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

const HKD = '31337:0x00000000000000000000000000000000000000aa';
const OTHER = '31337:0x00000000000000000000000000000000000000bb';

let testDb: TestDatabase;
let db: Db;
let clinicId: string;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = testDb.db;
  const clinic = await withTransaction(db, (trx) =>
    createClinic(trx, TEST_ACTOR, {
      name: 'Ledger Clinic',
      settlementAddress: '0x00000000000000000000000000000000000000c1',
      webhookUrl: undefined,
      secrets: TEST_SECRETS,
    }),
  );
  clinicId = clinic.id;
  // The accounts raw inserts below post to (postEntry creates its own as needed).
  for (const asset of [HKD, OTHER]) {
    for (const kind of ['deposits', 'settlement', 'patient_payments'] as const) {
      await db('ledger_accounts')
        .insert({ id: accountId(clinicId, kind, asset), clinic_id: clinicId, kind, asset })
        .onConflict('id')
        .ignore();
    }
  }
});
afterAll(async () => testDb?.close());

async function counts(): Promise<{ entries: number; postings: number }> {
  const [entries, postings] = await Promise.all([db('journal_entries').count({ n: '*' }).first(), db('postings').count({ n: '*' }).first()]);
  return { entries: Number((entries as { n: string }).n), postings: Number((postings as { n: string }).n) };
}

/** Writes an entry row and the given postings with plain SQL, bypassing postEntry's own checks. */
async function rawEntry(trx: Trx, postings: { kind: AccountKind; asset?: string; amount: string }[]): Promise<string> {
  const id = newId('je');
  await trx('journal_entries').insert({ id, idempotency_key: `raw:${id}`, kind: 'payment', clinic_id: clinicId });
  if (postings.length) {
    await trx('postings').insert(
      postings.map((posting) => ({
        entry_id: id,
        account_id: accountId(clinicId, posting.kind, posting.asset ?? HKD),
        asset: posting.asset ?? HKD,
        amount: posting.amount,
      })),
    );
  }
  return id;
}

function payment(amount: bigint, key = `test:${newId('pay')}`): PostEntryParameters {
  return {
    idempotencyKey: key,
    kind: 'payment',
    clinicId,
    asset: HKD,
    postings: [
      { kind: 'deposits', amount },
      { kind: 'patient_payments', amount: -amount },
    ],
  };
}

describe('the database refuses at COMMIT', () => {
  it.each([
    [
      'postings that do not sum to zero',
      [
        { kind: 'deposits', amount: '100' },
        { kind: 'patient_payments', amount: '-99' },
      ],
      /does not balance/,
    ],
    [
      'postings that sum to zero only across assets',
      [
        { kind: 'deposits', amount: '100' },
        { kind: 'patient_payments', asset: OTHER, amount: '-100' },
      ],
      /does not balance/,
    ],
    ['a single posting', [{ kind: 'deposits', amount: '100' }], /needs at least two/],
    ['no postings at all', [], /needs at least two/],
  ] as const)('an entry with %s', async (_name, postings, message) => {
    const before = await counts();
    let id: string | undefined;
    await expect(
      db.transaction(async (trx) => {
        id = await rawEntry(trx, [...postings]);
        // Inside the transaction the rows are in: the check waits for COMMIT, when the entry is whole.
        expect(await trx('postings').where({ entry_id: id }).count({ n: '*' }).first()).toEqual({ n: String(postings.length) });
      }),
    ).rejects.toThrow(message);
    expect(await db('journal_entries').where({ id: id! })).toEqual([]);
    expect(await counts()).toEqual(before);
  });

  it('a posting added later to an entry committed earlier, when it unbalances it', async () => {
    const id = await withTransaction(db, (trx) =>
      rawEntry(trx, [
        { kind: 'deposits', amount: '40' },
        { kind: 'patient_payments', amount: '-40' },
      ]),
    );
    const before = await counts();
    await expect(
      db.transaction(async (trx) => {
        await trx('postings').insert({ entry_id: id, account_id: accountId(clinicId, 'deposits', HKD), asset: HKD, amount: '1' });
      }),
    ).rejects.toThrow(/committed earlier: it takes no more postings/);
    expect(await counts()).toEqual(before);
  });

  it('postings added later to an entry committed earlier, even when they balance each other', async () => {
    const id = await withTransaction(db, (trx) =>
      rawEntry(trx, [
        { kind: 'deposits', amount: '40' },
        { kind: 'patient_payments', amount: '-40' },
      ]),
    );
    const before = await counts();
    // A posted entry is never changed; a correction is an entry of its own.
    await expect(
      db.transaction(async (trx) => {
        await trx('postings').insert([
          { entry_id: id, account_id: accountId(clinicId, 'settlement', HKD), asset: HKD, amount: '1000' },
          { entry_id: id, account_id: accountId(clinicId, 'patient_payments', HKD), asset: HKD, amount: '-1000' },
        ]);
      }),
    ).rejects.toThrow();
    expect(await counts()).toEqual(before);
  });

  it('a posting of zero', async () => {
    await expect(
      db.transaction((trx) =>
        rawEntry(trx, [
          { kind: 'deposits', amount: '0' },
          { kind: 'patient_payments', amount: '0' },
        ]),
      ),
    ).rejects.toThrow(/postings_amount_nonzero/);
  });
});

describe('the database refuses any change to posted rows', () => {
  let entryId: string;
  beforeAll(async () => {
    entryId = (await withTransaction(db, (trx) => postEntry(trx, payment(500n)))).entryId;
  });

  // The gateway's role is not even granted these; the schema's owner, who is, meets the triggers.
  it.each([
    ['UPDATE of a posting', (d: Db) => d('postings').where({ entry_id: entryId }).update({ amount: '1' })],
    [
      'UPDATE of a posting that keeps the entry balanced',
      (d: Db) =>
        d('postings')
          .where({ entry_id: entryId })
          .update({ amount: d.raw('amount * 2') }),
    ],
    ['DELETE of a posting', (d: Db) => d('postings').where({ entry_id: entryId }).del()],
    ['UPDATE of a journal entry', (d: Db) => d('journal_entries').where({ id: entryId }).update({ kind: 'forward' })],
    ['DELETE of a journal entry', (d: Db) => d('journal_entries').where({ id: entryId }).del()],
    ['TRUNCATE of postings', (d: Db) => d.raw('TRUNCATE postings')],
    ['TRUNCATE of journal entries', (d: Db) => d.raw('TRUNCATE journal_entries CASCADE')],
  ])('%s', async (_name, change) => {
    const before = await db('postings').where({ entry_id: entryId }).orderBy('id');
    await expect(change(db)).rejects.toThrow(/permission denied for table (postings|journal_entries)/);
    await expect(change(testDb.owner)).rejects.toThrow(/not allowed: the table is append-only/);
    expect(await db('postings').where({ entry_id: entryId }).orderBy('id')).toEqual(before);
    expect(await db('journal_entries').where({ id: entryId }).first()).toMatchObject({ kind: 'payment' });
  });
});

describe('postEntry', () => {
  it('writes one balanced entry and its accounts', async () => {
    const before = await counts();
    const result = await withTransaction(db, (trx) => postEntry(trx, payment(1_234n)));
    expect(result.created).toBe(true);
    expect(await counts()).toEqual({ entries: before.entries + 1, postings: before.postings + 2 });
    const postings = (await db('postings').where({ entry_id: result.entryId }).orderBy('id').select('account_id', 'asset', 'amount')) as unknown[];
    expect(postings).toEqual([
      { account_id: accountId(clinicId, 'deposits', HKD), asset: HKD, amount: '1234' },
      { account_id: accountId(clinicId, 'patient_payments', HKD), asset: HKD, amount: '-1234' },
    ]);
  });

  it('with a key posted before returns the first entry and writes nothing', async () => {
    const first = await withTransaction(db, (trx) => postEntry(trx, payment(300n, 'payment:pay_x:0xblock')));
    const before = await counts();
    const again = await withTransaction(db, (trx) => postEntry(trx, payment(300n, 'payment:pay_x:0xblock')));
    // Even with other amounts: the key, not the content, identifies what caused the entry.
    const other = await withTransaction(db, (trx) => postEntry(trx, payment(999n, 'payment:pay_x:0xblock')));
    expect(again).toEqual({ entryId: first.entryId, created: false });
    expect(other).toEqual({ entryId: first.entryId, created: false });
    expect(await counts()).toEqual(before);
  });

  it('with one key from two transactions at once writes one entry', async () => {
    const before = await counts();
    const results = await Promise.all([0, 1].map(() => withTransaction(db, (trx) => postEntry(trx, payment(77n, 'payment:pay_race:0xblock')))));
    expect(results.map((result) => result.created).sort()).toEqual([false, true]);
    expect(results[0]!.entryId).toBe(results[1]!.entryId);
    expect(await counts()).toEqual({ entries: before.entries + 1, postings: before.postings + 2 });
  });

  it.each([
    [
      'does not sum to zero',
      [
        { kind: 'deposits', amount: 5n },
        { kind: 'patient_payments', amount: -4n },
      ],
    ],
    ['has one posting', [{ kind: 'deposits', amount: 5n }]],
    [
      'has a zero posting',
      [
        { kind: 'deposits', amount: 0n },
        { kind: 'patient_payments', amount: 0n },
      ],
    ],
  ] as const)('refuses an entry that %s and writes nothing', async (_name, postings) => {
    const before = await counts();
    await expect(withTransaction(db, (trx) => postEntry(trx, { ...payment(1n), postings }))).rejects.toThrow(UnbalancedEntryError);
    expect(await counts()).toEqual(before);
  });
});

describe('reverseEntry', () => {
  it('posts the mirror image once, linked to the original, which stays as it was', async () => {
    const original = await withTransaction(db, (trx) => postEntry(trx, payment(8_000n)));
    const originalPostings = await db('postings').where({ entry_id: original.entryId }).orderBy('id');
    const reversal = await withTransaction(db, (trx) => reverseEntry(trx, original.entryId));
    expect(reversal.created).toBe(true);
    expect(await db('journal_entries').where({ id: reversal.entryId }).first()).toMatchObject({
      kind: 'reversal',
      reverses_entry_id: original.entryId,
      clinic_id: clinicId,
    });
    const mirrored = (await db('postings').where({ entry_id: reversal.entryId }).orderBy('id').select('account_id', 'amount')) as {
      account_id: string;
      amount: string;
    }[];
    expect(mirrored).toEqual([
      { account_id: accountId(clinicId, 'deposits', HKD), amount: '-8000' },
      { account_id: accountId(clinicId, 'patient_payments', HKD), amount: '8000' },
    ]);
    expect(await db('postings').where({ entry_id: original.entryId }).orderBy('id')).toEqual(originalPostings);

    const before = await counts();
    expect(await withTransaction(db, (trx) => reverseEntry(trx, original.entryId))).toEqual({ entryId: reversal.entryId, created: false });
    expect(await counts()).toEqual(before);
  });
});

describe('accountBalances', () => {
  it('equals the sum of the postings of every account', async () => {
    await withTransaction(db, async (trx) => {
      await postEntry(trx, payment(10n));
      await postEntry(trx, { ...payment(20n), asset: OTHER });
      await postEntry(trx, {
        idempotencyKey: `forward:${newId('pay')}`,
        kind: 'forward',
        clinicId,
        asset: HKD,
        postings: [
          { kind: 'settlement', amount: 10n },
          { kind: 'deposits', amount: -10n },
        ],
      });
    });
    const sums = (await db('postings').groupBy('account_id').select('account_id', db.raw('sum(amount)::text AS total'))) as {
      account_id: string;
      total: string;
    }[];
    const balances = await accountBalances(db, clinicId);
    expect(balances.length).toBeGreaterThanOrEqual(sums.length);
    for (const account of balances) {
      expect({ [account.accountId]: account.balance }).toEqual({
        [account.accountId]: BigInt(sums.find((sum) => sum.account_id === account.accountId)?.total ?? '0'),
      });
    }
    // Each asset balances across the clinic's accounts.
    for (const asset of [HKD, OTHER]) {
      expect(balances.filter((account) => account.asset === asset).reduce((sum, account) => sum + account.balance, 0n)).toBe(0n);
    }
    expect(await accountBalances(db, 'clin_000000000000000000000000')).toEqual([]);
  });
});
