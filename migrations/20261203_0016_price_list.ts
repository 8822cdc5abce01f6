/**
 * A clinic's price list: the items, codes and amounts its admin keeps, which the front desk
 * bills from. Items are archived, never deleted: bills made from them stay explained.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('price_list_items', (t) => {
    t.text('id').primary(); // pli_…
    t.text('clinic_id').notNullable().references('clinics.id');
    t.text('code').notNullable();
    t.text('name').notNullable();
    t.specificType('unit_amount', 'numeric(14,2)').notNullable(); // HKD
    t.text('created_by').notNullable();
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('archived_at', { useTz: true, precision: 3 });
    t.index(['clinic_id', 'created_at']);
  });
  await knex.raw(`
    ALTER TABLE price_list_items
      ADD CONSTRAINT price_list_items_code CHECK (code ~ '^[A-Za-z0-9._-]{1,32}$'),
      ADD CONSTRAINT price_list_items_name CHECK (char_length(name) BETWEEN 1 AND 200),
      ADD CONSTRAINT price_list_items_amount CHECK (unit_amount > 0);
    -- One live item per code in a clinic.
    CREATE UNIQUE INDEX price_list_items_live_code ON price_list_items (clinic_id, code) WHERE archived_at IS NULL;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('price_list_items');
}
