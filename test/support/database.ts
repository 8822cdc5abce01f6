/**
 * A database of its own for each test file, cloned from the migrated template. The tests
 * connect as the gateway's least-privileged role, as production does; `owner` is the schema's
 * owner, for the few tests that play an attacker with more rights or change the schema.
 */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { chainPendingAudit } from '../../src/audit/auditLog.js';
import { ensureDatabase } from '../../src/dev/postgres.js';
import { createDb, type Db } from '../../src/platform/db.js';

export interface TestDatabase {
  /** As the app role. */
  db: Db;
  /** The app role's URL of this database. */
  url: string;
  /** As the schema owner (a pool opened on first use). */
  owner: Db;
  ownerUrl: string;
  name: string;
  /** Closes the pools; the database itself goes with the cluster at the end of the run. */
  close(): Promise<void>;
}

/** Creates `test_<random>` from the template and connects to it. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject('postgresAdminUrl');
  const roles = inject('databaseRoles');
  const name = `test_${randomBytes(6).toString('hex')}`;
  await ensureDatabase(adminUrl, name, inject('templateDatabase'));
  const urlAs = (role: { name: string; password: string }) => {
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    url.username = encodeURIComponent(role.name);
    url.password = encodeURIComponent(role.password);
    return url.toString();
  };
  const url = urlAs(roles.app);
  const ownerUrl = urlAs(roles.owner);
  const db = createDb({ connectionString: url, poolMax: 5 });
  const owner = createDb({ connectionString: ownerUrl, poolMax: 2 });
  return { db, url, owner, ownerUrl, name, close: async () => void (await Promise.all([db.destroy(), owner.destroy()])) };
}

/**
 * `db`, once every audited event committed so far is on the chain: tests that read `audit_log`
 * directly go through it, as the gateway's own readers catch the chain up before they read.
 *
 * @example
 * const row = await (await audited(database.db))('audit_log').where({ action: 'invoice.voided' }).first();
 */
export async function audited(db: Db): Promise<Db> {
  await chainPendingAudit(db);
  return db;
}
