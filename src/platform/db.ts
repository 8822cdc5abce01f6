/**
 * The Postgres connection pool, through knex.
 */
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
}

/** Creates a knex instance with a bounded pool; `db.destroy()` closes it. */
export function createDb({ connectionString, poolMax = 10, applicationName = 'clinicpay' }: CreateDbParameters): Db {
  return knexFactory({
    client: 'pg',
    connection: { connectionString, application_name: applicationName },
    pool: { min: 0, max: poolMax },
    acquireConnectionTimeout: 10_000,
  });
}
