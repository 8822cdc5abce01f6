/**
 * API keys for clinic systems (Stripe-style): a clinic admin creates one with a role and a name;
 * it is shown once and kept only as its SHA-256. Revoking one refuses it on the next request.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('api_keys', (t) => {
    t.text('id').primary(); // key_…
    t.text('clinic_id').notNullable().references('clinics.id');
    t.text('name').notNullable();
    t.text('role').notNullable();
    t.text('secret_hash').notNullable().unique(); // SHA-256 of the whole key, hex
    t.text('hint').notNullable(); // its prefix and last four characters, to tell keys apart
    t.text('created_by').notNullable();
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true, precision: 3 });
    t.timestamp('last_used_at', { useTz: true, precision: 3 });
    t.timestamp('revoked_at', { useTz: true, precision: 3 });
    t.text('revoked_by');
    t.index(['clinic_id', 'created_at']);
  });
  await knex.raw(`
    ALTER TABLE api_keys
      ADD CONSTRAINT api_keys_role CHECK (role IN ('clinic_staff', 'auditor')),
      ADD CONSTRAINT api_keys_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
      ADD CONSTRAINT api_keys_secret_hash CHECK (secret_hash ~ '^[0-9a-f]{64}$'),
      ADD CONSTRAINT api_keys_revoked CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('api_keys');
}
