/**
 * Schema migrations, applied in order from the list in `migrations/index.ts`.
 *
 * The list is imported, not discovered on disk, so the same code runs from TypeScript
 * sources in development and from compiled JavaScript in the production image.
 */
import type { Knex } from 'knex';
import { MIGRATIONS } from '../../migrations/index.js';
import type { Db } from './db.js';

const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => MIGRATIONS.map((migration) => migration.name),
  getMigrationName: (name) => name,
  getMigration: async (name) => {
    const migration = MIGRATIONS.find((candidate) => candidate.name === name);
    if (!migration) throw new Error(`unknown migration ${name}`);
    return migration;
  },
};

/** Applies every pending migration; returns the names applied (empty when up to date). */
export async function migrateLatest(db: Db): Promise<string[]> {
  const [, applied] = (await db.migrate.latest({ migrationSource })) as [number, string[]];
  return applied;
}
