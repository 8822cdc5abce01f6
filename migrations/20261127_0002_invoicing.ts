/**
 * Invoicing: clinic webhook secrets, invoices with their deposit addresses, and idempotency
 * keys. Each clinic numbers its invoices from its own sequence (created with the clinic).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clinics', (t) => {
    t.text('webhook_secret').notNullable();
  });

  await knex.schema.createTable('invoices', (t) => {
    t.text('id').primary(); // inv_…
    t.text('clinic_id').notNullable().references('clinics.id');
    t.integer('number').notNullable();
    t.text('status').notNullable();
    t.text('currency').notNullable();
    t.specificType('amount_due', 'numeric').notNullable();
    t.integer('token_chain_id').notNullable();
    t.text('token_address').notNullable();
    t.text('token_symbol').notNullable();
    t.integer('token_decimals').notNullable();
    t.specificType('token_amount_due', 'numeric(78,0)').notNullable();
    t.specificType('token_amount_paid', 'numeric(78,0)').notNullable().defaultTo(0);
    // The clinic's settlement address when the invoice was made: it is bound into the deposit address.
    t.text('settlement_address').notNullable();
    t.text('deposit_salt').notNullable();
    t.text('deposit_address').notNullable();
    t.text('factory_address').notNullable();
    t.text('patient_ref').notNullable();
    t.jsonb('line_items').notNullable();
    t.jsonb('metadata').notNullable().defaultTo('{}');
    t.timestamp('expires_at', { useTz: true, precision: 3 }).notNullable();
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('paid_at', { useTz: true, precision: 3 });
    t.timestamp('voided_at', { useTz: true, precision: 3 });
    t.unique(['clinic_id', 'number']);
    t.unique(['token_chain_id', 'deposit_address']);
    t.index(['clinic_id', 'created_at', 'id']);
    t.index(['clinic_id', 'patient_ref']);
  });
  await knex.raw(`
    ALTER TABLE invoices
      ADD CONSTRAINT invoices_status_known CHECK (status IN ('open','processing','paid','underpaid','overpaid','expired','void')),
      ADD CONSTRAINT invoices_amount_positive CHECK (amount_due > 0 AND token_amount_due > 0 AND token_amount_paid >= 0),
      ADD CONSTRAINT invoices_addresses_hex CHECK (
        deposit_address ~ '^0x[0-9a-f]{40}$' AND settlement_address ~ '^0x[0-9a-f]{40}$'
        AND token_address ~ '^0x[0-9a-f]{40}$' AND factory_address ~ '^0x[0-9a-f]{40}$'),
      ADD CONSTRAINT invoices_salt_hex CHECK (deposit_salt ~ '^0x[0-9a-f]{64}$'),
      ADD CONSTRAINT invoices_void_has_time CHECK ((status = 'void') = (voided_at IS NOT NULL))
  `);

  await knex.schema.createTable('idempotency_keys', (t) => {
    t.text('scope').notNullable();
    t.text('key').notNullable();
    t.text('fingerprint').notNullable();
    t.text('method').notNullable();
    t.text('path').notNullable();
    t.integer('response_status').notNullable();
    t.text('response_content_type').notNullable();
    t.text('response_body').notNullable();
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.primary(['scope', 'key']);
    t.index(['created_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('idempotency_keys');
  await knex.schema.dropTable('invoices');
  await knex.schema.alterTable('clinics', (t) => {
    t.dropColumn('webhook_secret');
  });
  const sequences = (await knex.raw(`SELECT sequencename FROM pg_sequences WHERE sequencename LIKE 'invoice_numbers_%'`)) as {
    rows: { sequencename: string }[];
  };
  for (const { sequencename } of sequences.rows) await knex.raw('DROP SEQUENCE ??', [sequencename]);
}
