/**
 * Travel-rule information from a threshold (HK$8,000 by default). An invoice at or above it
 * needs the payer's information, and proof that they control the wallet they will pay from,
 * before it shows where to pay: `invoices.travel_rule` says whether it is needed and whether it
 * is in, and which wallet was proven. The information itself is kept apart, encrypted under a
 * key of its own record (sealed with the gateway's key): destroying that key erases it
 * (crypto-shredding) and leaves every financial record as it was. A payment to such an invoice
 * from another wallet is held (`travel_rule_mismatch`).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE invoices ADD COLUMN travel_rule text NOT NULL DEFAULT 'not_required';
    ALTER TABLE invoices ADD COLUMN travel_rule_payer text;
    ALTER TABLE invoices ADD CONSTRAINT invoices_travel_rule_known CHECK (travel_rule IN ('not_required', 'pending', 'captured'));
    ALTER TABLE invoices ADD CONSTRAINT invoices_travel_rule_payer_lower CHECK (travel_rule_payer IS NULL OR travel_rule_payer ~ '^0x[0-9a-f]{40}$');
  `);
  await knex.schema.createTable('travel_rule_records', (t) => {
    t.text('id').primary(); // trv_…
    t.text('invoice_id').notNullable().unique().references('invoices.id');
    t.text('clinic_id').notNullable().references('clinics.id');
    t.integer('chain_id').notNullable();
    t.text('payer_address').notNullable();
    /** The EIP-712 signature by which the payer's wallet named the invoice. */
    t.text('signature').notNullable();
    /** The payer's information, sealed under the record's own data key (unreadable for good once the key is destroyed). */
    t.text('ciphertext').notNullable();
    /** The record's data key, sealed with the gateway's SECRETS_KEYS; null once erased. */
    t.text('wrapped_key');
    t.timestamp('captured_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('erased_at', { useTz: true, precision: 3 });
  });
  await knex.raw(`
    ALTER TABLE travel_rule_records ADD CONSTRAINT travel_rule_records_payer_lower CHECK (payer_address ~ '^0x[0-9a-f]{40}$');
    ALTER TABLE travel_rule_records ADD CONSTRAINT travel_rule_records_erased CHECK ((erased_at IS NULL) = (wrapped_key IS NOT NULL));
    ALTER TABLE payment_holds DROP CONSTRAINT payment_holds_reason_known;
    ALTER TABLE payment_holds ADD CONSTRAINT payment_holds_reason_known CHECK (reason IN ('screening_hit', 'screening_pending', 'travel_rule_mismatch'));
    ALTER TABLE exceptions DROP CONSTRAINT exceptions_type_known;
    ALTER TABLE exceptions ADD CONSTRAINT exceptions_type_known CHECK (type IN ('overpayment', 'underpayment_expired', 'late_payment',
      'payment_to_void_invoice', 'unknown_transfer', 'missing_on_chain', 'balance_mismatch', 'flush_failed', 'screening_hit', 'address_frozen',
      'travel_rule_mismatch'));
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE exceptions DROP CONSTRAINT exceptions_type_known;
    ALTER TABLE exceptions ADD CONSTRAINT exceptions_type_known CHECK (type IN ('overpayment', 'underpayment_expired', 'late_payment',
      'payment_to_void_invoice', 'unknown_transfer', 'missing_on_chain', 'balance_mismatch', 'flush_failed', 'screening_hit', 'address_frozen'));
    ALTER TABLE payment_holds DROP CONSTRAINT payment_holds_reason_known;
    ALTER TABLE payment_holds ADD CONSTRAINT payment_holds_reason_known CHECK (reason IN ('screening_hit', 'screening_pending'));
  `);
  await knex.schema.dropTable('travel_rule_records');
  await knex.raw(`
    ALTER TABLE invoices DROP COLUMN travel_rule_payer;
    ALTER TABLE invoices DROP COLUMN travel_rule;
  `);
}
