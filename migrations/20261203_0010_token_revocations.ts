/**
 * Revoked API tokens, managed by platform administrators: one token by its `jti`, or every
 * token of a subject (`sub`) issued up to the revocation. A row matters only while a token it
 * covers could still be accepted (JWT_MAX_AGE_SECONDS after it was issued).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('token_revocations', (t) => {
    t.text('id').primary(); // rev_…
    t.text('kind').notNullable(); // jti | sub
    t.text('value').notNullable();
    t.text('reason').notNullable();
    t.text('revoked_by').notNullable();
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.index(['created_at']);
  });
  await knex.raw(`ALTER TABLE token_revocations ADD CONSTRAINT token_revocations_kind CHECK (kind IN ('jti', 'sub'))`);
  await knex.raw('ALTER TABLE token_revocations ADD CONSTRAINT token_revocations_value_length CHECK (char_length(value) BETWEEN 1 AND 200)');
  await knex.raw('ALTER TABLE token_revocations ADD CONSTRAINT token_revocations_reason_length CHECK (char_length(reason) BETWEEN 1 AND 500)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('token_revocations');
}
