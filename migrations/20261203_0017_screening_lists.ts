/**
 * Screening lists (sanctions and designation lists the operator loads): each load is a version
 * with its file's SHA-256 and entry count, kept for evidence; one version per list is in force.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('screening_lists', (t) => {
    t.text('id').primary(); // scl_…
    t.text('name').notNullable();
    t.text('format').notNullable();
    t.text('sha256').notNullable();
    t.integer('entry_count').notNullable();
    t.boolean('active').notNullable().defaultTo(false);
    t.text('loaded_by').notNullable();
    t.timestamp('loaded_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('replaced_at', { useTz: true, precision: 3 });
  });
  await knex.schema.createTable('screening_entries', (t) => {
    t.text('list_id').notNullable().references('screening_lists.id');
    t.text('address').notNullable(); // 0x and 40 lower-case hex digits
    t.text('name');
    t.text('reference');
    t.primary(['list_id', 'address']);
    t.index(['address']);
  });
  await knex.raw(`
    ALTER TABLE screening_lists
      ADD CONSTRAINT screening_lists_name CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
      ADD CONSTRAINT screening_lists_format CHECK (format IN ('ofac_sdn_xml', 'csv')),
      ADD CONSTRAINT screening_lists_sha256 CHECK (sha256 ~ '^[0-9a-f]{64}$');
    ALTER TABLE screening_entries ADD CONSTRAINT screening_entries_address CHECK (address ~ '^0x[0-9a-f]{40}$');
    -- One version of a list in force at a time.
    CREATE UNIQUE INDEX screening_lists_active ON screening_lists (name) WHERE active;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('screening_entries');
  await knex.schema.dropTable('screening_lists');
}
