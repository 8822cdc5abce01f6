/**
 * Foundation: clinics, and the guard that makes append-only tables refuse UPDATE and DELETE.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  // Ledger postings and audit rows attach this trigger: corrections are new rows, never edits.
  await knex.raw(`
    CREATE FUNCTION forbid_mutation() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '% on % is not allowed: the table is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
    END
    $$;
  `);

  await knex.schema.createTable('clinics', (t) => {
    t.text('id').primary(); // clin_…
    t.text('name').notNullable();
    // Lower-case hex in the database; checksummed at the API edge.
    t.text('settlement_address').notNullable();
    t.text('webhook_url');
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`ALTER TABLE clinics ADD CONSTRAINT clinics_settlement_address_hex CHECK (settlement_address ~ '^0x[0-9a-f]{40}$')`);
  await knex.raw(`ALTER TABLE clinics ADD CONSTRAINT clinics_name_length CHECK (char_length(name) BETWEEN 1 AND 200)`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('clinics');
  await knex.raw('DROP FUNCTION forbid_mutation()');
}
