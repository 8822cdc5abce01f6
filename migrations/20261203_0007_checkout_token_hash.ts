/**
 * Checkout tokens at rest: only their SHA-256 is kept, so that a reader of the database cannot
 * open any patient's page or receipt. The token itself is shown once, in the answer that
 * creates the invoice or issues it a new link.
 */
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('invoices', (t) => {
    // Lower-case hex SHA-256 of the token's text.
    t.text('checkout_token_hash');
  });
  await knex.raw(`UPDATE invoices SET checkout_token_hash = encode(sha256(convert_to(checkout_token, 'UTF8')), 'hex')`);
  await knex.raw('ALTER TABLE invoices ALTER COLUMN checkout_token_hash SET NOT NULL');
  await knex.raw(`ALTER TABLE invoices ADD CONSTRAINT invoices_checkout_token_hash_hex CHECK (checkout_token_hash ~ '^[0-9a-f]{64}$')`);
  await knex.raw('CREATE UNIQUE INDEX invoices_checkout_token_hash ON invoices (checkout_token_hash)');
  await knex.raw('DROP INDEX invoices_checkout_token');
  await knex.schema.alterTable('invoices', (t) => {
    t.dropColumn('checkout_token');
  });
}

/** The tokens cannot come back: every invoice gets a new one (its old links stop working). */
export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('invoices', (t) => {
    t.text('checkout_token');
  });
  const ids = (await knex('invoices').pluck('id')) as string[];
  for (const id of ids) {
    await knex('invoices')
      .where({ id })
      .update({ checkout_token: randomBytes(32).toString('base64url') });
  }
  await knex.raw('ALTER TABLE invoices ALTER COLUMN checkout_token SET NOT NULL');
  await knex.raw('CREATE UNIQUE INDEX invoices_checkout_token ON invoices (checkout_token)');
  await knex.schema.alterTable('invoices', (t) => {
    t.dropColumn('checkout_token_hash');
  });
}
