/**
 * A payment may now be screened more than once in a generation: held pending screening because
 * the sanctions oracle did not answer, it is screened again when the oracle does. Both
 * screenings are kept, so the one-per-generation rule gives way to an index.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE payment_screenings DROP CONSTRAINT payment_screenings_transfer_id_generation_unique;
    CREATE INDEX payment_screenings_transfer_id_index ON payment_screenings (transfer_id);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP INDEX payment_screenings_transfer_id_index;
    ALTER TABLE payment_screenings ADD CONSTRAINT payment_screenings_transfer_id_generation_unique UNIQUE (transfer_id, generation);
  `);
}
