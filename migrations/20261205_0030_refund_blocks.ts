/**
 * Where a matched refund is on the chain. A refund is matched once its transfer is final; a
 * reorg deeper than that can still take the transfer away, and the reconciler then reverses the
 * refund's entry and waits for the transfer again. The block's hash is what it checks; how many
 * times the refund was matched keys each match's journal entry.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE resolutions
      ADD COLUMN refund_block_number bigint,
      ADD COLUMN refund_block_hash text,
      ADD COLUMN refund_matches integer NOT NULL DEFAULT 0;
    CREATE INDEX resolutions_refund_block ON resolutions (refund_block_number) WHERE status = 'completed' AND refund_block_hash IS NOT NULL;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP INDEX resolutions_refund_block;
    ALTER TABLE resolutions DROP COLUMN refund_block_number, DROP COLUMN refund_block_hash, DROP COLUMN refund_matches;
  `);
}
