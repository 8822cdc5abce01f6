import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../migrations/index.js';
import { migrateLatest, pendingMigrations, prepareDatabase } from '../src/platform/migrate.js';
import { withTransaction } from '../src/platform/transaction.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.close();
});

describe('migrations', () => {
  it('the template is fully migrated, and migrating again is a no-op', async () => {
    const done = await database.db('knex_migrations').pluck('name');
    expect(done).toEqual(MIGRATIONS.map((migration) => migration.name));
    expect(await pendingMigrations(database.db)).toEqual([]);
    expect(await migrateLatest(database.owner)).toEqual([]);
  });

  it('down then up restores the same schema, and the grants restore the app role', async () => {
    const columns = () =>
      database
        .owner('information_schema.columns')
        .where({ table_schema: 'public' })
        .orderBy(['table_name', 'column_name'])
        .select('table_name', 'column_name', 'data_type');
    const before = await columns();
    for (const migration of [...MIGRATIONS].reverse()) await migration.down(database.owner);
    await database.owner('knex_migrations').del();
    expect((await columns()).filter((column) => !column.table_name.startsWith('knex_'))).toEqual([]);
    await prepareDatabase({ db: database.db, appUrl: database.url, migrationUrl: database.ownerUrl });
    expect(await columns()).toEqual(before);
    expect(await database.db('clinics').count({ n: '*' })).toEqual([{ n: '0' }]);
  });
});

describe('withTransaction', () => {
  const clinic = (id: string) => ({ id, name: 'Harbour Clinic', settlement_address: `0x${'ab'.repeat(20)}`, webhook_secret: 'whsec_test' });

  it('commits when the work resolves', async () => {
    await withTransaction(database.db, (trx) => trx('clinics').insert(clinic('clin_tx_commit')));
    expect(await database.db('clinics').where({ id: 'clin_tx_commit' }).first()).toBeDefined();
  });

  it('rolls back everything when the work throws', async () => {
    await expect(
      withTransaction(database.db, async (trx) => {
        await trx('clinics').insert(clinic('clin_tx_rollback'));
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await database.db('clinics').where({ id: 'clin_tx_rollback' }).first()).toBeUndefined();
  });

  it('the database refuses a settlement address that is not lower-case hex', async () => {
    await expect(database.db('clinics').insert({ ...clinic('clin_bad'), settlement_address: '0xABC' })).rejects.toThrow(/clinics_settlement_address_hex/);
  });
});
