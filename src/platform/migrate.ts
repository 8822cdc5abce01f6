/**
 * Schema migrations, applied in order from the list in `migrations/index.ts`.
 *
 * The list is imported, not discovered on disk, so the same code runs from TypeScript
 * sources in development and from compiled JavaScript in the production image.
 */
import type { Knex } from 'knex';
import { MIGRATIONS } from '../../migrations/index.js';
import { createDb, type Db } from './db.js';

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

/** The migrations not yet applied to `db`, by name; reads `knex_migrations` only, so any role with SELECT on it may ask. */
export async function pendingMigrations(db: Db): Promise<string[]> {
  const exists = (await db.raw(`SELECT to_regclass('knex_migrations') IS NOT NULL AS present`)) as { rows: { present: boolean }[] };
  if (!exists.rows[0]!.present) return MIGRATIONS.map((migration) => migration.name);
  const done = new Set((await db('knex_migrations').pluck('name')) as string[]);
  return MIGRATIONS.map((migration) => migration.name).filter((name) => !done.has(name));
}

/**
 * Tables the gateway only ever appends to. The ledger's triggers refuse UPDATE, DELETE and
 * TRUNCATE anyway; the app role is not even granted them. Events leave the audit inbox only
 * through the owner's `audit_chain_pending`, onto the chain.
 */
export const APPEND_ONLY_TABLES = [
  'audit_inbox',
  'journal_entries',
  'postings',
  'ledger_days_closed',
  'balance_checkpoints',
  'screening_entries',
  'payment_screenings',
] as const;
/**
 * Tables the app role reads and never writes: the audit chain and its head grow only through the
 * owner's chaining function, whose trigger refuses UPDATE, DELETE and TRUNCATE too.
 */
const READ_ONLY_TABLES = ['audit_log', 'audit_head', 'knex_migrations'] as const;
/** Knex's migration lock: the owner's alone. */
const OWNER_ONLY_TABLES = ['knex_migrations_lock'] as const;

/**
 * Gives `appRole` what the gateway needs on the schema `db` (connected as its owner) has just
 * migrated, and nothing more: rows of the gateway's tables (no ALTER, TRUNCATE, TRIGGER or
 * REFERENCES), append only where the ledger and the audit inbox are, reads of the audit chain,
 * its head and the migrations, its sequences, and the owner's invoice-sequence and
 * audit-chaining functions. It owns nothing and may create nothing. Idempotent: run after every migration.
 */
export async function grantAppRole(db: Db, appRole: string): Promise<void> {
  const role = await db.raw('SELECT quote_ident(?) AS role', [appRole]);
  const app = (role as { rows: { role: string }[] }).rows[0]!.role;
  const tables = (await db('pg_tables').where({ schemaname: 'public' }).pluck('tablename')) as string[];
  const special = new Set<string>([...APPEND_ONLY_TABLES, ...READ_ONLY_TABLES, ...OWNER_ONLY_TABLES]);
  const quoted = (names: readonly string[]) => names.filter((name) => tables.includes(name)).map((name) => `"${name.replaceAll('"', '""')}"`);
  const readWrite = quoted(tables.filter((name) => !special.has(name)));
  await db.transaction(async (trx) => {
    // Instances starting together would otherwise collide on the same catalog rows ("tuple concurrently updated").
    await trx.raw(`SELECT pg_advisory_xact_lock(hashtext('clinicpay.grant_app_role'))`);
    await trx.raw(`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${app}`);
    await trx.raw(`GRANT USAGE ON SCHEMA public TO ${app}`);
    if (readWrite.length > 0) await trx.raw(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${readWrite.join(', ')} TO ${app}`);
    const appendOnly = quoted(APPEND_ONLY_TABLES);
    if (appendOnly.length > 0) await trx.raw(`GRANT SELECT, INSERT ON ${appendOnly.join(', ')} TO ${app}`);
    const readOnly = quoted(READ_ONLY_TABLES);
    if (readOnly.length > 0) await trx.raw(`GRANT SELECT ON ${readOnly.join(', ')} TO ${app}`);
    await trx.raw(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${app}`);
    await trx.raw(`GRANT EXECUTE ON FUNCTION create_invoice_number_sequence(text) TO ${app}`);
    await trx.raw(`GRANT EXECUTE ON FUNCTION audit_chain_pending(integer) TO ${app}`);
  });
}

