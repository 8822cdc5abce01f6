/**
 * Payments held by screening: a payment from a listed address is credited to its invoice but its
 * deposit is not forwarded until two finance people decide. The exception and resolution types
 * that carry that decision join the queue's.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('payment_holds', (t) => {
    t.text('id').primary(); // hld_…
    t.text('transfer_id').notNullable().unique().references('transfers.id');
    t.text('invoice_id').notNullable().references('invoices.id');
    t.text('clinic_id').notNullable().references('clinics.id');
    t.text('from_address').notNullable();
    t.specificType('amount', 'numeric(78,0)').notNullable();
    t.text('reason').notNullable();
    /** The list entries that matched: list, version, sha256, name, reference. */
    t.jsonb('hits').notNullable();
    t.text('status').notNullable().defaultTo('held');
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.text('decided_by');
    t.timestamp('decided_at', { useTz: true, precision: 3 });
    t.index(['invoice_id', 'status']);
  });
  await knex.raw(`
    ALTER TABLE payment_holds
      ADD CONSTRAINT payment_holds_reason_known CHECK (reason IN ('screening_hit')),
      ADD CONSTRAINT payment_holds_status_known CHECK (status IN ('held', 'released', 'kept'));
    ALTER TABLE exceptions DROP CONSTRAINT exceptions_type_known;
    ALTER TABLE exceptions ADD CONSTRAINT exceptions_type_known CHECK (type IN ('overpayment', 'underpayment_expired', 'late_payment',
      'payment_to_void_invoice', 'unknown_transfer', 'missing_on_chain', 'balance_mismatch', 'flush_failed', 'screening_hit'));
    ALTER TABLE resolutions DROP CONSTRAINT resolutions_action_known;
    ALTER TABLE resolutions ADD CONSTRAINT resolutions_action_known CHECK (action IN ('refund', 'apply_to_invoice', 'write_off', 'release', 'keep_held'));
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE resolutions DROP CONSTRAINT resolutions_action_known;
    ALTER TABLE resolutions ADD CONSTRAINT resolutions_action_known CHECK (action IN ('refund', 'apply_to_invoice', 'write_off'));
    ALTER TABLE exceptions DROP CONSTRAINT exceptions_type_known;
    ALTER TABLE exceptions ADD CONSTRAINT exceptions_type_known CHECK (type IN ('overpayment', 'underpayment_expired', 'late_payment',
      'payment_to_void_invoice', 'unknown_transfer', 'missing_on_chain', 'balance_mismatch', 'flush_failed'));
  `);
  await knex.schema.dropTable('payment_holds');
}
