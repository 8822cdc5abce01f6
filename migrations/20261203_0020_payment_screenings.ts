/**
 * Evidence of screening: every payment's payer as the lists in force saw it when the payment was
 * posted (or, for a payment that came back after a reorg, each time it was posted), with the
 * versions of the lists and what matched, and the on-chain sanctions oracle's answer at the
 * payment's block where one is configured. Append-only, like the ledger: evidence is not edited.
 * A payment whose payer could not be screened (the oracle did not answer) is held pending
 * screening until it can be.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('payment_screenings', (t) => {
    t.text('id').primary(); // scr_…
    t.text('transfer_id').notNullable().references('transfers.id');
    /** The transfer's generation when it was screened (one more after each reorg it survived). */
    t.integer('generation').notNullable();
    t.text('address').notNullable();
    t.timestamp('screened_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    /** The list versions in force: name, version (scl_…), sha256, entries. */
    t.jsonb('lists').notNullable();
    t.text('result').notNullable();
    /** What matched: list, version, sha256, name, reference. */
    t.jsonb('hits').notNullable();
    /** The sanctions oracle asked, when one is configured: address, block, answer (null: no answer), error. */
    t.jsonb('oracle');
    t.unique(['transfer_id', 'generation']);
  });
  await knex.raw(`
    ALTER TABLE payment_screenings
      ADD CONSTRAINT payment_screenings_result_known CHECK (result IN ('clear', 'hit', 'unscreened')),
      ADD CONSTRAINT payment_screenings_address_lower CHECK (address ~ '^0x[0-9a-f]{40}$');
    CREATE TRIGGER payment_screenings_append_only BEFORE UPDATE OR DELETE ON payment_screenings FOR EACH ROW EXECUTE FUNCTION forbid_mutation();
    CREATE TRIGGER payment_screenings_no_truncate BEFORE TRUNCATE ON payment_screenings FOR EACH STATEMENT EXECUTE FUNCTION forbid_mutation();
    ALTER TABLE payment_holds DROP CONSTRAINT payment_holds_reason_known;
    ALTER TABLE payment_holds ADD CONSTRAINT payment_holds_reason_known CHECK (reason IN ('screening_hit', 'screening_pending'));
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE payment_holds DROP CONSTRAINT payment_holds_reason_known;
    ALTER TABLE payment_holds ADD CONSTRAINT payment_holds_reason_known CHECK (reason IN ('screening_hit'));
  `);
  await knex.schema.dropTable('payment_screenings');
}