/**
 * What makes the role `db` is connected as more than the gateway needs: a superuser, an owner
 * of its tables, or a role that may create objects, alter, truncate or change triggers, or
 * rewrite the ledger and the audit log. Empty for a least-privileged role.
 */
export async function databaseRoleProblems(db: Db): Promise<string[]> {
  const problems: string[] = [];
  const result = (await db.raw(
    `WITH gateway AS (
       SELECT c.oid, c.relname, pg_get_userbyid(c.relowner) AS owner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p'))
     SELECT current_user AS role, r.rolsuper AS superuser,
            has_schema_privilege(current_user, 'public', 'CREATE') AS can_create,
            (SELECT array_agg(relname::text ORDER BY relname) FROM gateway WHERE owner = current_user) AS owned,
            (SELECT array_agg(relname::text ORDER BY relname) FROM gateway
              WHERE has_table_privilege(current_user, oid, 'TRUNCATE') OR has_table_privilege(current_user, oid, 'TRIGGER')) AS truncatable,
            (SELECT array_agg(relname::text ORDER BY relname) FROM gateway WHERE relname = ANY(?)
                AND (has_table_privilege(current_user, oid, 'UPDATE') OR has_table_privilege(current_user, oid, 'DELETE'))) AS rewritable
       FROM pg_roles r WHERE r.rolname = current_user`,
    [[...APPEND_ONLY_TABLES, 'audit_log', 'audit_head']],
  )) as {
    rows: { role: string; superuser: boolean; can_create: boolean; owned: string[] | null; truncatable: string[] | null; rewritable: string[] | null }[];
  };
  const row = result.rows[0]!;
  const some = (names: string[]) => (names.length > 3 ? `${names.slice(0, 3).join(', ')} and ${names.length - 3} more` : names.join(', '));
  if (row.superuser) problems.push(`${row.role} is a superuser`);
  if (row.owned) problems.push(`${row.role} owns ${some(row.owned)}, so it can alter them and disable their triggers`);
  if (row.can_create) problems.push(`${row.role} may create objects in schema public`);
  if (row.truncatable) problems.push(`${row.role} may truncate or add triggers to ${some(row.truncatable)}`);
  if (row.rewritable) problems.push(`${row.role} may update or delete rows of ${some(row.rewritable)}`);
  return problems;
}

/** The role a postgres:// URL signs in as. */
export function roleOfUrl(url: string): string {
  return decodeURIComponent(new URL(url).username);
}

export interface PrepareDatabaseParameters {
  /** The gateway's own connection (DATABASE_URL). */
  db: Db;
  appUrl: string;
  /** The schema owner's URL (DATABASE_MIGRATION_URL, or the embedded stack's owner). */
  migrationUrl: string | undefined;
}

/**
 * Brings the schema up to date before the gateway serves. With the owner's URL: migrates as the
 * owner, then grants the gateway's role what it needs ({@link grantAppRole}). Without it: runs
 * pending migrations, if any, as the gateway's own role (a single-role database). Returns the
 * migrations applied.
 */
export async function prepareDatabase({ db, appUrl, migrationUrl }: PrepareDatabaseParameters): Promise<string[]> {
  if (migrationUrl === undefined) {
    const pending = await pendingMigrations(db);
    if (pending.length === 0) return [];
    try {
      return await migrateLatest(db);
    } catch (error) {
      // 42501 insufficient_privilege: a least-privileged role, as it should be, with nobody to migrate for it.
      if ((error as { code?: string }).code !== '42501') throw error;
      throw new Error(
        `migrations ${pending.join(', ')} are pending and this role may not apply them: set DATABASE_MIGRATION_URL to the schema owner, or run npx clinicpay migrate with it`,
        { cause: error },
      );
    }
  }
  const owner = createDb({ connectionString: migrationUrl, poolMax: 1, applicationName: 'clinicpay-migrations' });
  try {
    const applied = await migrateLatest(owner);
    const ownerRole = ((await owner.raw('SELECT current_user AS role')) as { rows: { role: string }[] }).rows[0]!.role;
    const appRole = roleOfUrl(appUrl);
    if (appRole !== ownerRole) await grantAppRole(owner, appRole);
    return applied;
  } finally {
    await owner.destroy();
  }
}
