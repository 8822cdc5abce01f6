/**
 * Reconciliation and the finance workflow: runs, their per-transfer lines (for export), the
 * exception queue, and resolutions with maker-checker approval.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('reconciliation_runs', (t) => {
    t.text('id').primary(); // rec_…
    t.integer('chain_id').notNullable();
    t.text('status').notNullable(); // running, completed, failed
    t.bigInteger('from_block').notNullable();
    t.bigInteger('to_block').notNullable();
    t.integer('progress').notNullable().defaultTo(0); // percent of the range read
    t.jsonb('counts').notNullable().defaultTo('{}');
    t.text('error');
    t.text('requested_by').notNullable(); // JWT sub, or "scheduler"
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    // Moved on with every chunk read: a running run whose heartbeat stops died with its process.
    t.timestamp('heartbeat_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('finished_at', { useTz: true, precision: 3 });
    t.index(['created_at', 'id']);
  });
  await knex.raw(`
    ALTER TABLE reconciliation_runs
      ADD CONSTRAINT reconciliation_runs_status_known CHECK (status IN ('running', 'completed', 'failed')),
      ADD CONSTRAINT reconciliation_runs_range CHECK (from_block <= to_block)
  `);
  // At most one run at a time per chain: a second request waits for the first to finish.
  await knex.raw(`CREATE UNIQUE INDEX reconciliation_runs_one_running ON reconciliation_runs (chain_id) WHERE status = 'running'`);

  await knex.schema.createTable('exceptions', (t) => {
    t.text('id').primary(); // exc_…
    // What the exception is about: a run that finds the same difference again updates it.
    t.text('dedupe_key').notNullable().unique();
    t.text('type').notNullable();
    t.text('status').notNullable().defaultTo('open'); // open, pending_approval, resolved
    t.text('clinic_id').references('clinics.id');
    t.text('invoice_id').references('invoices.id');
    t.text('tx_hash');
    t.integer('log_index');
    t.bigInteger('block_number');
    t.timestamp('block_time', { useTz: true, precision: 3 });
    t.text('token_address');
    t.text('from_address');
    // Token base units: what the difference is worth (the excess, the payment, the gap).
    t.specificType('amount', 'numeric(78,0)').notNullable().defaultTo(0);
    t.specificType('expected', 'numeric(78,0)');
    t.specificType('observed', 'numeric(78,0)');
    t.jsonb('details').notNullable().defaultTo('{}');
    t.text('first_run_id').references('reconciliation_runs.id');
    t.text('last_run_id').references('reconciliation_runs.id');
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('resolved_at', { useTz: true, precision: 3 });
    t.index(['status', 'type']);
    t.index(['clinic_id', 'created_at', 'id']);
    t.index(['created_at', 'id']);
  });
  await knex.raw(`
    ALTER TABLE exceptions
      ADD CONSTRAINT exceptions_type_known CHECK (type IN ('overpayment', 'underpayment_expired', 'late_payment', 'payment_to_void_invoice',
        'unknown_transfer', 'missing_on_chain', 'balance_mismatch', 'flush_failed')),
      ADD CONSTRAINT exceptions_status_known CHECK (status IN ('open', 'pending_approval', 'resolved'))
  `);

  await knex.schema.createTable('reconciliation_lines', (t) => {
    t.bigIncrements('id');
    t.text('run_id').notNullable().references('reconciliation_runs.id');
    t.text('result').notNullable(); // matched, exception
    t.text('clinic_id');
    t.text('invoice_id');
    t.text('tx_hash').notNullable();
    t.integer('log_index').notNullable();
    t.bigInteger('block_number').notNullable();
    t.timestamp('block_time', { useTz: true, precision: 3 });
    t.text('token_address').notNullable();
    t.text('from_address').notNullable();
    t.text('to_address').notNullable();
    t.specificType('amount', 'numeric(78,0)').notNullable();
    t.text('exception_id');
    t.index(['run_id', 'id']);
  });

  await knex.schema.createTable('resolutions', (t) => {
    t.text('id').primary(); // res_…
    t.text('exception_id').notNullable().references('exceptions.id');
    t.text('action').notNullable(); // refund, apply_to_invoice, write_off
    // pending_approval → (refund) awaiting_transfer → completed; (others) completed at approval.
    t.text('status').notNullable();
    t.specificType('amount', 'numeric(78,0)').notNullable();
    t.text('to_address');
    t.text('target_invoice_id').references('invoices.id');
    t.text('reason');
    t.text('signature');
    t.text('created_by').notNullable();
    t.text('approved_by');
    t.timestamp('approved_at', { useTz: true, precision: 3 });
    t.bigInteger('approved_at_block');
    t.text('payment_uri');
    t.text('calldata');
    t.text('refund_tx_hash');
    t.timestamp('completed_at', { useTz: true, precision: 3 });
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.index(['status']);
  });
  await knex.raw(`
    ALTER TABLE resolutions
      ADD CONSTRAINT resolutions_action_known CHECK (action IN ('refund', 'apply_to_invoice', 'write_off')),
      ADD CONSTRAINT resolutions_status_known CHECK (status IN ('pending_approval', 'awaiting_transfer', 'completed')),
      ADD CONSTRAINT resolutions_amount_nonnegative CHECK (amount >= 0),
      ADD CONSTRAINT resolutions_four_eyes CHECK (approved_by IS NULL OR approved_by <> created_by)
  `);
  // One resolution in progress per exception.
  await knex.raw(`CREATE UNIQUE INDEX resolutions_one_active ON resolutions (exception_id) WHERE status IN ('pending_approval', 'awaiting_transfer')`);

  await knex.schema.alterTable('journal_entries', (t) => {
    t.text('resolution_id').references('resolutions.id');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('journal_entries', (t) => t.dropColumn('resolution_id'));
  await knex.schema.dropTable('resolutions');
  await knex.schema.dropTable('reconciliation_lines');
  await knex.schema.dropTable('exceptions');
  await knex.schema.dropTable('reconciliation_runs');
}
