/**
 * The watcher's second cursor: the highest block whose logs were read while the block was final.
 * A block first read near the head, before it was final, is read again once it is, and nothing
 * in it is posted before that second read: a node behind a load balancer may answer from a
 * backend that has not yet indexed the newest blocks, with none of their logs or only some.
 * Rows that exist when this runs were read once, as before: they count as read while final, as
 * does a cursor written without this column (NULL: verified as far as `last_block`).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE chain_cursors ADD COLUMN verified_block bigint;
    UPDATE chain_cursors SET verified_block = last_block;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE chain_cursors DROP COLUMN verified_block');
}
