/**
 * platform/ — what every other folder stands on: configuration, the database pool and
 * transactions, migrations, logging, ids, the error catalogue, metrics, streaming writes,
 * leader-elected worker loops. It knows nothing of clinics, invoices or the chain.
 *
 * This file: the Postgres connection pool, through knex, and the shape of an insert statement
 * that a table's owner writes and another folder may run conditionally.
 *
 * Owns tables: none.
 * May import: none.
 */
import { createHash } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';

export type Db = Knex;
export type Trx = Knex.Transaction;

// numeric(78,0) and bigint columns come back as strings, so base-unit amounts never pass
// through a JS number; callers turn them into bigint. Only int4 stays a number.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => value);

export interface CreateDbParameters {
  connectionString: string;
  poolMax?: number;
  applicationName?: string;
  /** Postgres `statement_timeout` of every query on the pool's connections; none when unset. */
  statementTimeoutMs?: number | undefined;
}

/** Creates a knex instance with a bounded pool; `db.destroy()` closes it. */
export function createDb({ connectionString, poolMax = 10, applicationName = 'clinicpay', statementTimeoutMs }: CreateDbParameters): Db {
  return knexFactory({
    client: 'pg',
    connection: { connectionString, application_name: applicationName, ...(statementTimeoutMs === undefined ? {} : { statement_timeout: statementTimeoutMs }) },
    pool: { min: 0, max: poolMax },
    acquireConnectionTimeout: 10_000,
    // knex would print its own warnings (a raw "Acquire connection error …" with the address)
    // to the console; the errors reach the caller, which reports them once, cleanly.
    log: { warn: () => undefined, error: () => undefined, deprecate: () => undefined, debug: () => undefined },
  });
}

/**
 * `INSERT INTO <table> … SELECT …`, written by the folder that owns the table. `text()` is the
 * statement as it is; `text(condition)` inserts only when the SQL `condition` holds, which lets
 * a caller put several owners' inserts into one statement (http/idempotency writes a create,
 * its audit rows and its idempotency key that way, in one round trip).
 */
export interface InsertStatement {
  text(condition?: string): string;
  bindings: readonly Knex.RawBinding[];
}

/**
 * `SELECT …`, written by the folder that owns what it reads. `text(condition)` returns rows only
 * when the SQL `condition` holds, and then evaluates nothing of its select list (a `nextval`
 * there takes no number), which lets another folder run it inside its own statement.
 */
export interface SelectStatement {
  text(condition?: string): string;
  bindings: readonly Knex.RawBinding[];
}

/** A statement in the form the driver takes: its name on every connection, and its text with `$1…` placeholders. */
interface PreparedStatement {
  name: string;
  text: string;
}

const preparedStatements = new Map<string, PreparedStatement>();
/** Distinct statements prepared at most; past it, statements run unnamed (a bug would otherwise grow every connection's cache). */
const PREPARED_STATEMENTS_MAX = 100;

/** What {@link runPrepared} takes as values: plain ones (no builders or raw fragments, which change the text). */
type PlainBinding = string | number | boolean | null | Date;

/**
 * Runs `sql` (with `?` placeholders, as knex takes them) as a prepared statement, straight on a
 * connection of the pool: each connection parses and plans it once, then only binds and
 * executes it, and knex's query builder is not in the way. For the few statements every request
 * of a hot endpoint runs, whose text does not vary with the request (values go in `bindings`).
 * Named by a hash of the text, so one name never stands for two statements. Needs
 * session-level connections (no transaction-pooling proxy); not for a transaction's statements.
 */
export async function runPrepared<Row = Record<string, unknown>>(
  db: Db,
  sql: string,
  bindings: readonly Knex.RawBinding[],
): Promise<{ rows: Row[]; rowCount: number }> {
  for (const value of bindings) {
    if (value === undefined || (typeof value === 'object' && value !== null && !(value instanceof Date))) {
      throw new TypeError('runPrepared takes plain values only (no undefined, builders or raw fragments)');
    }
  }
  const values = bindings as readonly PlainBinding[];
  let statement = preparedStatements.get(sql);
  if (statement === undefined) {
    // knex's own placeholder rules (`\?` stays a question mark); with plain values the text does not depend on them.
    const text = db
      .raw(sql, [...values])
      .toSQL()
      .toNative().sql;
    statement = { name: `p_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`, text };
    if (preparedStatements.size < PREPARED_STATEMENTS_MAX) preparedStatements.set(sql, statement);
    else statement = { name: '', text };
  }
  const connection = (await db.client.acquireConnection()) as pg.Client;
  try {
    const result = await connection.query({ ...(statement.name === '' ? {} : { name: statement.name }), text: statement.text, values: [...values] });
    return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
  } finally {
    await db.client.releaseConnection(connection);
  }
}

/** Runs `statement` unconditionally inside `trx`. */
export async function runInsert(trx: Trx, statement: InsertStatement): Promise<void> {
  await trx.raw(statement.text(), [...statement.bindings]);
}

/** Postgres SQLSTATEs that mean the server went away or will not take connections now. */
const UNREACHABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300']);
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'EPIPE']);

/**
 * Whether `error` says the database cannot be reached (refused, dropped, shutting down, out of
 * connections, or no connection within the pool's wait), rather than that a query was wrong.
 */
export function isDatabaseUnreachable(error: unknown): boolean {
  const { name, code, message } = (error ?? {}) as { name?: unknown; code?: unknown; message?: unknown };
  if (name === 'KnexTimeoutError') return true;
  if (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || UNREACHABLE_STATES.has(code) || code.startsWith('08'))) return true;
  return typeof message === 'string' && /Connection terminated|Client has encountered a connection error/.test(message);
}
