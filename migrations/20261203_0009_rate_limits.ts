/**
 * Request counts for rate limits, shared by every gateway instance (src/http/rateLimits.ts).
 * The columns are the ones rate-limiter-flexible's Postgres store reads and writes: `key` is
 * `<limit>:<ip or hashed caller>`, `points` the requests counted in the window, `expire` the
 * window's end in unix milliseconds.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('rate_limits', (t) => {
    t.string('key', 255).primary();
    t.integer('points').notNullable().defaultTo(0);
    t.bigInteger('expire');
  });
  await knex.raw('CREATE INDEX rate_limits_expire ON rate_limits (expire)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('rate_limits');
}
