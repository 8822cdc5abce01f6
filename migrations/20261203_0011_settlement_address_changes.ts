/**
 * Settlement address changes, with a second person's approval: a change is proposed, and only
 * when someone other than its proposer approves it does the clinic's `settlement_address`
 * change (for invoices created from then on). At most one change per clinic waits at a time.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('settlement_address_changes', (t) => {
    t.text('id').primary(); // sac_…
    t.text('clinic_id').notNullable().references('id').inTable('clinics');
    t.text('status').notNullable(); // pending | approved | cancelled | expired
    t.text('previous_address').notNullable();
    t.text('address').notNullable();
    t.text('reason').notNullable();
    t.text('proposed_by').notNullable();
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true, precision: 3 }).notNullable();
    t.text('decided_by');
    t.timestamp('decided_at', { useTz: true, precision: 3 });
    t.index(['clinic_id', 'created_at']);
  });
  await knex.raw(`
    ALTER TABLE settlement_address_changes
      ADD CONSTRAINT settlement_address_changes_status CHECK (status IN ('pending', 'approved', 'cancelled', 'expired')),
      ADD CONSTRAINT settlement_address_changes_address CHECK (address ~ '^0x[0-9a-f]{40}$' AND previous_address ~ '^0x[0-9a-f]{40}$' AND address <> previous_address),
      ADD CONSTRAINT settlement_address_changes_reason_length CHECK (char_length(reason) BETWEEN 1 AND 500),
      ADD CONSTRAINT settlement_address_changes_decided CHECK ((status = 'pending') = (decided_at IS NULL)),
      -- Four eyes, held by the database: whoever approves is not whoever proposed.
      ADD CONSTRAINT settlement_address_changes_four_eyes CHECK (status <> 'approved' OR (decided_by IS NOT NULL AND decided_by <> proposed_by))
  `);
  await knex.raw(`CREATE UNIQUE INDEX settlement_address_changes_one_pending ON settlement_address_changes (clinic_id) WHERE status = 'pending'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('settlement_address_changes');
}
