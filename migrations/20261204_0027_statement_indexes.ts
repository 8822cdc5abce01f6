/**
 * Statement lines in order without a sort: a statement reads a clinic's invoices and entries of
 * a period in (created_at, id) order, each from its (clinic_id, created_at, id) index, and merges
 * the two. When the clinic's rows lie scattered among other clinics' on disk, an index scan costs
 * a random heap read per row, and the planner rather reads the heap in page order and sorts the
 * period (spilling to disk for a large one). These indexes replace the two (same keys) and also
 * hold every column the statement reads of the row, so the walk in order is an index-only scan,
 * the cheapest plan whatever the layout. What other queries read through the old indexes they
 * read through these.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE INDEX journal_entries_clinic_lines ON journal_entries (clinic_id, created_at, id)
      INCLUDE (kind, invoice_id, transfer_id, reverses_entry_id, resolution_id);
    DROP INDEX journal_entries_clinic_id_created_at_id_index;
    CREATE INDEX invoices_clinic_lines ON invoices (clinic_id, created_at, id)
      INCLUDE (token_chain_id, token_address, number, currency, amount_due, token_amount_due, expires_at);
    DROP INDEX invoices_clinic_id_created_at_id_index;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE INDEX invoices_clinic_id_created_at_id_index ON invoices (clinic_id, created_at, id);
    DROP INDEX invoices_clinic_lines;
    CREATE INDEX journal_entries_clinic_id_created_at_id_index ON journal_entries (clinic_id, created_at, id);
    DROP INDEX journal_entries_clinic_lines;
  `);
}
