/**
 * Issuers' freezes of the gateway's addresses: a clinic's settlement wallet or a deposit address
 * that an accepted token's issuer has frozen, from when the gateway saw it until the issuer
 * lifted it; and how far each token's freeze events have been read. A frozen address is an
 * exception in finance's queue (`address_frozen`) until it is lifted.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('address_freezes', (t) => {
    t.text('id').primary(); // frz_…
    t.integer('chain_id').notNullable();
    t.text('token_address').notNullable();
    t.text('address').notNullable();
    /** settlement: a clinic's wallet; deposit: an invoice's deposit address. */
    t.text('role').notNullable();
    t.text('clinic_id').notNullable().references('clinics.id');
    t.text('invoice_id').references('invoices.id');
    t.bigInteger('block_number');
    t.timestamp('frozen_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('lifted_at', { useTz: true, precision: 3 });
    t.index(['address']);
  });
  await knex.raw(`
    ALTER TABLE address_freezes
      ADD CONSTRAINT address_freezes_role_known CHECK (role IN ('settlement', 'deposit')),
      ADD CONSTRAINT address_freezes_addresses_lower CHECK (address ~ '^0x[0-9a-f]{40}$' AND token_address ~ '^0x[0-9a-f]{40}$');
    CREATE UNIQUE INDEX address_freezes_one_active ON address_freezes (chain_id, token_address, address, role) WHERE lifted_at IS NULL;
    ALTER TABLE exceptions DROP CONSTRAINT exceptions_type_known;
    ALTER TABLE exceptions ADD CONSTRAINT exceptions_type_known CHECK (type IN ('overpayment', 'underpayment_expired', 'late_payment',
      'payment_to_void_invoice', 'unknown_transfer', 'missing_on_chain', 'balance_mismatch', 'flush_failed', 'screening_hit', 'address_frozen'));
  `);
  await knex.schema.createTable('freeze_scans', (t) => {
    t.integer('chain_id').notNullable();
    t.text('token_address').notNullable();
    /** The last block whose freeze events were read. */
    t.bigInteger('scanned_to').notNullable();
    t.timestamp('updated_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.primary(['chain_id', 'token_address']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE exceptions DROP CONSTRAINT exceptions_type_known;
    ALTER TABLE exceptions ADD CONSTRAINT exceptions_type_known CHECK (type IN ('overpayment', 'underpayment_expired', 'late_payment',
      'payment_to_void_invoice', 'unknown_transfer', 'missing_on_chain', 'balance_mismatch', 'flush_failed', 'screening_hit'));
  `);
  await knex.schema.dropTable('freeze_scans');
  await knex.schema.dropTable('address_freezes');
}
