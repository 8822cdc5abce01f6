/**
 * The gateway's database role holds only what the gateway needs. Every test in the suite
 * connects as that role (test/support/database.ts), so the suite itself shows the grants are
 * enough; this file shows they are no more: the role cannot change the schema, lift the
 * triggers that keep the ledger and the audit log honest, or rewrite either. And a production
 * gateway refuses to start as the schema's owner.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { databaseRoleProblems, grantAppRole } from '../src/platform/migrate.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { spawnClinicpay } from './support/gatewayProcess.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.close();
});

/** What the schema looks like, to show a refused statement changed none of it. */
async function schemaShape(): Promise<unknown> {
  const columns = await database
    .owner('information_schema.columns')
    .where({ table_schema: 'public' })
    .orderBy(['table_name', 'ordinal_position'])
    .select('table_name', 'column_name');
  const triggers = await database.owner('pg_trigger').where({ tgisinternal: false }).orderBy('tgname').select('tgname', 'tgenabled');
  const functions = await database.owner.raw(
    `SELECT proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' ORDER BY 1`,
  );
  return { columns, triggers, functions: (functions as { rows: unknown[] }).rows };
}

describe("the gateway's role", () => {
  it('is least-privileged by the start-up check; the owner is not', async () => {
    expect(await databaseRoleProblems(database.db)).toEqual([]);
    const ownerProblems = await databaseRoleProblems(database.owner);
    expect(ownerProblems.join('\n')).toMatch(/clinicpay_owner owns address_freezes, \w+(, \w+)* and \d+ more/);
    expect(ownerProblems.join('\n')).toMatch(/may create objects in schema public/);
    expect(ownerProblems.join('\n')).toMatch(/may update or delete rows of audit_head, audit_inbox, audit_log and 6 more/);
  });

  it.each([
    ['drop a table', 'DROP TABLE invoices CASCADE', /must be owner of table invoices/],
    ['add a column', 'ALTER TABLE invoices ADD COLUMN note text', /must be owner of table invoices/],
    ['turn off the ledger triggers', 'ALTER TABLE postings DISABLE TRIGGER USER', /must be owner of table postings/],
    ['turn off the audit chainer', 'ALTER TABLE audit_log DISABLE TRIGGER audit_log_chain', /must be owner of table audit_log/],
    ['truncate a table', 'TRUNCATE invoices CASCADE', /permission denied for table invoices/],
    ['rewrite the ledger', 'UPDATE postings SET amount = 0', /permission denied for table postings/],
    ['delete from the audit log', 'DELETE FROM audit_log', /permission denied for table audit_log/],
    ['move the audit head', `UPDATE audit_head SET row_hash = repeat('0', 64)`, /permission denied for table audit_head/],
    ['create a table', 'CREATE TABLE shadow (id text)', /permission denied for schema public/],
    ['create a function', 'CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$', /permission denied for schema public/],
    [
      'create a trigger',
      'CREATE TRIGGER sneaky BEFORE INSERT ON invoices FOR EACH ROW EXECUTE FUNCTION forbid_mutation()',
      /permission denied for table invoices/,
    ],
    ['take over the migrations', `DELETE FROM knex_migrations`, /permission denied for table knex_migrations/],
  ])('cannot %s, and nothing changes', async (_what, sql, refusal) => {
    const before = await schemaShape();
    await expect(database.db.raw(sql)).rejects.toThrow(refusal);
    expect(await schemaShape()).toEqual(before);
  });

  it("makes a clinic's invoice sequence only through the owner's function, which makes nothing else", async () => {
    const name = `invoice_numbers_${randomBytes(12).toString('hex')}`;
    await database.db.raw('SELECT create_invoice_number_sequence(?)', [name]);
    expect(((await database.db.raw('SELECT nextval(?::regclass)::int AS n', [name])) as { rows: { n: number }[] }).rows[0]!.n).toBe(1);
    const before = await schemaShape();
    for (const bad of ['invoices', `${name}; DROP TABLE invoices`, 'invoice_numbers_XYZ']) {
      await expect(database.db.raw('SELECT create_invoice_number_sequence(?)', [bad])).rejects.toThrow(/not an invoice number sequence/);
    }
    expect(await schemaShape()).toEqual(before);
  });

  it('cannot grant itself or anyone more (Postgres grants nothing and only warns)', async () => {
    await database.db.raw('GRANT TRUNCATE, TRIGGER ON invoices, audit_log TO PUBLIC');
    await database.db.raw(`GRANT UPDATE, DELETE ON audit_log, postings TO ${inject('databaseRoles').app.name}`);
    expect(await databaseRoleProblems(database.db)).toEqual([]);
  });

  it('granting again (every start) changes nothing and leaves the role as least as before', async () => {
    await grantAppRole(database.owner, inject('databaseRoles').app.name);
    await grantAppRole(database.owner, inject('databaseRoles').app.name);
    expect(await databaseRoleProblems(database.db)).toEqual([]);
    expect(await database.db('clinics').count({ n: '*' })).toEqual([{ n: '0' }]);
  });
});

describe('a production gateway', () => {
  it("refuses to start as the schema's owner, naming what the role may do", async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clinicpay-roles-'));
    try {
      const gateway = spawnClinicpay(['start'], {
        NODE_ENV: 'production',
        PORT: '0',
        DATA_DIR: dataDir,
        DATABASE_URL: database.ownerUrl,
        RPC_URL: inject('rpcUrl'),
        TOKEN_ADDRESS: inject('tokenAddress'),
        FACTORY_ADDRESS: inject('factoryAddress'),
        RELAYER_PRIVATE_KEY: `0x${'42'.repeat(32)}`,
        JWT_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        SECRETS_KEYS: `k1:${randomBytes(32).toString('base64')}`,
        PUBLIC_URL: 'https://pay.example.org',
      });
      expect(await gateway.exited).not.toBe(0);
      expect(gateway.output()).toMatch(/the database role is more than the gateway needs: clinicpay_owner owns/);
      expect(gateway.output()).not.toContain('test-owner');
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
