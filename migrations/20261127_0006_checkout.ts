/**
 * Checkout: every invoice gets an unguessable token for its hosted payment page, and may carry
 * indicative reference amounts in other currencies (rate, source and time kept with it).
 */
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('invoices', (t) => {
    // 256 random bits, base64url: the whole credential of the patient's page (no login).
    t.text('checkout_token');
    // { source, as_of, rates: { CNY: "0.9213", … } } when reference rates are configured.
    t.jsonb('reference_rates');
  });
  const ids = (await knex('invoices').pluck('id')) as string[];
  for (const id of ids)
    await knex('invoices')
      .where({ id })
      .update({ checkout_token: randomBytes(32).toString('base64url') });
  await knex.raw('ALTER TABLE invoices ALTER COLUMN checkout_token SET NOT NULL');
  await knex.raw('CREATE UNIQUE INDEX invoices_checkout_token ON invoices (checkout_token)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('invoices', (t) => {
    t.dropColumn('checkout_token');
    t.dropColumn('reference_rates');
  });
}
