/**
 * A database of its own for each test file, cloned from the migrated template.
 */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { ensureDatabase } from '../../src/dev/postgres.js';
import { createDb, type Db } from '../../src/platform/db.js';

export interface TestDatabase {
  db: Db;
  url: string;
  name: string;
  /** Closes the pool; the database itself goes with the cluster at the end of the run. */
  close(): Promise<void>;
}

/** Creates `test_<random>` from the template and connects to it. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject('postgresAdminUrl');
  const name = `test_${randomBytes(6).toString('hex')}`;
  await ensureDatabase(adminUrl, name, inject('templateDatabase'));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const db = createDb({ connectionString: url.toString(), poolMax: 5 });
  return { db, url: url.toString(), name, close: () => db.destroy() };
}
