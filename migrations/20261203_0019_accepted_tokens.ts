/**
 * More than one accepted token. Each invoice keeps the allow-list it was offered at creation
 * (address, symbol, decimals, issuer, licence of each token, the pricing one first), so that
 * its payment options and its evidence do not change when the configuration does. A flush
 * request remembers the token its current attempt sweeps, so that a deposit holding several is
 * swept of each in turn.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE invoices ADD COLUMN accepted_tokens jsonb NOT NULL DEFAULT '[]'::jsonb;
    ALTER TABLE invoices ADD CONSTRAINT invoices_accepted_tokens_array CHECK (jsonb_typeof(accepted_tokens) = 'array');
    ALTER TABLE flush_requests ADD COLUMN token_address text;
    ALTER TABLE flush_requests ADD CONSTRAINT flush_requests_token_address_lower CHECK (token_address IS NULL OR token_address ~ '^0x[0-9a-f]{40}$');
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE flush_requests DROP COLUMN token_address;
    ALTER TABLE invoices DROP COLUMN accepted_tokens;
  `);
}
